/*
 * bcryptprimitives.c - ProcessPrng for Wine before 9.0, which lacks
 * bcryptprimitives.dll: the Rust standard library (1.78 and later) imports
 * ProcessPrng from it to seed its hash maps, so no Rust program for Windows
 * starts without it.  scripts/wine-test.sh builds this into the Wine prefix
 * only when Wine has no bcryptprimitives.dll of its own.  Test support, not
 * part of costack.
 */
#include <windows.h>
#include <ntsecapi.h> /* RtlGenRandom (advapi32's SystemFunction036) */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

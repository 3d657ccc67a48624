/*
 * windows_sys.h - <windows.h> as the Windows files of the core need it
 * (backend_fibers.c, platform_windows.c).  Not part of the API.
 */
#ifndef COSTACK_WINDOWS_SYS_H
#define COSTACK_WINDOWS_SYS_H

/* Windows 7 or later: IsThreadAFiber, SRW locks, TryAcquireSRWLockExclusive,
 * RaiseFailFastException. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif

/* gcc 12 takes the TEB reads these headers inline (NtCurrentTeb,
 * GetCurrentFiber: segment-relative loads at small offsets) for accesses
 * through a null pointer (-Warray-bounds); they are not. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
#include <windows.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif /* COSTACK_WINDOWS_SYS_H */

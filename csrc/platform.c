/*
 * platform.c - the half of the platform layer (platform.h) that every
 * platform shares: the page size cache, the stack-overflow message and the
 * high-water scan.  platform_unix.c and platform_windows.c supply the
 * system calls underneath.
 */
#include <stdint.h>

#include "internal.h"
#include "platform.h"

size_t costack__page_size(void)
{
    static size_t page;
    size_t p = costack__atomic_load(&page);
    if (!p) {
        p = costack__platform_page_size();
        costack__atomic_store(&page, p);
    }
    return p;
}

/* ---- the overflow message ------------------------------------------- */

/* Written from a fault handler: no stdio, no allocation, nothing that is
 * not async-signal-safe; the platform layer writes the result out. */

static size_t put_str(char *buf, size_t at, const char *s)
{
    while (*s && at < COSTACK_OVERFLOW_MESSAGE_MAX)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, uintptr_t v, unsigned base)
{
    char digits[3 * sizeof(v)];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n && at < COSTACK_OVERFLOW_MESSAGE_MAX)
        buf[at++] = digits[--n];
    return at;
}

size_t costack__overflow_message(char *buf, const CostackCoroutine *co)
{
    size_t n = 0;
    n = put_str(buf, n, "costack: coroutine stack overflow (coroutine 0x");
    n = put_num(buf, n, (uintptr_t)co, 16);
    n = put_str(buf, n, ", stack ");
    n = put_num(buf, n, co->stack.size, 10);
    n = put_str(buf, n, " bytes)\n");
    return n;
}

/* ---- high-water mark ------------------------------------------------- */

size_t costack__stack_high_water(const CostackStack *st)
{
    size_t page = costack__page_size();
    size_t pages = st->size / page;
    size_t done = 0;
    unsigned char resident[COSTACK_RESIDENT_BATCH];

    if (!st->lo)
        return 0;
    /* From the bottom up: the first resident page is the deepest touched
     * (a large frame may skip pages, so a scan from the top could stop at
     * an untouched page above a touched one). */
    while (done < pages) {
        size_t n = pages - done;
        size_t i;
        if (n > COSTACK_RESIDENT_BATCH)
            n = COSTACK_RESIDENT_BATCH;
        if (costack__platform_resident(st->lo + done * page, n, resident) != 0)
            return 0;
        for (i = 0; i < n; i++)
            if (resident[i])
                return (pages - done - i) * page;
        done += n;
    }
    return 0;
}

/*
 * switch_setjmp.c - what the backends that switch with _setjmp/_longjmp
 * (ucontext, sigaltstack) share besides the switches of switch_setjmp.h:
 * their context objects and stacks.
 */

/* No fortified longjmp, and glibc's _setjmp/_longjmp declarations: see
 * switch_setjmp.h.  Undone here, in the file, because builds pass CFLAGS
 * from the environment. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "backend.h"
#include "platform.h"

int costack__setjmp_prepare(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size)
{
    co->ctx = (CostackCtx *)malloc(sizeof(CostackCtx));
    if (!co->ctx) {
        errno = ENOMEM;
        return -1;
    }
    if (costack__stack_map(&co->stack, stack_size, guard_size) != 0) {
        int e = errno;
        free(co->ctx);
        co->ctx = NULL;
        errno = e;
        return -1;
    }
    return 0;
}

void costack__backend_free(CostackCoroutine *co)
{
    costack__stack_unmap(&co->stack);
    free(co->ctx);
    co->ctx = NULL;
}

int costack__backend_leader(CostackCoroutine *leader)
{
    leader->ctx = (CostackCtx *)malloc(sizeof(CostackCtx));
    if (!leader->ctx) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/*
 * switch_setjmp.c - what the backends that switch with _setjmp/_longjmp share
 * (the switch itself is in switch_setjmp.h), for the backends that
 * bootstrap stacks with makecontext or with a signal.  _setjmp does not save
 * the signal mask, so a switch makes no system call.
 */

/* glibc's fortified longjmp (__longjmp_chk) aborts with "longjmp causes
 * uninitialized stack frame" whenever the target stack lies below the
 * current one, which between coroutine stacks is half the time.  The cc
 * crate passes CFLAGS from the environment, so undo it here, in the file. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "platform.h"
#include "switch_setjmp.h"

int costack__setjmp_prepare(CostackCoroutine *co, size_t stack_size)
{
    co->ctx = (CostackCtx *)malloc(sizeof(CostackCtx));
    if (!co->ctx) {
        errno = ENOMEM;
        return -1;
    }
    if (costack__stack_map(&co->stack, stack_size) != 0) {
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

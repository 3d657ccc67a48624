/*
 * backend_ucontext.c - makecontext gets a new stack going; switches are
 * _setjmp/_longjmp (switch_setjmp.h).
 *
 * makecontext/swapcontext run once per new stack, to get onto it; every
 * later switch is _setjmp/_longjmp, which (unlike swapcontext) does not save
 * and restore the signal mask with a system call each time.
 */

/* The bootstrap longjmps from the new stack back up to the creator's; glibc's
 * fortified longjmp would abort (see switch_setjmp.h). */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <stdint.h>
#include <ucontext.h>

#include "backend.h"
#include "platform.h"

const char costack__backend_name[] = "ucontext";

/* What the bootstrap needs; makecontext passes only ints, so its address
 * travels as two halves. */
typedef struct Boot {
    CostackCoroutine *co;
    jmp_buf creator;
} Boot;

static void bootstrap(unsigned int hi, unsigned int lo)
{
    Boot *boot = (Boot *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo);
    CostackCoroutine *co = boot->co;

    COSTACK_SETJMP_PARK(co, boot->creator);
    costack__coroutine_main(co);
}

int costack__backend_create(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size)
{
    ucontext_t uc, creator_uc;
    Boot boot;
    uintptr_t p = (uintptr_t)&boot;

    if (costack__setjmp_prepare(co, stack_size, guard_size) != 0)
        return -1;
    if (getcontext(&uc) != 0) {
        costack__backend_free(co);
        return -1;
    }
    uc.uc_link = NULL;
    uc.uc_stack.ss_sp = co->stack.lo;
    uc.uc_stack.ss_size = co->stack.size;
    uc.uc_stack.ss_flags = 0;
    boot.co = co;
    makecontext(&uc, (void (*)(void))bootstrap, 2,
                (unsigned int)(p >> 16 >> 16), (unsigned int)p);
    /* swapcontext costs system calls, but only here, once per stack.
     * With ASan, setcontext: the new stack comes back by _longjmp, so
     * nothing of creator_uc is needed, and ASan's swapcontext interceptor
     * prints a warning about makecontext/swapcontext into every program's
     * stderr, which this bootstrap (annotated: sanitizer.h) does not
     * deserve. */
    if (!_setjmp(boot.creator)) {
        costack__san_boot_depart(co);
#if defined(COSTACK_ASAN)
        (void)creator_uc;
        setcontext(&uc);
#else
        swapcontext(&creator_uc, &uc);
#endif
    }
    costack__san_boot_returned();
    return 0;
}

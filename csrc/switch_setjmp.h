/*
 * switch_setjmp.h - the switches (backend.h's contract) of the backends
 * that switch with _setjmp/_longjmp: ucontext and sigaltstack, which differ
 * only in how they first get onto a new stack.  switch_setjmp.c has what
 * they share besides.  Included by backend.h only.
 *
 * The switches are macros, so that _setjmp is called from costack_enter
 * and costack_yield themselves: a function that calls setjmp is never
 * inlined, and a switch function's `ret`, after a _longjmp from another
 * stack, goes to an address the return-stack predictor does not hold.
 *
 * The value passed to _longjmp tells the side that lands what happened
 * (backend.h): COSTACK_SWITCHED, or COSTACK_EXITED when the coroutine it
 * entered terminated, which that side then releases (backend.h: the exit switch
 * releases on arrival).  _setjmp does not save the signal mask, so a
 * switch makes no system call.
 *
 * Every file that includes backend.h defines _GNU_SOURCE (glibc declares _setjmp and
 * _longjmp only then under -std=c99) and undefines _FORTIFY_SOURCE: glibc's
 * fortified longjmp aborts ("longjmp causes uninitialized stack frame")
 * whenever the target stack lies below the current one, which between
 * coroutine stacks is half the time.
 */
#ifndef COSTACK_SWITCH_SETJMP_H
#define COSTACK_SWITCH_SETJMP_H

#include <setjmp.h>

#include "internal.h"

struct CostackCtx {
    jmp_buf env;
};

/* Allocate co->ctx and map co's stack.  0, or -1 with errno and nothing
 * left allocated. */
int costack__setjmp_prepare(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size);

/* setjmp may only be called as a whole controlling expression (C99
 * 7.13.1.1), hence the switch statement.  from and to are not changed
 * between the _setjmp and the _longjmp that comes back.  The sanitizer
 * hook (empty in a normal build) sits between _setjmp and _longjmp:
 * sanitizer.h says why there. */
#define costack__backend_enter(from, to)                        \
    do {                                                        \
        switch (_setjmp((from)->ctx->env)) {                    \
        case 0:                                                 \
            costack__san_depart(from, to);                      \
            _longjmp((to)->ctx->env, COSTACK_SWITCHED);         \
        case COSTACK_EXITED:                                    \
            costack__coroutine_exited(costack__thread()->exited); \
            break;                                              \
        default:                                                \
            break;                                              \
        }                                                       \
    } while (0)

/* Save from's context and continue to, telling it how it arrived. */
#define COSTACK_SETJMP_LEAVE(from, to, how)                     \
    do {                                                        \
        if (!_setjmp((from)->ctx->env)) {                       \
            costack__san_depart(from, to);                      \
            _longjmp((to)->ctx->env, (how));                    \
        }                                                       \
    } while (0)

#define costack__backend_yield(from, to)                        \
    COSTACK_SETJMP_LEAVE(from, to, COSTACK_SWITCHED)
/* Every context is its own side's: the hand-off is a jump to to. */
#define costack__backend_pass(from, resumer, to)                \
    COSTACK_SETJMP_LEAVE(from, to, COSTACK_SWITCHED)
#define costack__backend_exit(from, to)                         \
    COSTACK_SETJMP_LEAVE(from, to, COSTACK_EXITED)

/* The bootstraps' last act on a new stack: park co there, so that the
 * first switch into it continues after this, and go back to the creator
 * (whose jump buffer is the only thing of the bootstrap used here: the
 * rest lives on the creator's stack and is gone by the first switch). */
#define COSTACK_SETJMP_PARK(co, creator)                        \
    do {                                                        \
        costack__san_boot_arrive(co);                           \
        if (!_setjmp((co)->ctx->env)) {                         \
            costack__san_boot_return(co);                       \
            _longjmp((creator), 1);                             \
        }                                                       \
    } while (0)

#endif /* COSTACK_SWITCH_SETJMP_H */

/*
 * switch_setjmp.h - the context shared by the backends that switch with
 * _setjmp/_longjmp (ucontext, sigaltstack): they differ only in how they
 * get onto a new stack the first time.  switch_setjmp.c does the rest.
 *
 * backend.h includes this file when COSTACK_BACKEND_SETJMP is defined: the
 * three switches of backend.h are macros here, so that _setjmp is called
 * from costack_enter and costack_yield themselves.  A switch function of
 * its own would be one frame more: its `ret`, after the _longjmp from the
 * other stack, goes to a return address the CPU's return-stack predictor
 * does not hold, as the `ret` of costack_enter or costack_yield after it
 * does; one mispredicted return per switch less (benches/perf.c: a round
 * trip 64.9 -> 53.1 ns, ucontext).  Every file that includes this one
 * undefines _FORTIFY_SOURCE (see switch_setjmp.c) and defines _GNU_SOURCE
 * (glibc declares _setjmp and _longjmp only then under -std=c99).
 */
#ifndef COSTACK_SWITCH_SETJMP_H
#define COSTACK_SWITCH_SETJMP_H

/* build.rs defines it for every file; the backend files include this
 * header, so that they also build alone. */
#ifndef COSTACK_BACKEND_SETJMP
#define COSTACK_BACKEND_SETJMP 1
#endif

#include <setjmp.h>

#include "internal.h"

struct CostackCtx {
    jmp_buf env;
};

/* Allocate co->ctx and map co's stack.  0, or -1 with errno and nothing
 * left allocated. */
int costack__setjmp_prepare(CostackCoroutine *co, size_t stack_size);

/* Save the running context in from and continue to; "returns" when some
 * thread switches back to from.  The caller's locals that the switch must
 * keep are not changed between the _setjmp and the jump back. */
#define COSTACK_SETJMP_SWITCH(from, to)        \
    do {                                       \
        if (!_setjmp((from)->ctx->env))        \
            _longjmp((to)->ctx->env, 1);       \
    } while (0)

/* backend.h's three switches. */
#define costack__backend_enter(from, to)              \
    do {                                              \
        COSTACK_SETJMP_SWITCH(from, to);              \
        if ((to)->state == COSTACK_TERMINATED)        \
            costack__coroutine_exited(to);            \
    } while (0)
#define costack__backend_yield(from, to) COSTACK_SETJMP_SWITCH(from, to)
#define costack__backend_exit(from, to) COSTACK_SETJMP_SWITCH(from, to)

/* The rest of the backend interface (backend.h includes this file back
 * when the define is set, which the include guard makes a no-op). */
#include "backend.h"

#endif /* COSTACK_SWITCH_SETJMP_H */

/*
 * backend.h - the interface every switching backend implements, one file
 * each (backend_ucontext.c, backend_sigaltstack.c, ...).  build.rs compiles
 * exactly one of them.
 *
 * A backend knows how to start a coroutine on a new stack and how to switch
 * between two coroutines; the generic core (coroutine.c) does everything
 * else: caller chain, termination, pool, thread state, misuse checks.
 */
#ifndef COSTACK_BACKEND_H
#define COSTACK_BACKEND_H

#include "internal.h"

/* The name costack_backend_name() reports. */
extern const char costack__backend_name[];

/*
 * Give co a stack of stack_size usable bytes (page-rounded by the caller) and
 * a context whose first switch-in runs costack__coroutine_main(co) on it.
 * Fills co->ctx and co->stack.  Returns 0, or -1 with errno set and nothing
 * left allocated.
 */
int costack__backend_create(CostackCoroutine *co, size_t stack_size);

/* Provided by the core: release co, whose entry function returned, now
 * that nothing runs on its stack any more (on the thread it ended on). */
void costack__coroutine_exited(CostackCoroutine *co);

/*
 * Switching.  The core says which of three switches it makes:
 *   costack__backend_enter(from, to): from (the coroutine or leader running
 *     now on the calling thread) enters to; returns when to yields back, or
 *     after costack__coroutine_exited(to) when to terminated.
 *   costack__backend_yield(from, to): from (a running coroutine) goes back
 *     to to, the side that entered it; returns when some thread enters from
 *     again.
 *   costack__backend_exit(from, to): as yield, for a coroutine whose entry
 *     function returned; costack__coroutine_exited(from) must run on to's
 *     side, off from's stack, before to continues.  Returns if from is
 *     reused from the pool and entered again.
 * All three are the last thing the core does before returning to the
 * user's code, so a backend can make them tail calls.
 *
 * A backend provides them in one of three ways:
 *   - one out-of-line function, costack__backend_switch(from, to): save the
 *     running context into from and continue to; return when some thread
 *     switches back to from.  The inline functions below build the three
 *     from it (fibers);
 *   - built with COSTACK_BACKEND_ASM defined, switch_asm.h defines the three
 *     as static inline functions ending in a tail call to its switch, which
 *     then returns straight into the user's code (see switch_asm.h for why
 *     that matters);
 *   - built with COSTACK_BACKEND_SETJMP defined (ucontext, sigaltstack),
 *     switch_setjmp.h defines them as macros that put _setjmp/_longjmp in
 *     the core's own functions.
 */
#if defined(COSTACK_BACKEND_ASM)
#include "switch_asm.h"
#elif defined(COSTACK_BACKEND_SETJMP)
#include "switch_setjmp.h"
#else
void costack__backend_switch(CostackCoroutine *from, CostackCoroutine *to);

static inline void costack__backend_enter(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__backend_switch(from, to);
    /* Back on from's stack: release to if it terminated. */
    if (to->state == COSTACK_TERMINATED)
        costack__coroutine_exited(to);
}

static inline void costack__backend_yield(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__backend_switch(from, to);
}

static inline void costack__backend_exit(CostackCoroutine *from,
                                         CostackCoroutine *to)
{
    costack__backend_switch(from, to);
}
#endif

/* Free what costack__backend_create (or _leader) allocated.  co is not
 * running. */
void costack__backend_free(CostackCoroutine *co);

/* Give a thread's leader (its own stack) a context to be switched from and
 * back to.  Returns 0, or -1 with errno. */
int costack__backend_leader(CostackCoroutine *leader);

#endif /* COSTACK_BACKEND_H */

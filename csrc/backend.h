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

/*
 * Save the running context into from and continue to; returns when some
 * thread switches back to from.  from is the coroutine (or leader) running
 * now on the calling thread.
 */
void costack__backend_switch(CostackCoroutine *from, CostackCoroutine *to);

/* Free what costack__backend_create (or _leader) allocated.  co is not
 * running. */
void costack__backend_free(CostackCoroutine *co);

/* Give a thread's leader (its own stack) a context to be switched from and
 * back to.  Returns 0, or -1 with errno. */
int costack__backend_leader(CostackCoroutine *leader);

#endif /* COSTACK_BACKEND_H */

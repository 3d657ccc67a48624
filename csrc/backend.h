/*
 * backend.h - the contract between the generic core (coroutine.c) and a
 * switching backend.  Exactly one backend is compiled in; csrc/sources.txt
 * lists each one's files and the define that selects it here.
 *
 * A backend knows how to start a coroutine on a new stack and how to switch
 * between two coroutines; the core does everything else (caller chain,
 * termination and release, pool, thread state, misuse checks).  Every
 * backend supplies the same primitives:
 *
 *   costack__backend_name[]           what costack_backend_name() reports
 *   costack__backend_create(co, n, g) a stack of n usable bytes with a
 *                                     guard of g bytes, and a context
 *                                     whose first switch-in runs
 *                                     costack__coroutine_main(co)
 *   costack__backend_leader(leader)   a context for a thread's own stack
 *   costack__backend_free(co)         undo either of the two
 *   costack__backend_enter(from, to)  four switches, below
 *   costack__backend_yield(from, to)
 *   costack__backend_pass(from, r, to)
 *   costack__backend_exit(from, to)
 *
 * The switches.  from is what runs now on the calling thread (a coroutine,
 * or the thread's leader); to is where control goes.
 *   enter(from, to): from enters the coroutine to.  Returns when to yields
 *     back, or when to terminated (to is then released already).
 *   yield(from, to): the coroutine from goes back to to, the side that
 *     entered it.  Returns when some thread enters from again.
 *   pass(from, resumer, to): the coroutine from, entered by resumer,
 *     leaves (as yield does) and control goes to to, a new or suspended
 *     coroutine, which from then on runs as if resumer had entered it:
 *     its yield goes back to resumer.  The hand-off of deferred wakes
 *     (coroutine.c, "waiting and waking").  Returns when some thread
 *     enters (or passes to) from again.
 *   exit(from, to): as yield, for a coroutine whose entry function
 *     returned.  On arrival, on to's stack and before to continues, the
 *     backend calls costack__coroutine_exited(from), which releases from
 *     (to the pool, or frees its stack: hence not on from's stack).  The
 *     arriving side may be an enter of another coroutine than from (after
 *     a pass, from ran for the coroutine that entered another): a backend
 *     that cannot carry from through the switch reads it from the thread's
 *     state, costack__thread()->exited, which the core sets before the
 *     exit switch.  Returns only if from is taken from the pool and
 *     entered again.
 * Each is the core's last act in its function, so a backend can make it a
 * tail call that returns straight into the user's code (asm).  A backend
 * that must run code after a switch puts it inside the switch (setjmp,
 * fibers: the release on arrival).
 *
 * Sanitizers (sanitizer.h).  Every switch calls costack__san_depart(from,
 * to) as the last thing before control leaves from's stack (a setjmp
 * switch: after its _setjmp), and the side that arrives calls
 * costack__san_arrive, which the core does after enter and yield return,
 * in costack__coroutine_main and in costack__coroutine_exited.  So in a
 * build with ASan, enter and yield are no longer the core's last act, and
 * the asm backend's tail call is given up; in a normal build both hooks
 * are empty.  A backend's own switches (the setjmp backends' bootstrap)
 * call the costack__san_boot_* hooks.
 *
 * The switches are inline (the setjmp switch must be: no compiler inlines a
 * function that calls setjmp, and a switch function of its own costs a
 * mispredicted return), so each backend has a header of them, included
 * here and nowhere else:
 *   COSTACK_BACKEND_ASM     switch_asm.h     (backend_asm.c, switch_asm_*.S)
 *   COSTACK_BACKEND_SETJMP  switch_setjmp.h  (switch_setjmp.c with
 *                                             backend_ucontext.c or
 *                                             backend_sigaltstack.c)
 *   COSTACK_BACKEND_FIBERS  switch_fibers.h  (backend_fibers.c)
 */
#ifndef COSTACK_BACKEND_H
#define COSTACK_BACKEND_H

#include "internal.h"
#include "sanitizer.h"

extern const char costack__backend_name[];

/* Give co a stack of stack_size usable bytes with guard_size bytes of
 * guard below it (both page-rounded by the caller; a backend whose system
 * guards stacks itself may ignore guard_size) and a context whose first
 * switch-in runs costack__coroutine_main(co) on it.  Fills co->ctx and
 * co->stack.  Returns 0, or -1 with errno set and nothing left
 * allocated. */
int costack__backend_create(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size);

/* Give a thread's leader (its own stack) a context to be switched from and
 * back to.  Returns 0, or -1 with errno. */
int costack__backend_leader(CostackCoroutine *leader);

/* Free what costack__backend_create or costack__backend_leader allocated.
 * co is not running. */
void costack__backend_free(CostackCoroutine *co);

/* Supplied by the core: release co, whose entry function returned.  Called
 * by the exit switch on arrival (above). */
void costack__coroutine_exited(CostackCoroutine *co);

/* For the backends whose switch returns on the side it lands on (setjmp,
 * fibers): what that side was switched back by. */
#define COSTACK_SWITCHED 1 /* enter or yield */
#define COSTACK_EXITED 2   /* exit: release the coroutine that ended */

#if defined(COSTACK_BACKEND_ASM)
#include "switch_asm.h"
#elif defined(COSTACK_BACKEND_SETJMP)
#include "switch_setjmp.h"
#elif defined(COSTACK_BACKEND_FIBERS)
#include "switch_fibers.h"
#else
#error "costack: no backend selected: build with the defines csrc/sources.txt gives the backend"
#endif

#endif /* COSTACK_BACKEND_H */

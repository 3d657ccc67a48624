/*
 * switch_fibers.h - the switches (backend.h's contract) of the Windows
 * fibers backend: SwitchToFiber, in backend_fibers.c, which keeps
 * <windows.h> out of the core.  Included by backend.h only.
 */
#ifndef COSTACK_SWITCH_FIBERS_H
#define COSTACK_SWITCH_FIBERS_H

#include "internal.h"

/* Switch from from's fiber to to's, telling to's side how it arrived
 * (COSTACK_SWITCHED or COSTACK_EXITED); returns, when some thread switches
 * back to from, how from arrived. */
int costack__fibers_switch(CostackCoroutine *from, CostackCoroutine *to,
                           int how);

static inline void costack__backend_enter(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__san_depart(from, to);
    if (costack__fibers_switch(from, to, COSTACK_SWITCHED) == COSTACK_EXITED)
        costack__coroutine_exited(costack__thread()->exited);
}

static inline void costack__backend_yield(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__san_depart(from, to);
    (void)costack__fibers_switch(from, to, COSTACK_SWITCHED);
}

/* Every fiber is its own side's: the hand-off is a switch to to. */
static inline void costack__backend_pass(CostackCoroutine *from,
                                         CostackCoroutine *resumer,
                                         CostackCoroutine *to)
{
    (void)resumer;
    costack__san_depart(from, to);
    (void)costack__fibers_switch(from, to, COSTACK_SWITCHED);
}

static inline void costack__backend_exit(CostackCoroutine *from,
                                         CostackCoroutine *to)
{
    costack__san_depart(from, to);
    (void)costack__fibers_switch(from, to, COSTACK_EXITED);
}

#endif /* COSTACK_SWITCH_FIBERS_H */

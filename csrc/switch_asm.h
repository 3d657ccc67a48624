/*
 * switch_asm.h - the asm backend's two switch operations, inline in the
 * generic core (backend.h includes this file when COSTACK_BACKEND_ASM is
 * defined).  The switch itself, costack__asm_switch, and the first frame of
 * every coroutine stack, costack__asm_trampoline, are in
 * switch_asm_<arch>.S; backend_asm.c starts and frees stacks.
 *
 * Each coroutine's context (CostackCtx) sits at the top of its stack and
 * holds two stack pointers: its own while it is suspended (sp), and its
 * resumer's while it runs (link).  Entering saves the resumer into link and
 * loads sp; yielding (or terminating) saves into sp and loads link.  A
 * leader is never entered, so it needs no context of its own.
 *
 * Why the switch ends in `pop; jmp` rather than `ret`.  A CPU predicts
 * where a `ret` goes with a small stack of the addresses its `call`s pushed
 * (the return-stack buffer).  Between two stacks, every `ret` of a plain
 * switch function returns to the other stack's caller, never to the
 * address its own `call` pushed, so each one is mispredicted.  Two programs
 * each written with its own inline switch can pair the calls and returns
 * across the stacks (entering is a `call` that the yield's `ret` matches);
 * costack's API cannot, because the user's code calls costack_enter and
 * costack_yield as functions, and at every switch the predictor's top entry
 * is the call into costack_yield or costack_enter that just happened, while
 * the next return must go to the other stack (checked: an inline call/ret
 * pair placed inside costack_enter and costack_yield mispredicts two
 * returns per round trip, as a plain switch function does).  So the switch
 * never returns with `ret` at all: costack_enter and costack_yield end with
 * a tail call to costack__asm_switch (a jump, at -O1 and above), which
 * leaves by jumping to the saved return address, i.e. straight into the
 * user's code after its call to costack_enter or costack_yield.  (For that
 * costack_enter must have nothing left to do after the switch: a coroutine
 * that terminates switches with costack__asm_exit, which releases it on
 * the resumer's stack before jumping back.)  Those
 * jumps are predicted by the indirect-branch predictor, and no return is
 * mispredicted in a loop of switches; each switch leaves one stale entry in
 * the return-stack buffer, which is a ring, not an error.
 *
 * What is saved: only what the ABI says a call preserves (x86-64: rbx,
 * rbp, r12-r15, the MXCSR control bits and the x87 control word; aarch64:
 * x19-x29, x30, d8-d15), and the stack pointer.  No signal mask, no pointer
 * mangling.
 *
 * TLS: costack__asm_switch is an ordinary out-of-line call for the
 * compiler, and the core reads its thread state only through the
 * non-inlined costack__thread(), so a coroutine resumed on another thread
 * sees that thread's state.
 */
#ifndef COSTACK_SWITCH_ASM_H
#define COSTACK_SWITCH_ASM_H

#include "internal.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the asm backend supports x86-64 and aarch64 only"
#endif

/* At the top of each coroutine's stack (backend_asm.c).  The trampoline
 * reads co at offset 16. */
struct CostackCtx {
    void *sp;             /* the coroutine's saved stack pointer */
    void *link;           /* its resumer's saved stack pointer, while it runs */
    CostackCoroutine *co; /* for the trampoline */
    void *unused;         /* keeps the size a multiple of 16 */
};

/* Save the callee-saved registers and the stack pointer of the running side
 * into *save, continue the side whose stack pointer is load; returns when a
 * later switch loads *save. */
void costack__asm_switch(void **save, void *load);

/* costack__asm_switch, then costack__coroutine_exited(co) on the side
 * switched to, before it continues. */
void costack__asm_exit(void **save, void *load, CostackCoroutine *co);

/* The first continuation of every coroutine stack: runs
 * costack__coroutine_main(ctx->co) on it. */
void costack__asm_trampoline(void);

/* Run to (entered by from) until it yields, or terminates and is
 * released. */
static inline void costack__backend_enter(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    CostackCtx *c = to->ctx;
    (void)from;
    costack__asm_switch(&c->link, c->sp);
}

/* Suspend from (a coroutine) and go back to to, the side that entered it;
 * returns when some thread enters from again. */
static inline void costack__backend_yield(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    CostackCtx *c = from->ctx;
    (void)to;
    costack__asm_switch(&c->sp, c->link);
}

/* from terminated: go back to to, which releases from first. */
static inline void costack__backend_exit(CostackCoroutine *from,
                                         CostackCoroutine *to)
{
    CostackCtx *c = from->ctx;
    (void)to;
    costack__asm_exit(&c->sp, c->link, from);
}

#endif /* COSTACK_SWITCH_ASM_H */

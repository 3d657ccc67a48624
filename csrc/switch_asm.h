/*
 * switch_asm.h - the asm backend's three switches (backend.h), as inline
 * functions of the generic core: backend.h includes this file when
 * COSTACK_BACKEND_ASM is defined.  The switch itself (costack__asm_enter,
 * costack__asm_yield and costack__asm_exit: one body, three copies) and
 * the first frame of every coroutine stack (costack__asm_trampoline) are in
 * switch_asm_<arch>.S; backend_asm.c starts and frees stacks.
 *
 * A coroutine's ctx field is one saved stack pointer: its own while it is
 * suspended, its resumer's while it runs.  Every switch swaps it with the
 * running stack pointer, so that the stack pointer to load is one load
 * away from the coroutine (the chain of dependent loads that ends in the
 * new stack pointer is what a round trip waits for).  A leader is never
 * entered, so it needs no saved stack pointer of its own.
 *
 * Why the switch ends in `pop; jmp` (aarch64: `br`) rather than `ret`.  A
 * CPU predicts where a `ret` goes with a small stack of the addresses its
 * `call`s pushed (the return-stack buffer).  Between two stacks, the `ret`
 * of a plain switch function returns to the other stack's caller, never to
 * the address its own `call` pushed, so every one is mispredicted.  Two
 * stacks whose code has the switch inline can pair calls and returns
 * across the stacks (entering is a `call` that the yield's `ret` matches:
 * benches/perf.c's "floor").  costack's cannot: the user's code calls
 * costack_enter and costack_yield as functions, so at every switch the
 * predictor's top entry is that call, while the next return must go to
 * the other stack.  (Tried: a call/ret pair inline in costack_enter and
 * costack_yield still mispredicts two returns per round trip, as a plain
 * switch function does; about 40 ns per round trip on the machine of
 * ../shared/notes/baseline.md's kind, against 10 for what follows.)
 *
 * So the switch never returns with `ret`.  costack_enter and costack_yield
 * end in a tail call to it (a jump, at -O1 and above; at -O0 it is a call
 * and everything still works, only slower), and it leaves by jumping to
 * the saved return address: straight into the user's code after its call
 * to costack_enter or costack_yield.  Those jumps are predicted by the
 * indirect-branch predictor, no return is mispredicted in a loop of
 * switches, and each switch leaves one stale entry in the return-stack
 * buffer (a ring, not an error).  For the tail call costack_enter must have
 * nothing left to do after the switch: a coroutine that terminates
 * switches with costack__asm_exit, which releases it on the resumer's stack
 * before jumping back.
 *
 * What is saved: only what the ABI says a call preserves (x86-64: rbx,
 * rbp, r12-r15, the MXCSR control bits and the x87 control word; aarch64:
 * x19-x29, x30, d8-d15), and the stack pointer.  No signal mask, no pointer
 * mangling.
 *
 * TLS: the switch is an out-of-line call for the compiler, and the core
 * reads its thread state only through the non-inlined costack__thread(),
 * so a coroutine resumed on another thread sees that thread's state.
 */
#ifndef COSTACK_SWITCH_ASM_H
#define COSTACK_SWITCH_ASM_H

#include "internal.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the asm backend supports x86-64 and aarch64 only"
#endif

/* The asm backend keeps no context object: a coroutine's ctx field holds a
 * saved stack pointer (struct CostackCtx stays incomplete).  Suspended or
 * never entered, it is the coroutine's own; running, it is its resumer's.
 * Every switch swaps the running stack pointer with it.  A leader's ctx
 * only marks the thread ready (backend_asm.c). */

/* Save the callee-saved registers on the running stack, swap the stack
 * pointer with *slot, restore the other side's registers from its stack and
 * continue it; returns when a later swap of *slot comes back.  Two copies
 * of the same code, one per direction (switch_asm_x86_64.S says why). */
void costack__asm_enter(CostackCtx **slot);
void costack__asm_yield(CostackCtx **slot);

/* The same, then costack__coroutine_exited(co) on the side switched to,
 * before it continues. */
void costack__asm_exit(CostackCtx **slot, CostackCoroutine *co);

/* The first continuation of every coroutine stack: runs
 * costack__coroutine_main(co) on it. */
void costack__asm_trampoline(void);

/* Run to (entered by from) until it yields, or terminates and is
 * released. */
static inline void costack__backend_enter(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    (void)from;
    costack__asm_enter(&to->ctx);
}

/* Suspend from (a coroutine) and go back to to, the side that entered it;
 * returns when some thread enters from again. */
static inline void costack__backend_yield(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    (void)to;
    costack__asm_yield(&from->ctx);
}

/* from terminated: go back to to, which releases from first. */
static inline void costack__backend_exit(CostackCoroutine *from,
                                         CostackCoroutine *to)
{
    (void)to;
    costack__asm_exit(&from->ctx, from);
}

#endif /* COSTACK_SWITCH_ASM_H */

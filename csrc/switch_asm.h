/*
 * switch_asm.h - the asm backend's switches (backend.h's contract), inline
 * in the core.  The switch itself and the first frame of a new stack are in
 * switch_asm_<arch>.S; backend_asm.c maps and frees stacks.  Included by
 * backend.h only.
 *
 * A coroutine's ctx field is one saved stack pointer: its own while it is
 * suspended (or never entered), its resumer's while it runs.  Every switch
 * swaps it with the running stack pointer, so the stack pointer to load is
 * one load away from the coroutine.  A leader is never entered and keeps
 * no saved stack pointer.
 *
 * Why the switch ends in a jump (x86-64 `pop; jmp`, aarch64 `br`), not a
 * `ret`.  A CPU predicts where a `ret` goes from a small stack of the
 * addresses its `call`s pushed (the return-stack buffer).  The user's code
 * calls costack_enter and costack_yield as functions, so at every switch
 * the predictor's top entry is that call, while the next return must go to
 * the other stack's caller: a switch that returns with `ret` is
 * mispredicted every time, and so is the `ret` of a function that calls
 * it.  So costack_enter and costack_yield end in a tail call to the switch
 * (a jump, at -O1 and above; at -O0 a call, and everything still works),
 * and the switch leaves by jumping to the other side's saved return
 * address: straight into the user's code after its call to costack_enter
 * or costack_yield.  Those jumps are predicted by the indirect-branch
 * predictor; each switch leaves one stale entry in the return-stack buffer
 * (a ring, not an error).  Nothing may run in costack_enter after the
 * switch, so the release of a coroutine that terminated happens inside the
 * exit switch, on the resumer's stack (costack__asm_exit).  (A build with
 * AddressSanitizer is the exception: ASan must be told on arrival, so
 * there costack_enter and costack_yield call the switch and return
 * normally; sanitizer.h.)
 *
 * docs/performance.md has the measurements behind these choices.
 */
#ifndef COSTACK_SWITCH_ASM_H
#define COSTACK_SWITCH_ASM_H

#if defined(__ASSEMBLER__)
/* For switch_asm_<arch>.S: a global function, hidden from other modules,
 * with its call-frame information. */
.macro FUNCTION name
	.p2align 4
	.globl \name
	.hidden \name
	.type \name, %function
\name:
	.cfi_startproc
.endm
.macro END_FUNCTION name
	.cfi_endproc
	.size \name, .-\name
.endm
#else /* C */

#include "internal.h"

/* Push the callee-saved registers, swap the stack pointer with *slot, pop
 * the other side's registers and jump to its return address.  Returns when
 * a later swap of *slot comes back.  Two copies of the same code, one per
 * direction, so each copy's closing jump has one usual target. */
void costack__asm_enter(CostackCtx **slot);
void costack__asm_yield(CostackCtx **slot);

/* The same, then costack__coroutine_exited(co) on the side switched to,
 * before it continues. */
void costack__asm_exit(CostackCtx **slot, CostackCoroutine *co);

/* Write the first frame of a new stack whose top (16-byte aligned) is top,
 * so that the first costack__asm_enter into it runs
 * costack__coroutine_main(co) there; returns the stack pointer to save in
 * co->ctx. */
CostackCtx *costack__asm_first_frame(char *top, CostackCoroutine *co);

static inline void costack__backend_enter(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__san_depart(from, to);
    costack__asm_enter(&to->ctx);
}

static inline void costack__backend_yield(CostackCoroutine *from,
                                          CostackCoroutine *to)
{
    costack__san_depart(from, to);
    costack__asm_yield(&from->ctx);
}

/* A running coroutine's ctx holds its resumer's stack pointer, so the
 * hand-off moves that to to (which then runs for resumer) and puts to's
 * own where the swap loads it from; the swap saves from's. */
static inline void costack__backend_pass(CostackCoroutine *from,
                                         CostackCoroutine *resumer,
                                         CostackCoroutine *to)
{
    CostackCtx *back = from->ctx; /* resumer's stack pointer */
    (void)resumer;
    from->ctx = to->ctx;
    to->ctx = back;
    costack__san_depart(from, to);
    costack__asm_enter(&from->ctx);
}

static inline void costack__backend_exit(CostackCoroutine *from,
                                         CostackCoroutine *to)
{
    costack__san_depart(from, to);
    costack__asm_exit(&from->ctx, from);
}

#endif /* C */
#endif /* COSTACK_SWITCH_ASM_H */

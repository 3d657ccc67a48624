/*
 * switch_asm_aarch64.S - the asm backend's switch and the first frame of a
 * new coroutine stack, for aarch64 AAPCS64 (switch_asm.h has the design,
 * backend_asm.c maps the stacks).
 *
 * The frame, at a saved stack pointer S (160 bytes, the same for both sides
 * of every switch and for a new stack's first frame):
 *
 *   S+144 d14, d15    S+96  d8, d9      S+48  x25, x26
 *   S+128 d12, d13    S+88  x30         S+32  x23, x24
 *   S+112 d10, d11    S+80  x29         S+16  x21, x22
 *                     S+64  x27, x28    S+0   x19, x20
 *
 * x30 is where the side resumes (a new stack: the trampoline); x29 is 0 on
 * a new stack, so frame-pointer walks end there; x19 carries a new stack's
 * coroutine to the trampoline.
 */
#if !defined(__ELF__) || !defined(__aarch64__)
#error "switch_asm_aarch64.S is written for aarch64 ELF targets; build another backend (csrc/sources.txt)"
#endif
#include "switch_asm.h"

	.text

/*
 * SWITCH_STACKS: store what AAPCS64 says a call preserves (x19-x29, the
 * return address in x30, d8-d15) on the running stack, swap the stack
 * pointer with *slot (x0) and load the other side's frame.
 *
 * Both sides' frames have the same layout, so the CFI below stays true
 * across the stack swap.  Scratch registers: x2, x3 (x4 is left to
 * costack__asm_exit).
 */
.macro SWITCH_STACKS
	sub sp, sp, #160
	.cfi_def_cfa_offset 160
	stp x19, x20, [sp, #0]
	stp x21, x22, [sp, #16]
	stp x23, x24, [sp, #32]
	stp x25, x26, [sp, #48]
	stp x27, x28, [sp, #64]
	stp x29, x30, [sp, #80]
	stp d8, d9, [sp, #96]
	stp d10, d11, [sp, #112]
	stp d12, d13, [sp, #128]
	stp d14, d15, [sp, #144]
	.cfi_offset x19, -160
	.cfi_offset x20, -152
	.cfi_offset x21, -144
	.cfi_offset x22, -136
	.cfi_offset x23, -128
	.cfi_offset x24, -120
	.cfi_offset x25, -112
	.cfi_offset x26, -104
	.cfi_offset x27, -96
	.cfi_offset x28, -88
	.cfi_offset x29, -80
	.cfi_offset x30, -72
	.cfi_offset d8, -64
	.cfi_offset d9, -56
	.cfi_offset d10, -48
	.cfi_offset d11, -40
	.cfi_offset d12, -32
	.cfi_offset d13, -24
	.cfi_offset d14, -16
	.cfi_offset d15, -8
	mov x2, sp		/* x2 = our frame */
	ldr x3, [x0]		/* x3 = the other side's frame */
	str x2, [x0]		/* *slot = our frame */
	mov sp, x3		/* onto the other side's stack */
	ldp x19, x20, [sp, #0]
	ldp x21, x22, [sp, #16]
	ldp x23, x24, [sp, #32]
	ldp x25, x26, [sp, #48]
	ldp x27, x28, [sp, #64]
	ldp x29, x30, [sp, #80]
	ldp d8, d9, [sp, #96]
	ldp d10, d11, [sp, #112]
	ldp d12, d13, [sp, #128]
	ldp d14, d15, [sp, #144]
	add sp, sp, #160
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
.endm

/*
 * void costack__asm_enter(CostackCtx **slot)
 * void costack__asm_yield(CostackCtx **slot)
 *
 * The switch, one copy per direction, so that each copy's closing branch
 * has one usual target.  It leaves with `br`, not `ret` (switch_asm.h says
 * why).
 */
.macro SWITCH_FUNCTION name
	FUNCTION \name
	SWITCH_STACKS
	br x30			/* continue the other side */
	END_FUNCTION \name
.endm

	SWITCH_FUNCTION costack__asm_enter
	SWITCH_FUNCTION costack__asm_yield

/*
 * void costack__asm_exit(CostackCtx **slot, CostackCoroutine *co)
 *
 * The switch, for a coroutine that terminated: once on the other
 * side's stack, with its registers back, call costack__coroutine_exited(co)
 * (which may free the stack we just left), then continue that side.
 */
	FUNCTION costack__asm_exit
	mov x4, x1
	SWITCH_STACKS
	stp x29, x30, [sp, #-16]!
	.cfi_def_cfa_offset 16
	.cfi_offset x29, -16
	.cfi_offset x30, -8
	mov x0, x4
	bl costack__coroutine_exited
	ldp x29, x30, [sp], #16
	.cfi_def_cfa_offset 0
	.cfi_restore x29
	.cfi_restore x30
	br x30
	END_FUNCTION costack__asm_exit

/*
 * CostackCtx *costack__asm_first_frame(char *top, CostackCoroutine *co)
 *
 * Write a new stack's first frame (the layout above) just below top and
 * return its address: the stack pointer that the first costack__asm_enter
 * into the coroutine loads.  Every register zero but x19 (co) and x30 (the
 * trampoline).
 */
	FUNCTION costack__asm_first_frame
	sub x0, x0, #160	/* S = top - 160 */
	stp x1, xzr, [x0, #0]	/* x19 = co, x20 */
	stp xzr, xzr, [x0, #16]	/* x21, x22 */
	stp xzr, xzr, [x0, #32]	/* x23, x24 */
	stp xzr, xzr, [x0, #48]	/* x25, x26 */
	stp xzr, xzr, [x0, #64]	/* x27, x28 */
	adr x2, costack__asm_trampoline
	stp xzr, x2, [x0, #80]	/* x29 = 0, x30 = the trampoline */
	stp xzr, xzr, [x0, #96]	/* d8, d9 */
	stp xzr, xzr, [x0, #112]	/* d10, d11 */
	stp xzr, xzr, [x0, #128]	/* d12, d13 */
	stp xzr, xzr, [x0, #144]	/* d14, d15 */
	ret
	END_FUNCTION costack__asm_first_frame

/*
 * The first continuation of every coroutine stack: the first
 * costack__asm_enter into a new stack branches here with sp at
 * the top of the stack and the coroutine in x19.  It calls
 * costack__coroutine_main(co), which never returns: it yields and is
 * entered again through costack__asm_enter.
 *
 * Unwinding: the return address (x30) is marked undefined for the whole
 * function, so DWARF unwinders stop here, and x29/x30 are zero, so
 * frame-pointer walkers stop too.
 */
	FUNCTION costack__asm_trampoline
	.cfi_undefined x30
	hint #36		/* bti j: reached by br */
	mov x0, x19
	mov x29, #0
	mov x30, #0
	bl costack__coroutine_main
	brk #1
	END_FUNCTION costack__asm_trampoline

/*
 * No .note.gnu.property marking this file BTI compatible, on purpose: the
 * switch leaves with `br` to a return address (switch_asm.h), which is no
 * BTI landing pad.  Unmarked, the linker leaves BTI off for a program that
 * links costack.  (The trampoline's `bti j` costs nothing.)
 */
	.section .note.GNU-stack, "", %progbits

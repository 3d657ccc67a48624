/*
 * switch_asm_aarch64.S - the asm backend's switch and the first frame of
 * every coroutine stack, for aarch64 AAPCS64 (see switch_asm.h for the
 * design, backend_asm.c for how a stack starts).
 */
#if defined(__aarch64__) && defined(__ELF__)
	.text

/*
 * void costack__asm_enter(CostackCtx **slot)
 * void costack__asm_yield(CostackCtx **slot)
 *
 * The switch.  Store what AAPCS64 says a call preserves (x19-x29, the
 * return address in x30, d8-d15) on the running stack, swap the stack
 * pointer with *slot (a stack pointer an earlier switch stored, or a new
 * stack's first frame) and load the same things in the same layout.  The
 * return is a `br`, not a `ret`: see switch_asm.h.
 *
 * Frame at a saved stack pointer S (160 bytes): x19-x28 at S+0..S+72,
 * x29 at S+80, x30 at S+88, d8-d15 at S+96..S+152.
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
	mov x2, sp
	ldr x3, [x0]
	str x2, [x0]
	mov sp, x3
	/* Now on the other side's stack. */
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
 * The switch, twice: costack__asm_enter for entering a coroutine,
 * costack__asm_yield for going back to its resumer, so that each copy's
 * closing branch has one usual target (see switch_asm_x86_64.S).
 */
.macro SWITCH_FUNCTION name
	.p2align 4
	.globl \name
	.hidden \name
	.type \name, %function
\name:
	.cfi_startproc
	SWITCH_STACKS
	br x30
	.cfi_endproc
	.size \name, .-\name
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
	.p2align 4
	.globl costack__asm_exit
	.hidden costack__asm_exit
	.type costack__asm_exit, %function
costack__asm_exit:
	.cfi_startproc
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
	.cfi_endproc
	.size costack__asm_exit, .-costack__asm_exit

/*
 * The first continuation of every coroutine stack.  A new stack's first
 * frame (backend_asm.c) makes costack__asm_enter branch here with sp at
 * the top of the stack and the coroutine in x19.  It calls
 * costack__coroutine_main(co), which never returns: it yields and is
 * entered again through costack__asm_enter.
 *
 * Unwinding: the return address (x30) is marked undefined for the whole
 * function, so DWARF unwinders stop here, and x29/x30 are zero, so
 * frame-pointer walkers stop too.
 */
	.p2align 4
	.globl costack__asm_trampoline
	.hidden costack__asm_trampoline
	.type costack__asm_trampoline, %function
costack__asm_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	hint #36		/* bti j: reached by br */
	mov x0, x19
	mov x29, #0
	mov x30, #0
	bl costack__coroutine_main
	brk #1
	.cfi_endproc
	.size costack__asm_trampoline, .-costack__asm_trampoline

/*
 * No .note.gnu.property marking this file BTI compatible, on purpose: the
 * switch leaves with `br` to a return address (switch_asm.h), which is no
 * BTI landing pad.  Unmarked, the linker leaves BTI off for a program that
 * links costack.  (The trampoline's `bti j` costs nothing.)
 */
	.section .note.GNU-stack, "", %progbits
#endif

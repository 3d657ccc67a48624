/*
 * switch_asm_x86_64.S - the asm backend's switch and the first frame of
 * every coroutine stack, for x86-64 System V (see switch_asm.h for the
 * design, backend_asm.c for how a stack starts).
 */
#if defined(__x86_64__) && defined(__ELF__)
	.text

/*
 * void costack__asm_enter(CostackCtx **slot)
 * void costack__asm_yield(CostackCtx **slot)
 *
 * The switch.  Push what the ABI says a call preserves (rbp, rbx, r12-r15,
 * MXCSR and the x87 control word) on the running stack, swap the stack
 * pointer with *slot (a stack pointer an earlier switch stored, or a new
 * stack's first frame) and pop the same things in the same layout.  The
 * return is a `pop; jmp`, not a `ret`: see switch_asm.h.
 *
 * Frame at a saved stack pointer S:
 *   S+0 MXCSR (4 bytes), S+4 x87 control word (2 bytes), S+8 r15,
 *   S+16 r14, S+24 r13, S+32 r12, S+40 rbx, S+48 rbp, S+56 return address.
 * The floating-point control state is reloaded only when its control bits
 * differ from the side switching out (a reload costs several times the
 * compare).  Reading it is not free either: stmxcsr waits for the SSE work
 * in flight, and the control state is most of 3 ns of a 9 ns round trip
 * here; the System V ABI makes it callee-saved, so it stays.
 *
 * Both sides' frames have the same layout, so the CFI below stays true
 * across the stack swap: an unwinder stopped inside sees the frame of
 * whichever side the stack pointer belongs to.
 *
 * Scratch registers: rax, rcx, rdx, r8 (r11 is left to costack__asm_exit).
 */
.macro SWITCH_STACKS
	pushq %rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq %r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq %r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq %r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq %r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	subq $8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, %rax
	movq (%rdi), %rsp
	movq %rax, (%rdi)
	/* Now on the other side's stack; rax points at the frame we left. */
	movl (%rax), %ecx
	xorl (%rsp), %ecx
	andl $-64, %ecx			/* MXCSR bits 0-5 are status flags */
	movzwl 4(%rax), %edx
	movzwl 4(%rsp), %r8d
	xorl %r8d, %edx
	orl %edx, %ecx
	.cfi_remember_state
	jnz 2f
1:
	addq $8, %rsp
	.cfi_adjust_cfa_offset -8
	popq %r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore r15
	popq %r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore r14
	popq %r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore r13
	popq %r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore r12
	popq %rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	popq %rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbp
.endm

/* The rarely taken reload of the floating-point control state, placed
 * after the function's end by each user of SWITCH_STACKS. */
.macro RELOAD_FP_CONTROL
2:
	.cfi_restore_state
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	jmp 1b
.endm

/*
 * The switch, twice: costack__asm_enter for entering a coroutine,
 * costack__asm_yield for going back to its resumer.  The same code, but
 * each copy's closing jump then has one usual target instead of two in
 * turn, which the branch predictor gets right more often (measured here:
 * 5.9 -> 4.3 ns per enter+yield round trip, without the control state).
 */
.macro SWITCH_FUNCTION name
	.p2align 4
	.globl \name
	.hidden \name
	.type \name, @function
\name:
	.cfi_startproc
	SWITCH_STACKS
	popq %rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq *%rcx
	RELOAD_FP_CONTROL
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
	.type costack__asm_exit, @function
costack__asm_exit:
	.cfi_startproc
	movq %rsi, %r11
	SWITCH_STACKS
	/* rsp is at the return address, as at a function's entry. */
	subq $8, %rsp
	.cfi_adjust_cfa_offset 8
	movq %r11, %rdi
	call costack__coroutine_exited@PLT
	addq $8, %rsp
	.cfi_adjust_cfa_offset -8
	popq %rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq *%rcx
	RELOAD_FP_CONTROL
	.cfi_endproc
	.size costack__asm_exit, .-costack__asm_exit

/*
 * The first continuation of every coroutine stack.  A new stack's first
 * frame (backend_asm.c) makes costack__asm_enter jump here with rsp at the
 * top of the stack and the coroutine in rbx.  It calls
 * costack__coroutine_main(co), which never returns: it yields and is
 * entered again through costack__asm_enter.
 *
 * Unwinding: the return address (rip) is marked undefined for the whole
 * function, so DWARF unwinders (libgcc's _Unwind_Backtrace behind glibc's
 * backtrace() and Rust's std::backtrace, gdb) stop here, and rbp is zero,
 * so frame-pointer walkers stop too.
 */
	.p2align 4
	.globl costack__asm_trampoline
	.hidden costack__asm_trampoline
	.type costack__asm_trampoline, @function
costack__asm_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	endbr64
	movq %rbx, %rdi
	xorl %ebp, %ebp
	call costack__coroutine_main@PLT
	ud2
	.cfi_endproc
	.size costack__asm_trampoline, .-costack__asm_trampoline

/*
 * No .note.gnu.property marking this file IBT or SHSTK compatible, on
 * purpose: every switch leaves a `call` without its `ret` (switch_asm.h),
 * which a CET shadow stack would fault on, and each coroutine would need a
 * shadow stack of its own.  Unmarked, the linker leaves CET off for a
 * program that links costack.  (endbr64 in the trampoline costs nothing.)
 */
	.section .note.GNU-stack, "", @progbits
#endif

/*
 * switch_asm_x86_64.S - the asm backend's switch and the first frame of a
 * new coroutine stack, for x86-64 System V (switch_asm.h has the design,
 * backend_asm.c maps the stacks).
 *
 * The frame, at a saved stack pointer S (64 bytes, the same for both sides
 * of every switch and for a new stack's first frame):
 *
 *   S+56  return address    where the side resumes (a new stack: the
 *                           trampoline)
 *   S+48  rbp               0 on a new stack: frame-pointer walks end there
 *   S+40  rbx               a new stack: the coroutine, for the trampoline
 *   S+32  r12
 *   S+24  r13
 *   S+16  r14
 *   S+8   r15
 *   S+0   unused            (keeps S 16-byte aligned)
 *
 * The floating-point control state (MXCSR, x87 control word), which the
 * System V ABI makes callee-saved, is not in the frame: it is the
 * thread's, and coroutine.c keeps it per side for the coroutines created
 * with COSTACK_KEEP_FP_CONTROL (costack.h), for every backend alike.
 */
#if !defined(__ELF__) || !defined(__x86_64__)
#error "switch_asm_x86_64.S is written for x86-64 ELF targets; build another backend (csrc/sources.txt)"
#endif
#include "switch_asm.h"

	.text

/* A push and a pop of a callee-saved register, with their CFI. */
.macro PUSH reg
	pushq %\reg
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset \reg, 0
.endm
.macro POP reg
	popq %\reg
	.cfi_adjust_cfa_offset -8
	.cfi_restore \reg
.endm

/*
 * SWITCH_STACKS: save the running side's frame, swap the stack pointer with
 * *slot (rdi), restore the other side's frame, all but its return address.
 * Scratch registers: rax, rcx (r11 is left to costack__asm_exit).
 *
 * Both sides' frames have the same layout, so the CFI stays true across
 * the swap: an unwinder stopped inside sees the frame of whichever side the
 * stack pointer belongs to.
 */
.macro SWITCH_STACKS
	PUSH rbp			/* S+48 */
	PUSH rbx			/* S+40 */
	PUSH r12			/* S+32 */
	PUSH r13			/* S+24 */
	PUSH r14			/* S+16 */
	PUSH r15			/* S+8 */
	subq $8, %rsp			/* S+0: the unused slot */
	.cfi_adjust_cfa_offset 8
	movq %rsp, %rax			/* rax = our frame */
	movq (%rdi), %rsp		/* onto the other side's frame */
	movq %rax, (%rdi)		/* *slot = our frame */
	addq $8, %rsp			/* past its unused slot */
	.cfi_adjust_cfa_offset -8
	POP r15
	POP r14
	POP r13
	POP r12
	POP rbx
	POP rbp				/* rsp now at S+56, the return address */
.endm

/*
 * void costack__asm_enter(CostackCtx **slot)
 * void costack__asm_yield(CostackCtx **slot)
 *
 * The switch, one copy per direction: the same code, but each copy's
 * closing jump then has one usual target instead of two in turn, which the
 * branch predictor gets right more often.  It leaves with `pop; jmp`, not
 * `ret` (switch_asm.h says why).
 */
.macro SWITCH_FUNCTION name
	FUNCTION \name
	SWITCH_STACKS
	popq %rcx			/* the other side's return address */
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq *%rcx			/* continue it */
	END_FUNCTION \name
.endm

	SWITCH_FUNCTION costack__asm_enter
	SWITCH_FUNCTION costack__asm_yield

/*
 * void costack__asm_exit(CostackCtx **slot, CostackCoroutine *co)
 *
 * The switch, for a coroutine that terminated: once on the other side's
 * stack, with its registers back, call costack__coroutine_exited(co)
 * (which may free the stack we just left), then continue that side.
 */
	FUNCTION costack__asm_exit
	movq %rsi, %r11			/* co, past SWITCH_STACKS */
	SWITCH_STACKS
	/* rsp is at the return address, as at a function's entry. */
	subq $8, %rsp			/* align the stack for the call */
	.cfi_adjust_cfa_offset 8
	movq %r11, %rdi
	call costack__coroutine_exited@PLT
	addq $8, %rsp
	.cfi_adjust_cfa_offset -8
	popq %rcx			/* the other side's return address */
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq *%rcx			/* continue it */
	END_FUNCTION costack__asm_exit

/*
 * CostackCtx *costack__asm_first_frame(char *top, CostackCoroutine *co)
 *
 * Write a new stack's first frame (the layout above) just below top, and
 * return its address: the stack pointer that the first costack__asm_enter
 * into the coroutine loads.  Callee-saved registers are zero but rbx (co),
 * and the return address is the trampoline.
 */
	FUNCTION costack__asm_first_frame
	leaq -64(%rdi), %rax		/* S = top - 64 */
	xorl %ecx, %ecx
	movq %rcx, 0(%rax)		/* the unused slot */
	movq %rcx, 8(%rax)		/* r15 */
	movq %rcx, 16(%rax)		/* r14 */
	movq %rcx, 24(%rax)		/* r13 */
	movq %rcx, 32(%rax)		/* r12 */
	movq %rsi, 40(%rax)		/* rbx = co */
	movq %rcx, 48(%rax)		/* rbp = 0 */
	leaq costack__asm_trampoline(%rip), %rdx
	movq %rdx, 56(%rax)		/* return address */
	ret
	END_FUNCTION costack__asm_first_frame

/*
 * The first continuation of every coroutine stack: the first
 * costack__asm_enter into a new stack jumps here with rsp at its top and
 * the coroutine in rbx.  costack__coroutine_main(co) never returns: it
 * yields, and is entered again through costack__asm_enter.
 *
 * Unwinding: the return address (rip) is marked undefined for the whole
 * function, so DWARF unwinders (libgcc's behind glibc's backtrace() and
 * Rust's std::backtrace, gdb) stop here, and rbp is zero, so frame-pointer
 * walkers stop too.
 */
	FUNCTION costack__asm_trampoline
	.cfi_undefined rip
	endbr64
	movq %rbx, %rdi			/* co */
	xorl %ebp, %ebp			/* no frame above this one */
	call costack__coroutine_main@PLT
	ud2				/* never reached */
	END_FUNCTION costack__asm_trampoline

/*
 * No .note.gnu.property marking this file IBT or SHSTK compatible, on
 * purpose: every switch leaves a `call` without its `ret` (switch_asm.h),
 * which a CET shadow stack would fault on, and each coroutine would need a
 * shadow stack of its own.  Unmarked, the linker leaves CET off for a
 * program that links costack.  (endbr64 in the trampoline costs nothing.)
 */
	.section .note.GNU-stack, "", @progbits

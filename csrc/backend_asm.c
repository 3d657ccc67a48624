/*
 * backend_asm.c - our own switch, in assembly (x86-64 System V, aarch64
 * AAPCS64): this file maps and frees the stacks; switch_asm.h has the
 * design and the inline switches, switch_asm_<arch>.S the switch and the
 * first frame of a new stack.
 *
 * A new stack needs no makecontext and no signal: its first frame, written
 * by costack__asm_first_frame, looks like one the switch left, and its
 * return address is costack__asm_trampoline, which runs
 * costack__coroutine_main(co) as the outermost frame of the stack, so that
 * a backtrace taken inside a coroutine ends there cleanly.
 */
#include "backend.h"
#include "platform.h"

const char costack__backend_name[] = "asm";

int costack__backend_create(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size)
{
    if (costack__stack_map(&co->stack, stack_size, guard_size) != 0)
        return -1;
    /* The top of the stack is page aligned, so 16-byte aligned as both
     * ABIs want the stack pointer at a call. */
    co->ctx = costack__asm_first_frame(co->stack.lo + co->stack.size, co);
    return 0;
}

void costack__backend_free(CostackCoroutine *co)
{
    costack__stack_unmap(&co->stack);
    co->ctx = NULL;
}

/* Leaders are never entered, and entering a coroutine leaves the resumer's
 * stack pointer in the coroutine's ctx, so a leader's ctx is never read or
 * written: every leader points at this byte, which only marks the thread
 * ready. */
static char leader_mark;

int costack__backend_leader(CostackCoroutine *leader)
{
    leader->ctx = (CostackCtx *)(void *)&leader_mark;
    return 0;
}

/*
 * backend_asm.c - our own switch, in assembly (x86-64 System V, aarch64
 * AAPCS64).  The switch itself is inline in the generic core
 * (switch_asm.h); this file gets a new stack going and frees it.
 *
 * A new stack needs no makecontext and no signal: its context (CostackCtx)
 * sits at the top of the stack, and below it a frame as costack__asm_switch
 * leaves one, whose return address is costack__asm_trampoline
 * (switch_asm_<arch>.S): the first enter "returns" there.  The trampoline
 * runs costack__coroutine_main(co) in a frame that unwinders see as the
 * outermost one, so a backtrace taken inside a coroutine ends there
 * cleanly.
 *
 * Built when COSTACK_BACKEND=asm (build.rs defines COSTACK_BACKEND_ASM for
 * every file, so the core inlines the switch).
 */
#ifndef COSTACK_BACKEND_ASM
#define COSTACK_BACKEND_ASM 1
#endif
#include <string.h>

#include "backend.h"
#include "platform.h"

const char costack__backend_name[] = "asm";

/* The frame costack__asm_switch pops (switch_asm_<arch>.S), and where in it
 * the return address goes. */
#if defined(__x86_64__)
#define FRAME_SIZE 64
#define FRAME_RETURN 56
#elif defined(__aarch64__)
#define FRAME_SIZE 160
#define FRAME_RETURN 88
#endif

int costack__backend_create(CostackCoroutine *co, size_t stack_size)
{
    CostackCtx *ctx;
    void (*start)(void) = costack__asm_trampoline;
    char *frame;

    if (costack__stack_map(&co->stack, stack_size) != 0)
        return -1;
    /* The top of the stack is page aligned; the context takes its last 32
     * bytes, so the trampoline's stack pointer (the context's address) is
     * 16-byte aligned as both ABIs want at a call. */
    ctx = (CostackCtx *)(co->stack.lo + co->stack.size) - 1;
    ctx->link = NULL;
    ctx->co = co;
    ctx->unused = NULL;
    /* A first frame for costack__asm_switch to pop: callee-saved registers
     * zero (a zero frame pointer ends frame-pointer walks), the return
     * address the trampoline. */
    frame = (char *)ctx - FRAME_SIZE;
    memset(frame, 0, FRAME_SIZE);
    memcpy(frame + FRAME_RETURN, &start, sizeof(start));
#if defined(__x86_64__)
    /* A coroutine starts with the floating-point control state of the
     * thread that created it, as a new thread does. */
    __asm__ __volatile__("stmxcsr (%0)\n\tfnstcw 4(%0)" : : "r"(frame)
                         : "memory");
#endif
    ctx->sp = frame;
    co->ctx = ctx;
    return 0;
}

void costack__backend_free(CostackCoroutine *co)
{
    /* A coroutine's context lives on its stack; a leader's is shared. */
    costack__stack_unmap(&co->stack);
    co->ctx = NULL;
}

/* Leaders are never entered, and entering a coroutine saves the resumer's
 * state on the resumer's own stack (its address goes into the entered
 * coroutine's context), so a leader's context is never read or written:
 * every leader points at this one, which only marks the thread ready. */
static CostackCtx leader_ctx;

int costack__backend_leader(CostackCoroutine *leader)
{
    leader->ctx = &leader_ctx;
    return 0;
}

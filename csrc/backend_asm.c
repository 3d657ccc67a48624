/*
 * backend_asm.c - our own switch, in assembly (x86-64 System V, aarch64
 * AAPCS64).  The switch is in switch_asm_<arch>.S, called straight from the
 * generic core (switch_asm.h); this file gets a new stack going and frees
 * it.
 *
 * A new stack needs no makecontext and no signal: at its top goes a frame
 * as the switch leaves one, whose return address is costack__asm_trampoline:
 * the first enter "returns" there.  The trampoline runs costack__coroutine_main(co) in a
 * frame that unwinders see as the outermost one, so a backtrace taken
 * inside a coroutine ends there cleanly.
 *
 * Built when COSTACK_BACKEND=asm (build.rs defines COSTACK_BACKEND_ASM for
 * every file, so that the core includes switch_asm.h).
 */
#ifndef COSTACK_BACKEND_ASM
#define COSTACK_BACKEND_ASM 1
#endif
#include <string.h>

#include "backend.h"
#include "platform.h"

const char costack__backend_name[] = "asm";

/* The frame the switch pops (switch_asm_<arch>.S): its size, where the
 * return address goes, and where a callee-saved register the trampoline
 * reads the coroutine from (rbx, x19). */
#if defined(__x86_64__)
#define FRAME_SIZE 64
#define FRAME_RETURN 56
#define FRAME_CO 40
#elif defined(__aarch64__)
#define FRAME_SIZE 160
#define FRAME_RETURN 88
#define FRAME_CO 0
#endif

int costack__backend_create(CostackCoroutine *co, size_t stack_size)
{
    void (*start)(void) = costack__asm_trampoline;
    char *frame;

    if (costack__stack_map(&co->stack, stack_size) != 0)
        return -1;
    /* A first frame for the switch to pop, at the top of the stack (page
     * aligned, so the trampoline's stack pointer is 16-byte aligned as both
     * ABIs want at a call): callee-saved registers zero (a zero frame
     * pointer ends frame-pointer walks) but the one that carries co, the
     * return address the trampoline. */
    frame = co->stack.lo + co->stack.size - FRAME_SIZE;
    memset(frame, 0, FRAME_SIZE);
    memcpy(frame + FRAME_RETURN, &start, sizeof(start));
    memcpy(frame + FRAME_CO, &co, sizeof(co));
#if defined(__x86_64__)
    /* A coroutine starts with the floating-point control state of the
     * thread that created it, as a new thread does. */
    __asm__ __volatile__("stmxcsr (%0)\n\tfnstcw 4(%0)" : : "r"(frame)
                         : "memory");
#endif
    /* The saved stack pointer (switch_asm.h). */
    co->ctx = (CostackCtx *)(void *)frame;
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

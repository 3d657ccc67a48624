/*
 * backend_fibers.c - Windows: every coroutine is a fiber (CreateFiberEx),
 * every switch is SwitchToFiber.  The system allocates and frees fiber
 * stacks itself, grows them page by page and switches the thread's stack
 * limits, exception chain and floating-point state with them; that makes
 * Fibers the backend that works on every Windows architecture.
 *
 * A thread's leader becomes a fiber on its first costack use, unless it is
 * one already (the host program may use fibers of its own): we then switch
 * from and back to whatever fiber runs at that moment.  A thread we
 * converted is converted back when its costack state is torn down.
 */
#include "windows_sys.h"

#include <errno.h>
#include <stdlib.h>

#include "backend.h"

const char costack__backend_name[] = "fibers";

struct CostackCtx {
    void *fiber;
    /* Leader: we made the thread a fiber (ConvertThreadToFiberEx).
     * Coroutine: unused. */
    int converted;
    /* During costack__backend_create only: the fiber to return to once the
     * new fiber has recorded its stack. */
    void *creator;
    /* How the fiber was last switched to (COSTACK_SWITCHED or
     * COSTACK_EXITED), set by the side that switched. */
    int arrival;
};

/* Stack room the system must keep for an EXCEPTION_STACK_OVERFLOW handler
 * on each coroutine fiber (SetThreadStackGuarantee; kept per fiber): the
 * overflow report (platform_windows.c) runs there. */
#define OVERFLOW_GUARANTEE ((ULONG)16 << 10)
/* Reserved beyond the usable size: the guard page, the guarantee above and
 * the page(s) the system never commits at the bottom of a stack. */
#define STACK_SLACK ((size_t)64 << 10)

/* ENOMEM when memory or address space ran out, as mmap says on Unix; a
 * stack reservation larger than the address space is refused as an invalid
 * parameter (the size is the only parameter that can be). */
static void errno_from_last_error(void)
{
    DWORD e = GetLastError();
    errno = (e == ERROR_NOT_ENOUGH_MEMORY || e == ERROR_OUTOFMEMORY ||
             e == ERROR_COMMITMENT_LIMIT || e == ERROR_INVALID_PARAMETER)
                ? ENOMEM
                : EAGAIN;
}

/* Every coroutine fiber starts here, at its creation: it records where the
 * system put its stack, asks for room to report an overflow, and goes back
 * to its creator.  The first switch into it continues into the coroutine
 * body. */
static void WINAPI fiber_start(void *param)
{
    CostackCoroutine *co = (CostackCoroutine *)param;
    NT_TIB *tib = (NT_TIB *)NtCurrentTeb();
    MEMORY_BASIC_INFORMATION mbi;
    ULONG guarantee = OVERFLOW_GUARANTEE;
    char *top = (char *)tib->StackBase;
    char *base;

    /* The reservation the stack lives in runs from its allocation base up
     * to StackBase; the system commits it downwards as the stack grows. */
    if (VirtualQuery(&guarantee, &mbi, sizeof(mbi)) == sizeof(mbi))
        base = (char *)mbi.AllocationBase;
    else
        base = top - co->stack.size - STACK_SLACK;
    co->stack.map = base;
    co->stack.map_size = (size_t)(top - base);
    co->stack.lo = top - co->stack.size;
    co->stack.guard = base;
    co->stack.guard_size = (size_t)(co->stack.lo - base);
    co->stack.debug_id = 0;
    /* Best effort: without it the system still raises the overflow, with
     * less room for the report. */
    SetThreadStackGuarantee(&guarantee);

    SwitchToFiber(co->ctx->creator);
    costack__coroutine_main(co);
}

int costack__backend_create(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size)
{
    CostackCtx *ctx = (CostackCtx *)calloc(1, sizeof(*ctx));
    (void)guard_size; /* the system guards fiber stacks (costack.h) */
    if (!ctx) {
        errno = ENOMEM;
        return -1;
    }
    ctx->fiber = CreateFiberEx(0, stack_size + STACK_SLACK,
                               FIBER_FLAG_FLOAT_SWITCH, fiber_start, co);
    if (!ctx->fiber) {
        errno_from_last_error();
        free(ctx);
        return -1;
    }
    co->ctx = ctx;
    co->stack.size = stack_size;
    /* Run the fiber's prologue now, so its stack is known (and counted)
     * from creation on.  The calling thread is a fiber: the generic core
     * set up its leader before asking for a coroutine. */
    ctx->creator = GetCurrentFiber();
    SwitchToFiber(ctx->fiber);
    ctx->creator = NULL;
    return 0;
}

int costack__fibers_switch(CostackCoroutine *from, CostackCoroutine *to,
                           int how)
{
    /* A leader that was a fiber of the host program before costack came
     * along may be any of the host's fibers by now: return to the one that
     * runs this code. */
    if (from->state == COSTACK_LEADER)
        from->ctx->fiber = GetCurrentFiber();
    to->ctx->arrival = how;
    SwitchToFiber(to->ctx->fiber);
    return from->ctx->arrival;
}

void costack__backend_free(CostackCoroutine *co)
{
    CostackCtx *ctx = co->ctx;
    if (!ctx)
        return;
    if (co->state != COSTACK_LEADER) {
        DeleteFiber(ctx->fiber);
    } else if (ctx->converted && IsThreadAFiber() &&
               GetCurrentFiber() == ctx->fiber) {
        /* Only from the leader's own fiber: converting back frees the
         * fiber that runs. */
        ConvertFiberToThread();
    }
    free(ctx);
    co->ctx = NULL;
}

int costack__backend_leader(CostackCoroutine *leader)
{
    CostackCtx *ctx = (CostackCtx *)calloc(1, sizeof(*ctx));
    if (!ctx) {
        errno = ENOMEM;
        return -1;
    }
    if (IsThreadAFiber()) {
        ctx->fiber = GetCurrentFiber();
    } else {
        ctx->fiber = ConvertThreadToFiberEx(NULL, FIBER_FLAG_FLOAT_SWITCH);
        if (!ctx->fiber) {
            errno_from_last_error();
            free(ctx);
            return -1;
        }
        ctx->converted = 1;
    }
    leader->ctx = ctx;
    return 0;
}

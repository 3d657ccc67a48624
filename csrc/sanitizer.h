/*
 * sanitizer.h - what AddressSanitizer and ThreadSanitizer are told about
 * coroutine stacks, when the core is compiled with one of them (internal.h
 * detects which: COSTACK_ASAN, COSTACK_TSAN).  In a normal build every
 * hook here is an empty inline function: no code, no data.  Included by
 * backend.h (the switches call costack__san_depart) and by the files that
 * call the other hooks (coroutine.c, and the setjmp backends' bootstraps).
 *
 * Neither sanitizer can see a switch between stacks; each must be told.
 *
 * ASan keeps the bounds of the running stack, for what it does when a
 * function does not return normally (longjmp, abort(), a noreturn call: it
 * unpoisons the stack from there to its top) and for its reports; and with
 * detect_stack_use_after_return, a "fake stack" where instrumented frames
 * whose locals have their address taken live.  So around every switch:
 * __sanitizer_start_switch_fiber(save, bottom, size) names the stack
 * control goes to and takes the leaving side's fake stack into *save;
 * __sanitizer_finish_switch_fiber(save, ...) on arrival gives the arriving
 * side its own back.  A fake stack belongs to a stack, not to a thread: a
 * coroutine that moves to another thread takes its fake stack along (else
 * its frames would live in the fake stack of a thread that may exit
 * first), and keeps it while it waits in a pool, for the stack's next
 * coroutine.  Only when a stack is freed is its fake stack destroyed
 * (costack__san_free).  ASan's documentation asks for NULL as save when a
 * fiber ends for good, which destroys its fake stack at once; a pooled
 * stack has not ended for good, and NULL at every exit would unmap the
 * fake stack of a stack about to be used again and map a new one for its
 * next coroutine (mmap and munmap calls on every pooled lifecycle).
 *
 * The save slots and the other state live in the coroutine object
 * (CostackSan, internal.h), where freeing a stack finds its fake stack,
 * whatever thread frees it.  A leader's bounds are ASan's own (the
 * thread's stack), learnt from finish's "old" bounds when a coroutine
 * arrives from it; a coroutine's are its stack.
 *
 * ThreadSanitizer keeps a shadow call stack, a vector clock and the jump
 * buffers of setjmp per thread.  With one shadow call stack per thread,
 * the frames of every suspended coroutine would pile up on it: thousands
 * of suspended coroutines overflow it (a crash in __tsan_func_entry, or
 * "CHECK failed: sanitizer_stackdepot.cpp:83" when a stack trace that
 * long is stored).  So each stack gets a TSan fiber of its own
 * (__tsan_create_fiber, made with the stack and destroyed with it, reused
 * with it from the pool), and a leader uses its thread's
 * (__tsan_get_current_fiber).  Every switch calls
 * __tsan_switch_to_fiber(to's fiber, 0), which also orders the two sides
 * (happens-before), as the switch itself does.  It comes after a setjmp
 * switch's _setjmp: TSan's _setjmp interceptor files the jump buffer with
 * the fiber that runs, and drops that fiber's jump buffers whose stack
 * pointer is not above the caller's; in the fiber switched to it would
 * drop those of the coroutine's own setjmps, whose longjmp would then die
 * ("ThreadSanitizer: can't find longjmp buf"; the C suite's
 * longjmp_in_coroutine).  And the call must be inlined into the function
 * that switches, or TSan would see that function's entry and exit in two
 * different fibers.
 *
 * The switches call costack__san_depart(from, to) last, just before control
 * leaves (backend.h).  The side that arrives calls costack__san_arrive:
 * costack_enter and costack_yield after their switch, and
 * costack__coroutine_main at the top of each run.  An ASan build therefore
 * gives up costack_enter's and costack_yield's tail call into the switch
 * (switch_asm.h): that costs speed only.  When the entered coroutine
 * ended, the exit switch's release (costack__coroutine_exited) runs on
 * arrival before costack_enter continues, so it arrives first; the
 * arriving flag makes the second call a no-op.
 *
 * Finished coroutines' stacks: while a stack waits in a pool, the part of
 * it below where it is parked, as deep as it was ever used, is poisoned
 * (costack__san_pooled), so that a read through a pointer into a finished
 * coroutine's frames is reported ("use-after-poison"); costack_create
 * unpoisons it when it takes the stack (costack__san_taken).  When a stack
 * is freed, its used part is unpoisoned, so that memory mapped there later
 * does not inherit its redzones.
 *
 * LeakSanitizer (part of ASan) looks for pointers to heap blocks in each
 * thread's stack, not in coroutine stacks: a block that only a suspended
 * coroutine refers to would be reported as leaked at exit.  So while a
 * stack belongs to a coroutine (from create to its end or destroy) it is
 * a root region (__lsan_register_root_region); a pooled one is not, so
 * that what finished coroutines left there hides no leak.  Frames that
 * detect_stack_use_after_return put on a suspended coroutine's fake stack
 * are still not seen: with that option, such a block is still reported.
 */
#ifndef COSTACK_SANITIZER_H
#define COSTACK_SANITIZER_H

#include "internal.h"

#if defined(COSTACK_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>

#include "platform.h"
#endif
#if defined(COSTACK_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* The hooks that call __tsan_switch_to_fiber must be inlined whatever the
 * optimisation level (above). */
#if defined(__GNUC__) || defined(__clang__)
#define COSTACK_SAN_INLINE static inline __attribute__((always_inline))
#else
#define COSTACK_SAN_INLINE static inline
#endif

#if defined(COSTACK_ASAN)
/* The bounds ASan must be given for the stack of to. */
COSTACK_SAN_INLINE const void *costack__san_bottom(const CostackCoroutine *to)
{
    return to->state == COSTACK_LEADER ? to->san.bottom
                                       : (const void *)to->stack.lo;
}

COSTACK_SAN_INLINE size_t costack__san_size(const CostackCoroutine *to)
{
    return to->state == COSTACK_LEADER ? to->san.size : to->stack.size;
}

/* The lowest address of co's stack ever used: its high-water mark. */
COSTACK_SAN_INLINE char *costack__san_used_lo(const CostackCoroutine *co)
{
    size_t used = costack__stack_high_water(&co->stack);
    return co->stack.lo + co->stack.size - used;
}
#endif

/* Control leaves from for to: enter, yield, exit, and a setjmp backend's
 * bootstrap.  Called by the switch, last before it leaves. */
COSTACK_SAN_INLINE void costack__san_depart(CostackCoroutine *from,
                                            CostackCoroutine *to)
{
#if defined(COSTACK_ASAN)
    /* 2: from is a leader, whose bounds the arrival can learn. */
    to->san.arriving = from->state == COSTACK_LEADER ? 2 : 1;
    __sanitizer_start_switch_fiber(&from->san.fake_stack,
                                   costack__san_bottom(to),
                                   costack__san_size(to));
#endif
#if defined(COSTACK_TSAN)
    if (from->state == COSTACK_LEADER)
        from->san.fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(to->san.fiber, 0);
#endif
    (void)from;
    (void)to;
}

/* Control arrived in self, from from (a coroutine's caller, or NULL when
 * from does not matter or may be gone).  Called by the side that arrives,
 * first. */
COSTACK_SAN_INLINE void costack__san_arrive(CostackCoroutine *self,
                                            CostackCoroutine *from)
{
#if defined(COSTACK_ASAN)
    /* No local of this function has its address taken, so that the
     * functions it is inlined into keep their frames off the fake stack. */
    int learn = from && from->state == COSTACK_LEADER &&
                self->san.arriving == 2;
    if (!self->san.arriving)
        return;
    self->san.arriving = 0;
    __sanitizer_finish_switch_fiber(self->san.fake_stack,
                                    learn ? &from->san.bottom : NULL,
                                    learn ? &from->san.size : NULL);
    self->san.fake_stack = NULL;
#endif
    (void)self;
    (void)from;
}

/* co, just allocated (zeroed), gets its stack next: its TSan fiber comes
 * first, since a setjmp backend's bootstrap switches to it. */
static inline void costack__san_create(CostackCoroutine *co)
{
#if defined(COSTACK_TSAN)
    co->san.fiber = __tsan_create_fiber(0);
#endif
    (void)co;
}

#if defined(COSTACK_ASAN)
/* The frame address of a call from the caller: below the caller's frame
 * and everything above it.  (Marked unused: only coroutine.c calls it.) */
static __attribute__((noinline, unused)) char *costack__san_below_caller(void)
{
    return (char *)__builtin_frame_address(0);
}
#endif

/* co, finished, is parked in costack__coroutine_main on its way to the
 * pool: remember where, below everything of costack__coroutine_main's
 * that the stack needs when it runs again.  Called by co before the exit
 * switch. */
static inline void costack__san_parking(CostackCoroutine *co)
{
#if defined(COSTACK_ASAN)
    co->san.parked = costack__san_below_caller();
#endif
    (void)co;
}

#if defined(COSTACK_ASAN)
/* Whether LeakSanitizer scans co's stack (above). */
static inline void costack__san_root(CostackCoroutine *co, int root)
{
    if (root && !co->san.rooted)
        __lsan_register_root_region(co->stack.lo, co->stack.size);
    else if (!root && co->san.rooted)
        __lsan_unregister_root_region(co->stack.lo, co->stack.size);
    co->san.rooted = root;
}
#endif

/* co goes into a pool: poison the used part of its stack below where it is
 * parked. */
static inline void costack__san_pooled(CostackCoroutine *co)
{
#if defined(COSTACK_ASAN)
    costack__san_root(co, 0);
    if (co->san.parked && !co->san.poison_lo) {
        char *lo = costack__san_used_lo(co);
        if (lo < co->san.parked) {
            __asan_poison_memory_region(lo, (size_t)(co->san.parked - lo));
            co->san.poison_lo = lo;
        }
    }
#endif
    (void)co;
}

/* co's stack, new or taken from a pool, is about to run a new coroutine. */
static inline void costack__san_taken(CostackCoroutine *co)
{
#if defined(COSTACK_ASAN)
    if (co->san.poison_lo) {
        __asan_unpoison_memory_region(
            co->san.poison_lo, (size_t)(co->san.parked - co->san.poison_lo));
        co->san.poison_lo = NULL;
    }
    costack__san_root(co, 1);
#endif
    (void)co;
}

#if defined(COSTACK_ASAN)
/* Destroy the fake stack fake, which nothing runs on now.  ASan destroys a
 * fake stack only when a switch leaves it for good (start with NULL as
 * save).  So: a switch from here to this same stack that arrives with
 * fake, one that leaves it for good, and one back with the running side's
 * own; no code runs on the way.  Not inlined: its locals have their
 * address taken, which would put its callers' frames on the fake stack. */
static __attribute__((noinline, unused)) void
costack__san_destroy_fake_stack(void *fake)
{
    void *ours;
    const void *bottom;
    size_t size;
    __sanitizer_start_switch_fiber(&ours, NULL, 0);
    __sanitizer_finish_switch_fiber(fake, &bottom, &size);
    __sanitizer_start_switch_fiber(NULL, bottom, size);
    __sanitizer_finish_switch_fiber(ours, NULL, NULL);
}
#endif

/* co's stack is about to be freed (or its creation failed). */
static inline void costack__san_free(CostackCoroutine *co)
{
#if defined(COSTACK_ASAN)
    costack__san_root(co, 0);
    if (co->stack.map) {
        char *lo = costack__san_used_lo(co);
        char *top = co->stack.lo + co->stack.size;
        if (lo < top)
            __asan_unpoison_memory_region(lo, (size_t)(top - lo));
    }
    if (co->san.fake_stack) {
        costack__san_destroy_fake_stack(co->san.fake_stack);
        co->san.fake_stack = NULL;
    }
#endif
#if defined(COSTACK_TSAN)
    if (co->san.fiber)
        __tsan_destroy_fiber(co->san.fiber);
    co->san.fiber = NULL;
#endif
    (void)co;
}

/* The bootstrap of the setjmp backends (backend_ucontext.c,
 * backend_sigaltstack.c): the creator (whatever runs on this thread) goes
 * to the new stack of co and comes back, once, inside
 * costack__backend_create.  The same switches as any other, with the
 * creator found from the thread's state (this thread's all along). */
COSTACK_SAN_INLINE void costack__san_boot_depart(CostackCoroutine *co)
{
#if defined(COSTACK_SANITIZED)
    costack__san_depart(costack__thread()->current, co);
#endif
    (void)co;
}

/* First on the new stack. */
COSTACK_SAN_INLINE void costack__san_boot_arrive(CostackCoroutine *co)
{
#if defined(COSTACK_SANITIZED)
    costack__san_arrive(co, costack__thread()->current);
#endif
    (void)co;
}

/* Last on the new stack, before going back. */
COSTACK_SAN_INLINE void costack__san_boot_return(CostackCoroutine *co)
{
#if defined(COSTACK_SANITIZED)
    costack__san_depart(co, costack__thread()->current);
#endif
    (void)co;
}

/* Back on the creator's stack. */
COSTACK_SAN_INLINE void costack__san_boot_returned(void)
{
#if defined(COSTACK_SANITIZED)
    costack__san_arrive(costack__thread()->current, NULL);
#endif
}

#endif /* COSTACK_SANITIZER_H */

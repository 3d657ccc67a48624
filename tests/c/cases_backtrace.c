/*
 * cases_backtrace.c - a backtrace taken inside a coroutine ends cleanly:
 * the unwinder (libgcc's, behind glibc's backtrace()) walks the
 * coroutine's frames and stops at the bottom of its stack, without looping
 * or crashing, whatever entered it (the leader, another coroutine, another
 * thread, a reuse from the pool).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <string.h>

#if defined(__GLIBC__)
#include <execinfo.h>
#include <pthread.h>
#define HAVE_BACKTRACE 1
#endif

#include "costack.h"
#include "harness.h"

#ifdef HAVE_BACKTRACE

/* Room for far more frames than a coroutine here has: a walk that does not
 * stop at the bottom of the stack (a loop, or garbage read as frames)
 * fills it. */
#define MAX_FRAMES 256
/* How many frames of bt_dive the walk passes through. */
#define DIVE 6

typedef struct Trace {
    int depth;
    void *first; /* the innermost frame's address (in bt_dive) */
} Trace;

static TEST_NOINLINE int bt_dive(int level, Trace *out)
{
    int r;
    if (level > 0) {
        r = bt_dive(level - 1, out);
    } else {
        void *frames[MAX_FRAMES];
        memset(frames, 0, sizeof(frames));
        out->depth = backtrace(frames, MAX_FRAMES);
        out->first = frames[0];
        r = out->depth;
    }
    /* Keeps each level a real frame (no tail call). */
    __asm__ __volatile__("" : "+r"(r));
    return r;
}

/* What a coroutine measured, and whether it was run nested. */
typedef struct BtRun {
    Trace first;  /* on the first entry */
    Trace second; /* after a yield, entered again */
    CostackCoroutine *inner; /* if set, entered (and finished) from inside */
    int done;
} BtRun;

static void bt_entry(void *opaque)
{
    BtRun *run = (BtRun *)opaque;
    run->done = bt_dive(DIVE, &run->first);
    if (run->inner) {
        costack_enter(run->inner);
        costack_enter(run->inner);
    }
    costack_yield();
    run->done = bt_dive(DIVE, &run->second); /* not a tail call */
}

/* A walk that passed through all the dive frames, then stopped well short
 * of the array's end. */
static int trace_ok(const Trace *t)
{
    return t->depth > DIVE + 1 && t->depth < MAX_FRAMES / 2 && t->first;
}

static void *bt_thread(void *arg)
{
    costack_enter((CostackCoroutine *)arg);
    return NULL;
}

void case_backtrace_ends(void)
{
    BtRun outer, inner, again;
    Trace top;
    CostackCoroutine *co, *in;
    pthread_t th;

    /* Outside any coroutine, for comparison: the thread's own stack. */
    bt_dive(DIVE, &top);
    REQUIRE(trace_ok(&top));

    /* A coroutine entered by the leader, entering another one. */
    memset(&outer, 0, sizeof(outer));
    memset(&inner, 0, sizeof(inner));
    in = costack_create(bt_entry, &inner);
    co = costack_create(bt_entry, &outer);
    REQUIRE(in != NULL && co != NULL);
    outer.inner = in;
    costack_enter(co); /* runs in to its end: inner terminated */
    EXPECT(trace_ok(&outer.first));
    EXPECT(trace_ok(&inner.first));
    EXPECT(trace_ok(&inner.second));
    /* The inner walk stopped at the bottom of its own stack: it is no
     * deeper than the outer one, whose coroutine entered it. */
    EXPECT(inner.first.depth <= outer.first.depth);
    EXPECT_EQ(inner.second.depth, inner.first.depth);

    /* The outer one finished on another thread. */
    REQUIRE(pthread_create(&th, NULL, bt_thread, co) == 0);
    pthread_join(th, NULL);
    EXPECT(trace_ok(&outer.second));
    EXPECT_EQ(outer.second.depth, outer.first.depth);

    /* A coroutine reusing a pooled stack (one of the two just finished). */
    memset(&again, 0, sizeof(again));
    co = costack_create(bt_entry, &again);
    REQUIRE(co != NULL);
    costack_enter(co);
    costack_enter(co);
    EXPECT(trace_ok(&again.first));
    EXPECT(trace_ok(&again.second));
    EXPECT_EQ(again.first.depth, outer.first.depth);
}

#else /* !HAVE_BACKTRACE */

void case_backtrace_ends(void)
{
    harness_skip("glibc's backtrace() (<execinfo.h>) is not available here");
}

#endif

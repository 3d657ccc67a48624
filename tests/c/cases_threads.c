/*
 * cases_threads.c - coroutines and threads: a suspended coroutine finished
 * on another thread (and seeing that thread's thread-local data), a
 * longjmp inside a coroutine that moved, two threads running coroutines at
 * the same time, the global lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "costack.h"
#include "harness.h"

/* ---- a suspended coroutine finished on another thread ------------------- */

static __thread int tls_value;

/* Read through a function the compiler does not inline, as QEMU does: with
 * emulated thread-locals (mingw-w64) the compiler takes a thread-local's
 * address for constant within a function, and would reuse the first
 * thread's after the coroutine moved. */
static TEST_NOINLINE int get_tls_value(void)
{
    return tls_value;
}

/* glibc declares pthread_self() __attribute__((const)), so a compiler may
 * reuse its value from before a switch, as with any cached thread-local
 * address; called through a volatile pointer it is asked afresh. */
static pthread_t (*volatile current_thread)(void) = pthread_self;

typedef struct Migrate {
    int tls_first, tls_second, tls_third;
    pthread_t thread_first, thread_second, thread_third;
    CostackCoroutine *self_second;
    int in_co_second;
    int held_second; /* global lock seen as held (by the second thread) */
    CostackCoroutine *co;
    CostackCoroutine *other_leader;
    int other_in_co_after;
    int kept_first, kept_second; /* locals kept across the moves */
} Migrate;

/* Yield with a local whose address is taken still live, and return it.
 * With ASan's detect_stack_use_after_return such a frame lives on a fake
 * stack, which must move with the coroutine: the second thread below has
 * exited, and its own fake stack is gone, when the coroutine comes back to
 * the first. */
static TEST_NOINLINE int yield_holding_local(int value)
{
    volatile int local = value;
    volatile int *volatile p = &local;
    costack_yield();
    return *p;
}

static void migrate_entry(void *opaque)
{
    Migrate *m = (Migrate *)opaque;
    m->tls_first = get_tls_value();
    m->thread_first = current_thread();
    m->kept_first = yield_holding_local(11);
    /* Now on the second thread. */
    m->tls_second = get_tls_value();
    m->thread_second = current_thread();
    m->self_second = costack_self();
    m->in_co_second = costack_in_coroutine();
    m->held_second = costack_global_lock_held();
    m->kept_second = yield_holding_local(22);
    /* Back on the first thread. */
    m->tls_third = get_tls_value();
    m->thread_third = current_thread();
}

static void *migrate_thread(void *arg)
{
    Migrate *m = (Migrate *)arg;
    tls_value = 2;
    m->other_leader = costack_self();
    costack_global_lock();
    costack_enter(m->co);
    costack_global_unlock();
    m->other_in_co_after = costack_in_coroutine();
    return NULL;
}

void case_finish_on_other_thread(void)
{
    Migrate m;
    pthread_t th;
    CostackStats before, after;
    int rc;

    memset(&m, 0, sizeof(m));
    costack_stats(&before);
    tls_value = 1;
    m.co = costack_create(migrate_entry, &m);
    REQUIRE(m.co != NULL);
    costack_enter(m.co);
    EXPECT_EQ(m.tls_first, 1);

    rc = pthread_create(&th, NULL, migrate_thread, &m);
    REQUIRE(rc == 0);
    pthread_join(th, NULL);
    EXPECT_EQ(m.tls_second, 2); /* the second thread's variable */
    EXPECT(pthread_equal(m.thread_second, th));
    EXPECT(!pthread_equal(m.thread_first, m.thread_second));
    EXPECT(m.self_second == m.co);
    EXPECT_EQ(m.in_co_second, 1);
    EXPECT_EQ(m.held_second, 1);
    EXPECT(m.other_leader != NULL);
    EXPECT(m.other_leader != costack_self()); /* leaders are per thread */
    EXPECT_EQ(m.other_in_co_after, 0);
    EXPECT(!costack_global_lock_held()); /* held by the other thread only */

    costack_enter(m.co); /* finish it back here */
    EXPECT_EQ(m.kept_first, 11);
    EXPECT_EQ(m.kept_second, 22);
    EXPECT_EQ(m.tls_third, 1);
    EXPECT(pthread_equal(m.thread_third, pthread_self()));
    EXPECT(!costack_in_coroutine());
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
}

/* ---- longjmp inside a coroutine, across yields and threads -------------- */

static volatile int lj_result;

/* Jumps back to a setjmp of its own after each yield, the last times after
 * moving to another thread.  A longjmp that stays on the coroutine's stack
 * is the program's own business, and neither the setjmp backends' switches
 * (the resumer's own _setjmp) nor the sanitizers' bookkeeping (TSan files
 * each setjmp's buffer with the fiber that makes it) may break it. */
static void lj_entry(void *opaque)
{
    jmp_buf here;
    volatile int rounds = 0;
    (void)opaque;
    if (setjmp(here) < 3) {
        rounds++;
        costack_yield();
        longjmp(here, rounds);
    }
    lj_result = rounds;
}

static void *lj_thread(void *arg)
{
    costack_enter((CostackCoroutine *)arg); /* longjmp, then yields */
    costack_enter((CostackCoroutine *)arg); /* longjmp, then ends */
    return NULL;
}

void case_longjmp_in_coroutine(void)
{
    CostackCoroutine *co = costack_create(lj_entry, NULL);
    pthread_t th;

    REQUIRE(co != NULL);
    lj_result = 0;
    costack_enter(co); /* setjmp, yields */
    costack_enter(co); /* longjmp, yields */
    EXPECT_EQ(lj_result, 0);
    REQUIRE(pthread_create(&th, NULL, lj_thread, co) == 0);
    pthread_join(th, NULL);
    EXPECT_EQ(lj_result, 3);
}

/* ---- two threads running their own coroutines at once ------------------ */

#define TT_YIELDS 100000
#define TT_LIFECYCLES 20000

static pthread_barrier_t tt_barrier;

typedef struct TwoThreads {
    CostackCoroutine *co;
    long yields;
    long children;
    int self_ok;
    int met; /* passed the barrier while inside its coroutine */
    int create_failed;
} TwoThreads;

static void tt_child(void *opaque)
{
    TwoThreads *t = (TwoThreads *)opaque;
    t->children++;
}

static void tt_entry(void *opaque)
{
    TwoThreads *t = (TwoThreads *)opaque;
    long i;
    /* Both threads are inside a coroutine at the same moment, or neither
     * gets past this. */
    pthread_barrier_wait(&tt_barrier);
    t->met = costack_in_coroutine();
    for (i = 0; i < TT_YIELDS; i++) {
        if (costack_self() != t->co)
            t->self_ok = 0;
        t->yields++;
        if (i < TT_LIFECYCLES) {
            /* Create and finish a nested one: both threads use the pool
             * at the same time. */
            CostackCoroutine *c = costack_create(tt_child, t);
            if (!c) {
                t->create_failed = 1;
            } else {
                costack_enter(c);
            }
        }
        costack_yield();
    }
}

static void *tt_thread(void *arg)
{
    TwoThreads *t = (TwoThreads *)arg;
    long enters = 0;
    t->self_ok = 1;
    t->co = costack_create(tt_entry, t);
    if (!t->co) {
        t->create_failed = 1;
        pthread_barrier_wait(&tt_barrier);
        return NULL;
    }
    /* The coroutine ends after TT_YIELDS + 1 enters. */
    while (enters < TT_YIELDS + 1) {
        costack_enter(t->co);
        enters++;
    }
    return NULL;
}

void case_two_threads_at_once(void)
{
    TwoThreads t[2];
    pthread_t th[2];
    int i, started = 0;
    CostackStats before, after;

    memset(t, 0, sizeof(t));
    costack_stats(&before);
    REQUIRE(pthread_barrier_init(&tt_barrier, NULL, 2) == 0);
    for (i = 0; i < 2; i++) {
        if (pthread_create(&th[i], NULL, tt_thread, &t[i]) != 0) {
            harness_fail(__FILE__, __LINE__, "pthread_create failed");
            break;
        }
        started++;
    }
    if (started < 2) {
        /* Let a lone thread past the barrier (it would wait forever). */
        if (started == 1)
            pthread_barrier_wait(&tt_barrier);
    }
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&tt_barrier);
    REQUIRE(started == 2);
    for (i = 0; i < 2; i++) {
        EXPECT_EQ(t[i].create_failed, 0);
        EXPECT_EQ(t[i].met, 1);
        EXPECT_EQ(t[i].yields, TT_YIELDS);
        EXPECT_EQ(t[i].children, TT_LIFECYCLES);
        EXPECT_EQ(t[i].self_ok, 1);
    }
    EXPECT(t[0].co != t[1].co);
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
}

/* ---- the pool limit over several threads --------------------------------- */

#define PT_THREADS 4
#define PT_EACH 40
#define PT_MAX 24

static pthread_barrier_t pt_barrier;

typedef struct PoolThread {
    int create_failed;
    int finished;
} PoolThread;

static void pt_entry(void *opaque)
{
    (void)opaque;
    costack_yield();
}

static void *pt_thread(void *arg)
{
    PoolThread *p = (PoolThread *)arg;
    CostackCoroutine *cos[PT_EACH + 1];
    int i, n = 0;

    for (i = 0; i < PT_EACH + 1; i++) {
        cos[n] = costack_create(pt_entry, NULL);
        if (!cos[n]) {
            p->create_failed = 1;
            break;
        }
        costack_enter(cos[n++]);
    }
    pthread_barrier_wait(&pt_barrier); /* all created */
    for (i = 0; i < n && i < PT_EACH; i++) {
        costack_enter(cos[i]); /* terminates: into this thread's batch */
        p->finished++;
    }
    pthread_barrier_wait(&pt_barrier); /* the main thread counts now */
    pthread_barrier_wait(&pt_barrier); /* ... and lowers the limit */
    for (; i < n; i++) {
        costack_enter(cos[i]); /* a finish after the limit went down */
        p->finished++;
    }
    pthread_barrier_wait(&pt_barrier); /* the main thread counts again */
    pthread_barrier_wait(&pt_barrier); /* ... and is done */
    return NULL;
}

/* Several threads fill their batches at once: the pool holds no more than
 * its limit over all of them (and fills up to it); a lower limit reaches
 * the other threads' batches when they next finish a coroutine; what a
 * thread kept goes to the shared pool when it exits, for another thread's
 * creates. */
void case_pool_limit_threads(void)
{
    size_t saved = costack_pool_max();
    PoolThread p[PT_THREADS];
    pthread_t th[PT_THREADS];
    CostackStats before, during, lowered, after, reused;
    CostackCoroutine *cos[PT_MAX];
    int i, n = 0, started = 0;

    memset(p, 0, sizeof(p));
    costack_pool_set_max(0); /* empty this thread's batch and the shared pool */
    costack_stats(&before);
    EXPECT_EQ(before.pooled, 0);
    costack_pool_set_max(PT_MAX);
    REQUIRE(pthread_barrier_init(&pt_barrier, NULL, PT_THREADS + 1) == 0);
    for (i = 0; i < PT_THREADS; i++) {
        if (pthread_create(&th[i], NULL, pt_thread, &p[i]) != 0)
            break;
        started++;
    }
    if (started < PT_THREADS) {
        /* The barrier counts on every thread: cannot go on. */
        harness_fail(__FILE__, __LINE__, "pthread_create failed");
        abort();
    }
    pthread_barrier_wait(&pt_barrier);
    pthread_barrier_wait(&pt_barrier);
    costack_stats(&during);
    costack_pool_set_max(PT_MAX / 2);
    pthread_barrier_wait(&pt_barrier);
    pthread_barrier_wait(&pt_barrier);
    costack_stats(&lowered);
    pthread_barrier_wait(&pt_barrier);
    for (i = 0; i < PT_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&pt_barrier);
    costack_stats(&after);

    for (i = 0; i < PT_THREADS; i++) {
        EXPECT_EQ(p[i].create_failed, 0);
        EXPECT_EQ(p[i].finished, PT_EACH + 1);
    }
    EXPECT_EQ(during.live, before.live + PT_THREADS);
    EXPECT_EQ(during.pooled, PT_MAX); /* full, and no more */
    EXPECT_EQ(lowered.live, before.live);
    EXPECT(lowered.pooled <= PT_MAX / 2); /* the other threads shed */
    EXPECT(lowered.pooled > 0);           /* ... down to the limit, not 0 */
    EXPECT_EQ(after.pooled, lowered.pooled); /* handed on at thread exit */
    EXPECT_EQ(after.stacks_mapped, before.stacks_mapped + after.pooled);

    /* This thread's creates take them: no new stack. */
    costack_pool_set_max(PT_MAX);
    for (i = 0; i < (int)after.pooled; i++) {
        cos[n] = costack_create(pt_entry, NULL);
        if (!cos[n])
            break;
        costack_enter(cos[n++]);
    }
    EXPECT_EQ(n, (int)after.pooled);
    costack_stats(&reused);
    EXPECT_EQ(reused.pooled, 0);
    EXPECT_EQ(reused.stacks_mapped, after.stacks_mapped);
    while (n > 0)
        costack_enter(cos[--n]);
    costack_pool_set_max(saved);
}

/* ---- the global lock ------------------------------------------------------ */

typedef struct LockProbe {
    int trylock_result;
    int held_before, held_after;
    int release; /* set by the main thread; read under probe_mutex */
} LockProbe;

static void *try_lock_thread(void *arg)
{
    LockProbe *p = (LockProbe *)arg;
    p->held_before = costack_global_lock_held();
    p->trylock_result = costack_global_trylock();
    p->held_after = costack_global_lock_held();
    if (p->trylock_result)
        costack_global_unlock();
    return NULL;
}

static pthread_mutex_t probe_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cond = PTHREAD_COND_INITIALIZER;

static void *hold_lock_thread(void *arg)
{
    LockProbe *p = (LockProbe *)arg;
    costack_global_lock();
    pthread_mutex_lock(&probe_mutex);
    p->held_after = costack_global_lock_held();
    p->trylock_result = 1; /* "locked" */
    pthread_cond_broadcast(&probe_cond);
    while (!p->release)
        pthread_cond_wait(&probe_cond, &probe_mutex);
    pthread_mutex_unlock(&probe_mutex);
    costack_global_unlock();
    return NULL;
}

static int lock_held_in_co;

static void lock_entry(void *opaque)
{
    (void)opaque;
    lock_held_in_co = costack_global_lock_held();
}

void case_global_lock(void)
{
    LockProbe p;
    pthread_t th;
    CostackCoroutine *co;

    EXPECT_EQ(costack_global_lock_held(), 0);
    costack_global_lock();
    EXPECT_EQ(costack_global_lock_held(), 1);

    /* Another thread cannot take it, and does not think it holds it. */
    memset(&p, 0, sizeof(p));
    REQUIRE(pthread_create(&th, NULL, try_lock_thread, &p) == 0);
    pthread_join(th, NULL);
    EXPECT_EQ(p.held_before, 0);
    EXPECT_EQ(p.trylock_result, 0);
    EXPECT_EQ(p.held_after, 0);

    /* Held by the thread, so also inside a coroutine it runs. */
    co = costack_create(lock_entry, NULL);
    REQUIRE(co != NULL);
    lock_held_in_co = -1;
    costack_enter(co);
    EXPECT_EQ(lock_held_in_co, 1);

    costack_global_unlock();
    EXPECT_EQ(costack_global_lock_held(), 0);

    /* Free again: the other thread gets it. */
    memset(&p, 0, sizeof(p));
    REQUIRE(pthread_create(&th, NULL, try_lock_thread, &p) == 0);
    pthread_join(th, NULL);
    EXPECT_EQ(p.trylock_result, 1);
    EXPECT_EQ(p.held_after, 1);
    EXPECT_EQ(costack_global_lock_held(), 0);

    /* Held by another thread: trylock fails here; after it lets go,
     * trylock succeeds. */
    memset(&p, 0, sizeof(p));
    REQUIRE(pthread_create(&th, NULL, hold_lock_thread, &p) == 0);
    pthread_mutex_lock(&probe_mutex);
    while (!p.trylock_result)
        pthread_cond_wait(&probe_cond, &probe_mutex);
    pthread_mutex_unlock(&probe_mutex);
    EXPECT_EQ(p.held_after, 1);
    EXPECT_EQ(costack_global_trylock(), 0);
    EXPECT_EQ(costack_global_lock_held(), 0);
    pthread_mutex_lock(&probe_mutex);
    p.release = 1;
    pthread_cond_broadcast(&probe_cond);
    pthread_mutex_unlock(&probe_mutex);
    pthread_join(th, NULL);
    EXPECT_EQ(costack_global_trylock(), 1);
    EXPECT_EQ(costack_global_lock_held(), 1);
    costack_global_unlock();
}

/* Two threads increment a plain counter under the lock: no update lost.
 * Each also runs a coroutine that increments it, switching while holding
 * the lock. */
#define EXCL_ROUNDS 200000

static long excl_counter;
static volatile int excl_inside; /* how many threads are in the section */
static int excl_overlap;

static void excl_entry(void *opaque)
{
    long *rounds = (long *)opaque;
    for (;;) {
        long v = excl_counter;
        if (excl_inside != 1)
            excl_overlap = 1;
        excl_counter = v + 1;
        if (--*rounds == 0)
            break;
        costack_yield();
    }
}

static void *excl_thread(void *arg)
{
    long rounds = EXCL_ROUNDS;
    CostackCoroutine *co = costack_create(excl_entry, &rounds);
    int *failed = (int *)arg;
    if (!co) {
        *failed = 1;
        return NULL;
    }
    while (rounds > 0) {
        costack_global_lock();
        excl_inside++;
        costack_enter(co);
        excl_inside--;
        costack_global_unlock();
    }
    return NULL;
}

void case_global_lock_exclusion(void)
{
    pthread_t th[2];
    int failed[2] = {0, 0};
    int i;

    excl_counter = 0;
    excl_overlap = 0;
    excl_inside = 0;
    for (i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, excl_thread, &failed[i]) == 0);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    EXPECT_EQ(failed[0], 0);
    EXPECT_EQ(failed[1], 0);
    EXPECT_EQ(excl_counter, 2L * EXCL_ROUNDS);
    EXPECT_EQ(excl_overlap, 0);
}

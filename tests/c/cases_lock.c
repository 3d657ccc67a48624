/*
 * cases_lock.c - the C suite's cases for queues, mutexes and read-write
 * locks (costack.h "Queues", "Mutexes", "Read-write locks"; csrc/lock.c),
 * and for the same under QEMU's names (qemu-coroutine.h): when the woken
 * run and in which order, the hand-off of a mutex, the fairness of the
 * rwlock with its upgrade and downgrade, what destroying a waiter leaves
 * behind, and every misuse that aborts.  The event-loop-free cases of
 * QEMU's tests/unit/test-coroutine.c that concern them (co-mutex, order,
 * entered, rwlock upgrade and downgrade) are here too, in costack's words.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "costack.h"
#include "qemu-coroutine.h"
#include "harness.h"

/* ---- a log of what ran, in order ------------------------------------------ */

static char steps[256];

static void log_reset(void)
{
    steps[0] = '\0';
}

/* Append s (not with strncat: mingw's fortified string.h makes it a
 * libssp call the Windows build does not link). */
static void step(const char *s)
{
    size_t n = strlen(steps);
    while (*s && n < sizeof(steps) - 1)
        steps[n++] = *s++;
    steps[n] = '\0';
}

static void expect_log(const char *want, int line)
{
    if (strcmp(steps, want) != 0)
        harness_fail(__FILE__, line, "steps \"%s\", expected \"%s\"", steps,
                     want);
}
#define EXPECT_LOG(want) expect_log((want), __LINE__)

static CostackCoroutine *make(CostackEntry *entry, void *opaque)
{
    CostackCoroutine *co = costack_create(entry, opaque);
    if (!co)
        harness_fail(__FILE__, __LINE__, "costack_create failed");
    return co;
}

/* A named actor: its name in the log and the objects it uses. */
typedef struct Actor {
    const char *name;
    CostackQueue *q;
    CostackQueue *q2; /* queue_next on it when woken (NULL: none) */
    CostackMutex *m;
    CostackRwlock *l;
    int count;
    int done;
} Actor;

static Actor actor(const char *name)
{
    Actor a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    return a;
}

/* ---- queues: when the woken run ------------------------------------------ */

/* Log the name, wait on q, log the name in lower case... the name twice
 * would do, but a distinct mark shows the second half ran. */
static void queue_waiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    step(a->name);
    costack_queue_wait(a->q);
    step(a->name);
    step("'");
    if (a->q2)
        EXPECT_EQ(costack_queue_next(a->q2), 1);
    a->done = 1;
}

static CostackQueue wq;

static void wake_all_then_yield(void *opaque)
{
    size_t *n = (size_t *)opaque;
    *n = costack_queue_wake_all(&wq);
    step("w");
    costack_yield();
    step("W");
}

void case_lock_queue_wake_order(void)
{
    CostackQueue q2 = COSTACK_QUEUE_INIT;
    Actor a = actor("a"), b = actor("b"), d = actor("d");
    CostackCoroutine *ca, *cb, *cd, *w;
    size_t n = 0;

    costack_queue_init(&wq);
    log_reset();
    a.q = &wq;
    a.q2 = &q2; /* a, once woken, wakes d */
    b.q = &wq;
    d.q = &q2;
    ca = make(queue_waiter, &a);
    cb = make(queue_waiter, &b);
    cd = make(queue_waiter, &d);
    w = make(wake_all_then_yield, &n);
    REQUIRE(ca && cb && cd && w);
    costack_enter(ca);
    costack_enter(cb);
    costack_enter(cd);
    EXPECT_LOG("abd");
    EXPECT(costack_waiting(ca) && costack_waiting(cb) && costack_waiting(cd));
    EXPECT(!costack_queue_empty(&wq));

    /* Woken from a coroutine: nobody runs until the waker yields; then a,
     * the coroutine a woke (d: depth-first), b, and only then the waker's
     * resumer (here) continues. */
    costack_enter(w);
    EXPECT_EQ(n, 2);
    EXPECT_LOG("abdwa'd'b'");
    EXPECT(a.done && b.done && d.done);
    EXPECT(costack_queue_empty(&wq));
    EXPECT(costack_queue_empty(&q2));
    costack_enter(w);
    EXPECT_LOG("abdwa'd'b'W");
}

void case_lock_queue_wake_outside(void)
{
    CostackQueue q = COSTACK_QUEUE_INIT;
    Actor a = actor("a"), b = actor("b");
    CostackCoroutine *ca, *cb;

    log_reset();
    a.q = b.q = &q;
    ca = make(queue_waiter, &a);
    cb = make(queue_waiter, &b);
    REQUIRE(ca && cb);
    EXPECT_EQ(costack_queue_next(&q), 0); /* empty */
    EXPECT_EQ(costack_queue_wake_all(&q), 0);
    costack_enter(ca);
    costack_enter(cb);
    /* From outside any coroutine a wake enters at once: a has run to its
     * end before costack_queue_next returns, b has not. */
    EXPECT_EQ(costack_queue_next(&q), 1);
    EXPECT_LOG("aba'");
    EXPECT(a.done && !b.done);
    EXPECT(!costack_queue_empty(&q));
    EXPECT_EQ(costack_queue_next(&q), 1);
    EXPECT_LOG("aba'b'");
    EXPECT(costack_queue_empty(&q));
}

/* Waits on q again and again, counting its wakes. */
static void queue_rewaiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    for (;;) {
        costack_queue_wait(a->q);
        a->count++;
        step(a->name);
    }
}

void case_lock_queue_wake_all_once(void)
{
    CostackQueue q = COSTACK_QUEUE_INIT;
    Actor a = actor("a"), b = actor("b");
    CostackCoroutine *ca, *cb;

    log_reset();
    a.q = b.q = &q;
    ca = make(queue_rewaiter, &a);
    cb = make(queue_rewaiter, &b);
    REQUIRE(ca && cb);
    costack_enter(ca);
    costack_enter(cb);
    /* Each waiter that was there is woken once, in order, though each
     * waits on q again at once (entered at once, from outside). */
    EXPECT_EQ(costack_queue_wake_all(&q), 2);
    EXPECT_LOG("ab");
    EXPECT_EQ(a.count, 1);
    EXPECT_EQ(b.count, 1);
    EXPECT_EQ(costack_queue_wake_all(&q), 2);
    EXPECT_LOG("abab");
    /* Destroying a waiter takes it off the queue. */
    costack_destroy(ca);
    EXPECT_EQ(costack_queue_wake_all(&q), 1);
    EXPECT_LOG("ababb");
    costack_destroy(cb);
    EXPECT(costack_queue_empty(&q));
    EXPECT_EQ(costack_queue_wake_all(&q), 0);
}

static void queue_head_waiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_queue_wait_head(a->q);
    step(a->name);
    a->done = 1;
}

static void queue_tail_waiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_queue_wait(a->q);
    step(a->name);
    a->done = 1;
}

void case_lock_queue_wait_head(void)
{
    CostackQueue q;
    Actor a = actor("a"), b = actor("b"), c = actor("c");
    CostackCoroutine *ca, *cb, *cc;

    costack_queue_init(&q);
    log_reset();
    a.q = b.q = c.q = &q;
    ca = make(queue_tail_waiter, &a);
    cb = make(queue_tail_waiter, &b);
    cc = make(queue_head_waiter, &c);
    REQUIRE(ca && cb && cc);
    costack_enter(ca);
    costack_enter(cb);
    costack_enter(cc); /* in front of a and b */
    EXPECT_EQ(costack_queue_wake_all(&q), 3);
    EXPECT_LOG("cab");
    EXPECT(a.done && b.done && c.done);
}

/* Destroying waiters anywhere in a queue: the others keep their order. */
void case_lock_queue_destroy_waiter(void)
{
    CostackQueue q = COSTACK_QUEUE_INIT;
    Actor ac[4];
    CostackCoroutine *co[4];
    const char *names[4] = {"a", "b", "c", "d"};
    int i;

    log_reset();
    for (i = 0; i < 4; i++) {
        ac[i] = actor(names[i]);
        ac[i].q = &q;
        co[i] = make(queue_tail_waiter, &ac[i]);
        REQUIRE(co[i] != NULL);
        costack_enter(co[i]);
    }
    costack_destroy(co[0]); /* the head */
    costack_destroy(co[2]); /* the middle */
    EXPECT_EQ(costack_queue_wake_all(&q), 2);
    EXPECT_LOG("bd");

    /* The tail, and the only one. */
    log_reset();
    for (i = 0; i < 2; i++) {
        co[i] = make(queue_tail_waiter, &ac[i]);
        REQUIRE(co[i] != NULL);
        costack_enter(co[i]);
    }
    costack_destroy(co[1]);
    EXPECT_EQ(costack_queue_next(&q), 1);
    EXPECT_EQ(costack_queue_next(&q), 0);
    EXPECT_LOG("a");
    co[0] = make(queue_tail_waiter, &ac[0]);
    REQUIRE(co[0] != NULL);
    costack_enter(co[0]);
    costack_destroy(co[0]);
    EXPECT(costack_queue_empty(&q));
}

/* A coroutine woken (from a coroutine) and destroyed before it ran: it is
 * off the queue and off the run list; the others still run. */
static CostackCoroutine *doomed;

static void wake_two_destroy_first(void *opaque)
{
    CostackQueue *q = (CostackQueue *)opaque;
    EXPECT_EQ(costack_queue_next(q), 1);
    EXPECT_EQ(costack_queue_next(q), 1);
    costack_destroy(doomed);
    step("w");
}

void case_lock_queue_destroy_woken(void)
{
    CostackQueue q = COSTACK_QUEUE_INIT;
    Actor a = actor("a"), b = actor("b");
    CostackCoroutine *ca, *cb, *w;

    log_reset();
    a.q = b.q = &q;
    ca = make(queue_tail_waiter, &a);
    cb = make(queue_tail_waiter, &b);
    w = make(wake_two_destroy_first, &q);
    REQUIRE(ca && cb && w);
    costack_enter(ca);
    costack_enter(cb);
    doomed = ca;
    costack_enter(w);
    EXPECT_LOG("wb");
    EXPECT(!a.done && b.done);
    EXPECT(costack_queue_empty(&q));
}

/* ---- mutexes ---------------------------------------------------------------- */

static CostackMutex hm;

/* Locks hm, yields holding it, unlocks and checks that nobody barged in:
 * the mutex went to the waiter, which has not run yet. */
static void mutex_holder(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_mutex_lock(&hm);
    step(a->name);
    costack_yield();
    costack_mutex_unlock(&hm);
    EXPECT_EQ(costack_mutex_trylock(&hm), 0); /* handed over */
    step("u");
    if (a->count) { /* yield after the unlock instead of ending */
        costack_yield();
        step("U");
    }
    a->done = 1;
}

static void mutex_waiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    step(a->name);
    costack_mutex_lock(&hm);
    step(a->name);
    step("'");
    EXPECT_EQ(costack_mutex_trylock(&hm), 0);
    costack_mutex_unlock(&hm); /* aborts unless it holds hm */
    a->done = 1;
}

static void mutex_try(void *opaque)
{
    int *got = (int *)opaque;
    *got = costack_mutex_trylock(&hm);
    if (*got)
        costack_mutex_unlock(&hm);
}

void case_lock_mutex_handoff(void)
{
    int variant;
    for (variant = 0; variant < 2; variant++) {
        Actor a = actor("a"), b = actor("b");
        CostackCoroutine *ca, *cb, *ct;
        int got = -1;

        costack_mutex_init(&hm);
        log_reset();
        a.count = variant; /* 1: a yields after its unlock */
        ca = make(mutex_holder, &a);
        cb = make(mutex_waiter, &b);
        REQUIRE(ca && cb);
        costack_enter(ca);
        costack_enter(cb); /* waits */
        EXPECT(costack_waiting(cb));
        EXPECT_LOG("ab");
        /* a unlocks: b is queued to run, with the mutex, when a yields or
         * ends; not before. */
        costack_enter(ca);
        EXPECT_LOG("abub'");
        EXPECT(b.done);
        EXPECT_EQ(a.done, !variant);
        if (variant) {
            costack_enter(ca);
            EXPECT_LOG("abub'U");
        }
        EXPECT(a.done);
        ct = make(mutex_try, &got);
        REQUIRE(ct != NULL);
        costack_enter(ct);
        EXPECT_EQ(got, 1); /* free again */
    }
}

static void mutex_fifo_waiter(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_mutex_lock(a->m);
    step(a->name);
    costack_yield(); /* keep it a while: the others stay queued */
    costack_mutex_unlock(a->m);
    a->done = 1;
}

void case_lock_mutex_fifo(void)
{
    CostackMutex m = COSTACK_MUTEX_INIT;
    Actor ac[4];
    CostackCoroutine *co[4];
    const char *names[4] = {"a", "b", "c", "d"};
    int i;

    log_reset();
    for (i = 0; i < 4; i++) {
        ac[i] = actor(names[i]);
        ac[i].m = &m;
        co[i] = make(mutex_fifo_waiter, &ac[i]);
        REQUIRE(co[i] != NULL);
        costack_enter(co[i]); /* a holds m; b, c, d wait in that order */
    }
    EXPECT_LOG("a");
    /* Each unlock hands m to the next in line, which runs when the
     * unlocker ends, and yields holding it. */
    for (i = 0; i < 4; i++) {
        CostackCoroutine *holder = co[i];
        costack_enter(holder);
        EXPECT(ac[i].done);
    }
    EXPECT_LOG("abcd");
}

typedef struct TryState {
    CostackMutex *m;
    int results[4];
} TryState;

static void trylock_entry(void *opaque)
{
    TryState *s = (TryState *)opaque;
    s->results[0] = costack_mutex_trylock(s->m);
    s->results[1] = costack_mutex_trylock(s->m); /* held, by itself */
    costack_yield();
    costack_mutex_unlock(s->m);
    s->results[3] = costack_mutex_trylock(s->m);
    costack_mutex_unlock(s->m);
}

static void trylock_other(void *opaque)
{
    TryState *s = (TryState *)opaque;
    s->results[2] = costack_mutex_trylock(s->m);
    if (s->results[2])
        costack_mutex_unlock(s->m);
}

void case_lock_mutex_trylock(void)
{
    CostackMutex m;
    TryState s;
    CostackCoroutine *a, *b;

    costack_mutex_init(&m);
    memset(&s, 0, sizeof(s));
    s.m = &m;
    s.results[2] = -1;
    a = make(trylock_entry, &s);
    b = make(trylock_other, &s);
    REQUIRE(a && b);
    costack_enter(a);
    costack_enter(b);
    costack_enter(a);
    EXPECT_EQ(s.results[0], 1);
    EXPECT_EQ(s.results[1], 0);
    EXPECT_EQ(s.results[2], 0);
    EXPECT_EQ(s.results[3], 1);
}

/* The waiters of a mutex destroyed: the head, one in the middle; the
 * mutex still goes to the rest in order, and ends free. */
void case_lock_mutex_destroy_waiter(void)
{
    CostackMutex m = COSTACK_MUTEX_INIT;
    Actor ac[4];
    CostackCoroutine *co[4];
    const char *names[4] = {"a", "b", "c", "d"};
    TryState s;
    CostackCoroutine *t;
    int i;

    log_reset();
    for (i = 0; i < 4; i++) {
        ac[i] = actor(names[i]);
        ac[i].m = &m;
        co[i] = make(mutex_fifo_waiter, &ac[i]);
        REQUIRE(co[i] != NULL);
        costack_enter(co[i]);
    }
    costack_destroy(co[1]);
    costack_destroy(co[3]);
    costack_enter(co[0]); /* a unlocks: c gets m */
    EXPECT_LOG("ac");
    costack_enter(co[2]); /* c unlocks: nobody waits */
    EXPECT(ac[2].done);
    memset(&s, 0, sizeof(s));
    s.m = &m;
    t = make(trylock_other, &s);
    REQUIRE(t != NULL);
    costack_enter(t);
    EXPECT_EQ(s.results[2], 1);
}

/* ---- read-write locks -------------------------------------------------------- */

/* Takes a read (count 0) or write (count 1) lock, logs, yields holding
 * it, unlocks, logs the end. */
static void rw_actor(void *opaque)
{
    Actor *a = (Actor *)opaque;
    if (a->count)
        costack_rwlock_wrlock(a->l);
    else
        costack_rwlock_rdlock(a->l);
    step(a->name);
    costack_yield();
    costack_rwlock_unlock(a->l);
    a->done = 1;
}

void case_lock_rwlock_fair(void)
{
    CostackRwlock l = COSTACK_RWLOCK_INIT;
    Actor r1 = actor("r"), r2 = actor("s"), w = actor("W");
    Actor r3 = actor("t"), r4 = actor("u"), w2 = actor("X");
    CostackCoroutine *c_r1, *c_r2, *c_w, *c_r3, *c_r4, *c_w2;

    log_reset();
    r1.l = r2.l = w.l = r3.l = r4.l = w2.l = &l;
    w.count = w2.count = 1;
    c_r1 = make(rw_actor, &r1);
    c_w = make(rw_actor, &w);
    c_r2 = make(rw_actor, &r2);
    REQUIRE(c_r1 && c_w && c_r2);
    costack_enter(c_r1); /* reads */
    costack_enter(c_w);  /* waits for r */
    costack_enter(c_r2); /* waits too, though only a reader holds l */
    EXPECT_LOG("r");
    EXPECT(costack_waiting(c_w) && costack_waiting(c_r2));
    costack_enter(c_r1); /* unlocks: W gets l and runs when r ends */
    EXPECT_LOG("rW");
    EXPECT(costack_waiting(c_r2));

    /* Behind W: readers s, t; then writer X; then reader u.  W's unlock
     * admits s and t together; X waits for both; u waits behind X. */
    c_r3 = make(rw_actor, &r3);
    c_w2 = make(rw_actor, &w2);
    c_r4 = make(rw_actor, &r4);
    REQUIRE(c_r3 && c_w2 && c_r4);
    costack_enter(c_r3);
    costack_enter(c_w2);
    costack_enter(c_r4);
    costack_enter(c_w); /* unlocks */
    EXPECT_LOG("rWst");
    EXPECT(costack_waiting(c_w2) && costack_waiting(c_r4));
    costack_enter(c_r2); /* one reader left: X still waits */
    EXPECT_LOG("rWst");
    EXPECT(costack_waiting(c_w2));
    costack_enter(c_r3); /* the last reader: X */
    EXPECT_LOG("rWstX");
    costack_enter(c_w2); /* X unlocks: u */
    EXPECT_LOG("rWstXu");
    costack_enter(c_r4);
    EXPECT(r1.done && r2.done && r3.done && r4.done && w.done && w2.done);
}

/* Upgrade and downgrade with nobody else around. */
static void rw_solo(void *opaque)
{
    CostackRwlock *l = (CostackRwlock *)opaque;
    costack_rwlock_rdlock(l);
    costack_rwlock_upgrade(l); /* sole reader, empty queue: at once */
    step("U");
    costack_rwlock_downgrade(l);
    step("D");
    costack_rwlock_rdlock(l); /* a second read lock */
    costack_rwlock_unlock(l);
    costack_rwlock_unlock(l);
    costack_rwlock_wrlock(l);
    costack_rwlock_unlock(l);
    step("E");
}

void case_lock_rwlock_solo(void)
{
    CostackRwlock l;
    CostackCoroutine *co;
    costack_rwlock_init(&l);
    log_reset();
    co = make(rw_solo, &l);
    REQUIRE(co != NULL);
    costack_enter(co); /* no wait anywhere: runs to its end */
    EXPECT_LOG("UDE");
}

/* QEMU's rwlock upgrade case, told anew: a sole reader that upgrades while
 * a writer waits queues behind that writer, which runs first. */
static void upgrader(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_rwlock_rdlock(a->l);
    step("r");
    costack_yield();
    costack_rwlock_upgrade(a->l);
    step("R");
    costack_rwlock_unlock(a->l);
    a->done = 1;
}

void case_lock_rwlock_upgrade(void)
{
    CostackRwlock l = COSTACK_RWLOCK_INIT;
    Actor up = actor("u"), w = actor("W"), r = actor("s");
    CostackCoroutine *cu, *cw, *cr;

    log_reset();
    up.l = w.l = r.l = &l;
    w.count = 1;
    cu = make(upgrader, &up);
    cw = make(rw_actor, &w);
    cr = make(rw_actor, &r);
    REQUIRE(cu && cw && cr);
    costack_enter(cu); /* reads */
    costack_enter(cw); /* waits for the write lock */
    costack_enter(cu); /* upgrades: releases, W runs, u queues */
    EXPECT_LOG("rW");
    EXPECT(costack_waiting(cu));
    costack_enter(cr); /* a reader now waits behind u, the writer-to-be */
    EXPECT(costack_waiting(cr));
    costack_enter(cw); /* W unlocks: u writes, then s reads */
    EXPECT_LOG("rWRs");
    EXPECT(up.done && w.done);
    costack_enter(cr);
    EXPECT(r.done);
}

/* QEMU's downgrade case, told anew: four coroutines, a reader holding l
 * while both a writer and a reader wait, and another writer behind them;
 * the first writer downgrades, which admits the waiting reader.  Nobody
 * may hang. */
static void downgrader(void *opaque)
{
    Actor *a = (Actor *)opaque;
    costack_rwlock_wrlock(a->l);
    step("W");
    costack_rwlock_downgrade(a->l); /* never waits; admits the reader */
    step("D");
    costack_yield();
    costack_rwlock_unlock(a->l);
    a->done = 1;
}

static void rw_quick(void *opaque)
{
    Actor *a = (Actor *)opaque;
    if (a->count)
        costack_rwlock_wrlock(a->l);
    else
        costack_rwlock_rdlock(a->l);
    step(a->name);
    costack_rwlock_unlock(a->l);
    a->done = 1;
}

void case_lock_rwlock_downgrade(void)
{
    CostackRwlock l = COSTACK_RWLOCK_INIT;
    Actor c1 = actor("1"), c2 = actor("2"), c3 = actor("3"), c4 = actor("4");
    CostackCoroutine *k1, *k2, *k3, *k4;

    log_reset();
    c1.l = c2.l = c3.l = c4.l = &l;
    c4.count = 1; /* a writer */
    k1 = make(rw_actor, &c1);   /* reads, yields holding */
    k2 = make(downgrader, &c2); /* writer that downgrades */
    k3 = make(rw_quick, &c3);   /* reader */
    k4 = make(rw_quick, &c4);   /* writer */
    REQUIRE(k1 && k2 && k3 && k4);
    costack_enter(k1);
    costack_enter(k2);
    costack_enter(k3);
    costack_enter(k4);
    EXPECT_LOG("1");
    /* 1 unlocks: 2 writes and downgrades, which lets 3 in (3 reads and
     * unlocks); 2 yields holding its read lock, so 4 still waits. */
    costack_enter(k1);
    EXPECT_LOG("1WD3");
    EXPECT(c1.done && c3.done && !c4.done);
    EXPECT(costack_waiting(k4));
    costack_enter(k2); /* 2 unlocks: 4 writes */
    EXPECT_LOG("1WD34");
    EXPECT(c2.done && c4.done);
}

/* The waiters of an rwlock destroyed: a writer between readers (the
 * reader behind it joins the readers that hold l at the next unlock), and
 * a reader behind a writer. */
void case_lock_rwlock_destroy_waiter(void)
{
    CostackRwlock l = COSTACK_RWLOCK_INIT;
    Actor r = actor("r"), r2 = actor("s"), r3 = actor("t"), w = actor("W");
    Actor w2 = actor("X");
    CostackCoroutine *cr, *cr2, *cr3, *cw, *cw2;

    log_reset();
    r.l = r2.l = r3.l = w.l = w2.l = &l;
    w.count = w2.count = 1;
    cr = make(rw_actor, &r);
    cr3 = make(rw_actor, &r3);
    cw = make(rw_actor, &w);
    cr2 = make(rw_actor, &r2);
    REQUIRE(cr && cr3 && cw && cr2);
    costack_enter(cr);  /* r reads */
    costack_enter(cr3); /* t reads */
    costack_enter(cw);  /* W waits */
    costack_enter(cr2); /* s waits behind W */
    costack_destroy(cw);
    costack_enter(cr); /* r unlocks; t still reads: s joins it */
    EXPECT_LOG("rts");
    costack_enter(cr3);
    costack_enter(cr2);
    EXPECT(r.done && r2.done && r3.done);

    /* Free again: a writer at once; a reader waits behind a writer and is
     * destroyed; the writer's unlock leaves l free. */
    log_reset();
    cw = make(rw_actor, &w);
    cw2 = make(rw_actor, &w2);
    cr = make(rw_actor, &r);
    REQUIRE(cw && cw2 && cr);
    costack_enter(cw);
    costack_enter(cr);
    costack_enter(cw2);
    costack_destroy(cr);
    costack_enter(cw); /* W unlocks: X */
    EXPECT_LOG("WX");
    costack_enter(cw2);
    cr = make(rw_quick, &r);
    REQUIRE(cr != NULL);
    costack_enter(cr); /* free: no wait */
    EXPECT_LOG("WXr");
}

/* ---- QEMU's names ------------------------------------------------------------- */

/* QEMU's co-mutex case, told anew: two coroutines take turns at a mutex;
 * the unlock queues the waiter, which starts when the unlocker yields or
 * ends. */
static CoMutex qm;
static bool q_locked;
static int q_done;

static void coroutine_fn qemu_mutex_entry(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&qm);
    EXPECT(!q_locked);
    q_locked = true;
    qemu_coroutine_yield();
    q_locked = false;
    qemu_co_mutex_unlock(&qm);
    q_done++;
}

void case_lock_qemu_co_mutex(void)
{
    Coroutine *c1, *c2;
    qemu_co_mutex_init(&qm);
    q_locked = false;
    q_done = 0;
    c1 = qemu_coroutine_create(qemu_mutex_entry);
    c2 = qemu_coroutine_create(qemu_mutex_entry);
    qemu_coroutine_enter(c1, NULL);
    EXPECT(q_locked);
    qemu_coroutine_enter(c2, NULL); /* waits */
    qemu_coroutine_enter(c1, NULL); /* unlocks and ends; c2 then runs */
    EXPECT_EQ(q_done, 1);
    EXPECT(q_locked);
    qemu_coroutine_enter(c2, NULL);
    EXPECT_EQ(q_done, 2);
    EXPECT(!q_locked);
}

/* QEMU's order case, told anew with a queue between the steps: the
 * record of who ran must read (main 1) (co 1) (main 2) (co 2) (main 3). */
static CoQueue oq;

static void coroutine_fn qemu_order_entry(void *opaque)
{
    (void)opaque;
    step("c1 ");
    EXPECT(qemu_in_coroutine());
    qemu_co_queue_wait(&oq);
    step("c2 ");
    EXPECT(qemu_in_coroutine());
}

void case_lock_qemu_order(void)
{
    Coroutine *co;
    log_reset();
    qemu_co_queue_init(&oq);
    EXPECT(qemu_co_queue_empty(&oq));
    co = qemu_coroutine_create(qemu_order_entry);
    step("m1 ");
    qemu_coroutine_enter(co, NULL);
    step("m2 ");
    EXPECT(!qemu_in_coroutine());
    EXPECT(!qemu_co_queue_empty(&oq));
    EXPECT(qemu_co_queue_next(&oq)); /* outside: runs it at once */
    step("m3");
    EXPECT(!qemu_in_coroutine());
    EXPECT(!qemu_co_queue_next(&oq));
    EXPECT_LOG("m1 c1 m2 c2 m3");
}

/* QEMU's entered case, told anew for waits: a coroutine that waits, or
 * was woken and has not run yet, is not entered; the waker and its own
 * resumer are. */
static CoQueue eq;
static Coroutine *e_waiter, *e_outer;

static void coroutine_fn qemu_entered_waiter(void *opaque)
{
    (void)opaque;
    EXPECT(costack_entered((CostackCoroutine *)qemu_coroutine_self()));
    qemu_co_queue_wait(&eq);
    EXPECT(costack_entered((CostackCoroutine *)qemu_coroutine_self()));
    step("w");
}

static void coroutine_fn qemu_entered_inner(void *opaque)
{
    (void)opaque;
    EXPECT(!costack_entered((CostackCoroutine *)e_waiter));
    EXPECT(qemu_co_queue_next(&eq)); /* deferred: from a coroutine */
    EXPECT(!costack_entered((CostackCoroutine *)e_waiter));
    EXPECT(costack_entered((CostackCoroutine *)qemu_coroutine_self()));
    EXPECT(costack_entered((CostackCoroutine *)e_outer));
    step("i");
}

static void coroutine_fn qemu_entered_outer(void *opaque)
{
    Coroutine *inner = qemu_coroutine_create(qemu_entered_inner);
    (void)opaque;
    qemu_coroutine_enter(inner, NULL); /* woken w runs before this returns */
    step("o");
}

void case_lock_qemu_entered(void)
{
    log_reset();
    qemu_co_queue_init(&eq);
    e_waiter = qemu_coroutine_create(qemu_entered_waiter);
    e_outer = qemu_coroutine_create(qemu_entered_outer);
    qemu_coroutine_enter(e_waiter, NULL);
    EXPECT(!costack_entered((CostackCoroutine *)e_waiter));
    qemu_coroutine_enter(e_outer, NULL);
    EXPECT_LOG("iwo");
    EXPECT(qemu_co_queue_empty(&eq));
}

/* The rest of the QEMU names: wait_insert_head, restart_all, and a
 * CoRwlock declared by value. */
typedef struct QemuActor {
    const char *name;
    CoQueue *q;
    CoRwlock *l;
    int head, write;
} QemuActor;

static void coroutine_fn qemu_queue_actor(void *opaque)
{
    QemuActor *a = (QemuActor *)opaque;
    if (a->head)
        qemu_co_queue_wait_insert_head(a->q);
    else
        qemu_co_queue_wait(a->q);
    step(a->name);
}

static void coroutine_fn qemu_rw_actor(void *opaque)
{
    QemuActor *a = (QemuActor *)opaque;
    if (a->write)
        qemu_co_rwlock_wrlock(a->l);
    else
        qemu_co_rwlock_rdlock(a->l);
    step(a->name);
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(a->l);
}

void case_lock_qemu_queue_rwlock(void)
{
    CoQueue q;
    CoRwlock l;
    QemuActor a = {"a", &q, &l, 0, 0}, b = {"b", &q, &l, 0, 0};
    QemuActor c = {"c", &q, &l, 1, 0};
    QemuActor r = {"r", &q, &l, 0, 0}, w = {"W", &q, &l, 0, 1};
    QemuActor s = {"s", &q, &l, 0, 0};
    Coroutine *cr, *cw, *cs;

    log_reset();
    qemu_co_queue_init(&q);
    qemu_coroutine_enter(qemu_coroutine_create(qemu_queue_actor), &a);
    qemu_coroutine_enter(qemu_coroutine_create(qemu_queue_actor), &b);
    qemu_coroutine_enter(qemu_coroutine_create(qemu_queue_actor), &c);
    qemu_co_queue_restart_all(&q);
    EXPECT_LOG("cab");
    EXPECT(qemu_co_queue_empty(&q));

    log_reset();
    qemu_co_rwlock_init(&l);
    cr = qemu_coroutine_create(qemu_rw_actor);
    cw = qemu_coroutine_create(qemu_rw_actor);
    cs = qemu_coroutine_create(qemu_rw_actor);
    qemu_coroutine_enter(cr, &r);
    qemu_coroutine_enter(cw, &w);
    qemu_coroutine_enter(cs, &s); /* behind the writer */
    EXPECT_LOG("r");
    qemu_coroutine_enter(cr, NULL);
    EXPECT_LOG("rW");
    qemu_coroutine_enter(cw, NULL);
    EXPECT_LOG("rWs");
    qemu_coroutine_enter(cs, NULL);
}

/* The 2011 signatures, exactly: code of that era that takes these
 * functions' addresses compiles only if the types match.  And the types
 * are complete: declarable by value, sizeof works. */
typedef void QemuQueueFn(CoQueue *queue);
typedef bool QemuQueueTest(CoQueue *queue);
typedef void QemuMutexFn(CoMutex *mutex);
typedef void QemuRwlockFn(CoRwlock *lock);

void case_lock_qemu_signatures(void)
{
    QemuQueueFn *queue_fns[4] = {qemu_co_queue_init, qemu_co_queue_wait,
                                 qemu_co_queue_wait_insert_head,
                                 qemu_co_queue_restart_all};
    QemuQueueTest *queue_tests[2] = {qemu_co_queue_next,
                                     qemu_co_queue_empty};
    QemuMutexFn *mutex_fns[3] = {qemu_co_mutex_init, qemu_co_mutex_lock,
                                 qemu_co_mutex_unlock};
    QemuRwlockFn *rwlock_fns[4] = {qemu_co_rwlock_init, qemu_co_rwlock_rdlock,
                                   qemu_co_rwlock_wrlock,
                                   qemu_co_rwlock_unlock};
    CoQueue q;
    CoMutex m;
    CoRwlock l;
    int i;
    for (i = 0; i < 4; i++)
        EXPECT(queue_fns[i] != NULL && rwlock_fns[i] != NULL);
    EXPECT(queue_tests[0] != NULL && queue_tests[1] != NULL);
    EXPECT(mutex_fns[0] != NULL && mutex_fns[2] != NULL);
    EXPECT(sizeof(q) >= sizeof(CostackQueue));
    EXPECT(sizeof(m) >= sizeof(CostackMutex));
    EXPECT(sizeof(l) >= sizeof(CostackRwlock));
    queue_fns[0](&q); /* qemu_co_queue_init */
    EXPECT(queue_tests[1](&q));
    EXPECT(!queue_tests[0](&q));
    mutex_fns[0](&m);
    rwlock_fns[0](&l);
}

/* ---- misuse: the children ------------------------------------------------------ */

static CostackMutex dm = COSTACK_MUTEX_INIT;
static CostackRwlock dl = COSTACK_RWLOCK_INIT;
static CostackQueue dq = COSTACK_QUEUE_INIT;

/* Run entry in a new coroutine; 3 if it cannot be created. */
static int run_in_coroutine(CostackEntry *entry)
{
    CostackCoroutine *co = costack_create(entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
    return 0;
}

static int child_queue_wait_outside(void)
{
    costack_queue_wait(&dq);
    return 0;
}

static int child_queue_wait_head_outside(void)
{
    costack_queue_wait_head(&dq);
    return 0;
}

static int child_mutex_lock_outside(void)
{
    costack_mutex_lock(&dm);
    return 0;
}

static int child_mutex_trylock_outside(void)
{
    return costack_mutex_trylock(&dm);
}

static int child_mutex_unlock_outside(void)
{
    costack_mutex_unlock(&dm);
    return 0;
}

static int child_rdlock_outside(void)
{
    costack_rwlock_rdlock(&dl);
    return 0;
}

static int child_wrlock_outside(void)
{
    costack_rwlock_wrlock(&dl);
    return 0;
}

static int child_qemu_queue_wait_outside(void)
{
    CoQueue q;
    qemu_co_queue_init(&q);
    qemu_co_queue_wait(&q);
    return 0;
}

static int child_qemu_mutex_lock_outside(void)
{
    CoMutex m;
    qemu_co_mutex_init(&m);
    qemu_co_mutex_lock(&m);
    return 0;
}

static int child_qemu_rdlock_outside(void)
{
    CoRwlock l;
    qemu_co_rwlock_init(&l);
    qemu_co_rwlock_rdlock(&l);
    return 0;
}

static void unlock_unlocked(void *opaque)
{
    (void)opaque;
    costack_mutex_unlock(&dm);
}

static int child_mutex_unlock_unlocked(void)
{
    return run_in_coroutine(unlock_unlocked);
}

static void lock_and_yield(void *opaque)
{
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_yield();
    costack_mutex_unlock(&dm);
}

static int child_mutex_unlock_other(void)
{
    CostackCoroutine *holder = costack_create(lock_and_yield, NULL);
    if (!holder)
        return 3;
    costack_enter(holder);
    return run_in_coroutine(unlock_unlocked); /* dm is holder's */
}

static void lock_twice(void *opaque)
{
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_mutex_lock(&dm);
}

static int child_mutex_lock_recursive(void)
{
    return run_in_coroutine(lock_twice);
}

static void lock_two_and_end(void *opaque)
{
    static CostackMutex other = COSTACK_MUTEX_INIT;
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_rwlock_rdlock(&dl);
    costack_mutex_lock(&other);
}

static int child_end_holding(void)
{
    return run_in_coroutine(lock_two_and_end);
}

static int child_destroy_holding(void)
{
    CostackCoroutine *holder = costack_create(lock_and_yield, NULL);
    if (!holder)
        return 3;
    costack_enter(holder);
    costack_destroy(holder);
    return 0;
}

/* A waiter handed the mutex by an unlock, destroyed before it ran: it
 * holds the mutex already. */
static CostackCoroutine *handed;

static void unlock_then_destroy(void *opaque)
{
    (void)opaque;
    costack_mutex_unlock(&dm);
    costack_destroy(handed);
}

static void unlock_and_destroy_waiter(void *opaque)
{
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_yield();
    unlock_then_destroy(NULL);
}

static void plain_lock(void *opaque)
{
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_mutex_unlock(&dm);
}

static int child_destroy_handed(void)
{
    CostackCoroutine *a = costack_create(unlock_and_destroy_waiter, NULL);
    if (!a)
        return 3;
    handed = costack_create(plain_lock, NULL);
    if (!handed)
        return 3;
    costack_enter(a);
    costack_enter(handed); /* waits */
    costack_enter(a);
    return 0;
}

static void rw_unlock_entry(void *opaque)
{
    (void)opaque;
    costack_rwlock_unlock(&dl);
}

static int child_rw_unlock_unlocked(void)
{
    return run_in_coroutine(rw_unlock_entry);
}

static void rdlock_and_yield(void *opaque)
{
    (void)opaque;
    costack_rwlock_rdlock(&dl);
    costack_yield();
}

static void wrlock_and_yield(void *opaque)
{
    (void)opaque;
    costack_rwlock_wrlock(&dl);
    costack_yield();
}

static int child_rw_unlock_no_lock(void)
{
    CostackCoroutine *reader = costack_create(rdlock_and_yield, NULL);
    if (!reader)
        return 3;
    costack_enter(reader);
    return run_in_coroutine(rw_unlock_entry);
}

static int child_rw_unlock_other_writer(void)
{
    CostackCoroutine *writer = costack_create(wrlock_and_yield, NULL);
    if (!writer)
        return 3;
    costack_enter(writer);
    return run_in_coroutine(rw_unlock_entry);
}

static void wrlock_twice(void *opaque)
{
    (void)opaque;
    costack_rwlock_wrlock(&dl);
    costack_rwlock_wrlock(&dl);
}

static int child_rw_wrlock_recursive(void)
{
    return run_in_coroutine(wrlock_twice);
}

static void write_then_read(void *opaque)
{
    (void)opaque;
    costack_rwlock_wrlock(&dl);
    costack_rwlock_rdlock(&dl);
}

static int child_rw_rdlock_writer(void)
{
    return run_in_coroutine(write_then_read);
}

static void downgrade_reader(void *opaque)
{
    (void)opaque;
    costack_rwlock_rdlock(&dl);
    costack_rwlock_downgrade(&dl);
}

static int child_rw_downgrade_reader(void)
{
    return run_in_coroutine(downgrade_reader);
}

static void upgrade_writer(void *opaque)
{
    (void)opaque;
    costack_rwlock_wrlock(&dl);
    costack_rwlock_upgrade(&dl);
}

static int child_rw_upgrade_writer(void)
{
    return run_in_coroutine(upgrade_writer);
}

static void upgrade_unlocked(void *opaque)
{
    (void)opaque;
    costack_rwlock_upgrade(&dl);
}

static int child_rw_upgrade_unlocked(void)
{
    return run_in_coroutine(upgrade_unlocked);
}

/* Wake misuse around a queue. */
static void wait_on_dq(void *opaque)
{
    (void)opaque;
    costack_queue_wait(&dq);
}

static CostackCoroutine *victim;

static void wake_twice(void *opaque)
{
    (void)opaque;
    costack_wake(victim); /* deferred: victim stays woken, not run */
    costack_wake(victim);
}

static int child_wake_twice(void)
{
    CostackCoroutine *w;
    victim = costack_create(wait_on_dq, NULL);
    w = costack_create(wake_twice, NULL);
    if (!victim || !w)
        return 3;
    costack_enter(victim);
    costack_enter(w);
    return 0;
}

static void yield_once(void *opaque)
{
    (void)opaque;
    costack_yield();
}

static int child_wake_not_waiting(void)
{
    CostackCoroutine *co = costack_create(yield_once, NULL);
    if (!co)
        return 3;
    costack_enter(co); /* suspended, not waiting */
    costack_wake(co);
    return 0;
}

static int child_enter_waiting(void)
{
    CostackCoroutine *holder = costack_create(lock_and_yield, NULL);
    CostackCoroutine *waiter = costack_create(plain_lock, NULL);
    if (!holder || !waiter)
        return 3;
    costack_enter(holder);
    costack_enter(waiter); /* waits for dm */
    costack_enter(waiter);
    return 0;
}

/* A woken coroutine, queued to run after its waker: not to be entered by
 * anyone else meanwhile. */
static void wake_and_enter(void *opaque)
{
    (void)opaque;
    EXPECT_EQ(costack_queue_next(&dq), 1);
    costack_enter(victim);
}

static int child_enter_woken(void)
{
    CostackCoroutine *w;
    victim = costack_create(wait_on_dq, NULL);
    w = costack_create(wake_and_enter, NULL);
    if (!victim || !w)
        return 3;
    costack_enter(victim);
    costack_enter(w);
    return 0;
}

/* ---- COSTACK_DEBUG: one thread at a time ----------------------------------------- */

static int use_global;

static void lock_unlock_dm(void *opaque)
{
    (void)opaque;
    costack_mutex_lock(&dm);
    costack_mutex_unlock(&dm);
}

/* dm used from a coroutine, or dq woken from outside, on the calling
 * thread (holding the global mutex when use_global says so). */
static int use_here(int queue)
{
    int r;
    if (use_global)
        costack_global_lock();
    if (queue)
        r = costack_queue_next(&dq); /* empty: a use all the same */
    else
        r = run_in_coroutine(lock_unlock_dm);
    if (use_global)
        costack_global_unlock();
    return r;
}

static void *use_dm_on_thread(void *arg)
{
    return use_here(arg != NULL) == 0 ? arg : (void *)&use_global;
}

/* dm (or dq) used by this thread, then by another one. */
static int debug_two_threads(int queue)
{
    pthread_t th;
    void *res = NULL, *arg = queue ? (void *)&dq : NULL;
    if (use_here(queue) != 0)
        return 3;
    if (pthread_create(&th, NULL, use_dm_on_thread, arg) != 0)
        return 4;
    pthread_join(th, &res);
    return res == arg ? 0 : 5;
}

static int child_debug_mutex_threads(void)
{
    use_global = 0;
    return debug_two_threads(0);
}

static int child_debug_queue_threads(void)
{
    use_global = 0;
    return debug_two_threads(1);
}

static int child_debug_threads_global(void)
{
    use_global = 1;
    if (debug_two_threads(0) != 0 || debug_two_threads(1) != 0)
        return 6;
    printf("both threads held the global mutex\n");
    return 0;
}

/* ---- misuse: the cases ------------------------------------------------------------ */

/* stderr holds exactly one line. */
static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

static void expect_abort(const char *child, const char *env, const char *msg,
                         int line)
{
    ChildResult r;
    if (harness_run_child(child, env ? "COSTACK_DEBUG" : NULL, env, &r) != 0)
        return;
    if (!harness_expect_death(&r, SIGABRT, msg, __FILE__, line))
        return;
    if (!one_line(r.err))
        harness_fail(__FILE__, line, "%s: stderr is not one line: <<%s>>",
                     child, r.err);
}
#define EXPECT_ABORT(child, msg) expect_abort((child), NULL, (msg), __LINE__)

void case_lock_death_outside(void)
{
    EXPECT_ABORT("lk_queue_wait_outside",
                 "costack: costack_queue_wait: outside a coroutine");
    EXPECT_ABORT("lk_queue_wait_head_outside",
                 "costack: costack_queue_wait_head: outside a coroutine");
    EXPECT_ABORT("lk_mutex_lock_outside",
                 "costack: costack_mutex_lock: outside a coroutine");
    EXPECT_ABORT("lk_mutex_trylock_outside",
                 "costack: costack_mutex_trylock: outside a coroutine");
    EXPECT_ABORT("lk_mutex_unlock_outside",
                 "costack: costack_mutex_unlock: outside a coroutine");
    EXPECT_ABORT("lk_rdlock_outside",
                 "costack: costack_rwlock_rdlock: outside a coroutine");
    EXPECT_ABORT("lk_wrlock_outside",
                 "costack: costack_rwlock_wrlock: outside a coroutine");
    EXPECT_ABORT("lk_qemu_queue_wait_outside",
                 "costack: costack_queue_wait: outside a coroutine");
    EXPECT_ABORT("lk_qemu_mutex_lock_outside",
                 "costack: costack_mutex_lock: outside a coroutine");
    EXPECT_ABORT("lk_qemu_rdlock_outside",
                 "costack: costack_rwlock_rdlock: outside a coroutine");
}

void case_lock_death_mutex(void)
{
    EXPECT_ABORT("lk_mutex_unlock_unlocked",
                 "costack: costack_mutex_unlock: the mutex is not locked");
    EXPECT_ABORT("lk_mutex_unlock_other",
                 "costack: costack_mutex_unlock: another coroutine holds the "
                 "mutex");
    EXPECT_ABORT("lk_mutex_lock_recursive",
                 "costack: costack_mutex_lock: the calling coroutine holds "
                 "the mutex already");
    EXPECT_ABORT("lk_end_holding",
                 "costack: a coroutine terminated while holding 3 lock(s)");
    EXPECT_ABORT("lk_destroy_holding",
                 "costack: costack_destroy: a coroutine destroyed while "
                 "holding 1 lock(s)");
    EXPECT_ABORT("lk_destroy_handed",
                 "costack: costack_destroy: a coroutine destroyed while "
                 "holding 1 lock(s)");
}

void case_lock_death_rwlock(void)
{
    EXPECT_ABORT("lk_rw_unlock_unlocked",
                 "costack: costack_rwlock_unlock: the rwlock is not locked");
    EXPECT_ABORT("lk_rw_unlock_no_lock",
                 "costack: costack_rwlock_unlock: the calling coroutine holds "
                 "no lock");
    EXPECT_ABORT("lk_rw_unlock_other_writer",
                 "costack: costack_rwlock_unlock: another coroutine holds the "
                 "write lock");
    EXPECT_ABORT("lk_rw_wrlock_recursive",
                 "costack: costack_rwlock_wrlock: the calling coroutine holds "
                 "the write lock already");
    EXPECT_ABORT("lk_rw_rdlock_writer",
                 "costack: costack_rwlock_rdlock: the calling coroutine holds "
                 "the write lock");
    EXPECT_ABORT("lk_rw_downgrade_reader",
                 "costack: costack_rwlock_downgrade: the calling coroutine "
                 "does not hold the write lock");
    EXPECT_ABORT("lk_rw_upgrade_writer",
                 "costack: costack_rwlock_upgrade: the calling coroutine "
                 "does not hold a read lock");
    EXPECT_ABORT("lk_rw_upgrade_unlocked",
                 "costack: costack_rwlock_upgrade: the calling coroutine "
                 "does not hold a read lock");
}

void case_lock_death_wake(void)
{
    EXPECT_ABORT("lk_wake_twice",
                 "costack: costack_wake: the coroutine was woken already");
    EXPECT_ABORT("lk_wake_not_waiting",
                 "costack: costack_wake: the coroutine does not wait");
    EXPECT_ABORT("lk_enter_waiting",
                 "costack: costack_enter: the coroutine waits");
    EXPECT_ABORT("lk_enter_woken",
                 "costack: costack_enter: the coroutine was woken and is "
                 "queued to run");
}

void case_lock_debug_threads(void)
{
    ChildResult r;
    expect_abort("lk_debug_mutex_threads", "1",
                 "costack: costack_mutex_lock: the object was used by another "
                 "thread and this thread does not hold the global mutex",
                 __LINE__);
    expect_abort("lk_debug_queue_threads", "1",
                 "costack: costack_queue_next: the object was used by another "
                 "thread", __LINE__);
    /* Threads that hold the global mutex may share them. */
    if (harness_run_child("lk_debug_threads_global", "COSTACK_DEBUG", "1",
                          &r) == 0) {
        EXPECT_EXIT0(&r);
        EXPECT(strstr(r.out, "both threads held") != NULL);
    }
    /* Without COSTACK_DEBUG nothing is checked: the unguarded hand-over
     * from one thread to the next (ordered by pthread_join) passes. */
    if (harness_run_child("lk_debug_mutex_threads", NULL, NULL, &r) == 0)
        EXPECT_EXIT0(&r);
}

const HarnessCase harness_cases_lock[] = {
    {"lock_queue_wake_order", case_lock_queue_wake_order},
    {"lock_queue_wake_outside", case_lock_queue_wake_outside},
    {"lock_queue_wake_all_once", case_lock_queue_wake_all_once},
    {"lock_queue_wait_head", case_lock_queue_wait_head},
    {"lock_queue_destroy_waiter", case_lock_queue_destroy_waiter},
    {"lock_queue_destroy_woken", case_lock_queue_destroy_woken},
    {"lock_mutex_handoff", case_lock_mutex_handoff},
    {"lock_mutex_fifo", case_lock_mutex_fifo},
    {"lock_mutex_trylock", case_lock_mutex_trylock},
    {"lock_mutex_destroy_waiter", case_lock_mutex_destroy_waiter},
    {"lock_rwlock_fair", case_lock_rwlock_fair},
    {"lock_rwlock_solo", case_lock_rwlock_solo},
    {"lock_rwlock_upgrade", case_lock_rwlock_upgrade},
    {"lock_rwlock_downgrade", case_lock_rwlock_downgrade},
    {"lock_rwlock_destroy_waiter", case_lock_rwlock_destroy_waiter},
    {"lock_qemu_co_mutex", case_lock_qemu_co_mutex},
    {"lock_qemu_order", case_lock_qemu_order},
    {"lock_qemu_entered", case_lock_qemu_entered},
    {"lock_qemu_queue_rwlock", case_lock_qemu_queue_rwlock},
    {"lock_qemu_signatures", case_lock_qemu_signatures},
    {"lock_death_outside", case_lock_death_outside},
    {"lock_death_mutex", case_lock_death_mutex},
    {"lock_death_rwlock", case_lock_death_rwlock},
    {"lock_death_wake", case_lock_death_wake},
    {"lock_debug_threads", case_lock_debug_threads},
    {NULL, NULL}
};

const HarnessChild harness_children_lock[] = {
    {"lk_queue_wait_outside", child_queue_wait_outside},
    {"lk_queue_wait_head_outside", child_queue_wait_head_outside},
    {"lk_mutex_lock_outside", child_mutex_lock_outside},
    {"lk_mutex_trylock_outside", child_mutex_trylock_outside},
    {"lk_mutex_unlock_outside", child_mutex_unlock_outside},
    {"lk_rdlock_outside", child_rdlock_outside},
    {"lk_wrlock_outside", child_wrlock_outside},
    {"lk_qemu_queue_wait_outside", child_qemu_queue_wait_outside},
    {"lk_qemu_mutex_lock_outside", child_qemu_mutex_lock_outside},
    {"lk_qemu_rdlock_outside", child_qemu_rdlock_outside},
    {"lk_mutex_unlock_unlocked", child_mutex_unlock_unlocked},
    {"lk_mutex_unlock_other", child_mutex_unlock_other},
    {"lk_mutex_lock_recursive", child_mutex_lock_recursive},
    {"lk_end_holding", child_end_holding},
    {"lk_destroy_holding", child_destroy_holding},
    {"lk_destroy_handed", child_destroy_handed},
    {"lk_rw_unlock_unlocked", child_rw_unlock_unlocked},
    {"lk_rw_unlock_no_lock", child_rw_unlock_no_lock},
    {"lk_rw_unlock_other_writer", child_rw_unlock_other_writer},
    {"lk_rw_wrlock_recursive", child_rw_wrlock_recursive},
    {"lk_rw_rdlock_writer", child_rw_rdlock_writer},
    {"lk_rw_downgrade_reader", child_rw_downgrade_reader},
    {"lk_rw_upgrade_writer", child_rw_upgrade_writer},
    {"lk_rw_upgrade_unlocked", child_rw_upgrade_unlocked},
    {"lk_wake_twice", child_wake_twice},
    {"lk_wake_not_waiting", child_wake_not_waiting},
    {"lk_enter_waiting", child_enter_waiting},
    {"lk_enter_woken", child_enter_woken},
    {"lk_debug_mutex_threads", child_debug_mutex_threads},
    {"lk_debug_queue_threads", child_debug_queue_threads},
    {"lk_debug_threads_global", child_debug_threads_global},
    {NULL, NULL}
};

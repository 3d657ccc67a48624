/*
 * lock.c - queues, mutexes and read-write locks of coroutines (costack.h,
 * "Queues", "Mutexes", "Read-write locks"), built on costack_wait and
 * costack_wake.
 *
 * A waiter is linked into its queue through co->queue_next/queue_prev,
 * and co->queue names the queue.  Every wait passes queue_detach to
 * costack_wait, so whatever ends the wait (a wake, a destroy) takes the
 * coroutine off its queue first: a queue never holds a coroutine that does
 * not wait on it.
 *
 * Locks hand over: an unlock that finds a waiter makes it the holder (or,
 * for a run of readers, the holders) before it wakes it, so no coroutine
 * can take the lock between the unlock and the woken one's return from
 * its wait, and the lock never looks free while someone waits for it.
 * Hence the invariant the code relies on: a lock with waiters is held.
 * co->locks_held counts from the hand-over, so a woken holder that has not
 * run yet already counts (and the core refuses to destroy it).
 *
 * No atomics: costack.h's rule ("Who may wake whom") serialises every use
 * of a queue or lock.  With COSTACK_DEBUG=1 each object records the thread
 * that used it last, and a use from another thread that does not hold the
 * global mutex aborts.
 *
 * Thread-local hazard (internal.h): a wait may return on another thread,
 * so nothing here keeps a thread state, or a thread-local's address,
 * across costack_wait.
 */
#include <stdio.h>

#include "internal.h"

/* What a waiter waits for (co->wait_kind): internal.h's CostackWaitKind. */
#define WAIT_QUEUE COSTACK_WAIT_QUEUE
#define WAIT_MUTEX COSTACK_WAIT_MUTEX
#define WAIT_READ COSTACK_WAIT_READ
#define WAIT_WRITE COSTACK_WAIT_WRITE

/* The running coroutine; aborts with "costack: <fn>: outside a coroutine"
 * for a thread's leader. */
static inline CostackCoroutine *running(const char *fn)
{
    /* Read before any wait (internal.h's thread-local hazard). */
    CostackThread *t = costack__thread_here();
    CostackCoroutine *co = t->current;
    if (COSTACK_UNLIKELY(co == &t->leader)) /* no load: the leader is in *t */
        return costack__running(fn); /* aborts */
    return co;
}

/* ---- debug mode: one thread at a time ------------------------------------- */

/* COSTACK_DEBUG: q (a queue, or a lock's queue) was used last by another
 * thread, and this one does not hold the global mutex.  Only a use without
 * the global mutex is suspect: threads that all hold it are serialised. */
static COSTACK_NOINLINE void debug_use(CostackQueue *q, const char *fn)
{
    CostackThread *t = costack__thread();
    if (q->debug_thread_ && q->debug_thread_ != (void *)t &&
        !t->holds_global_lock) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "costack: %s: the object was used by another thread and "
                 "this thread does not hold the global mutex (costack.h, "
                 "\"Who may wake whom\")",
                 fn);
        costack__die(msg);
    }
    q->debug_thread_ = t;
}

#define DEBUG_USE(q, fn)                                                    \
    do {                                                                    \
        if (COSTACK_UNLIKELY(costack__debug_mode()))                        \
            debug_use((q), (fn));                                           \
    } while (0)

/* ---- the queue proper -------------------------------------------------------- */

static void link_tail(CostackQueue *q, CostackCoroutine *co)
{
    co->queue = q;
    co->queue_next = NULL;
    co->queue_prev = q->last_;
    if (q->last_)
        q->last_->queue_next = co;
    else
        q->first_ = co;
    q->last_ = co;
}

static void link_head(CostackQueue *q, CostackCoroutine *co)
{
    co->queue = q;
    co->queue_prev = NULL;
    co->queue_next = q->first_;
    if (q->first_)
        q->first_->queue_prev = co;
    else
        q->last_ = co;
    q->first_ = co;
}

void costack__queue_link(CostackQueue *q, CostackCoroutine *co, int kind,
                         int at_head)
{
    if (at_head)
        link_head(q, co);
    else
        link_tail(q, co);
    co->wait_kind = kind;
}

/* The detach of every wait here (CostackDetach): take co off its queue. */
static void queue_detach(CostackCoroutine *co, void *arg)
{
    CostackQueue *q = co->queue;
    (void)arg;
    if (!q)
        return;
    if (co->queue_prev)
        co->queue_prev->queue_next = co->queue_next;
    else
        q->first_ = co->queue_next;
    if (co->queue_next)
        co->queue_next->queue_prev = co->queue_prev;
    else
        q->last_ = co->queue_prev;
    co->queue = NULL; /* the links are stale: linking sets them afresh */
}

void costack__queue_unlink(CostackCoroutine *co)
{
    queue_detach(co, NULL);
}

/* Suspend co, already linked into a queue, until it is woken. */
static void wait_linked(CostackCoroutine *co, int kind)
{
    co->wait_kind = kind;
    costack_wait(queue_detach, NULL);
}

void costack_queue_init(CostackQueue *q)
{
    q->first_ = q->last_ = NULL;
    q->debug_thread_ = NULL;
}

void costack_queue_wait(CostackQueue *q)
{
    CostackCoroutine *co = running("costack_queue_wait");
    DEBUG_USE(q, "costack_queue_wait");
    link_tail(q, co);
    wait_linked(co, WAIT_QUEUE);
}

void costack_queue_wait_head(CostackQueue *q)
{
    CostackCoroutine *co = running("costack_queue_wait_head");
    DEBUG_USE(q, "costack_queue_wait_head");
    link_head(q, co);
    wait_linked(co, WAIT_QUEUE);
}

int costack_queue_next(CostackQueue *q)
{
    CostackCoroutine *co;
    DEBUG_USE(q, "costack_queue_next");
    co = q->first_;
    if (!co)
        return 0;
    costack_wake(co); /* detaches it first */
    return 1;
}

size_t costack_queue_wake_all(CostackQueue *q)
{
    /* The waiters move to a list of their own before the first wake: a
     * wake from outside a coroutine enters the woken one at once, and one
     * that waits on q again must not be woken again by this call. */
    CostackQueue now;
    CostackCoroutine *co;
    size_t n = 0;
    DEBUG_USE(q, "costack_queue_wake_all");
    now.first_ = q->first_;
    now.last_ = q->last_;
    now.debug_thread_ = NULL;
    q->first_ = q->last_ = NULL;
    for (co = now.first_; co; co = co->queue_next)
        co->queue = &now;
    /* A coroutine entered by a wake may destroy or wake another one of
     * the list: that detaches it from `now`, so take the head afresh. */
    while ((co = now.first_) != NULL) {
        costack_wake(co);
        n++;
    }
    return n;
}

int costack_queue_empty(const CostackQueue *q)
{
    return q->first_ == NULL;
}

/* ---- mutexes ------------------------------------------------------------------- */

void costack_mutex_init(CostackMutex *m)
{
    m->holder_ = NULL;
    costack_queue_init(&m->waiters_);
}

void costack_mutex_lock(CostackMutex *m)
{
    CostackCoroutine *co = running("costack_mutex_lock");
    DEBUG_USE(&m->waiters_, "costack_mutex_lock");
    if (COSTACK_LIKELY(!m->holder_)) {
        m->holder_ = co;
        co->locks_held++;
        return;
    }
    if (m->holder_ == co)
        costack__die("costack: costack_mutex_lock: the calling coroutine "
                     "holds the mutex already (it is not recursive)");
    link_tail(&m->waiters_, co);
    wait_linked(co, WAIT_MUTEX);
    /* The unlock that woke us made us the holder. */
}

int costack_mutex_trylock(CostackMutex *m)
{
    CostackCoroutine *co = running("costack_mutex_trylock");
    DEBUG_USE(&m->waiters_, "costack_mutex_trylock");
    if (m->holder_)
        return 0;
    m->holder_ = co;
    co->locks_held++;
    return 1;
}

void costack_mutex_unlock(CostackMutex *m)
{
    CostackCoroutine *co = running("costack_mutex_unlock");
    CostackCoroutine *next;
    DEBUG_USE(&m->waiters_, "costack_mutex_unlock");
    if (COSTACK_UNLIKELY(m->holder_ != co)) {
        if (!m->holder_)
            costack__die("costack: costack_mutex_unlock: the mutex is not "
                         "locked");
        costack__die("costack: costack_mutex_unlock: another coroutine "
                     "holds the mutex");
    }
    co->locks_held--;
    next = m->waiters_.first_;
    if (COSTACK_LIKELY(!next)) {
        m->holder_ = NULL;
        return;
    }
    /* Hand over: next holds the mutex before it is woken. */
    m->holder_ = next;
    next->locks_held++;
    costack_wake(next);
}

/* ---- read-write locks ----------------------------------------------------------- */

void costack_rwlock_init(CostackRwlock *l)
{
    l->readers_ = 0;
    l->writer_ = NULL;
    costack_queue_init(&l->waiters_);
}

/* Give l to the waiters at the head of its queue that can have it now: a
 * writer if l is free, or the run of readers at the head if no writer
 * holds l.  Stops at the first waiter that must go on waiting, so that
 * nobody overtakes it. */
static void rwlock_admit(CostackRwlock *l)
{
    CostackCoroutine *co;
    while ((co = l->waiters_.first_) != NULL) {
        if (co->wait_kind == WAIT_WRITE) {
            if (l->writer_ || l->readers_)
                return;
            l->writer_ = co;
            co->locks_held++;
            costack_wake(co);
            return;
        }
        if (l->writer_)
            return;
        l->readers_++;
        co->locks_held++;
        costack_wake(co); /* detaches it: the next one is the head */
    }
}

void costack_rwlock_rdlock(CostackRwlock *l)
{
    CostackCoroutine *co = running("costack_rwlock_rdlock");
    DEBUG_USE(&l->waiters_, "costack_rwlock_rdlock");
    /* Fair: a reader waits while anyone waits, a writer above all. */
    if (COSTACK_LIKELY(!l->writer_ && !l->waiters_.first_)) {
        l->readers_++;
        co->locks_held++;
        return;
    }
    if (l->writer_ == co)
        costack__die("costack: costack_rwlock_rdlock: the calling coroutine "
                     "holds the write lock");
    link_tail(&l->waiters_, co);
    wait_linked(co, WAIT_READ);
}

void costack_rwlock_wrlock(CostackRwlock *l)
{
    CostackCoroutine *co = running("costack_rwlock_wrlock");
    DEBUG_USE(&l->waiters_, "costack_rwlock_wrlock");
    if (COSTACK_LIKELY(!l->writer_ && !l->readers_)) {
        /* Free, hence nobody waits (see the invariant at the top). */
        l->writer_ = co;
        co->locks_held++;
        return;
    }
    if (l->writer_ == co)
        costack__die("costack: costack_rwlock_wrlock: the calling coroutine "
                     "holds the write lock already (it is not recursive)");
    link_tail(&l->waiters_, co);
    wait_linked(co, WAIT_WRITE);
}

void costack_rwlock_upgrade(CostackRwlock *l)
{
    CostackCoroutine *co = running("costack_rwlock_upgrade");
    DEBUG_USE(&l->waiters_, "costack_rwlock_upgrade");
    if (l->writer_ || !l->readers_ || !co->locks_held)
        costack__die("costack: costack_rwlock_upgrade: the calling "
                     "coroutine does not hold a read lock");
    if (l->readers_ == 1 && !l->waiters_.first_) {
        l->readers_ = 0;
        l->writer_ = co;
        return;
    }
    /* Release the read lock, then queue as a writer: whoever that
     * release lets in goes first, another writer included. */
    l->readers_--;
    co->locks_held--;
    rwlock_admit(l);
    if (!l->writer_ && !l->readers_) {
        /* Nobody was let in, so nobody waited: take it. */
        l->writer_ = co;
        co->locks_held++;
        return;
    }
    link_tail(&l->waiters_, co);
    wait_linked(co, WAIT_WRITE);
}

void costack_rwlock_downgrade(CostackRwlock *l)
{
    CostackCoroutine *co = running("costack_rwlock_downgrade");
    DEBUG_USE(&l->waiters_, "costack_rwlock_downgrade");
    if (l->writer_ != co)
        costack__die("costack: costack_rwlock_downgrade: the calling "
                     "coroutine does not hold the write lock");
    l->writer_ = NULL;
    l->readers_ = 1;
    rwlock_admit(l); /* the readers at the head join co */
}

void costack_rwlock_unlock(CostackRwlock *l)
{
    CostackCoroutine *co = running("costack_rwlock_unlock");
    DEBUG_USE(&l->waiters_, "costack_rwlock_unlock");
    if (l->writer_) {
        if (l->writer_ != co)
            costack__die("costack: costack_rwlock_unlock: another coroutine "
                         "holds the write lock");
        l->writer_ = NULL;
    } else if (l->readers_) {
        /* Readers are counted, not named: a coroutine that holds no lock
         * at all is all that can be told apart. */
        if (!co->locks_held)
            costack__die("costack: costack_rwlock_unlock: the calling "
                         "coroutine holds no lock");
        l->readers_--;
    } else {
        costack__die("costack: costack_rwlock_unlock: the rwlock is not "
                     "locked");
    }
    co->locks_held--;
    if (l->waiters_.first_)
        rwlock_admit(l);
}

/*
 * loop.c - the event loop (costack.h, "Event loop"): tasks, timers, fd
 * waits, wakes from other threads and the worker pool, written once for
 * every platform; loop.h is its contract with the pollers that ask the
 * system which fds are ready.
 *
 * One iteration (loop_iterate):
 *   1. ask the poller, blocking until the next timer is due when nothing
 *      is ready (releasing the global mutex meanwhile if the thread holds
 *      it), or not at all;
 *   2. wake the waiters of the fds it reported;
 *   3. wake the waiters whose timers are due;
 *   4. wake the coroutines other threads scheduled (costack_loop_schedule,
 *      the worker pool);
 *   5. enter, in order, the tasks that were ready when this step began.
 * A task is woken through its wake hook, which appends it to the run
 * queue; step 5 enters it.  A coroutine that is not a task is woken with
 * costack_wake from the loop, outside any coroutine, so it is entered at
 * once.  Every wake happens on the loop's thread; another thread only
 * appends to the schedule queue (under its mutex) and pokes the poller.
 *
 * Waits live on the waiting coroutine's stack (CostackLoopWait): a timer
 * node in a pairing heap, links in an fd's list of waiters, a queue's
 * links, a job of the worker pool.  No wait allocates; a wait's detach
 * takes it off all of them, whether it ends by its wake, its timeout or
 * costack_destroy.  Steps 2 to 5 each work on what was ready when they
 * began (a batch), so a coroutine that waits again at once, or yields,
 * waits for the next iteration, and the loop keeps polling under any
 * load.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#if defined(_WIN32)
#include "windows_sys.h" /* lean: winsock2.h may follow */
#include <winsock2.h>    /* INVALID_SOCKET, closesocket */
#else
#include <unistd.h> /* close */
#endif
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "loop.h"
#include "platform.h"

#if !defined(ENOTSUP) && defined(EOPNOTSUPP)
#define ENOTSUP EOPNOTSUPP
#endif

/* ---- flags, deadlines, errors ------------------------------------------ */

/* Flags that another thread sets (stop, notified): plain ints with
 * acquire loads and release stores. */
#if defined(_MSC_VER)
#define FLAG_LOAD(p) InterlockedCompareExchange((volatile LONG *)(p), 0, 0)
#define FLAG_STORE(p, v) ((void)InterlockedExchange((volatile LONG *)(p), (v)))
#else
#define FLAG_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FLAG_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#endif

/* now + ns, saturated: a deadline that cannot overflow. */
static long long deadline_after(long long ns)
{
    long long now = costack__platform_now_ns();
    if (ns < 0)
        ns = 0;
    return ns > LLONG_MAX - now ? LLONG_MAX : now + ns;
}

int costack__timeout_ms(long long ns)
{
    if (ns < 0)
        return -1;
    if (ns >= (long long)INT_MAX * 1000000LL)
        return INT_MAX;
    return (int)((ns + 999999) / 1000000);
}

COSTACK_NORETURN static void die_in(const char *fn, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "costack: %s: %s", fn, what);
    costack__die(msg);
}

/* ---- the structures ------------------------------------------------------- */

/* A timer: a node of the loop's pairing heap, ordered by deadline, then
 * by seq (the order they were armed), so that equal deadlines are FIFO. */
typedef struct LoopTimer {
    long long deadline;
    unsigned long long seq;
    struct LoopTimer *child, *next, *prev; /* prev: the left sibling, or
                                            * the parent of a first child */
    int armed;
} LoopTimer;

/* A wake from another thread: a node of the schedule queue. */
enum { NODE_NONE, NODE_SHARED, NODE_BATCH };
typedef struct RemoteNode {
    struct RemoteNode *next, *prev;
    CostackCoroutine *co;
    int where; /* NODE_SHARED: on loop->remote (under remote_mutex);
                * NODE_BATCH: on loop->batch (the loop's thread only) */
    int owned; /* malloc'd by costack_loop_schedule, freed once taken */
} RemoteNode;

/* A call of costack_run_in_thread, on its coroutine's stack. */
enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };
typedef struct LoopJob {
    CostackTaskFn *fn;
    void *arg;
    void *result;
    struct LoopJob *next, *prev; /* the pool's queue */
    int state;                   /* under the pool's mutex */
    int cancelled;               /* its waiter was destroyed */
    CostackLoop *loop;
    RemoteNode node;             /* how the worker wakes the waiter */
} LoopJob;

typedef struct LoopPool {
    CostackPlatformMutex mutex;
    CostackPlatformCond work; /* a job was queued, or shutdown */
    CostackPlatformCond done; /* a cancelled job finished */
    LoopJob *first, *last;
    size_t queued, idle, threads, max;
    CostackPlatformThread *ids;
    int shutdown;
} LoopPool;

/* One wait of a coroutine on the loop, on the coroutine's stack. */
struct CostackLoopWait {
    CostackCoroutine *co;
    CostackLoop *loop;
    LoopTimer timer;
    /* fd waits: on entry->waiters while entry is set, or on a batch
     * being woken (list set, entry NULL). */
    CostackFdEntry *entry;
    CostackWaitList *list;
    CostackLoopWait *next, *prev;
    unsigned events, revents;
    int error;
    int timed_out;
    CostackQueue *queue; /* costack_queue_wait_timeout */
    LoopJob *job;        /* costack_run_in_thread */
};

struct CostackTask {
    CostackLoop *loop;
    CostackCoroutine *co; /* NULL once fn returned */
    CostackTaskFn *fn;
    void *arg;
    void *result;
    CostackCoroutine *joiner; /* a coroutine waiting in costack_task_join */
    int done;
    int detached;
};

struct CostackLoop {
    CostackPoller *poller;
    /* Ready tasks.  The hook appends to run[run_cur]; the dispatch flips
     * run_cur and enters the other list's tasks, so that tasks woken
     * meanwhile wait for the next iteration. */
    CostackRunList run[2];
    int run_cur;
    LoopTimer *timers; /* root of the heap */
    unsigned long long timer_seq;
    /* fd entries by fd: open addressing, linear probing */
    CostackFdEntry **slots;
    size_t slot_count, slot_cap;
    CostackFdEntry *ready_first, *ready_last; /* reported by the poller */
    size_t tasks;  /* spawned, fn not yet returned */
    size_t waits;  /* coroutines waiting on timers, fds, jobs */
    int running;   /* in costack_loop_run, _run_once or a join */
    CostackThread *thread; /* the thread that runs it, while it runs */
    int task_ended; /* the task the dispatch entered has ended */
    int stop;      /* costack_loop_stop (any thread) */
    /* The schedule queue. */
    CostackPlatformMutex remote_mutex;
    RemoteNode *remote_first, *remote_last;
    int notified;  /* the poller was poked and the queue not yet taken */
    RemoteNode *batch_first, *batch_last;
    LoopPool pool;
};

/* ---- the timer heap (a pairing heap) --------------------------------------- */

static int timer_before(const LoopTimer *a, const LoopTimer *b)
{
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && a->seq < b->seq);
}

/* Meld two heaps whose roots have no siblings. */
static LoopTimer *timer_meld(LoopTimer *a, LoopTimer *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (timer_before(b, a)) {
        LoopTimer *t = a;
        a = b;
        b = t;
    }
    b->prev = a;
    b->next = a->child;
    if (a->child)
        a->child->prev = b;
    a->child = b;
    return a;
}

/* Meld a list of siblings into one heap: pairs left to right, then the
 * pairs right to left. */
static LoopTimer *timer_merge_pairs(LoopTimer *first)
{
    LoopTimer *pairs = NULL, *heap = NULL;
    while (first) {
        LoopTimer *a = first, *b = a->next;
        a->next = a->prev = NULL;
        if (b) {
            first = b->next;
            b->next = b->prev = NULL;
            a = timer_meld(a, b);
        } else {
            first = NULL;
        }
        a->next = pairs;
        pairs = a;
    }
    while (pairs) {
        LoopTimer *p = pairs;
        pairs = p->next;
        p->next = NULL;
        heap = timer_meld(heap, p);
    }
    return heap;
}

static void timer_arm(CostackLoop *loop, LoopTimer *t, long long deadline)
{
    t->deadline = deadline;
    t->seq = loop->timer_seq++;
    t->child = t->next = t->prev = NULL;
    t->armed = 1;
    loop->timers = timer_meld(loop->timers, t);
}

static void timer_disarm(CostackLoop *loop, LoopTimer *t)
{
    LoopTimer *sub = timer_merge_pairs(t->child);
    if (t == loop->timers) {
        loop->timers = sub;
    } else {
        if (t->prev->child == t)
            t->prev->child = t->next;
        else
            t->prev->next = t->next;
        if (t->next)
            t->next->prev = t->prev;
        loop->timers = timer_meld(loop->timers, sub);
    }
    t->child = t->next = t->prev = NULL;
    t->armed = 0;
}

/* ---- the fd table ------------------------------------------------------------ */

static size_t fd_hash(CostackFd fd)
{
    unsigned long long x = (unsigned long long)fd * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 29);
}

CostackFdEntry *costack__loop_fd_entry(CostackLoop *loop, CostackFd fd)
{
    size_t mask = loop->slot_cap - 1, i;
    if (!loop->slot_cap)
        return NULL;
    for (i = fd_hash(fd) & mask; loop->slots[i]; i = (i + 1) & mask)
        if (loop->slots[i]->fd == fd)
            return loop->slots[i];
    return NULL;
}

static void fd_slot_put(CostackFdEntry **slots, size_t cap, CostackFdEntry *e)
{
    size_t i = fd_hash(e->fd) & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

/* The entry of fd, created if need be; NULL with ENOMEM. */
static CostackFdEntry *fd_entry_get(CostackLoop *loop, CostackFd fd)
{
    CostackFdEntry *e = costack__loop_fd_entry(loop, fd);
    if (e)
        return e;
    if ((loop->slot_count + 1) * 4 > loop->slot_cap * 3) {
        size_t cap = loop->slot_cap ? loop->slot_cap * 2 : 64, i;
        CostackFdEntry **slots =
            (CostackFdEntry **)calloc(cap, sizeof *slots);
        if (!slots) {
            errno = ENOMEM;
            return NULL;
        }
        for (i = 0; i < loop->slot_cap; i++)
            if (loop->slots[i])
                fd_slot_put(slots, cap, loop->slots[i]);
        free(loop->slots);
        loop->slots = slots;
        loop->slot_cap = cap;
    }
    e = (CostackFdEntry *)calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    e->fd = fd;
    fd_slot_put(loop->slots, loop->slot_cap, e);
    loop->slot_count++;
    return e;
}

/* Take e out of the table (linear probing: shift the entries that follow
 * back into the hole). */
static void fd_entry_remove(CostackLoop *loop, CostackFdEntry *e)
{
    size_t mask = loop->slot_cap - 1, i, j;
    for (i = fd_hash(e->fd) & mask; loop->slots[i] != e; i = (i + 1) & mask)
        ;
    loop->slots[i] = NULL;
    for (j = (i + 1) & mask; loop->slots[j]; j = (j + 1) & mask) {
        size_t k = fd_hash(loop->slots[j]->fd) & mask;
        /* The entry at j stays unless its home k lies cyclically in
         * (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            loop->slots[i] = loop->slots[j];
            loop->slots[j] = NULL;
            i = j;
        }
    }
    loop->slot_count--;
}

static void ready_unlink(CostackLoop *loop, CostackFdEntry *e)
{
    if (e->ready_prev)
        e->ready_prev->ready_next = e->ready_next;
    else
        loop->ready_first = e->ready_next;
    if (e->ready_next)
        e->ready_next->ready_prev = e->ready_prev;
    else
        loop->ready_last = e->ready_prev;
    e->ready_next = e->ready_prev = NULL;
    e->on_ready = 0;
}

void costack__loop_fd_ready(CostackLoop *loop, CostackFdEntry *e,
                            unsigned revents)
{
    e->revents |= revents;
    if (e->on_ready)
        return;
    e->on_ready = 1;
    e->ready_next = NULL;
    e->ready_prev = loop->ready_last;
    if (loop->ready_last)
        loop->ready_last->ready_next = e;
    else
        loop->ready_first = e;
    loop->ready_last = e;
}

/* ---- wait lists ------------------------------------------------------------------ */

static void wlist_push(CostackWaitList *l, CostackLoopWait *w)
{
    w->list = l;
    w->next = NULL;
    w->prev = l->last;
    if (l->last)
        l->last->next = w;
    else
        l->first = w;
    l->last = w;
}

static void wlist_unlink(CostackLoopWait *w)
{
    CostackWaitList *l = w->list;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->last = w->prev;
    w->next = w->prev = NULL;
    w->list = NULL;
}

/* Tell the poller what e's waiters want now. */
static int entry_watch(CostackLoop *loop, CostackFdEntry *e, int fresh)
{
    unsigned want = 0;
    CostackLoopWait *w;
    for (w = e->waiters.first; w; w = w->next)
        want |= w->events;
    e->want = want;
    return costack__poller_watch(loop->poller, e, want, fresh);
}

/* ---- the schedule queue -------------------------------------------------------- */

/* Another thread touches a loop only with remote_mutex held, the poke of
 * the poller included, and costack_loop_free takes that mutex before it
 * frees anything: a loop that its thread frees as soon as it saw a wake
 * or a stop is not freed under the thread that is still sending it. */

/* Poke the poller unless it was poked and not yet drained: with the
 * remote mutex held. */
static void notify_locked(CostackLoop *loop)
{
    if (FLAG_LOAD(&loop->notified))
        return;
    FLAG_STORE(&loop->notified, 1);
    costack__poller_notify(loop->poller);
}

/* Make the poller return (now or at its next wait), unless it was poked
 * and not yet drained. */
static void loop_poke(CostackLoop *loop)
{
    costack__platform_mutex_lock(&loop->remote_mutex);
    notify_locked(loop);
    costack__platform_mutex_unlock(&loop->remote_mutex);
}

static void remote_push(CostackLoop *loop, RemoteNode *n)
{
    costack__platform_mutex_lock(&loop->remote_mutex);
    n->next = NULL;
    n->prev = loop->remote_last;
    if (loop->remote_last)
        loop->remote_last->next = n;
    else
        loop->remote_first = n;
    loop->remote_last = n;
    n->where = NODE_SHARED;
    notify_locked(loop);
    costack__platform_mutex_unlock(&loop->remote_mutex);
}

/* Take n off whichever list holds it (the loop's thread). */
static void remote_unlink(CostackLoop *loop, RemoteNode *n)
{
    RemoteNode **first, **last;
    if (n->where == NODE_NONE)
        return;
    if (n->where == NODE_SHARED) {
        first = &loop->remote_first;
        last = &loop->remote_last;
    } else {
        first = &loop->batch_first;
        last = &loop->batch_last;
    }
    if (n->prev)
        n->prev->next = n->next;
    else
        *first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        *last = n->prev;
    n->next = n->prev = NULL;
    n->where = NODE_NONE;
}

int costack_loop_schedule(CostackLoop *loop, CostackCoroutine *co)
{
    RemoteNode *n;
    if (!loop || !co)
        costack__die("costack: costack_loop_schedule: NULL loop or coroutine");
    n = (RemoteNode *)malloc(sizeof *n);
    if (!n) {
        errno = ENOMEM;
        return -1;
    }
    n->co = co;
    n->owned = 1;
    remote_push(loop, n);
    return 0;
}

void costack_loop_stop(CostackLoop *loop)
{
    if (!loop)
        costack__die("costack: costack_loop_stop: NULL loop");
    costack__platform_mutex_lock(&loop->remote_mutex);
    FLAG_STORE(&loop->stop, 1);
    notify_locked(loop);
    costack__platform_mutex_unlock(&loop->remote_mutex);
}

/* ---- the worker pool ---------------------------------------------------------- */

/* A worker thread (costack__platform_thread_start's body; arg: the pool). */
static void worker_main(void *arg)
{
    LoopPool *p = (LoopPool *)arg;
    costack__platform_mutex_lock(&p->mutex);
    for (;;) {
        LoopJob *job;
        void *r;
        while (!p->first && !p->shutdown) {
            p->idle++;
            costack__platform_cond_wait(&p->work, &p->mutex);
            p->idle--;
        }
        if (!p->first)
            break;
        job = p->first;
        p->first = job->next;
        if (p->first)
            p->first->prev = NULL;
        else
            p->last = NULL;
        p->queued--;
        job->state = JOB_RUNNING;
        costack__platform_mutex_unlock(&p->mutex);
        r = job->fn(job->arg);
        costack__platform_mutex_lock(&p->mutex);
        job->result = r;
        job->state = JOB_DONE;
        /* The job lives on its waiter's stack: not a word of it once the
         * waiter may run (after remote_push, or the broadcast). */
        if (job->cancelled)
            costack__platform_cond_broadcast(&p->done);
        else
            remote_push(job->loop, &job->node);
    }
    costack__platform_mutex_unlock(&p->mutex);
}

/* Queue job, starting a worker if none is idle for it: 0, or -1 with
 * errno (no worker could be started). */
static int pool_submit(CostackLoop *loop, LoopJob *job)
{
    LoopPool *p = &loop->pool;
    costack__platform_mutex_lock(&p->mutex);
    if (!p->ids) {
        p->max = (size_t)costack__platform_cpu_count();
        p->ids = (CostackPlatformThread *)calloc(p->max, sizeof *p->ids);
        if (!p->ids) {
            costack__platform_mutex_unlock(&p->mutex);
            errno = ENOMEM;
            return -1;
        }
    }
    if (p->queued >= p->idle && p->threads < p->max) {
        if (costack__platform_thread_start(&p->ids[p->threads],
                                           worker_main, p) == 0) {
            p->threads++;
        } else if (p->threads == 0) {
            costack__platform_mutex_unlock(&p->mutex);
            errno = EAGAIN;
            return -1;
        }
    }
    job->state = JOB_QUEUED;
    job->next = NULL;
    job->prev = p->last;
    if (p->last)
        p->last->next = job;
    else
        p->first = job;
    p->last = job;
    p->queued++;
    costack__platform_cond_signal(&p->work);
    costack__platform_mutex_unlock(&p->mutex);
    return 0;
}

/* The waiter of job goes away (its wait ends): make sure no worker
 * touches job after this returns. */
static void job_cancel(CostackLoop *loop, LoopJob *job)
{
    LoopPool *p = &loop->pool;
    costack__platform_mutex_lock(&p->mutex);
    if (job->state == JOB_QUEUED) {
        if (job->prev)
            job->prev->next = job->next;
        else
            p->first = job->next;
        if (job->next)
            job->next->prev = job->prev;
        else
            p->last = job->prev;
        p->queued--;
        job->cancelled = 1;
    } else if (job->state == JOB_RUNNING) {
        job->cancelled = 1;
        while (job->state != JOB_DONE)
            costack__platform_cond_wait(&p->done, &p->mutex);
    } else if (job->node.where == NODE_SHARED) {
        costack__platform_mutex_lock(&loop->remote_mutex);
        remote_unlink(loop, &job->node);
        costack__platform_mutex_unlock(&loop->remote_mutex);
    } else {
        remote_unlink(loop, &job->node);
    }
    costack__platform_mutex_unlock(&p->mutex);
}

static void pool_shutdown(LoopPool *p)
{
    size_t i;
    costack__platform_mutex_lock(&p->mutex);
    p->shutdown = 1;
    costack__platform_cond_broadcast(&p->work);
    costack__platform_mutex_unlock(&p->mutex);
    for (i = 0; i < p->threads; i++)
        costack__platform_thread_join(p->ids[i]);
    free(p->ids);
    costack__platform_mutex_destroy(&p->mutex);
    costack__platform_cond_destroy(&p->work);
    costack__platform_cond_destroy(&p->done);
}

/* ---- tasks --------------------------------------------------------------------- */

static void loop_poke(CostackLoop *loop);

/* A task's wake: onto the run queue.  From the loop's own run, that is
 * all; from anywhere else (the loop's thread before it runs, or another
 * thread that holds the global mutex, as Rust code does, while the loop
 * sleeps without it) the loop is poked too, so that it does not sleep on
 * with a task ready. */
static void task_wake_hook(CostackCoroutine *co, void *arg)
{
    CostackLoop *loop = ((CostackTask *)arg)->loop;
    CostackThread *t = costack__thread();
    if (t != loop->thread) {
        if (loop->thread && !t->holds_global_lock && costack__debug_mode())
            costack__die("costack: costack_wake: a task of a loop that "
                         "runs on another thread, woken without the global "
                         "mutex (from another thread, use "
                         "costack_loop_schedule)");
        costack__run_push(&loop->run[loop->run_cur], co);
        loop_poke(loop);
        return;
    }
    costack__run_push(&loop->run[loop->run_cur], co);
}

static void task_main(void *opaque)
{
    CostackTask *task = (CostackTask *)opaque;
    void *r = task->fn(task->arg);
    CostackCoroutine *joiner = task->joiner;
    task->result = r;
    task->done = 1;
    task->co = NULL;
    task->joiner = NULL;
    task->loop->tasks--;
    task->loop->task_ended = 1;
    if (task->detached)
        free(task);
    else if (joiner)
        costack_wake(joiner);
}

CostackTask *costack_loop_spawn(CostackLoop *loop, CostackTaskFn *fn,
                                void *arg, const CostackOptions *options)
{
    CostackTask *task;
    CostackCoroutine *co;
    if (!loop)
        costack__die("costack: costack_loop_spawn: NULL loop");
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    task = (CostackTask *)calloc(1, sizeof *task);
    if (!task) {
        errno = ENOMEM;
        return NULL;
    }
    co = costack_create_with(task_main, task, options);
    if (!co) {
        int e = errno;
        free(task);
        errno = e;
        return NULL;
    }
    task->loop = loop;
    task->co = co;
    task->fn = fn;
    task->arg = arg;
    costack_set_wake_hook(co, task_wake_hook, task);
    loop->tasks++;
    costack__run_push(&loop->run[loop->run_cur], co);
    return task;
}

static void join_detach(CostackCoroutine *co, void *arg)
{
    CostackTask *task = (CostackTask *)arg;
    if (task->joiner == co)
        task->joiner = NULL;
}

static int run_until(CostackLoop *loop, const int *done, const char *fn);

int costack_task_join(CostackTask *task, void **result)
{
    if (!task)
        costack__die("costack: costack_task_join: NULL task");
    if (!task->done) {
        if (costack_in_coroutine()) {
            CostackCoroutine *self = costack_self();
            if (task->co == self) {
                errno = EDEADLK;
                return -1;
            }
            if (task->joiner) {
                errno = EINVAL; /* another coroutine joins it already */
                return -1;
            }
            do {
                task->joiner = self;
                costack_wait(join_detach, task);
            } while (!task->done);
        } else {
            if (run_until(task->loop, &task->done, "costack_task_join") < 0)
                return -1;
            if (!task->done) { /* costack_loop_stop */
                errno = EINTR;
                return -1;
            }
        }
    }
    if (result)
        *result = task->result;
    free(task);
    return 0;
}

void costack_task_detach(CostackTask *task)
{
    if (!task)
        costack__die("costack: costack_task_detach: NULL task");
    if (task->done)
        free(task);
    else
        task->detached = 1;
}

CostackCoroutine *costack_task_coroutine(const CostackTask *task)
{
    if (!task)
        costack__die("costack: costack_task_coroutine: NULL task");
    return task->done ? NULL : task->co;
}

/* ---- waits ---------------------------------------------------------------------- */

/* The loop a wait of the running coroutine self uses: its task's, else
 * the thread's current one. */
static CostackLoop *loop_for(CostackCoroutine *self, const char *fn)
{
    CostackLoop *loop;
    if (self->wake_hook == task_wake_hook)
        return ((CostackTask *)self->wake_arg)->loop;
    loop = (CostackLoop *)costack__thread()->loop;
    if (!loop)
        die_in(fn, "no loop for this thread (wait in a task of a loop, "
                   "or make one current with costack_loop_set_current)");
    return loop;
}

static void wait_init(CostackLoopWait *w, CostackCoroutine *co,
                      CostackLoop *loop)
{
    memset(w, 0, sizeof *w);
    w->co = co;
    w->loop = loop;
}

/* Every loop wait's detach: off the timer heap, the fd, the queue, the
 * pool, whichever it is on. */
static void wait_detach(CostackCoroutine *co, void *arg)
{
    CostackLoopWait *w = (CostackLoopWait *)arg;
    CostackLoop *loop = w->loop;
    if (w->timer.armed)
        timer_disarm(loop, &w->timer);
    if (w->list) {
        CostackFdEntry *e = w->entry;
        wlist_unlink(w);
        if (e) {
            w->entry = NULL;
            (void)entry_watch(loop, e, 0);
        }
    }
    if (w->queue) {
        /* The queue co is on now: costack_queue_wake_all moves its
         * waiters to a queue of its own before it wakes them. */
        costack__queue_unlink(co);
        w->queue = NULL;
    }
    if (w->job)
        job_cancel(loop, w->job);
    loop->waits--;
}

static void sleep_until(const char *fn, long long deadline, int yield)
{
    CostackCoroutine *self = costack__running(fn);
    CostackLoop *loop = loop_for(self, fn);
    CostackLoopWait w;
    wait_init(&w, self, loop);
    timer_arm(loop, &w.timer, yield ? costack__platform_now_ns() : deadline);
    loop->waits++;
    costack_wait(wait_detach, &w);
}

void costack_sleep_ns(long long ns)
{
    sleep_until("costack_sleep_ns", deadline_after(ns), 0);
}

void costack_loop_yield(void)
{
    sleep_until("costack_loop_yield", 0, 1);
}

int costack_wait_fd(CostackFd fd, int events, long long timeout_ns)
{
    CostackCoroutine *self = costack__running("costack_wait_fd");
    CostackLoop *loop = loop_for(self, "costack_wait_fd");
    CostackFdEntry *e;
    CostackLoopWait w;
    int fresh, r;
    if (events == 0 || (events & ~(COSTACK_READABLE | COSTACK_WRITABLE))) {
        errno = EINVAL;
        return -1;
    }
#if defined(_WIN32)
    if (fd == (CostackFd)INVALID_SOCKET) {
#else
    if (fd < 0) {
#endif
        errno = EBADF;
        return -1;
    }
    e = fd_entry_get(loop, fd);
    if (!e)
        return -1;
    fresh = e->waiters.first == NULL;
    wait_init(&w, self, loop);
    w.events = (unsigned)events;
    w.entry = e;
    wlist_push(&e->waiters, &w);
    r = entry_watch(loop, e, fresh);
    if (r != 0) {
        int err = errno;
        wlist_unlink(&w);
        (void)entry_watch(loop, e, 0);
        if (!e->waiters.first) {
            /* Nothing to keep for an fd that cannot be watched. */
            costack__poller_forget(loop->poller, e);
            if (e->on_ready)
                ready_unlink(loop, e);
            fd_entry_remove(loop, e);
            free(e);
        }
        if (r == 1) /* always ready */
            return events;
        errno = err;
        return -1;
    }
    if (timeout_ns >= 0)
        timer_arm(loop, &w.timer, deadline_after(timeout_ns));
    loop->waits++;
    costack_wait(wait_detach, &w);
    if (w.error) {
        errno = w.error;
        return -1;
    }
    if (w.timed_out)
        return 0;
    return (int)w.revents;
}

static int close_socket(CostackFd fd)
{
#if defined(_WIN32)
    if (closesocket((SOCKET)fd) == 0)
        return 0;
    errno = WSAGetLastError() == WSAENOTSOCK ? EBADF : EIO;
    return -1;
#else
    return close(fd);
#endif
}

int costack_loop_close_fd(CostackLoop *loop, CostackFd fd)
{
    CostackFdEntry *e;
    CostackWaitList gone = {NULL, NULL};
    CostackLoopWait *w;
    int r, err;
    if (!loop)
        costack__die("costack: costack_loop_close_fd: NULL loop");
    e = costack__loop_fd_entry(loop, fd);
    if (e) {
        costack__poller_forget(loop->poller, e);
        if (e->on_ready)
            ready_unlink(loop, e);
        fd_entry_remove(loop, e);
        while ((w = e->waiters.first) != NULL) {
            wlist_unlink(w);
            w->entry = NULL;
            w->error = EBADF;
            wlist_push(&gone, w);
        }
        free(e);
    }
    r = close_socket(fd);
    err = errno;
    while ((w = gone.first) != NULL) {
        wlist_unlink(w);
        costack_wake(w->co);
    }
    errno = err;
    return r;
}

int costack_queue_wait_timeout(CostackQueue *q, long long timeout_ns)
{
    CostackCoroutine *self = costack__running("costack_queue_wait_timeout");
    CostackLoop *loop;
    CostackLoopWait w;
    if (timeout_ns < 0) {
        costack_queue_wait(q);
        return 1;
    }
    loop = loop_for(self, "costack_queue_wait_timeout");
    wait_init(&w, self, loop);
    w.queue = q;
    costack__queue_link(q, self, COSTACK_WAIT_QUEUE, 0);
    timer_arm(loop, &w.timer, deadline_after(timeout_ns));
    loop->waits++;
    costack_wait(wait_detach, &w);
    return !w.timed_out;
}

int costack_run_in_thread(CostackTaskFn *fn, void *arg, void **result)
{
    CostackCoroutine *self = costack__running("costack_run_in_thread");
    CostackLoop *loop = loop_for(self, "costack_run_in_thread");
    CostackLoopWait w;
    LoopJob job;
    if (!fn) {
        errno = EINVAL;
        return -1;
    }
    memset(&job, 0, sizeof job);
    job.fn = fn;
    job.arg = arg;
    job.loop = loop;
    job.node.co = self;
    if (pool_submit(loop, &job) < 0)
        return -1;
    wait_init(&w, self, loop);
    w.job = &job;
    loop->waits++;
    costack_wait(wait_detach, &w);
    if (job.cancelled) { /* woken by someone else before the job ended */
        errno = ECANCELED;
        return -1;
    }
    if (result)
        *result = job.result;
    return 0;
}

/* ---- the dispatch ---------------------------------------------------------------- */

/* Wake co from the loop: 1 if that entered it (no hook: at once). */
static int loop_wake(CostackCoroutine *co)
{
    int entered = co->wake_hook == NULL;
    costack_wake(co);
    return entered;
}

static int dispatch_fds(CostackLoop *loop)
{
    CostackFdEntry *e;
    int n = 0;
    while ((e = loop->ready_first) != NULL) {
        unsigned rev = e->revents;
        CostackWaitList batch = {NULL, NULL};
        CostackLoopWait *w, *next;
        ready_unlink(loop, e);
        e->revents = 0;
        for (w = e->waiters.first; w; w = next) {
            unsigned got = rev & COSTACK__FD_ERROR ? w->events
                                                   : w->events & rev;
            next = w->next;
            if (rev & COSTACK__FD_INVALID) {
                got = w->events;
                w->error = EBADF;
            }
            if (!got)
                continue;
            w->revents = got;
            wlist_unlink(w);
            w->entry = NULL;
            wlist_push(&batch, w);
        }
        if (entry_watch(loop, e, 0) < 0) {
            /* The fd cannot be watched for the others any more. */
            int err = errno;
            while ((w = e->waiters.first) != NULL) {
                wlist_unlink(w);
                w->entry = NULL;
                w->error = err;
                wlist_push(&batch, w);
            }
            (void)entry_watch(loop, e, 0);
        }
        while ((w = batch.first) != NULL) {
            wlist_unlink(w);
            n += loop_wake(w->co);
        }
    }
    return n;
}

static int dispatch_timers(CostackLoop *loop)
{
    long long now;
    unsigned long long seq_end = loop->timer_seq;
    int n = 0;
    if (!loop->timers)
        return 0;
    now = costack__platform_now_ns();
    /* Timers armed from here on (a woken coroutine that sleeps or yields
     * again) wait for the next iteration. */
    while (loop->timers && loop->timers->deadline <= now &&
           loop->timers->seq < seq_end) {
        LoopTimer *t = loop->timers;
        CostackLoopWait *w =
            (CostackLoopWait *)((char *)t - offsetof(CostackLoopWait, timer));
        timer_disarm(loop, t);
        w->timed_out = 1;
        n += loop_wake(w->co);
    }
    return n;
}

static int dispatch_remote(CostackLoop *loop)
{
    RemoteNode *node;
    int n = 0;
    if (FLAG_LOAD(&loop->notified)) {
        costack__platform_mutex_lock(&loop->remote_mutex);
        for (node = loop->remote_first; node; node = node->next)
            node->where = NODE_BATCH;
        if (loop->remote_first) {
            if (loop->batch_last) {
                loop->batch_last->next = loop->remote_first;
                loop->remote_first->prev = loop->batch_last;
            } else {
                loop->batch_first = loop->remote_first;
            }
            loop->batch_last = loop->remote_last;
        }
        loop->remote_first = loop->remote_last = NULL;
        FLAG_STORE(&loop->notified, 0);
        costack__platform_mutex_unlock(&loop->remote_mutex);
    }
    while ((node = loop->batch_first) != NULL) {
        CostackCoroutine *co = node->co;
        remote_unlink(loop, node);
        if (node->owned)
            free(node);
        n += loop_wake(co);
    }
    return n;
}

static int dispatch_run(CostackLoop *loop)
{
    CostackRunList *batch = &loop->run[loop->run_cur];
    CostackCoroutine *co;
    int n = 0;
    loop->run_cur ^= 1;
    while ((co = costack__run_pop(batch)) != NULL) {
        loop->task_ended = 0;
        costack_enter(co);
        /* Back from a task: it waits, ended, or was woken again at once
         * (scheduled); a task that yielded would wait for a resume that
         * no one will make, the loop kept busy forever. */
        if (!loop->task_ended && co->state == COSTACK_SUSPENDED)
            costack__die("costack: costack_yield: a task of a loop yielded "
                         "to the loop (tasks wait; costack_loop_yield lets "
                         "the others run)");
        n++;
    }
    return n;
}

/* Something is ready now: no blocking. */
static int loop_has_ready(CostackLoop *loop)
{
    return loop->run[loop->run_cur].first || loop->ready_first ||
           loop->batch_first || FLAG_LOAD(&loop->notified);
}

static long long loop_timeout(CostackLoop *loop)
{
    long long d;
    if (loop_has_ready(loop) || FLAG_LOAD(&loop->stop))
        return 0;
    if (!loop->timers)
        return -1;
    d = loop->timers->deadline - costack__platform_now_ns();
    return d < 0 ? 0 : d;
}

static int loop_alive(CostackLoop *loop)
{
    return loop->tasks || loop->waits || loop_has_ready(loop) ||
           loop->run[loop->run_cur ^ 1].first;
}

/* One iteration; may_block: wait for the first thing to be ready.  How
 * many coroutines it entered, or -1 with errno. */
static int loop_iterate(CostackLoop *loop, int may_block)
{
    long long timeout = may_block ? loop_timeout(loop) : 0;
    int r, n;
    if (timeout != 0 && costack_global_lock_held()) {
        int err;
        costack_global_unlock();
        r = costack__poller_wait(loop->poller, loop, timeout);
        err = errno;
        costack_global_lock();
        errno = err;
    } else {
        r = costack__poller_wait(loop->poller, loop, timeout);
    }
    if (r < 0)
        return -1;
    n = dispatch_fds(loop);
    n += dispatch_timers(loop);
    n += dispatch_remote(loop);
    n += dispatch_run(loop);
    return n;
}

static void *loop_begin(CostackLoop *loop, const char *fn)
{
    CostackThread *t;
    void *saved;
    if (!loop)
        die_in(fn, "NULL loop");
    if (costack_in_coroutine())
        die_in(fn, "called from a coroutine (a loop runs outside "
                   "coroutines; in one, wait or join instead)");
    if (loop->running)
        die_in(fn, "the loop is running already (called from inside its "
                   "own dispatch)");
    t = costack__thread();
    saved = t->loop;
    t->loop = loop;
    loop->running = 1;
    loop->thread = t;
    return saved;
}

static void loop_end(CostackLoop *loop, void *saved)
{
    loop->running = 0;
    loop->thread = NULL;
    costack__thread()->loop = saved;
}

static int run_until(CostackLoop *loop, const int *done, const char *fn)
{
    void *saved = loop_begin(loop, fn);
    int r = 0;
    while (!FLAG_LOAD(&loop->stop) && (done ? !*done : loop_alive(loop))) {
        if (loop_iterate(loop, 1) < 0) {
            r = -1;
            break;
        }
    }
    if (FLAG_LOAD(&loop->stop))
        FLAG_STORE(&loop->stop, 0);
    loop_end(loop, saved);
    return r;
}

int costack_loop_run(CostackLoop *loop)
{
    return run_until(loop, NULL, "costack_loop_run");
}

int costack_loop_run_once(CostackLoop *loop)
{
    void *saved = loop_begin(loop, "costack_loop_run_once");
    int n = loop_iterate(loop, 0);
    if (n >= 0 && loop->run[loop->run_cur].first) {
        /* Tasks became ready during the dispatch: keep the loop's fd
         * readable, so that an outer loop comes back at once. */
        loop_poke(loop);
    }
    loop_end(loop, saved);
    return n;
}

int costack_loop_fd(CostackLoop *loop)
{
    if (!loop)
        costack__die("costack: costack_loop_fd: NULL loop");
    return costack__poller_fd(loop->poller);
}

long long costack_loop_timeout_ns(CostackLoop *loop)
{
    if (!loop)
        costack__die("costack: costack_loop_timeout_ns: NULL loop");
    if (loop_has_ready(loop))
        return 0;
    return loop_timeout(loop);
}

/* ---- the loop itself --------------------------------------------------------- */

CostackLoop *costack_loop_new(void)
{
    CostackLoop *loop = (CostackLoop *)calloc(1, sizeof *loop);
    if (!loop) {
        errno = ENOMEM;
        return NULL;
    }
    loop->poller = costack__poller_new();
    if (!loop->poller) {
        int e = errno;
        free(loop);
        errno = e;
        return NULL;
    }
    costack__platform_mutex_init(&loop->remote_mutex);
    costack__platform_mutex_init(&loop->pool.mutex);
    costack__platform_cond_init(&loop->pool.work);
    costack__platform_cond_init(&loop->pool.done);
    return loop;
}

int costack_loop_free(CostackLoop *loop)
{
    size_t i;
    int pending;
    CostackThread *t;
    if (!loop)
        return 0;
    costack__platform_mutex_lock(&loop->remote_mutex);
    pending = loop->remote_first != NULL;
    costack__platform_mutex_unlock(&loop->remote_mutex);
    if (pending || loop->running || loop->tasks || loop->waits ||
        loop->run[0].first || loop->run[1].first || loop->batch_first) {
        errno = EBUSY;
        return -1;
    }
    pool_shutdown(&loop->pool);
    for (i = 0; i < loop->slot_cap; i++)
        free(loop->slots[i]);
    free(loop->slots);
    costack__poller_free(loop->poller);
    costack__platform_mutex_destroy(&loop->remote_mutex);
    t = costack__thread();
    if (t->loop == loop)
        t->loop = NULL;
    free(loop);
    return 0;
}

CostackLoop *costack_loop_current(void)
{
    return (CostackLoop *)costack__thread()->loop;
}

void costack_loop_set_current(CostackLoop *loop)
{
    costack__thread()->loop = loop;
}

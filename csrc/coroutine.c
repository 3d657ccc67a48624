/*
 * coroutine.c - the generic core: coroutine objects, the caller chain,
 * termination and release, the pool, thread state, misuse checks and the
 * global mutex.  Written once for every backend; the backend only starts
 * stacks and switches between them (backend.h).
 */
/* The setjmp backends' switches are written into this file's functions
 * (switch_setjmp.h says why these two lines). */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "platform.h"
#include "sanitizer.h"

/* How many terminated coroutines a thread keeps for itself before it hands
 * them to the shared pool. */
#define THREAD_POOL_BATCH 64
/* A thread reserves pool slots for its batch this many at a time, and gives
 * back unused ones when more than QUOTA_SLACK lie idle. */
#define QUOTA_STEP 8
#define QUOTA_SLACK 16
/* The default limit of pooled coroutines over all threads. */
#define DEFAULT_POOL_MAX 1024

/* Initial-exec: the thread's state is one offset from the thread pointer,
 * also when costack ends up in a shared library, where the default model
 * would call __tls_get_addr on every enter and yield (docs/performance.md
 * has the cost).  In an executable the linker makes any model a constant
 * offset anyway.  The price: a library dlopen()ed after start-up takes
 * these bytes (sizeof(CostackThread)) from the static TLS space glibc
 * reserves for that. */
#if defined(__ELF__) && (defined(__GNUC__) || defined(__clang__))
COSTACK_THREAD_LOCAL CostackThread costack__tls
    __attribute__((tls_model("initial-exec")));
#else
COSTACK_THREAD_LOCAL CostackThread costack__tls;
#endif

/*
 * Process-wide state, guarded by the pool mutex; fields that are also read
 * without it are written with atomic stores (or adds).
 *
 * The pool limit is kept with reservations, so that a thread's own batch
 * costs no locked instruction in the steady state: each thread reserves
 * slots (pool_quota) and pools up to that many coroutines by itself.
 * reserved = the shared pool's count + every registered thread's quota,
 * and never grows past the limit; the number pooled is at most reserved.
 * A thread grows its quota (under the mutex) when its batch is full, gives
 * back idle slots when many lie unused, and gives back all of it when it
 * exits.  When the limit is lowered, threads shed on their next finish.
 */
static struct {
    CostackCoroutine *pool; /* the shared pool */
    size_t pool_count;
    size_t reserved;
    size_t pool_max;
    size_t pool_cap;         /* platform cap, 0 until computed */
    CostackThread *threads;  /* registered threads (those that can pool) */
    size_t stacks; /* live + pooled: costack_stats derives live from them */
    size_t stack_bytes;
    CostackLink orphans; /* coroutines whose creating thread has exited */
} g = {NULL, 0, 0, DEFAULT_POOL_MAX, 0, NULL, 0, 0, {NULL, NULL}};

void costack__die(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    abort();
}

COSTACK_NOINLINE CostackThread *costack__thread(void)
{
    CostackThread *t = &costack__tls;
    COSTACK_BARRIER();
    if (!t->initialised) {
        t->leader.state = COSTACK_LEADER;
        t->current = &t->leader;
        t->initialised = 1;
    }
    return t;
}

/* Make the calling thread able to switch: a leader context, the exit hook
 * and the overflow reporting.  0, or -1 with errno. */
static int thread_ready(CostackThread *t)
{
    if (t->ready)
        return 0;
    if (costack__platform_thread_init(t) != 0)
        return -1;
    if (costack__backend_leader(&t->leader) != 0) {
        int e = errno;
        costack__platform_thread_exit(t);
        errno = e;
        return -1;
    }
    costack__mutex_lock_pool();
    t->prev_thread = NULL;
    t->next_thread = g.threads;
    if (g.threads)
        g.threads->prev_thread = t;
    g.threads = t;
    t->registered = 1;
    t->coroutines.next = t->coroutines.prev = &t->coroutines;
    costack__mutex_unlock_pool();
    t->ready = 1;
    return 0;
}

/* ---- registry of coroutines, for debuggers ------------------------------
 *
 * scripts/costack-gdb.py lists every coroutine by walking, from g.threads,
 * each registered thread's list (the sentinel t->coroutines), then
 * g.orphans.  Nothing in costack reads the lists; they cost nothing on the
 * paths that matter.
 *
 * Membership follows the stack, not the coroutine's life: a coroutine goes
 * on the list of the thread that creates it when its stack is mapped (a
 * create that found nothing in the pools) and comes off when its stack is
 * unmapped (free_coroutine).  A pooled coroutine stays on its list, marked
 * COSTACK_POOLED, so that taking one from a pool (create) and putting one
 * back (finish, destroy of a new one) change no list: the fast path has no
 * list operation and no lock.  The debugger skips pooled entries, or shows
 * them when asked (they also account for stack memory).
 *
 * Every change to any list holds the pool mutex: an insert (its own list,
 * with a stack mapping or a slab slot in the same call, which cost far
 * more), an unlink (from whichever list, on whichever thread: a coroutine
 * that migrated, or is destroyed or released by another thread, or a
 * pooled one freed when the limit drops), and the splice of an exiting
 * thread's list into g.orphans.  The mutex serialises all of them, so an
 * unlink on one thread never races an insert or unlink of a neighbour on
 * another, and no lock-free reasoning is needed.  The splice runs while
 * the thread deregisters, before its state (thread-local storage) goes
 * away, so afterwards no link points into a dead thread.  Debuggers read
 * the lists without the mutex, with the process stopped: a thread stopped
 * inside a change can leave a list half-linked, which the script
 * tolerates (it bounds its walk). */

/* Link co, whose stack t just mapped, at the head of t's list. */
static void registry_add(CostackThread *t, CostackCoroutine *co)
{
    costack__mutex_lock_pool();
    co->registry.prev = &t->coroutines;
    co->registry.next = t->coroutines.next;
    t->coroutines.next->prev = &co->registry;
    t->coroutines.next = &co->registry;
    costack__mutex_unlock_pool();
}

/* Unlink co, whose stack is about to be unmapped, from whichever list. */
static void registry_remove(CostackCoroutine *co)
{
    costack__mutex_lock_pool();
    co->registry.prev->next = co->registry.next;
    co->registry.next->prev = co->registry.prev;
    co->registry.next = co->registry.prev = NULL;
    costack__mutex_unlock_pool();
}

/* Under the pool mutex: move the exiting thread t's list to g.orphans. */
static void registry_orphan(CostackThread *t)
{
    CostackLink *first = t->coroutines.next, *last = t->coroutines.prev;
    if (!g.orphans.next)
        g.orphans.next = g.orphans.prev = &g.orphans;
    if (first && first != &t->coroutines) {
        last->next = g.orphans.next;
        g.orphans.next->prev = last;
        first->prev = &g.orphans;
        g.orphans.next = first;
    }
    t->coroutines.next = t->coroutines.prev = NULL;
}

/* ---- pool ------------------------------------------------------------ */

/* The effective pool limit: the one set, under the platform's cap (computed
 * on first use).  Inline: every coroutine that ends asks. */
static inline size_t pool_limit(void)
{
    size_t cap = costack__atomic_load(&g.pool_cap);
    size_t max = costack__atomic_load(&g.pool_max);
    if (COSTACK_UNLIKELY(cap == 0)) {
        cap = costack__platform_pool_cap();
        if (cap == 0)
            cap = 1; /* computed; keep 0 meaning "not yet" */
        costack__atomic_store(&g.pool_cap, cap);
    }
    return max < cap ? max : cap;
}

size_t costack_pool_max(void)
{
    return pool_limit();
}

/* ---- debug mode: stale handles ---------------------------------------
 *
 * A coroutine's handle is invalid once it has ended or been destroyed:
 * normally its object is pooled and reused, or freed, so a stale handle
 * reads freed memory or, worse, drives the coroutine that reuses the
 * object.  With COSTACK_DEBUG=1 in the environment, nothing is pooled and
 * an ended coroutine's object is not freed but kept, marked COSTACK_STALE,
 * in a quarantine of the QUARANTINE most recent ones (its stack is freed):
 * every use of its handle aborts with the usual "has terminated or was
 * destroyed" message.  Handles older than the quarantine are not caught. */

#define QUARANTINE 65536

static struct {
    CostackCoroutine **ring; /* under the pool mutex */
    size_t next;
} quarantine;

/* Whether COSTACK_DEBUG is set (non-empty, not "0"); read once. */
size_t costack__debug_state;

COSTACK_NOINLINE int costack__debug_read(void)
{
    const char *v = getenv("COSTACK_DEBUG");
    size_t m = v && *v && strcmp(v, "0") != 0 ? 2 : 1;
    costack__atomic_store(&costack__debug_state, m);
    return m == 2;
}

/* Keep co's object, stale, in the quarantine; free the oldest one when it
 * is full (or co itself, if the ring cannot be allocated). */
static void quarantine_put(CostackCoroutine *co)
{
    CostackCoroutine *oldest;
    co->state = COSTACK_STALE;
    costack__mutex_lock_pool();
    if (!quarantine.ring)
        quarantine.ring = (CostackCoroutine **)calloc(QUARANTINE,
                                                      sizeof(co));
    if (quarantine.ring) {
        oldest = quarantine.ring[quarantine.next];
        quarantine.ring[quarantine.next] = co;
        quarantine.next = (quarantine.next + 1) % QUARANTINE;
    } else {
        oldest = co;
    }
    costack__mutex_unlock_pool();
    free(oldest);
}

static void free_coroutine(CostackCoroutine *co)
{
    size_t bytes = co->stack.map_size;
    registry_remove(co);
    costack__san_free(co);
    costack__backend_free(co);
    costack__atomic_add(&g.stacks, (size_t)-1);
    costack__atomic_add(&g.stack_bytes, (size_t)0 - bytes);
    free(co->user_block);
    co->user_block = co->user = NULL;
    co->user_cap = 0;
    if (costack__debug_mode())
        quarantine_put(co);
    else
        free(co);
}

static void free_list(CostackCoroutine *list)
{
    while (list) {
        CostackCoroutine *co = list;
        list = co->pool_next;
        free_coroutine(co);
    }
}

/* Under the pool mutex: t gives back the pool slots it reserved and does
 * not use, then moves coroutines of its batch to *surplus (to be freed)
 * while the pool holds more than max. */
static void shrink_batch(CostackThread *t, size_t max,
                         CostackCoroutine **surplus)
{
    costack__atomic_store(&g.reserved,
                          g.reserved - (t->pool_quota - t->pool_count));
    t->pool_quota = t->pool_count;
    while (t->pool && g.reserved > max) {
        CostackCoroutine *co = t->pool;
        t->pool = co->pool_next;
        costack__atomic_store(&t->pool_count, t->pool_count - 1);
        t->pool_quota--;
        costack__atomic_store(&g.reserved, g.reserved - 1);
        co->pool_next = *surplus;
        *surplus = co;
    }
}

void costack_pool_set_max(size_t max)
{
    CostackThread *t = costack__thread();
    CostackCoroutine *surplus = NULL;
    costack__atomic_store(&g.pool_max, max);
    max = pool_limit();
    costack__mutex_lock_pool();
    /* The calling thread's batch and the shared pool shrink to the limit
     * now; other threads' batches when they next finish a coroutine
     * (pool_put). */
    if (t->registered)
        shrink_batch(t, max, &surplus);
    while (g.pool && g.reserved > max) {
        CostackCoroutine *co = g.pool;
        g.pool = co->pool_next;
        costack__atomic_store(&g.pool_count, g.pool_count - 1);
        costack__atomic_store(&g.reserved, g.reserved - 1);
        co->pool_next = surplus;
        surplus = co;
    }
    costack__mutex_unlock_pool();
    free_list(surplus);
    /* What the stacks' allocator keeps empty goes too. */
    costack__stack_trim();
}

/* Keep a coroutine whose stack waits at the top of costack__coroutine_main
 * for reuse, or free it when the pool is full.  t is the calling thread's
 * state, or NULL when it is exiting. */
static void pool_put(CostackThread *t, CostackCoroutine *co)
{
    size_t max = pool_limit();
    CostackCoroutine *surplus = NULL;

    costack__san_pooled(co);
    co->state = COSTACK_POOLED;
    co->entry = NULL;
    co->opaque = NULL;
    co->user = NULL;
    /* The rest of the waiting state is empty at every end: the wait
     * detached, lists drained (costack__coroutine_main), no lock held. */
    co->wake_hook = NULL;
    co->wake_arg = NULL;
    if (co->user_cap > COSTACK_POOLED_USER_SIZE) {
        free(co->user_block);
        co->user_block = NULL;
        co->user_cap = 0;
    }
    /* The steady state: a slot this thread reserved earlier. */
    if (t && t->registered && t->pool_count < t->pool_quota &&
        costack__atomic_load(&g.reserved) <= max) {
        co->pool_next = t->pool;
        t->pool = co;
        costack__atomic_store(&t->pool_count, t->pool_count + 1);
        return;
    }
    costack__mutex_lock_pool();
    if (costack__debug_mode())
        max = 0; /* nothing is pooled: see "debug mode" */
    if (t && t->registered) {
        size_t batch = max < THREAD_POOL_BATCH ? max : THREAD_POOL_BATCH;
        if (g.reserved > max) {
            /* The limit was lowered. */
            shrink_batch(t, max, &surplus);
        } else if (t->pool_quota < batch) {
            /* Reserve a few more slots for the batch. */
            size_t more = batch - t->pool_quota;
            if (more > QUOTA_STEP)
                more = QUOTA_STEP;
            if (more > max - g.reserved)
                more = max - g.reserved;
            t->pool_quota += more;
            costack__atomic_store(&g.reserved, g.reserved + more);
        }
        if (t->pool_count < t->pool_quota) {
            co->pool_next = t->pool;
            t->pool = co;
            costack__atomic_store(&t->pool_count, t->pool_count + 1);
            co = NULL;
        }
    }
    if (co && g.reserved < max) {
        co->pool_next = g.pool;
        g.pool = co;
        costack__atomic_store(&g.pool_count, g.pool_count + 1);
        costack__atomic_store(&g.reserved, g.reserved + 1);
        co = NULL;
    }
    costack__mutex_unlock_pool();
    if (co)
        free_coroutine(co);
    free_list(surplus);
}

static CostackCoroutine *take_matching(CostackCoroutine **list, size_t size,
                                       size_t guard)
{
    CostackCoroutine **pp;
    for (pp = list; *pp; pp = &(*pp)->pool_next) {
        CostackCoroutine *co = *pp;
        if (co->stack.size == size && co->guard_asked == guard) {
            *pp = co->pool_next;
            co->pool_next = NULL;
            return co;
        }
    }
    return NULL;
}

static CostackCoroutine *pool_take(CostackThread *t, size_t size,
                                   size_t guard)
{
    CostackCoroutine *co = take_matching(&t->pool, size, guard);
    if (co) {
        size_t count = t->pool_count - 1;
        costack__atomic_store(&t->pool_count, count);
        if (t->pool_quota - count > QUOTA_SLACK) {
            /* Many slots idle: let other threads have some. */
            costack__mutex_lock_pool();
            t->pool_quota -= QUOTA_STEP;
            costack__atomic_store(&g.reserved, g.reserved - QUOTA_STEP);
            costack__mutex_unlock_pool();
        }
        return co;
    }
    if (costack__atomic_load(&g.pool_count) == 0)
        return NULL; /* nothing shared: skip the lock */
    costack__mutex_lock_pool();
    co = take_matching(&g.pool, size, guard);
    if (co) {
        costack__atomic_store(&g.pool_count, g.pool_count - 1);
        costack__atomic_store(&g.reserved, g.reserved - 1);
    }
    costack__mutex_unlock_pool();
    return co;
}

/* Under the pool mutex: take t out of the registry of threads, giving back
 * its quota, and return its batch of pooled coroutines. */
static CostackCoroutine *deregister(CostackThread *t)
{
    CostackCoroutine *batch = t->pool;
    if (t->prev_thread)
        t->prev_thread->next_thread = t->next_thread;
    else
        g.threads = t->next_thread;
    if (t->next_thread)
        t->next_thread->prev_thread = t->prev_thread;
    t->next_thread = t->prev_thread = NULL;
    t->registered = 0;
    registry_orphan(t);
    costack__atomic_store(&g.reserved, g.reserved - t->pool_quota);
    t->pool_quota = 0;
    t->pool = NULL;
    costack__atomic_store(&t->pool_count, 0);
    return batch;
}

void costack__fork_child(CostackThread *t)
{
    CostackThread *u = g.threads;
    while (u) {
        CostackThread *next = u->next_thread;
        if (u != t) {
            /* A thread the child does not have: its pooled coroutines go
             * to the shared pool, whose slots they already held. */
            CostackCoroutine *co = deregister(u);
            while (co) {
                CostackCoroutine *after = co->pool_next;
                co->pool_next = g.pool;
                g.pool = co;
                costack__atomic_store(&g.pool_count, g.pool_count + 1);
                costack__atomic_store(&g.reserved, g.reserved + 1);
                co = after;
            }
        }
        u = next;
    }
}

void costack__thread_exit(CostackThread *t)
{
    CostackCoroutine *batch = NULL;

    if (t->registered) {
        costack__mutex_lock_pool();
        batch = deregister(t);
        costack__mutex_unlock_pool();
    }
    /* Its coroutines go to the shared pool while there is room. */
    while (batch) {
        CostackCoroutine *co = batch;
        batch = co->pool_next;
        pool_put(NULL, co);
    }
    if (t->leader.ctx)
        costack__backend_free(&t->leader);
    t->leader.ctx = NULL;
    t->ready = 0;
    costack__platform_thread_exit(t);
}

/* ---- floating-point control ------------------------------------------
 *
 * COSTACK_KEEP_FP_CONTROL (costack.h): a coroutine created with it keeps a
 * control state of its own.  co->fp_control holds the state of whichever
 * side of co's switches does not run: co's own while it is suspended (or
 * new: the creator's, read at create), its resumer's while it runs.  Each
 * switch into or out of co swaps it with the thread's, before the switch
 * (the state is a register of the thread, which the switch carries over),
 * so that the switch itself stays the backend's and is the same for every
 * backend.  Reloading costs several times the read, so it happens only
 * when the control bits differ; status flags (MXCSR bits 0-5, which the
 * x87 control word does not have; FPSR on aarch64, not read at all) are
 * the thread's either way. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_FP_CONTROL 1
/* MXCSR in the low 32 bits, the x87 control word above. */
static inline unsigned long long fp_control_read(void)
{
    unsigned int csr;
    unsigned short cw;
    __asm__ __volatile__("stmxcsr %0\n\tfnstcw %1" : "=m"(csr), "=m"(cw));
    return (unsigned long long)cw << 32 | csr;
}
/* The bits of fp_control_read's value that are status, not control. */
#define FP_STATUS_BITS 0x3fULL
static inline void fp_control_write(unsigned long long v)
{
    unsigned int csr = (unsigned int)v;
    unsigned short cw = (unsigned short)(v >> 32);
    __asm__ __volatile__("ldmxcsr %0\n\tfldcw %1" : : "m"(csr), "m"(cw));
}
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define HAVE_FP_CONTROL 1
static inline unsigned long long fp_control_read(void)
{
    unsigned long long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}
#define FP_STATUS_BITS 0ULL
static inline void fp_control_write(unsigned long long v)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(v));
}
#endif

/* Swap the thread's control state with co->fp_control (above). */
static COSTACK_NOINLINE void fp_control_swap(CostackCoroutine *co)
{
#if defined(HAVE_FP_CONTROL)
    unsigned long long mine = fp_control_read(), other = co->fp_control;
    co->fp_control = mine;
    if ((mine ^ other) & ~FP_STATUS_BITS)
        fp_control_write((other & ~FP_STATUS_BITS) | (mine & FP_STATUS_BITS));
#else
    (void)co;
#endif
}

/* co's control state to start with: the creating thread's. */
static void fp_control_init(CostackCoroutine *co)
{
#if defined(HAVE_FP_CONTROL)
    co->fp_control = fp_control_read();
#else
    co->fp_control = 0;
#endif
}

/* ---- lifecycle --------------------------------------------------------- */

/* Give co user data of size bytes (costack_user_data), in the block it
 * kept from an earlier use when that is large enough, so that a pooled
 * create allocates nothing.  0, or -1 when out of memory (co's block is
 * then as it was). */
static int user_data_ready(CostackCoroutine *co, size_t size)
{
    const uintptr_t mask = COSTACK_USER_DATA_ALIGN - 1;
    if (size == 0) {
        co->user = NULL;
        return 0;
    }
    if (size > co->user_cap) {
        /* Multiples of 64, so that sizes close to each other share. */
        size_t cap = (size + 63) & ~(size_t)63;
        void *block = malloc(cap + mask);
        if (!block)
            return -1;
        free(co->user_block);
        co->user_block = block;
        co->user_cap = cap;
    }
    co->user = (void *)(((uintptr_t)co->user_block + mask) & ~mask);
    return 0;
}

CostackCoroutine *costack_create(CostackEntry *entry, void *opaque)
{
    return costack_create_with(entry, opaque, NULL);
}

COSTACK_NOINLINE CostackCoroutine *
costack_create_with(CostackEntry *entry, void *opaque,
                    const CostackOptions *options)
{
    size_t size = COSTACK_DEFAULT_STACK_SIZE;
    size_t guard = COSTACK_DEFAULT_GUARD_SIZE;
    CostackThread *t = costack__thread_here();
    CostackCoroutine *co;

    if (!entry) {
        errno = EINVAL;
        return NULL;
    }
    /* The defaults are multiples of 64 KiB, so of every page size costack
     * runs on (4 to 64 KiB): only sizes asked for are checked and rounded,
     * and the usual create asks nothing of the page size. */
    if (options && (options->stack_size || options->guard_size)) {
        size_t page = costack__page_size();
        if (options->stack_size)
            size = options->stack_size;
        if (options->guard_size)
            guard = options->guard_size;
        if (size < COSTACK_MIN_STACK_SIZE || size > COSTACK_MAX_STACK_SIZE ||
            guard > COSTACK_MAX_GUARD_SIZE) {
            errno = EINVAL;
            return NULL;
        }
        size = (size + page - 1) & ~(page - 1);
        guard = (guard + page - 1) & ~(page - 1);
    }
    if (options && options->user_size > COSTACK_MAX_USER_SIZE) {
        errno = EINVAL;
        return NULL;
    }
    if (thread_ready(t) != 0)
        return NULL;

    co = pool_take(t, size, guard);
    if (!co) {
        co = (CostackCoroutine *)calloc(1, sizeof(*co));
        if (!co) {
            errno = ENOMEM;
            return NULL;
        }
        costack__san_create(co);
        if (costack__backend_create(co, size, guard) != 0) {
            int e = errno;
            costack__san_free(co);
            free(co);
            errno = e;
            return NULL;
        }
        co->guard_asked = guard;
        costack__atomic_add(&g.stacks, 1);
        costack__atomic_add(&g.stack_bytes, co->stack.map_size);
        registry_add(t, co);
    }
    if (user_data_ready(co, options ? options->user_size : 0) != 0) {
        pool_put(t, co); /* as a destroy of a new coroutine does */
        errno = ENOMEM;
        return NULL;
    }
    costack__san_taken(co);
    co->entry = entry;
    co->opaque = opaque;
    co->caller = NULL;
    co->flags = options ? options->flags & COSTACK_KEEP_FP_CONTROL : 0;
    if (co->flags & COSTACK_KEEP_FP_CONTROL)
        fp_control_init(co);
    co->state = COSTACK_NEW;
    return co;
}

/* ---- waiting and waking -----------------------------------------------
 *
 * costack_wait suspends the running coroutine in COSTACK_WAITING;
 * costack_wake detaches it from what it waits on, makes it
 * COSTACK_SCHEDULED, and then calls its wake hook, or, by default, enters
 * it at once (from outside any coroutine) or defers it (from inside one).
 *
 * Deferred wakes run as a hand-off inside yield and exit, so that enter is
 * left as it is.  A coroutine that wakes another puts it on its own woken
 * list.  When it yields, waits or ends, its woken list goes to the front
 * of its resumer's ready list, and if that list is not empty, control goes
 * to the first coroutine on it instead of to the resumer (pass_switch):
 * that coroutine then runs as if the resumer had entered it, and when it
 * yields in turn the same happens again, until the ready list is empty and
 * control reaches the resumer.  So the woken run in the order they were
 * woken, those woken by the most recent runner first (depth-first), all
 * before the resumer continues.  A coroutine that ends with work pending
 * parks on the resumer's enders list, at the top of
 * costack__coroutine_main as a pooled coroutine waits, and passes control
 * on; the coroutine that finds the ready list empty, on its way back to
 * the resumer, releases the parked ones (it runs on another stack).
 *
 * Every such list belongs to the chain of coroutines the thread runs now,
 * and is empty again before control returns to code outside any
 * coroutine, so a count per thread (t->deferred) tells yield's fast path
 * in one test that nothing is pending. */

void costack__run_push(CostackRunList *l, CostackCoroutine *co)
{
    co->run_next = NULL;
    co->run_prev = l->last;
    if (l->last)
        l->last->run_next = co;
    else
        l->first = co;
    l->last = co;
    co->run_list = l;
}

void costack__run_unlink(CostackCoroutine *co)
{
    CostackRunList *l = co->run_list;
    if (!l)
        return;
    if (co->run_prev)
        co->run_prev->run_next = co->run_next;
    else
        l->first = co->run_next;
    if (co->run_next)
        co->run_next->run_prev = co->run_prev;
    else
        l->last = co->run_prev;
    co->run_next = co->run_prev = NULL;
    co->run_list = NULL;
}

CostackCoroutine *costack__run_pop(CostackRunList *l)
{
    CostackCoroutine *co = l->first;
    if (co)
        costack__run_unlink(co);
    return co;
}

static inline void pass_switch(CostackThread *t, CostackCoroutine *self,
                               int state, CostackCoroutine *to,
                               CostackCoroutine *next);

/* Move src's coroutines, in order, to the front of dst. */
static void run_splice_front(CostackRunList *dst, CostackRunList *src)
{
    CostackCoroutine *co;
    if (!src->first)
        return;
    for (co = src->first; co; co = co->run_next)
        co->run_list = dst;
    src->last->run_next = dst->first;
    if (dst->first)
        dst->first->run_prev = src->last;
    else
        dst->last = src->last;
    dst->first = src->first;
    src->first = src->last = NULL;
}

/* self, entered by to, is about to yield, wait or end: its woken list goes
 * to the front of to's ready list, whose first coroutine is returned (and
 * taken off), or NULL when nothing is due. */
static CostackCoroutine *take_ready(CostackThread *t, CostackCoroutine *self,
                                    CostackCoroutine *to)
{
    CostackCoroutine *next;
    run_splice_front(&to->ready, &self->woken);
    next = costack__run_pop(&to->ready);
    if (next)
        t->deferred--;
    return next;
}

/* The ready list of to is empty: release the coroutines parked on its
 * enders list (they wait at the top of costack__coroutine_main, off the
 * running stack). */
static void release_enders(CostackThread *t, CostackCoroutine *to)
{
    CostackCoroutine *co;
    while ((co = costack__run_pop(&to->enders)) != NULL) {
        t->deferred--;
        pool_put(t, co);
    }
}

/* co's wait ends (woken or destroyed): its detach, once, takes it off
 * whatever it waits on. */
static void end_wait(CostackCoroutine *co)
{
    CostackDetach *detach = co->detach;
    if (!detach)
        return;
    co->detach = NULL;
    detach(co, co->detach_arg);
}

/* Abort: co ends (how says in what way) while it holds locks. */
static COSTACK_NORETURN void die_holding(const CostackCoroutine *co,
                                         const char *how)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "costack: %s while holding %u lock(s) (a mutex or rwlock "
             "it never unlocked)",
             how, co->locks_held);
    costack__die(msg);
}

CostackCoroutine *costack__running(const char *fn)
{
    CostackCoroutine *self = costack__thread()->current;
    char msg[128];
    if (self->state != COSTACK_LEADER)
        return self;
    snprintf(msg, sizeof(msg), "costack: %s: outside a coroutine", fn);
    costack__die(msg);
}

/* Release co, whose entry function returned: the exit switch calls this
 * on the resumer's side (backend.h), where co's stack waits at the top of
 * costack__coroutine_main, ready for reuse. */
COSTACK_NOINLINE void costack__coroutine_exited(CostackCoroutine *co)
{
    CostackThread *t = costack__thread_here();
    /* The first code on the resumer's stack (sanitizer.h). */
    costack__san_arrive(t->current, co);
    pool_put(t, co);
}

void costack__coroutine_main(CostackCoroutine *co)
{
    for (;;) {
        CostackThread *t;
        CostackCoroutine *to;

        /* Arrived: entered for the first time, or again from the pool. */
        costack__san_arrive(co, co->caller);
        co->entry(co->opaque);

        if (co->locks_held)
            die_holding(co, "a coroutine terminated");
        t = costack__thread();
        to = co->caller;
        if (COSTACK_UNLIKELY(t->deferred)) {
            /* Coroutines it woke, or others due before its resumer
             * continues, run first ("waiting and waking"): it parks on
             * its resumer's enders list, where the coroutine that empties
             * the ready list releases it, and passes control on. */
            CostackCoroutine *next = take_ready(t, co, to);
            if (next) {
                costack__run_push(&to->enders, co);
                t->deferred++;
                costack__san_parking(co);
                pass_switch(t, co, COSTACK_TERMINATED, to, next);
                /* Returns only when taken from the pool and entered
                 * again: run the new entry. */
                continue;
            }
            release_enders(t, to);
        }
        co->caller = NULL;
        co->state = COSTACK_TERMINATED;
        t->current = to;
        t->exited = co;
        if (co->flags & COSTACK_KEEP_FP_CONTROL)
            fp_control_swap(co); /* the caller's back */
        costack__san_parking(co);
        /* The exit switch releases us on the caller's side; when reused
         * from the pool, the next enter returns here and the loop runs
         * the new entry. */
        costack__backend_exit(co, to);
    }
}

/* What enter and yield change before their switch: co gets its caller
 * (NULL when it yields) and its state, current becomes the side that will
 * run, and co's floating-point control state is swapped where it keeps
 * its own. */
static inline void hand_over(CostackThread *t, CostackCoroutine *co,
                             CostackCoroutine *caller, int state,
                             CostackCoroutine *current)
{
    co->caller = caller;
    co->state = state;
    t->current = current;
    if (COSTACK_UNLIKELY(co->flags & COSTACK_KEEP_FP_CONTROL))
        fp_control_swap(co);
}

/* The hand-off of "waiting and waking": self, entered by to, leaves
 * (suspended, waiting or ended: state) and next, new or suspended, runs
 * as if to had entered it. */
static inline void pass_switch(CostackThread *t, CostackCoroutine *self,
                               int state, CostackCoroutine *to,
                               CostackCoroutine *next)
{
    hand_over(t, self, NULL, state, next);
    hand_over(t, next, to, COSTACK_ACTIVE, next);
    costack__backend_pass(self, to, next);
    costack__san_arrive(self, self->caller);
}

/* The end of every enter: co becomes the current coroutine, with self (the
 * running side) as its caller, and the switch, last.  Inline in both
 * callers below, which are never inlined into others (internal.h's
 * thread-local rule). */
static inline void enter_switch(CostackThread *t, CostackCoroutine *self,
                                CostackCoroutine *co)
{
    hand_over(t, co, self, COSTACK_ACTIVE, co);
    /* Returns when co yields, or terminated and was released.  Last, so
     * that it can be a tail call (backend.h), but for the sanitizers'
     * arrival, empty in a normal build (sanitizer.h); co may be gone. */
    costack__backend_enter(self, co);
    costack__san_arrive(self, NULL);
}

/* Whether co's handle is stale: it ended or was destroyed (a best effort
 * without COSTACK_DEBUG: see "debug mode"). */
static int ended(const CostackCoroutine *co)
{
    return co->state == COSTACK_TERMINATED || co->state == COSTACK_POOLED ||
           co->state == COSTACK_STALE;
}

/* Abort with a message that names fn if co is NULL or its handle is
 * stale. */
static void check_handle(const CostackCoroutine *co, const char *fn)
{
    char msg[128];
    if (co && !ended(co))
        return;
    snprintf(msg, sizeof(msg), "costack: %s: %s", fn,
             co ? "the coroutine has terminated or was destroyed"
                : "NULL coroutine");
    costack__die(msg);
}

/* costack_enter when its one test failed: the misuse checks, each with its
 * message, and a thread's first enter. */
static COSTACK_NOINLINE void enter_slow(CostackCoroutine *co)
{
    CostackThread *t = costack__thread_here();
    CostackCoroutine *self = t->current;

    check_handle(co, "costack_enter");
    switch (co->state) {
    case COSTACK_NEW:
    case COSTACK_SUSPENDED:
        break;
    case COSTACK_SCHEDULED:
        /* Woken: its wake hook's owner enters it.  The default wake keeps
         * it on a run list until its waker yields ("waiting and
         * waking"). */
        if (co->run_list)
            costack__die("costack: costack_enter: the coroutine was woken "
                         "and is queued to run; its waker or its loop "
                         "enters it");
        break;
    case COSTACK_WAITING:
        costack__die("costack: costack_enter: the coroutine waits (on a "
                     "queue, lock, timer or fd); only its wake resumes it");
    case COSTACK_LEADER:
        costack__die("costack: costack_enter: a thread's leader cannot be "
                     "entered");
    default: /* active, the only state with a caller; ended coroutines
              * were caught above */
        costack__die("Co-routine re-entered recursively");
    }
    if (thread_ready(t) != 0)
        costack__die("costack: costack_enter: cannot set up this thread "
                     "for coroutines (out of memory)");
    enter_switch(t, self, co);
}

COSTACK_NOINLINE void costack_enter(CostackCoroutine *co)
{
    CostackThread *t = &costack__tls;
    CostackCoroutine *self = t->current;

    /* The fast path makes one test, and calls nothing but the switch, so
     * that it saves no register of its own: co is new or suspended (then
     * it has no caller: only an active coroutine has one), and this
     * thread is ready (then its state is initialised, so current is set,
     * and every side that can run has a context).  Anything else, misuse
     * included, goes through enter_slow, which says what is wrong. */
    if (COSTACK_UNLIKELY(!co || !t->ready ||
                         (co->state != COSTACK_NEW &&
                          co->state != COSTACK_SUSPENDED))) {
        enter_slow(co);
        return;
    }
    enter_switch(t, self, co);
}

/* The end of every yield: self suspends, its caller to becomes the current
 * coroutine, and the switch, last.  Inline in both callers below, which
 * are never inlined into others (internal.h's thread-local rule). */
static inline void yield_switch(CostackThread *t, CostackCoroutine *self,
                                CostackCoroutine *to, int state)
{
    hand_over(t, self, NULL, state, to);
    costack__backend_yield(self, to);
    /* Entered again, perhaps on another thread: self->caller is the side
     * that entered (sanitizer.h). */
    costack__san_arrive(self, self->caller);
}

/* Suspend the running coroutine in state (COSTACK_SUSPENDED or
 * COSTACK_WAITING): to its caller, or to a coroutine due to run before
 * that caller ("waiting and waking").  costack_yield when its fast path's
 * test failed, and costack_wait. */
static inline void suspend_here(CostackThread *t, int state)
{
    CostackCoroutine *self = t->current;
    CostackCoroutine *to = self->caller, *next;

    if (!to)
        costack__die("Co-routine is yielding to no one");
    if (t->deferred) {
        next = take_ready(t, self, to);
        if (next) {
            pass_switch(t, self, state, to, next);
            return;
        }
        release_enders(t, to);
    }
    yield_switch(t, self, to, state);
}

/* costack_yield when its fast path's test failed. */
static COSTACK_NOINLINE void suspend(int state)
{
    suspend_here(costack__thread_here(), state);
}

COSTACK_NOINLINE void costack_yield(void)
{
    CostackThread *t = &costack__tls;
    CostackCoroutine *self = t->current;
    CostackCoroutine *to;

    /* One test, as in costack_enter: a running coroutine has a caller (and
     * the thread's state is initialised: current is set), and no woken
     * coroutine is due before that caller ("waiting and waking"). */
    if (COSTACK_UNLIKELY(!self || !(to = self->caller) || t->deferred)) {
        suspend(COSTACK_SUSPENDED);
        return;
    }
    yield_switch(t, self, to, COSTACK_SUSPENDED);
}

CostackCoroutine *costack_self(void)
{
    return costack__thread_here()->current;
}

int costack_in_coroutine(void)
{
    return costack__thread_here()->current->state != COSTACK_LEADER;
}

int costack_entered(const CostackCoroutine *co)
{
    check_handle(co, "costack_entered");
    return co->state == COSTACK_LEADER || co->caller != NULL;
}

void costack_destroy(CostackCoroutine *co)
{
    CostackThread *t = costack__thread();

    check_handle(co, "costack_destroy");
    switch (co->state) {
    case COSTACK_NEW:
        /* Never ran: its context still waits for a first entry, exactly as
         * a pooled one does, so it can be reused.  Off the run queue of a
         * loop that spawned it, if any. */
        costack__run_unlink(co);
        pool_put(t, co);
        return;
    case COSTACK_WAITING:
    case COSTACK_SCHEDULED:
        /* Off whatever it waits on, or the run list it was woken to. */
        if (co->state == COSTACK_WAITING)
            end_wait(co);
        if (co->run_list && !co->wake_hook)
            t->deferred--; /* on a woken or ready list of this thread */
        costack__run_unlink(co);
        /* fall through */
    case COSTACK_SUSPENDED:
        /* Its context is somewhere in the middle of its entry function:
         * not reusable, so the stack goes. */
        if (co->locks_held)
            die_holding(co, "costack_destroy: a coroutine destroyed");
        co->state = COSTACK_TERMINATED;
        free_coroutine(co);
        return;
    case COSTACK_ACTIVE:
        costack__die("costack: costack_destroy: the coroutine is active "
                     "(running, or waiting for a coroutine it entered)");
    default: /* a leader: ended coroutines were caught above */
        costack__die("costack: costack_destroy: a thread's leader cannot be "
                     "destroyed");
    }
}

/* Never inlined, and switches last: internal.h's rule lets it read the
 * thread state inline. */
COSTACK_NOINLINE void costack_wait(CostackDetach *detach, void *arg)
{
    CostackThread *t = costack__thread_here();
    CostackCoroutine *self = t->current;
    if (COSTACK_UNLIKELY(!self->caller))
        costack__running("costack_wait"); /* aborts outside a coroutine */
    self->detach = detach;
    self->detach_arg = arg;
    suspend_here(t, COSTACK_WAITING);
}

/* Its only switch, costack_enter, is its last act: internal.h's rule lets
 * it read the thread state inline. */
COSTACK_NOINLINE void costack_wake(CostackCoroutine *co)
{
    CostackThread *t = costack__thread_here();
    CostackCoroutine *self = t->current;

    check_handle(co, "costack_wake");
    if (co->state != COSTACK_WAITING) {
        if (co->state == COSTACK_SCHEDULED)
            costack__die("costack: costack_wake: the coroutine was woken "
                         "already and has not run since (woken twice)");
        costack__die("costack: costack_wake: the coroutine does not wait "
                     "(it is not in costack_wait)");
    }
    end_wait(co);
    co->state = COSTACK_SCHEDULED;
    if (co->wake_hook) {
        co->wake_hook(co, co->wake_arg);
    } else if (self->state == COSTACK_LEADER) {
        costack_enter(co);
    } else {
        costack__run_push(&self->woken, co);
        t->deferred++;
    }
}

int costack_waiting(const CostackCoroutine *co)
{
    check_handle(co, "costack_waiting");
    return co->state == COSTACK_WAITING;
}

void costack_set_wake_hook(CostackCoroutine *co, CostackWakeHook *hook,
                           void *arg)
{
    check_handle(co, "costack_set_wake_hook");
    co->wake_hook = hook;
    co->wake_arg = arg;
}

size_t costack_stack_size(const CostackCoroutine *co)
{
    check_handle(co, "costack_stack_size");
    return co->stack.size;
}

void *costack_user_data(const CostackCoroutine *co)
{
    check_handle(co, "costack_user_data");
    return co->user;
}

size_t costack_stack_high_water(const CostackCoroutine *co)
{
    check_handle(co, "costack_stack_high_water");
    if (co->state == COSTACK_LEADER)
        return 0;
    return costack__stack_high_water(&co->stack);
}

/* ---- global mutex ---------------------------------------------------- */

void costack_global_lock(void)
{
    if (costack__thread()->holds_global_lock)
        costack__die("costack: costack_global_lock: this thread already "
                     "holds the global lock (it is not recursive)");
    costack__mutex_lock_global();
    costack__thread()->holds_global_lock = 1;
}

int costack_global_trylock(void)
{
    if (costack__thread()->holds_global_lock)
        costack__die("costack: costack_global_trylock: this thread already "
                     "holds the global lock (it is not recursive)");
    if (!costack__mutex_trylock_global())
        return 0;
    costack__thread()->holds_global_lock = 1;
    return 1;
}

/* costack_global_set_release_hook's hook, read by every unlock. */
#if defined(_MSC_VER)
static CostackReleaseHook *volatile release_hook;
#define RELEASE_HOOK_LOAD() (release_hook)
#define RELEASE_HOOK_STORE(h) (release_hook = (h))
#else
static CostackReleaseHook *release_hook;
#define RELEASE_HOOK_LOAD() __atomic_load_n(&release_hook, __ATOMIC_ACQUIRE)
#define RELEASE_HOOK_STORE(h)                                               \
    __atomic_store_n(&release_hook, (h), __ATOMIC_RELEASE)
#endif

void costack_global_set_release_hook(CostackReleaseHook *hook)
{
    RELEASE_HOOK_STORE(hook);
}

void costack_global_unlock(void)
{
    CostackThread *t = costack__thread();
    CostackReleaseHook *hook;
    if (!t->holds_global_lock)
        costack__die("costack: costack_global_unlock: this thread does not "
                     "hold the global lock");
    t->holds_global_lock = 0;
    costack__mutex_unlock_global();
    hook = RELEASE_HOOK_LOAD();
    if (hook)
        hook();
}

int costack_global_lock_held(void)
{
    return costack__thread()->holds_global_lock;
}

/* ---- introspection ----------------------------------------------------- */

void costack_stats(CostackStats *stats)
{
    /* Every stack belongs to a live coroutine or a pooled one, so live is
     * derived, not counted: a locked instruction fewer on each create and
     * each end.  Pooled is the shared pool plus each thread's batch,
     * summed here rather than kept in one shared counter for the same
     * reason.  stacks is read apart from the rest, so the two may be a
     * moment out of step: never report less than none. */
    size_t pooled, stacks;
    CostackThread *t;

    costack__mutex_lock_pool();
    pooled = g.pool_count;
    for (t = g.threads; t; t = t->next_thread)
        pooled += costack__atomic_load(&t->pool_count);
    costack__mutex_unlock_pool();
    stacks = costack__atomic_load(&g.stacks);
    stats->live = stacks > pooled ? stacks - pooled : 0;
    stats->pooled = pooled;
    stats->stacks_mapped = stacks;
    stats->stack_bytes_mapped = costack__atomic_load(&g.stack_bytes);
    stats->stack_address_space =
        costack__stack_address_space(stats->stack_bytes_mapped);
}

const char *costack_backend_name(void)
{
    return costack__backend_name;
}

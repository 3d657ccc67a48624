/*
 * internal.h - the coroutine object and the thread state shared by the
 * generic core (coroutine.c), the platform layer (platform_*.c) and the
 * backends (backend_*.c).  Not installed; not part of the API.
 */
#ifndef COSTACK_INTERNAL_H
#define COSTACK_INTERNAL_H

#include <stddef.h>
#include "costack.h"

#if defined(_MSC_VER)
#define COSTACK_THREAD_LOCAL __declspec(thread)
#define COSTACK_NOINLINE __declspec(noinline)
#define COSTACK_NORETURN __declspec(noreturn)
#define COSTACK_BARRIER() _ReadWriteBarrier()
#else
#define COSTACK_THREAD_LOCAL __thread
#define COSTACK_NOINLINE __attribute__((noinline))
#define COSTACK_NORETURN __attribute__((noreturn))
/* A compiler barrier: no memory access (TLS addresses included) is cached
 * across it. */
#define COSTACK_BARRIER() __asm__ __volatile__("" ::: "memory")
#endif

/* Branch hints for the fast paths. */
#if defined(__GNUC__) || defined(__clang__)
#define COSTACK_LIKELY(x) __builtin_expect(!!(x), 1)
#define COSTACK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define COSTACK_LIKELY(x) (x)
#define COSTACK_UNLIKELY(x) (x)
#endif

/* Counters are plain size_t updated with relaxed atomic adds. */
#if defined(_MSC_VER)
#include <intrin.h>
#if defined(_WIN64)
#define costack__atomic_add(p, v) \
    ((void)_InterlockedExchangeAdd64((volatile __int64 *)(p), (__int64)(v)))
#else /* 32-bit Windows: size_t is 32 bits */
#define costack__atomic_add(p, v) \
    ((void)_InterlockedExchangeAdd((volatile long *)(p), (long)(v)))
#endif
#define costack__atomic_load(p) (*(volatile size_t *)(p))
#define costack__atomic_store(p, v) (*(volatile size_t *)(p) = (v))
#else
#define costack__atomic_add(p, v) \
    ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#define costack__atomic_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define costack__atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#endif

/* Backend-private switching state (a jump buffer, a fiber, ...). */
typedef struct CostackCtx CostackCtx;

/* The sanitizers the core is compiled with that must be told about
 * coroutine stacks: COSTACK_ASAN (AddressSanitizer) and COSTACK_TSAN
 * (ThreadSanitizer), from the compiler's own macros (gcc's __SANITIZE_*__,
 * clang's __has_feature).  sanitizer.h has what they are told and when;
 * without either, nothing of it is compiled.  Not for the Windows fibers
 * backend (the system switches its stacks; sanitizers there are out of
 * scope).  Every file of the core must be compiled with the same
 * sanitizers, since CostackSan below is part of the coroutine object. */
#if defined(__SANITIZE_ADDRESS__)
#define COSTACK_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define COSTACK_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(COSTACK_ASAN)
#define COSTACK_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(COSTACK_TSAN)
#define COSTACK_TSAN 1
#endif
#endif
#if defined(COSTACK_BACKEND_FIBERS)
#undef COSTACK_ASAN
#undef COSTACK_TSAN
#endif
#if defined(COSTACK_ASAN) || defined(COSTACK_TSAN)
#define COSTACK_SANITIZED 1

/* What a sanitizer is told about one coroutine or leader (sanitizer.h). */
typedef struct CostackSan {
    /* ASan: this side's fake stack (detect_stack_use_after_return) while
     * it does not run; the thread holds it while it runs. */
    void *fake_stack;
    /* ASan: a switch to this side has started and not yet finished (2:
     * from a leader, 1: from a coroutine). */
    int arriving;
    /* ASan, leaders only: the stack's bounds as ASan knows them, learnt
     * when a coroutine arrives from it (a coroutine's are its stack). */
    const void *bottom;
    size_t size;
    /* ASan: where a finished coroutine's stack is parked, and the part
     * below it poisoned while it waits in a pool: [poison_lo, parked). */
    char *parked;
    char *poison_lo;
    /* ASan: the stack is a root region of LeakSanitizer (it runs, or
     * holds suspended, a coroutine). */
    int rooted;
    /* TSan: the fiber of this stack (a leader: its thread's own). */
    void *fiber;
} CostackSan;
#endif

/* A coroutine's stack as mapped by the platform layer.  The usable part is
 * [lo, lo + size); the guard is [guard, guard + guard_size), just below lo.
 * map/map_size describe the address range the stack occupies, guard
 * included: a mapping of its own, or a slot of a larger mapping (a slab)
 * that owner, private to the platform layer, identifies.  A Windows fiber's
 * stack is the system's: map/map_size are the reservation it lives in,
 * recorded by backend_fibers.c, and owner is NULL. */
typedef struct CostackStack {
    void *map;
    size_t map_size;
    void *owner;
    char *guard;
    size_t guard_size;
    char *lo;
    size_t size;
    unsigned int debug_id; /* Valgrind's stack id, where registered */
} CostackStack;

enum CostackState {
    COSTACK_NEW,        /* created, never entered */
    COSTACK_ACTIVE,     /* entered, not yet yielded (has a caller) */
    COSTACK_SUSPENDED,  /* yielded, waiting to be entered again */
    COSTACK_TERMINATED, /* entry returned; caller releases it */
    COSTACK_POOLED,     /* in a pool, waiting for reuse */
    COSTACK_LEADER,     /* a thread's own stack */
    COSTACK_STALE,      /* COSTACK_DEBUG: ended and freed, the object kept
                         * in quarantine so that its handle is caught */
    COSTACK_WAITING,    /* suspended in costack_wait, not woken yet */
    COSTACK_SCHEDULED   /* woken, not yet entered again */
};

/* A list of coroutines to run, through their run_next/run_prev links: a
 * coroutine's woken and ready lists (coroutine.c, "waiting and waking"),
 * or a loop's run queue.  A coroutine is on at most one, and run_list
 * says which, so that destroying it unlinks it. */
typedef struct CostackRunList {
    CostackCoroutine *first, *last;
} CostackRunList;

/* A link of the registry of coroutines, for debuggers (coroutine.c has the
 * design; scripts/costack-gdb.py walks it): circular and doubly linked,
 * through a sentinel link in each thread's state and one for coroutines
 * whose creating thread has exited.  A sentinel whose next is NULL is an
 * empty list not yet initialised. */
typedef struct CostackLink {
    struct CostackLink *next, *prev;
} CostackLink;

struct CostackCoroutine {
    /* First, together: all that the fast paths of costack_enter and
     * costack_yield read and write of the coroutine. */
    CostackCtx *ctx;          /* backend state */
    CostackCoroutine *caller; /* set while active */
    int state;                /* enum CostackState */
    unsigned int flags;       /* CostackOptions.flags of its create */
    CostackEntry *entry;
    void *opaque;
    CostackStack stack;
    size_t guard_asked;       /* the guard create asked for: with the stack
                               * size, what a pooled coroutine must match */
    void *user;               /* costack_user_data: within user_block, or
                               * NULL when create asked for none */
    void *user_block;         /* malloc'd, user_cap bytes of user data (plus
                               * room to align); kept in the pool when small */
    size_t user_cap;
    CostackCoroutine *pool_next;
    unsigned long long fp_control; /* COSTACK_KEEP_FP_CONTROL: the control
                               * state of whichever side does not run now
                               * (coroutine.c, "floating-point control") */
    /* Waiting and waking (coroutine.c). */
    CostackDetach *detach;    /* of the current wait, NULL when none */
    void *detach_arg;
    CostackWakeHook *wake_hook; /* costack_set_wake_hook, NULL: default */
    void *wake_arg;
    CostackCoroutine *run_next, *run_prev; /* links of run_list */
    CostackRunList *run_list; /* the run list co is on, or NULL */
    CostackRunList woken;     /* woken by co while it runs: run when it
                               * yields or ends, before its resumer */
    CostackRunList ready;     /* to run on co's behalf (co is their
                               * resumer) before co continues */
    CostackRunList enders;    /* coroutines that ran on co's behalf and
                               * ended, parked until ready is empty */
    /* Queues and locks (lock.c): the links of the queue co waits on. */
    CostackCoroutine *queue_next, *queue_prev;
    CostackQueue *queue;      /* the queue co waits on, or NULL */
    int wait_kind;            /* lock.c: what co waits for in queue */
    unsigned int locks_held;  /* mutexes and rwlocks co holds */
    CostackLink registry;     /* from the mapping of its stack to the
                               * unmapping, pooled or not (coroutine.c) */
#if defined(COSTACK_SANITIZED)
    CostackSan san;           /* sanitizer.h */
#endif
};

/*
 * Per-thread state, one per thread in a thread-local variable (coroutine.c).
 *
 * The thread-local hazard: a coroutine suspended on one thread may be
 * entered again on another.  A compiler that computed a thread-local's
 * address before a switch may reuse it after the switch, and in code that
 * has moved to another thread that is the old thread's state.  Hence one
 * rule in the core: a function that reads the state after a switch gets it
 * from costack__thread(), which is not inlined and is fenced, so the
 * address is computed afresh; only a function whose switch is its last act
 * (costack_enter, costack_yield), or that makes none, or that reads the
 * state only before it waits (lock.c), reads it inline
 * (costack__thread_here() below), and such functions are never inlined
 * into others.  costack.h tells users the same about their own
 * thread-locals.
 */
typedef struct CostackThread {
    /* First, together: what the fast paths of costack_enter and
     * costack_yield read. */
    CostackCoroutine *current; /* the running coroutine, or &leader */
    size_t deferred;           /* coroutines on woken, ready and enders lists of
                                * this thread's chain (coroutine.c) */
    int ready;                 /* the thread can switch: its leader has a
                                * context, and it is registered (coroutine.c,
                                * thread_ready) */
    CostackCoroutine leader;
    CostackCoroutine *pool;    /* this thread's batch of pooled coroutines */
    size_t pool_count;         /* written by this thread, read by stats */
    size_t pool_quota;         /* pool slots reserved for the batch */
    struct CostackThread *next_thread, *prev_thread; /* registry */
    int registered;            /* in the registry (coroutine.c) */
    CostackLink coroutines;    /* sentinel of the coroutines whose stacks
                                * this thread mapped (coroutine.c) */
    int initialised;
    int holds_global_lock;
    CostackCoroutine *exited;  /* the coroutine whose exit switch runs, for
                                * the backends whose exit switch cannot
                                * carry it (backend.h) */
    void *loop;                /* the current CostackLoop (loop.c) */
    void *altstack; /* signal stack the platform layer installed, if any */
    size_t altstack_size;
} CostackThread;

/* The calling thread's state, initialised on first use.  Not inlined and
 * fenced: see the hazard above. */
CostackThread *costack__thread(void);

/* The state itself, defined in coroutine.c, which says why its TLS model
 * is initial-exec.  Elsewhere read it through costack__thread() or
 * costack__thread_here(); only the fast paths of costack_enter and
 * costack_yield take its address directly, since their one test also
 * covers a thread not yet set up. */
#if defined(__ELF__) && (defined(__GNUC__) || defined(__clang__))
extern COSTACK_THREAD_LOCAL CostackThread costack__tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
#else
extern COSTACK_THREAD_LOCAL CostackThread costack__tls;
#endif

/* The calling thread's state inline: one offset from the thread pointer,
 * without the call costack__thread() costs.  Only where the hazard above
 * allows. */
static inline CostackThread *costack__thread_here(void)
{
    CostackThread *t = &costack__tls;
    if (COSTACK_UNLIKELY(!t->initialised))
        return costack__thread();
    return t;
}

/* The body every coroutine's stack runs: entry functions, one after the
 * other for each reuse from the pool.  Never returns. */
COSTACK_NORETURN void costack__coroutine_main(CostackCoroutine *co);

/* Print "costack: <msg>" (or msg as is when it has no "costack:" prefix
 * wanted) to stderr and abort. */
COSTACK_NORETURN void costack__die(const char *msg);

/* Called by the platform layer when a thread that used costack exits. */
void costack__thread_exit(CostackThread *t);

/* Called in the child of a fork(), with the pool mutex held, on the thread
 * that forked (t): forget the threads that do not exist in the child. */
void costack__fork_child(CostackThread *t);

/* Run lists (coroutine.c): append co at the tail of l; take the first
 * (NULL when empty); take co off whichever list it is on (none: no-op). */
void costack__run_push(CostackRunList *l, CostackCoroutine *co);
CostackCoroutine *costack__run_pop(CostackRunList *l);
void costack__run_unlink(CostackCoroutine *co);

/* What a coroutine on a queue waits for (co->wait_kind). */
enum CostackWaitKind {
    COSTACK_WAIT_QUEUE = 1, /* a plain queue wait */
    COSTACK_WAIT_MUTEX,     /* a mutex */
    COSTACK_WAIT_READ,      /* a read lock */
    COSTACK_WAIT_WRITE      /* a write lock */
};

/* Queue links (lock.c): put co on q, at its tail or at its head, waiting
 * for kind; take co off the queue it is on (none: a no-op).  For waits
 * built elsewhere (loop.c's queue wait with a timeout). */
void costack__queue_link(CostackQueue *q, CostackCoroutine *co, int kind,
                         int at_head);
void costack__queue_unlink(CostackCoroutine *co);

/* Whether COSTACK_DEBUG=1 (coroutine.c, "debug mode"), read from the
 * environment at the first ask: costack__debug_state is 0 until then, 1
 * off, 2 on.  Inline, so that the fast paths test one variable and make
 * no call; costack__debug_read() reads the environment and fills it. */
extern size_t costack__debug_state;
int costack__debug_read(void);
static inline int costack__debug_mode(void)
{
    size_t m = costack__atomic_load(&costack__debug_state);
    if (COSTACK_LIKELY(m == 1))
        return 0;
    return m == 2 ? 1 : costack__debug_read();
}

/* Abort with "costack: <fn>: outside a coroutine" unless the calling
 * thread runs a coroutine; returns it. */
CostackCoroutine *costack__running(const char *fn);

#endif /* COSTACK_INTERNAL_H */

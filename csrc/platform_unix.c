/*
 * platform_unix.c - the POSIX platform layer: mutexes, conditions and
 * threads, the clock and the CPU count, the thread-exit hook and
 * stack-overflow reporting.  The stacks themselves (guard pages, slabs,
 * the mapping limit) are in stack_unix.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <ucontext.h>
#endif

#include "internal.h"
#include "platform.h"

#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

/* The signal stack we give threads that have none, for the overflow
 * handler (a fault on a full coroutine stack cannot run a handler there). */
#define ALTSTACK_SIZE ((size_t)64 << 10)

static pthread_mutex_t global_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void install_fork_handlers(void); /* see "fork" below */
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The fork handlers are installed on first use of either mutex: before
 * that, nothing of costack's can be held at a fork. */
void costack__mutex_lock_global(void)
{
    pthread_once(&fork_once, install_fork_handlers);
    if (pthread_mutex_lock(&global_mutex) != 0)
        costack__die("costack: pthread_mutex_lock failed on the global lock");
}

int costack__mutex_trylock_global(void)
{
    pthread_once(&fork_once, install_fork_handlers);
    return pthread_mutex_trylock(&global_mutex) == 0;
}

void costack__mutex_unlock_global(void)
{
    pthread_mutex_unlock(&global_mutex);
}

void costack__mutex_lock_pool(void)
{
    pthread_once(&fork_once, install_fork_handlers);
    pthread_mutex_lock(&pool_mutex);
}

void costack__mutex_unlock_pool(void)
{
    pthread_mutex_unlock(&pool_mutex);
}

/* ---- for the event loop: locks, worker threads, the clock, the CPUs ---- */

void costack__platform_mutex_init(CostackPlatformMutex *m)
{
    pthread_mutex_init(m, NULL);
}

void costack__platform_mutex_destroy(CostackPlatformMutex *m)
{
    pthread_mutex_destroy(m);
}

void costack__platform_mutex_lock(CostackPlatformMutex *m)
{
    if (pthread_mutex_lock(m) != 0)
        costack__die("costack: pthread_mutex_lock failed in the event loop");
}

void costack__platform_mutex_unlock(CostackPlatformMutex *m)
{
    pthread_mutex_unlock(m);
}

void costack__platform_cond_init(CostackPlatformCond *c)
{
    pthread_cond_init(c, NULL);
}

void costack__platform_cond_destroy(CostackPlatformCond *c)
{
    pthread_cond_destroy(c);
}

void costack__platform_cond_wait(CostackPlatformCond *c,
                                 CostackPlatformMutex *m)
{
    pthread_cond_wait(c, m);
}

void costack__platform_cond_signal(CostackPlatformCond *c)
{
    pthread_cond_signal(c);
}

void costack__platform_cond_broadcast(CostackPlatformCond *c)
{
    pthread_cond_broadcast(c);
}

/* What a new thread runs: handed over by the thread that started it,
 * freed by the new one. */
typedef struct ThreadStart {
    void (*body)(void *);
    void *arg;
} ThreadStart;

static void *thread_main(void *opaque)
{
    ThreadStart start = *(ThreadStart *)opaque;
    free(opaque);
    start.body(start.arg);
    return NULL;
}

int costack__platform_thread_start(CostackPlatformThread *thread,
                                   void (*body)(void *), void *arg)
{
    ThreadStart *start = (ThreadStart *)malloc(sizeof *start);
    int e;
    if (!start) {
        errno = ENOMEM;
        return -1;
    }
    start->body = body;
    start->arg = arg;
    e = pthread_create(thread, NULL, thread_main, start);
    if (e != 0) {
        free(start);
        errno = e;
        return -1;
    }
    return 0;
}

void costack__platform_thread_join(CostackPlatformThread thread)
{
    pthread_join(thread, NULL);
}

long long costack__platform_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int costack__platform_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (n > 1024 ? 1024 : (int)n) : 1;
}

/* ---- memory ------------------------------------------------------------ */

size_t costack__platform_page_size(void)
{
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? (size_t)v : 4096;
}

int costack__platform_resident(const char *addr, size_t n,
                               unsigned char *resident)
{
    size_t i;
#if defined(__linux__)
    if (mincore((void *)addr, n * costack__page_size(), resident) != 0)
        return -1;
#else
    /* The BSDs and macOS declare the vector as char. */
    if (mincore((void *)addr, n * costack__page_size(), (char *)resident) != 0)
        return -1;
#endif
    /* Bit 0 is residency; the other bits carry other information. */
    for (i = 0; i < n; i++)
        resident[i] &= 1;
    return 0;
}

/* ---- stack overflow reporting -------------------------------------- */

static struct sigaction prev_segv, prev_bus;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void reset_and_return(int sig, siginfo_t *info)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    /* A fault re-executes and now kills; a signal sent by kill() does not
     * come back by itself, so send it again. */
    if (info->si_code <= 0)
        raise(sig);
}

/* How far below its stack a coroutine's stack pointer may be found and
 * still be taken for an overflow of that stack (beyond its guard). */
#define OVERFLOW_REACH ((size_t)1 << 20)

/* The stack pointer of the context a signal interrupted, or NULL where we
 * cannot read it. */
static const char *interrupted_sp(const void *uctx)
{
#if defined(__linux__) && defined(__x86_64__)
    return (const char *)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__linux__) && defined(__aarch64__)
    return (const char *)((const ucontext_t *)uctx)->uc_mcontext.sp;
#else
    (void)uctx;
    return NULL;
#endif
}

/* Whether a fault at addr, with the stack pointer at sp, overflowed co's
 * stack: the access hit the guard, or it went below the stack with the
 * stack pointer itself below the stack, not far (a frame larger than the
 * guard jumped it and landed on unmapped or protected memory beyond). */
static int is_overflow(const CostackCoroutine *co, const char *addr,
                       const char *sp)
{
    const CostackStack *st = &co->stack;
    size_t reach;

    if (co->state == COSTACK_LEADER || !st->guard)
        return 0;
    if (addr >= st->guard && addr < st->guard + st->guard_size)
        return 1;
    reach = st->guard_size + (st->size > OVERFLOW_REACH ? st->size : OVERFLOW_REACH);
    return sp && sp < st->lo && (size_t)(st->lo - sp) <= reach &&
           addr < st->lo;
}

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    CostackThread *t = costack__thread();
    CostackCoroutine *co = t->current;
    char *addr = (char *)info->si_addr;
    struct sigaction *prev = sig == SIGSEGV ? &prev_segv : &prev_bus;

    if (co && is_overflow(co, addr, interrupted_sp(uctx))) {
        char msg[COSTACK_OVERFLOW_MESSAGE_MAX];
        size_t n = costack__overflow_message(msg, co);
        if (write(2, msg, n) < 0) {
            /* nothing better to do while dying */
        }
        reset_and_return(sig, info);
        errno = saved_errno;
        return;
    }

    /* Not ours: hand it to whoever was there before us (Rust's runtime
     * installs one for its threads' guard pages). */
    errno = saved_errno;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, info, uctx);
    } else if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
        reset_and_return(sig, info);
    } else {
        prev->sa_handler(sig);
    }
}

static void install_fault_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
}

/* ---- fork ----------------------------------------------------------------
 *
 * fork() copies only the thread that calls it.  A lock another thread held
 * at that moment would stay locked for ever in the child.  The pool mutex
 * and the stack allocator's locks are held for a few instructions at a
 * time, so the prepare handler takes them (fork waits that long) and both
 * sides release them.  The global mutex may be held for as long as a
 * coroutine runs, so waiting for it could hang fork: the child makes it
 * anew instead, held if the forking thread held it, else free.  Whatever
 * another thread was changing under it may be half-changed in the child,
 * as with any mutex at fork.  The child also forgets the threads it does
 * not have (costack__fork_child). */

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void install_fork_handlers(void)
{
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        costack__die("costack: pthread_atfork failed (out of memory)");
}

static void fork_prepare(void)
{
    costack__mutex_lock_pool();
    costack__stack_fork_lock();
}

static void fork_parent(void)
{
    costack__stack_fork_unlock();
    costack__mutex_unlock_pool();
}

static void fork_child(void)
{
    CostackThread *t = costack__thread();

    costack__stack_fork_unlock();
    pthread_mutex_init(&global_mutex, NULL);
    if (t->holds_global_lock)
        pthread_mutex_lock(&global_mutex);
    costack__fork_child(t);
    costack__mutex_unlock_pool();
}

/* ---- threads ----------------------------------------------------------- */

static pthread_key_t exit_key;
static int exit_key_ok;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *p)
{
    costack__thread_exit((CostackThread *)p);
}

static void make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

int costack__platform_thread_init(CostackThread *t)
{
    stack_t cur;

    pthread_once(&exit_once, make_exit_key);
    if (!exit_key_ok || pthread_setspecific(exit_key, t) != 0) {
        errno = EAGAIN;
        return -1;
    }
    pthread_once(&fault_once, install_fault_handlers);

    /* The overflow handler needs a signal stack on every thread that runs
     * coroutines; keep one that is there already (Rust installs one). */
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        stack_t ss;
        void *m = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        ss.ss_sp = m;
        ss.ss_size = ALTSTACK_SIZE;
        ss.ss_flags = 0;
        if (sigaltstack(&ss, NULL) != 0) {
            int e = errno;
            munmap(m, ALTSTACK_SIZE);
            errno = e;
            return -1;
        }
        t->altstack = m;
        t->altstack_size = ALTSTACK_SIZE;
    }
    return 0;
}

void costack__platform_thread_exit(CostackThread *t)
{
    if (t->altstack) {
        stack_t cur;
        if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == t->altstack) {
            stack_t off;
            memset(&off, 0, sizeof(off));
            off.ss_flags = SS_DISABLE;
            sigaltstack(&off, NULL);
        }
        munmap(t->altstack, t->altstack_size);
        t->altstack = NULL;
    }
}

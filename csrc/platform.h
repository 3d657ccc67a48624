/*
 * platform.h - what the generic core, the event loop and the backends
 * need from the operating system: mutexes, condition variables and
 * threads, a thread-exit hook, the clock and the CPU count, guarded
 * stacks, the overflow report and the high-water scan.
 *
 * Each platform implements the "supplied by" half in its own files
 * (platform_unix.c with stack_unix.c; platform_windows.c); platform.c has
 * the half they share, written once.  The stacks themselves (map/unmap)
 * exist only where a backend allocates stacks: on Windows the system owns
 * every fiber's stack (backend_fibers.c).
 */
#ifndef COSTACK_PLATFORM_H
#define COSTACK_PLATFORM_H

#include "internal.h"

#if defined(_WIN32)
#include "windows_sys.h"
#else
#include <pthread.h>
#endif

/* ---- supplied by each platform ---------------------------------------- */

/* The process-wide mutexes, statically initialised: the global mutex of
 * the API (costack_global_lock) and the one that guards the pool. */
void costack__mutex_lock_global(void);
int costack__mutex_trylock_global(void); /* 1 when locked */
void costack__mutex_unlock_global(void);
void costack__mutex_lock_pool(void);
void costack__mutex_unlock_pool(void);

/* Mutexes, condition variables and threads for the event loop and its
 * worker pool (loop.c), as the system's own types so that the loop embeds
 * them without allocating.  Init and destroy report nothing: Windows'
 * cannot fail, and pthread's fail only for want of memory where the
 * system allocates them, which is not checked. */
#if defined(_WIN32)
typedef SRWLOCK CostackPlatformMutex;
typedef CONDITION_VARIABLE CostackPlatformCond;
typedef HANDLE CostackPlatformThread;
#else
typedef pthread_mutex_t CostackPlatformMutex;
typedef pthread_cond_t CostackPlatformCond;
typedef pthread_t CostackPlatformThread;
#endif
/* Make m usable, unlocked. */
void costack__platform_mutex_init(CostackPlatformMutex *m);
/* Release what m holds; m is unlocked and no longer used. */
void costack__platform_mutex_destroy(CostackPlatformMutex *m);
/* Lock m (not recursive); dies through costack__die if the system fails. */
void costack__platform_mutex_lock(CostackPlatformMutex *m);
/* Unlock m, locked by this thread. */
void costack__platform_mutex_unlock(CostackPlatformMutex *m);
/* Make c usable. */
void costack__platform_cond_init(CostackPlatformCond *c);
/* Release what c holds; no thread waits on it any more. */
void costack__platform_cond_destroy(CostackPlatformCond *c);
/* Unlock m, wait for a signal on c (or a spurious wakeup), lock m again. */
void costack__platform_cond_wait(CostackPlatformCond *c,
                                 CostackPlatformMutex *m);
/* Wake one thread waiting on c, if any. */
void costack__platform_cond_signal(CostackPlatformCond *c);
/* Wake every thread waiting on c. */
void costack__platform_cond_broadcast(CostackPlatformCond *c);
/* Start a new thread that runs body(arg) (costack__platform_thread_init
 * is another matter: the setup of a thread that uses costack), and store
 * it in *thread for costack__platform_thread_join: 0, or -1 with errno. */
int costack__platform_thread_start(CostackPlatformThread *thread,
                                   void (*body)(void *), void *arg);
/* Wait for a thread started by costack__platform_thread_start to end, and
 * release it. */
void costack__platform_thread_join(CostackPlatformThread thread);

/* A monotonic clock in nanoseconds (its origin is arbitrary). */
long long costack__platform_now_ns(void);

/* The number of CPUs online, between 1 and 1024. */
int costack__platform_cpu_count(void);

/* Per-thread setup on a thread's first use of costack: arrange for
 * costack__thread_exit(t) at thread exit, and whatever the platform needs
 * to report stack overflows on this thread.  Returns 0 or -1 (errno). */
int costack__platform_thread_init(CostackThread *t);
/* Undo costack__platform_thread_init; called from costack__thread_exit. */
void costack__platform_thread_exit(CostackThread *t);

/* The system page size (uncached: costack__page_size caches it). */
size_t costack__platform_page_size(void);

/* For each of the n pages from addr (page-aligned, n at most
 * COSTACK_RESIDENT_BATCH), set resident[i] to 1 if page i is backed by
 * memory now, else 0.  Returns 0, or -1 when the system cannot tell. */
#define COSTACK_RESIDENT_BATCH 256
int costack__platform_resident(const char *addr, size_t n,
                               unsigned char *resident);

/* How many stacks may stay mapped in pools without endangering the
 * process's other mappings, or (size_t)-1 when there is no such limit. */
size_t costack__platform_pool_cap(void);

/* Map a stack of size usable bytes with guard bytes of inaccessible memory
 * below it (both multiples of the page size), and register it with
 * Valgrind.  0, or -1 with errno (ENOMEM when memory or mappings run out);
 * nothing is left mapped on failure.  Any thread.  Unix only
 * (stack_unix.c). */
int costack__stack_map(CostackStack *stack, size_t size, size_t guard);
/* Give back a stack mapped by costack__stack_map.  Any thread. */
void costack__stack_unmap(CostackStack *stack);

/* Give back to the system what the stack allocator keeps without a stack
 * in it (empty slabs).  Any thread. */
void costack__stack_trim(void);

/* Unix fork(): take every lock of the stack allocator before, release them
 * after, in the parent and the child (platform_unix.c's fork handlers). */
void costack__stack_fork_lock(void);
void costack__stack_fork_unlock(void);

/* Bytes of address space held for stacks, free room included; stack_bytes
 * is what the core counts for the stacks themselves (all there is where
 * the system allocates each stack by itself). */
size_t costack__stack_address_space(size_t stack_bytes);

/* ---- shared by every platform (platform.c) ------------------------------ */

/* The system page size, cached. */
size_t costack__page_size(void);

/* How deep the stack has been used: bytes from its top down to the lowest
 * resident page, a multiple of the page size; 0 when nothing was touched or
 * it cannot be measured.  See costack_stack_high_water. */
size_t costack__stack_high_water(const CostackStack *stack);

/* Format "costack: coroutine stack overflow (coroutine 0x..., stack N
 * bytes)\n" into buf (COSTACK_OVERFLOW_MESSAGE_MAX bytes, no NUL) and
 * return its length.  Async-signal-safe: the fault handlers call it. */
#define COSTACK_OVERFLOW_MESSAGE_MAX 160
size_t costack__overflow_message(char *buf, const CostackCoroutine *co);

#endif /* COSTACK_PLATFORM_H */

/*
 * platform.h - what the generic core and the backends need from the
 * operating system: mutexes, a thread-exit hook, guarded stacks, the
 * overflow report and the high-water scan.
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

/* ---- supplied by each platform ---------------------------------------- */

/* The process-wide mutexes, statically initialised: the global mutex of
 * the API (costack_global_lock) and the one that guards the pool. */
void costack__mutex_lock_global(void);
int costack__mutex_trylock_global(void); /* 1 when locked */
void costack__mutex_unlock_global(void);
void costack__mutex_lock_pool(void);
void costack__mutex_unlock_pool(void);

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

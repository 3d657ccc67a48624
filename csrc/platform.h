/*
 * platform.h - what the generic core needs from the operating system:
 * a mutex, a thread-exit hook, guarded stacks and the mapping limit.
 * platform_unix.c implements it for POSIX systems.
 */
#ifndef COSTACK_PLATFORM_H
#define COSTACK_PLATFORM_H

#include "internal.h"

/* A process-wide mutex, statically initialised. */
void costack__mutex_lock_global(void);
int costack__mutex_trylock_global(void);
void costack__mutex_unlock_global(void);
void costack__mutex_lock_pool(void);
void costack__mutex_unlock_pool(void);

/* Per-thread setup on a thread's first use of costack: arrange for
 * costack__thread_exit(t) at thread exit, and whatever the platform needs
 * to report stack overflows on this thread.  Returns 0 or -1 (errno). */
int costack__platform_thread_init(CostackThread *t);
/* Undo costack__platform_thread_init; called from costack__thread_exit. */
void costack__platform_thread_exit(CostackThread *t);

/* The system page size. */
size_t costack__page_size(void);

/* Map a stack of size usable bytes (a multiple of the page size) with an
 * inaccessible guard page below it.  0, or -1 with errno (ENOMEM when
 * memory or mappings run out); nothing is left mapped on failure. */
int costack__stack_map(CostackStack *stack, size_t size);
/* Unmap a stack mapped by costack__stack_map. */
void costack__stack_unmap(CostackStack *stack);

/* How many stacks may stay mapped in pools without endangering the
 * process's other mappings, or (size_t)-1 when there is no such limit. */
size_t costack__platform_pool_cap(void);

#endif /* COSTACK_PLATFORM_H */

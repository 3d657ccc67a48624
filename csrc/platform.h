/*
 * platform.h - what the generic core needs from the operating system:
 * a mutex, a thread-exit hook, guarded stacks and the mapping limit.
 * platform_unix.c and stack_unix.c implement it for POSIX systems.
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
 * inaccessible guard page below it, and register it with Valgrind.  0, or
 * -1 with errno (ENOMEM when memory or mappings run out); nothing is left
 * mapped on failure.  Any thread.  (stack_unix.c: carved from a slab, or a
 * mapping of its own.) */
int costack__stack_map(CostackStack *stack, size_t size);
/* Give back a stack mapped by costack__stack_map.  Any thread. */
void costack__stack_unmap(CostackStack *stack);

/* How deep the stack has been used: bytes from its top down to the lowest
 * page ever touched, a multiple of the page size; 0 when nothing was
 * touched or it cannot be measured.  See costack_stack_high_water. */
size_t costack__stack_high_water(const CostackStack *stack);

/* How many stacks may stay mapped in pools without endangering the
 * process's other mappings, or (size_t)-1 when there is no such limit. */
size_t costack__platform_pool_cap(void);

#endif /* COSTACK_PLATFORM_H */

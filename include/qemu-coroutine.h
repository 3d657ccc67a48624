/*
 * qemu-coroutine.h - the 2011 QEMU coroutine API, served by costack.
 *
 * Legacy code written against QEMU's original coroutine header compiles
 * unchanged against this one and links with libcostack.  The functions are
 * thin wrappers over include/costack.h, and a Coroutine is a
 * CostackCoroutine, so both APIs can be mixed in one program.
 *
 * Differences from the native API, kept for compatibility:
 *   - the opaque is given to qemu_coroutine_enter; the entry function
 *     receives the one given on the first entry, later ones are ignored;
 *   - qemu_coroutine_create never returns NULL: it aborts with a message
 *     when no memory or mappings are left, as QEMU does.
 *
 * Queues and locks (CoQueue, CoMutex, CoRwlock) are costack's
 * (costack.h, "Queues", "Mutexes", "Read-write locks") under QEMU's 2011
 * names, and behave as those describe:
 *   - a coroutine woken from inside another coroutine runs when the waker
 *     yields or terminates; woken from outside any coroutine, it runs at
 *     once (QEMU of 2011 deferred that case to a bottom half);
 *   - an unlock hands a mutex straight to its first waiter;
 *   - the rwlock is fair: a reader that arrives while a writer waits waits
 *     too (QEMU of 2011 let it in);
 *   - misuse (waiting or locking outside a coroutine, unlocking a lock
 *     that is not held or that another coroutine holds, ending a
 *     coroutine that holds a lock) aborts with a "costack:" message that
 *     names the native function.
 * A CostackQueue, CostackMutex or CostackRwlock is the first and only
 * member of each, so both APIs can share one object through a cast.
 */
#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include <stdbool.h>

#include "costack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks functions that may yield (must be called from coroutine context). */
#define coroutine_fn

typedef struct Coroutine Coroutine;

/* A coroutine's entry function; receives the opaque of the first enter. */
typedef void coroutine_fn CoroutineEntry(void *opaque);

/* Create a coroutine that will run entry; aborts on exhaustion. */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry);

/* Enter (or resume) a coroutine; opaque reaches entry on the first entry.
 * Aborts with "Co-routine re-entered recursively" if it has a caller. */
void qemu_coroutine_enter(Coroutine *coroutine, void *opaque);

/* Return to the caller.  Aborts with "Co-routine is yielding to no one"
 * outside a coroutine. */
void coroutine_fn qemu_coroutine_yield(void);

/* The current coroutine, or outside one the thread's leader (never NULL). */
Coroutine *coroutine_fn qemu_coroutine_self(void);

/* True inside a coroutine. */
bool qemu_in_coroutine(void);

/* A FIFO of waiting coroutines.  Declare it anywhere; initialise it with
 * qemu_co_queue_init before use. */
typedef struct CoQueue {
    CostackQueue q;
} CoQueue;

/* Initialise an empty queue. */
void qemu_co_queue_init(CoQueue *queue);

/* Wait at the tail of queue until qemu_co_queue_next or
 * qemu_co_queue_restart_all wakes the calling coroutine. */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue);

/* Wait at the head of queue: for a coroutine that was woken and must
 * wait again without losing its place. */
void coroutine_fn qemu_co_queue_wait_insert_head(CoQueue *queue);

/* Wake the first waiter; false if there was none. */
bool qemu_co_queue_next(CoQueue *queue);

/* Wake every waiter, in order. */
void qemu_co_queue_restart_all(CoQueue *queue);

/* True if no coroutine waits on queue. */
bool qemu_co_queue_empty(CoQueue *queue);

/* A mutex of coroutines: lock waits without blocking the thread. */
typedef struct CoMutex {
    CostackMutex m;
} CoMutex;

/* Initialise an unlocked mutex. */
void qemu_co_mutex_init(CoMutex *mutex);

/* Lock mutex, waiting while another coroutine holds it.  Not recursive. */
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);

/* Unlock mutex; its first waiter gets it and runs when the caller yields
 * or terminates. */
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);

/* A read-write lock of coroutines: any number of readers, or one writer. */
typedef struct CoRwlock {
    CostackRwlock l;
} CoRwlock;

/* Initialise an unlocked rwlock. */
void qemu_co_rwlock_init(CoRwlock *lock);

/* Take a read lock, waiting while a writer holds lock or waits for it. */
void qemu_co_rwlock_rdlock(CoRwlock *lock);

/* Take the write lock, waiting while anyone holds lock. */
void qemu_co_rwlock_wrlock(CoRwlock *lock);

/* Release the read or write lock the calling coroutine holds. */
void qemu_co_rwlock_unlock(CoRwlock *lock);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_COROUTINE_H */

/*
 * qemu_compat.c - the 2011 QEMU coroutine API (include/qemu-coroutine.h)
 * over the native one.  A Coroutine is a CostackCoroutine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "qemu-coroutine.h"

Coroutine *qemu_coroutine_create(CoroutineEntry *entry)
{
    CostackCoroutine *co = costack_create(entry, NULL);
    if (!co) {
        /* QEMU's create cannot fail; it aborts, and so do we. */
        fprintf(stderr, "costack: qemu_coroutine_create: cannot create a "
                        "coroutine: %s\n", strerror(errno));
        fflush(stderr);
        abort();
    }
    return (Coroutine *)co;
}

void qemu_coroutine_enter(Coroutine *coroutine, void *opaque)
{
    CostackCoroutine *co = (CostackCoroutine *)coroutine;
    /* The opaque reaches the entry function on the first entry only. */
    if (co && co->state == COSTACK_NEW)
        co->opaque = opaque;
    costack_enter(co);
}

void coroutine_fn qemu_coroutine_yield(void)
{
    costack_yield();
}

Coroutine *coroutine_fn qemu_coroutine_self(void)
{
    return (Coroutine *)costack_self();
}

bool qemu_in_coroutine(void)
{
    return costack_in_coroutine() != 0;
}

/* ---- queues and locks: costack's under QEMU's names ---------------------- */

void qemu_co_queue_init(CoQueue *queue)
{
    costack_queue_init(&queue->q);
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue)
{
    costack_queue_wait(&queue->q);
}

void coroutine_fn qemu_co_queue_wait_insert_head(CoQueue *queue)
{
    costack_queue_wait_head(&queue->q);
}

bool qemu_co_queue_next(CoQueue *queue)
{
    return costack_queue_next(&queue->q) != 0;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    (void)costack_queue_wake_all(&queue->q);
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return costack_queue_empty(&queue->q) != 0;
}

void qemu_co_mutex_init(CoMutex *mutex)
{
    costack_mutex_init(&mutex->m);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    costack_mutex_lock(&mutex->m);
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    costack_mutex_unlock(&mutex->m);
}

void qemu_co_rwlock_init(CoRwlock *lock)
{
    costack_rwlock_init(&lock->l);
}

void qemu_co_rwlock_rdlock(CoRwlock *lock)
{
    costack_rwlock_rdlock(&lock->l);
}

void qemu_co_rwlock_wrlock(CoRwlock *lock)
{
    costack_rwlock_wrlock(&lock->l);
}

void qemu_co_rwlock_unlock(CoRwlock *lock)
{
    costack_rwlock_unlock(&lock->l);
}

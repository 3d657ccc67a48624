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

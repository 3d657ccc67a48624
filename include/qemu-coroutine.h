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
 */
#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include <stdbool.h>

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

#ifdef __cplusplus
}
#endif

#endif /* QEMU_COROUTINE_H */

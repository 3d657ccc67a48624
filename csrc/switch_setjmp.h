/*
 * switch_setjmp.h - the context shared by the backends that switch with
 * _setjmp/_longjmp (ucontext, sigaltstack): they differ only in how they
 * get onto a new stack the first time.  switch_setjmp.c does the rest.
 */
#ifndef COSTACK_SWITCH_SETJMP_H
#define COSTACK_SWITCH_SETJMP_H

#include <setjmp.h>

#include "backend.h"

struct CostackCtx {
    jmp_buf env;
};

/* Allocate co->ctx and map co's stack.  0, or -1 with errno and nothing
 * left allocated. */
int costack__setjmp_prepare(CostackCoroutine *co, size_t stack_size);

#endif /* COSTACK_SWITCH_SETJMP_H */

/*
 * hello.c - costack from C: a coroutine that counts, suspending itself
 * after each number; main resumes it until it has finished.
 *
 * Build: with costack installed (CMake, see the README's section "Using
 * costack from C"), `cc -std=c99 hello.c $(pkg-config --cflags --libs
 * costack) -o hello`, or this directory's CMakeLists.txt.
 */
#include <stdio.h>

#include "costack.h"

struct counter {
    int value;
    int done;
};

/* The coroutine: runs on its own stack, yields back to main after each
 * number, and ends (returns) after the third. */
static void count(void *opaque)
{
    struct counter *c = (struct counter *)opaque;
    for (c->value = 1; c->value <= 3; c->value++)
        costack_yield();
    c->done = 1;
}

int main(void)
{
    struct counter c = {0, 0};
    CostackCoroutine *co = costack_create(count, &c);

    if (!co) {
        perror("costack_create");
        return 1;
    }
    for (;;) {
        costack_enter(co); /* runs it until its next yield, or its end */
        if (c.done)
            break; /* it has ended; co is no longer valid */
        printf("got %d\n", c.value);
    }
    printf("done\n");
    return 0;
}

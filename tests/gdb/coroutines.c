/*
 * coroutines.c - the program scripts/gdb-coroutines.sh debugs: it leaves
 * coroutines in every state that scripts/costack-gdb.py reports, on three
 * threads, then calls gdbt_checkpoint(), where gdb stops and
 * tests/gdb/check.py checks the `costack` commands against what is set up
 * here.  Every entry function and every function a coroutine suspends in
 * has a name of its own, so that the check can tell them apart by name.
 *
 * At the checkpoint:
 *   main thread   A suspended in gdbt_park_a (64 KiB stack, 16 KiB of it
 *                 written; gdbt_hw_a holds costack_stack_high_water(A));
 *                 B suspended in gdbt_park_b, after entering C, which
 *                 suspended in gdbt_park_c (nested); N new, never entered;
 *                 D active, inside gdbt_nest_d, having entered E; E active
 *                 and running: it called gdbt_checkpoint().
 *   worker thread F suspended in gdbt_park_f; G suspended in gdbt_park_g
 *                 after entering H, suspended in gdbt_park_h; W active and
 *                 running, blocked in gdbt_wait_w; M, created here,
 *                 entered here and then by the main thread (it migrated),
 *                 suspended in gdbt_park_m.  X, created here, was
 *                 destroyed by the main thread, and Y, created here, was
 *                 run to its end by the main thread: neither is live.
 *   exited thread O suspended in gdbt_park_o: its creating thread has
 *                 exited (the registry's orphans).
 *   anywhere      no live coroutine with entry gdbt_entry_done, _x or _y
 *                 (finished or destroyed: pooled or freed); one pooled
 *                 coroutine with a 128 KiB stack, on the main thread.
 *
 * gdbt_main_tid and gdbt_worker_tid are the two live threads' kernel
 * thread ids (gdb's LWP).  Run alone, the program passes the checkpoint,
 * lets everything end and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "costack.h"

#define NOINLINE __attribute__((noinline))
/* Keeps a call from becoming a tail call, so its caller stays a frame. */
#define KEEP_FRAME() __asm__ __volatile__("" ::: "memory")

CostackCoroutine *gdbt_a, *gdbt_b, *gdbt_c, *gdbt_n, *gdbt_d, *gdbt_e;
CostackCoroutine *gdbt_f, *gdbt_g, *gdbt_h, *gdbt_w, *gdbt_m, *gdbt_o;
volatile size_t gdbt_hw_a;
volatile long gdbt_main_tid, gdbt_worker_tid;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int worker_ready, release_worker;

static long tid(void)
{
    return (long)syscall(SYS_gettid);
}

static void die(const char *what)
{
    fprintf(stderr, "gdb-coroutines program: %s\n", what);
    exit(2);
}

static CostackCoroutine *create(CostackEntry *entry, size_t stack_size)
{
    CostackOptions opts;
    CostackCoroutine *co;
    memset(&opts, 0, sizeof(opts));
    opts.stack_size = stack_size;
    co = costack_create_with(entry, NULL, &opts);
    if (!co)
        die("costack_create_with failed");
    return co;
}

/* gdb stops here (a breakpoint); called by E, on E's stack. */
NOINLINE void gdbt_checkpoint(void)
{
    KEEP_FRAME();
}

/* One function per place a coroutine suspends in.  Each stores its own
 * letter before it yields, so that no two have the same code (the compiler
 * would fold identical functions into one, and gdb would show one name for
 * all). */
volatile char gdbt_parked_in;
#define PARK(name)                                                          \
    NOINLINE void gdbt_park_##name(void)                                    \
    {                                                                       \
        gdbt_parked_in = #name[0];                                          \
        costack_yield();                                                    \
        KEEP_FRAME();                                                       \
    }
PARK(b)
PARK(c)
PARK(f)
PARK(g)
PARK(h)
PARK(m)
PARK(o)
PARK(x)
PARK(y)

/* A writes 16 KiB of non-zero bytes on its stack, then suspends. */
NOINLINE void gdbt_park_a(void)
{
    volatile char buf[16 << 10];
    size_t i;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = 0x5a;
    costack_yield();
    KEEP_FRAME();
}

static void gdbt_entry_a(void *opaque)
{
    (void)opaque;
    gdbt_park_a();
    KEEP_FRAME();
}

static void gdbt_entry_c(void *opaque)
{
    (void)opaque;
    gdbt_park_c();
    KEEP_FRAME();
}

static void gdbt_entry_b(void *opaque)
{
    (void)opaque;
    gdbt_c = create(gdbt_entry_c, 0);
    costack_enter(gdbt_c);
    gdbt_park_b();
    KEEP_FRAME();
}

static void gdbt_entry_new(void *opaque)
{
    (void)opaque;
}

static void gdbt_entry_done(void *opaque)
{
    (void)opaque;
}

static void gdbt_entry_e(void *opaque)
{
    (void)opaque;
    gdbt_checkpoint();
    KEEP_FRAME();
}

NOINLINE void gdbt_nest_d(void)
{
    costack_enter(gdbt_e);
    KEEP_FRAME();
}

static void gdbt_entry_d(void *opaque)
{
    (void)opaque;
    gdbt_nest_d();
    KEEP_FRAME();
}

static void gdbt_entry_f(void *opaque)
{
    (void)opaque;
    gdbt_park_f();
    KEEP_FRAME();
}

static void gdbt_entry_h(void *opaque)
{
    (void)opaque;
    gdbt_park_h();
    KEEP_FRAME();
}

static void gdbt_entry_g(void *opaque)
{
    (void)opaque;
    gdbt_h = create(gdbt_entry_h, 0);
    costack_enter(gdbt_h);
    gdbt_park_g();
    KEEP_FRAME();
}

static void gdbt_entry_m(void *opaque)
{
    (void)opaque;
    for (;;)
        gdbt_park_m();
}

static void gdbt_entry_o(void *opaque)
{
    (void)opaque;
    gdbt_park_o();
    KEEP_FRAME();
}

static void gdbt_entry_x(void *opaque)
{
    (void)opaque;
    gdbt_park_x();
    KEEP_FRAME();
}

static void gdbt_entry_y(void *opaque)
{
    (void)opaque;
    gdbt_park_y();
    KEEP_FRAME();
}

/* W, running on the worker: tells the main thread it is in place, then
 * blocks until the checkpoint has passed. */
NOINLINE void gdbt_wait_w(void)
{
    pthread_mutex_lock(&lock);
    worker_ready = 1;
    pthread_cond_broadcast(&cond);
    while (!release_worker)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void gdbt_entry_w(void *opaque)
{
    (void)opaque;
    gdbt_wait_w();
    KEEP_FRAME();
}

static CostackCoroutine *worker_x, *worker_y;

static void *worker(void *arg)
{
    (void)arg;
    gdbt_worker_tid = tid();
    gdbt_f = create(gdbt_entry_f, 0);
    costack_enter(gdbt_f);
    gdbt_g = create(gdbt_entry_g, 0);
    costack_enter(gdbt_g);
    gdbt_m = create(gdbt_entry_m, 0);
    costack_enter(gdbt_m);
    worker_x = create(gdbt_entry_x, 0);
    costack_enter(worker_x);
    worker_y = create(gdbt_entry_y, 0);
    costack_enter(worker_y);
    gdbt_w = create(gdbt_entry_w, 0);
    costack_enter(gdbt_w); /* returns after the checkpoint */
    return NULL;
}

/* Creates O, leaves it suspended and exits. */
static void *short_lived(void *arg)
{
    CostackCoroutine *done;
    (void)arg;
    gdbt_o = create(gdbt_entry_o, 0);
    costack_enter(gdbt_o);
    done = create(gdbt_entry_done, 0); /* ends: pooled, then shared */
    costack_enter(done);
    return NULL;
}

int main(void)
{
    pthread_t th;
    CostackCoroutine *done;

    gdbt_main_tid = tid();

    if (pthread_create(&th, NULL, short_lived, NULL) != 0)
        die("pthread_create failed");
    pthread_join(th, NULL);

    gdbt_a = create(gdbt_entry_a, 64 << 10);
    costack_enter(gdbt_a);
    gdbt_hw_a = costack_stack_high_water(gdbt_a);
    gdbt_b = create(gdbt_entry_b, 0);
    costack_enter(gdbt_b);
    gdbt_n = create(gdbt_entry_new, 0);

    if (pthread_create(&th, NULL, worker, NULL) != 0)
        die("pthread_create failed");
    pthread_mutex_lock(&lock);
    while (!worker_ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    costack_enter(gdbt_m);    /* M migrates to this thread */
    costack_destroy(worker_x); /* freed here, created there */
    costack_enter(worker_y);  /* ends here: pooled here */
    /* Ends, and stays pooled: no later create asks for its stack size. */
    done = create(gdbt_entry_done, 128 << 10);
    costack_enter(done);

    gdbt_e = create(gdbt_entry_e, 0);
    gdbt_d = create(gdbt_entry_d, 0);
    costack_enter(gdbt_d); /* D enters E, E calls gdbt_checkpoint() */

    pthread_mutex_lock(&lock);
    release_worker = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(th, NULL);
    printf("gdb-coroutines program: done\n");
    return 0;
}

/*
 * perf.c - how fast costack is from C, in the manner of QEMU's coroutine
 * perf tests, with its baselines measured in the same run.
 *
 *   lifecycle   create + enter + run to the end (the pool recycles stacks)
 *   fresh       the same with the pool off: every create maps a new stack
 *   nesting     chains of coroutines, each entering the next, so deep
 *   yield       enter + yield, one round trip
 *   call        a plain (not inlined) function call, for scale
 *   ping-pong   bare sigsetjmp(env, 0)/siglongjmp between two stacks (the
 *               second bootstrapped once with makecontext), one round trip:
 *               what a switch costs with no coroutine bookkeeping at all
 *
 * Times are the thread's CPU time.  Each measurement runs in ROUNDS
 * slices, yield and ping-pong interleaved, and reports the best slice (the
 * machine is shared: the best is the one least disturbed).  Ratios at the end, with the targets of issue 2:
 * round trip <= 1.2 x ping-pong, pooled lifecycle <= 2 x round trip.
 *
 *   perf [--quick] [--lifecycle=N] [--fresh=N] [--chains=N] [--depth=N]
 *        [--yield=N]
 *
 * Defaults are the counts: 1M lifecycles, 10k chains of depth 1000,
 * 100M round trips; --quick divides them all by 10.  benches/c-perf.sh
 * builds and runs it.
 */

/* The ping-pong longjmps between stacks: glibc's fortified longjmp would
 * abort (see csrc/switch_setjmp.c). */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#include "costack.h"

#define ROUNDS 5

/* The calling thread's CPU time: on a shared machine, time spent waiting
 * for a CPU would otherwise count as the operation's. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* The best (lowest) ns per operation over ROUNDS slices of fn(n / ROUNDS). */
static double best_of(void (*fn)(unsigned long), unsigned long n)
{
    unsigned long slice = n / ROUNDS ? n / ROUNDS : 1;
    double best = 0;
    int r;
    for (r = 0; r < ROUNDS; r++) {
        double t0 = now_ns(), ns;
        fn(slice);
        ns = (now_ns() - t0) / (double)slice;
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

/* ---- lifecycle -------------------------------------------------------- */

static void empty_entry(void *opaque)
{
    (void)opaque;
}

static void run_lifecycle(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++) {
        CostackCoroutine *co = costack_create(empty_entry, NULL);
        if (!co)
            die("costack_create");
        costack_enter(co);
    }
}

/* ---- nesting ---------------------------------------------------------- */

typedef struct Nest {
    unsigned long n_enter, n_return, max;
} Nest;

static void nest_entry(void *opaque)
{
    Nest *nb = (Nest *)opaque;
    if (++nb->n_enter < nb->max) {
        CostackCoroutine *child = costack_create(nest_entry, nb);
        if (!child)
            die("costack_create");
        costack_enter(child);
    }
    nb->n_return++;
}

static unsigned long nest_depth;

/* n chains of nest_depth coroutines. */
static void run_nesting(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++) {
        Nest nb;
        CostackCoroutine *root;
        nb.n_enter = nb.n_return = 0;
        nb.max = nest_depth;
        root = costack_create(nest_entry, &nb);
        if (!root)
            die("costack_create");
        costack_enter(root);
        if (nb.n_return != nest_depth) {
            fprintf(stderr, "perf: nesting went wrong\n");
            exit(1);
        }
    }
}

/* ---- yield ------------------------------------------------------------ */

static volatile int yield_stop;
static CostackCoroutine *yielder;

static void yield_entry(void *opaque)
{
    (void)opaque;
    while (!yield_stop)
        costack_yield();
}

static void run_yield(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++)
        costack_enter(yielder);
}

/* ---- a function call ---------------------------------------------------- */

static __attribute__((noinline)) void callee(unsigned long *p)
{
    ++*p;
    __asm__ __volatile__("" ::: "memory");
}

static void (*volatile call_target)(unsigned long *) = callee;
static unsigned long call_sink;

static void run_call(unsigned long n)
{
    unsigned long i;
    void (*f)(unsigned long *) = call_target;
    for (i = 0; i < n; i++)
        f(&call_sink);
}

/* ---- bare ping-pong: sigsetjmp(env, 0)/siglongjmp between two stacks ---- */

static sigjmp_buf pp_main, pp_other;

static void pp_bootstrap(void)
{
    /* On the new stack: park, then bounce back every time we are woken. */
    for (;;)
        if (!sigsetjmp(pp_other, 0))
            siglongjmp(pp_main, 1);
}

static void pingpong_setup(void)
{
    static ucontext_t uc, here;
    size_t size = 64 << 10;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        die("mmap");
    if (getcontext(&uc) != 0)
        die("getcontext");
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = size;
    uc.uc_link = NULL;
    makecontext(&uc, pp_bootstrap, 0);
    if (!sigsetjmp(pp_main, 0))
        swapcontext(&here, &uc);
}

/* One round trip.  A function of its own, as a switch is in any coroutine
 * library (and so no loop variable lives across the sigsetjmp). */
static __attribute__((noinline)) void pingpong(void)
{
    if (!sigsetjmp(pp_main, 0))
        siglongjmp(pp_other, 1);
}

static void run_pingpong(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++)
        pingpong();
}

/* ---- main ------------------------------------------------------------- */

static unsigned long opt(const char *arg, const char *name, unsigned long v)
{
    size_t len = strlen(name);
    if (strncmp(arg, name, len) == 0 && arg[len] == '=')
        return strtoul(arg + len + 1, NULL, 10);
    return v;
}

int main(int argc, char **argv)
{
    unsigned long lifecycles = 1000000, fresh = 20000, chains = 10000,
                  depth = 1000, yields = 100000000;
    double t_life, t_fresh, t_nest, t_yield = 0, t_call, t_pp = 0;
    int i, r;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            lifecycles /= 10;
            fresh /= 10;
            chains /= 10;
            yields /= 10;
            continue;
        }
        lifecycles = opt(argv[i], "--lifecycle", lifecycles);
        fresh = opt(argv[i], "--fresh", fresh);
        chains = opt(argv[i], "--chains", chains);
        depth = opt(argv[i], "--depth", depth);
        yields = opt(argv[i], "--yield", yields);
    }
    if (!lifecycles || !fresh || !chains || !depth || !yields) {
        fprintf(stderr, "usage: perf [--quick] [--lifecycle=N] [--fresh=N] "
                        "[--chains=N] [--depth=N] [--yield=N]\n");
        return 2;
    }

    printf("costack C perf, backend %s\n", costack_backend_name());
    printf("best of %d slices each; ns of CPU time per operation\n\n",
           ROUNDS);

    /* Warm up: the thread's state, the first stacks, the pool. */
    run_lifecycle(1000);
    nest_depth = depth;
    run_nesting(1);

    t_life = best_of(run_lifecycle, lifecycles);
    printf("lifecycle  %11lu x create+enter+end   %8.1f ns\n", lifecycles,
           t_life);

    costack_pool_set_max(0);
    t_fresh = best_of(run_lifecycle, fresh);
    costack_pool_set_max(1024);
    printf("fresh      %11lu x same, pool off     %8.1f ns\n", fresh,
           t_fresh);

    t_nest = best_of(run_nesting, chains) / (double)depth;
    printf("nesting    %5lu chains x depth %-6lu   %8.1f ns per coroutine\n",
           chains, depth, t_nest);

    /* Round trips and the bare ping-pong, slice by slice in turn, so both
     * see the same machine. */
    yielder = costack_create(yield_entry, NULL);
    if (!yielder)
        die("costack_create");
    pingpong_setup();
    run_yield(1000);
    run_pingpong(1000);
    for (r = 0; r < ROUNDS; r++) {
        unsigned long slice = yields / ROUNDS ? yields / ROUNDS : 1;
        double t0 = now_ns(), y, p;
        run_yield(slice);
        y = (now_ns() - t0) / (double)slice;
        t0 = now_ns();
        run_pingpong(slice);
        p = (now_ns() - t0) / (double)slice;
        if (r == 0 || y < t_yield)
            t_yield = y;
        if (r == 0 || p < t_pp)
            t_pp = p;
    }
    yield_stop = 1;
    costack_enter(yielder); /* let it end */
    printf("yield      %11lu x enter+yield        %8.1f ns\n", yields,
           t_yield);
    printf("ping-pong  %11lu x bare sigsetjmp/siglongjmp round trip %.1f ns\n",
           yields, t_pp);

    t_call = best_of(run_call, yields);
    printf("call       %11lu x function call      %8.2f ns\n", yields,
           t_call);

    printf("\nratios (issue 2's targets in brackets)\n");
    printf("  round trip / bare ping-pong     %5.2f  [<= 1.2]\n",
           t_yield / t_pp);
    printf("  pooled lifecycle / round trip   %5.2f  [<= 2]\n",
           t_life / t_yield);
    printf("  fresh lifecycle / pooled        %5.1f\n", t_fresh / t_life);
    printf("  round trip / function call      %5.1f\n", t_yield / t_call);
    return 0;
}

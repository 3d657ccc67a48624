/*
 * perf.c - how fast costack is from C, in the manner of QEMU's coroutine
 * perf tests, with its baselines measured in the same run.
 *
 *   lifecycle   create + enter + run to the end (the pool recycles stacks)
 *   fresh       the same with the pool off: every create maps a new stack
 *   nesting     chains of coroutines, each entering the next, so deep
 *   yield       enter + yield, one round trip
 *   qemu        the same through QEMU's API (qemu-coroutine.h)
 *   call        a plain (not inlined) function call, for scale
 *   mutex       costack_mutex_lock + costack_mutex_unlock in a coroutine,
 *               nobody else wanting the mutex
 *   two calls   two plain calls of out-of-line functions (a stand-in lock
 *               and unlock), the mutex's baseline
 *   hand-off    two coroutines passing a mutex back and forth: each one
 *               unlocks (handing the mutex to the other, which waits in
 *               lock) and locks again (waiting, which lets the other run);
 *               one pass of the mutex, against one round trip
 *   wake+wait   the core under the hand-off: two coroutines that wake each
 *               other (costack_wake) and wait (costack_wait), no mutex
 *   ping-pong   bare sigsetjmp(env, 0)/siglongjmp between two stacks (the
 *               second bootstrapped once with makecontext), one round trip:
 *               what a switch costs with no coroutine bookkeeping at all
 *   alone       an out-of-line switch function alone (the asm backend's
 *               technique: callee-saved registers pushed and popped, the
 *               stack pointer swapped, leaving by jump), with none of the
 *               coroutine's bookkeeping, one round trip: what any C API
 *               with enter and yield as functions pays at least
 *   floor       an inline-asm ping-pong between two stacks with call and
 *               ret kept paired (entering is a `call` that the other side's
 *               `ret` matches), only the frame pointer saved by hand and the
 *               other registers left to the compiler: about the fastest a
 *               switch between two stacks can be (x86-64 and aarch64)
 *   deep        enter+yield with each side DEEP_DEPTH calls deep, returning
 *               all the way after each switch: the resumer calls 8 nested
 *               functions, the innermost enters; the coroutine returns out
 *               of its 8, calls them again, the innermost yields; the
 *               resumer returns out of its 8.  Every return just after a
 *               switch finds the other side's addresses in the CPU's
 *               return-stack predictor, which a tight loop (no return
 *               between switches) never shows.  Beside it, the floor's
 *               switch in the same chains, and the chains with no switch
 *               (calls alone), so that what the switch adds shows
 *
 * Times are the thread's CPU time.  Each measurement runs in ROUNDS
 * slices, yield and ping-pong interleaved, and reports the best slice (the
 * machine is shared: the best is the one least disturbed).  Ratios at the
 * end, with their targets: round trip <= 1.2 x ping-pong, pooled lifecycle
 * <= 2 x round trip, round trip <= 2 x floor, uncontended mutex <= 2 x two
 * calls, hand-off <= 2.5 x round trip.
 *
 *   perf [--quick] [--lifecycle=N] [--fresh=N] [--chains=N] [--depth=N]
 *        [--yield=N] [--deep=N] [--mutex=N] [--handoff=N] [--values]
 *
 * Defaults are the counts: 1M lifecycles, 10k chains of depth 1000,
 * 100M round trips, and 10M deep round trips; 100M mutex lock+unlock pairs
 * and 20M hand-offs; --quick divides them all by 10.  --values adds, at the end, one line "value NAME NS" per
 * measurement, for benches/compare.sh.  benches/c-perf.sh
 * builds and runs it.
 */

/* The ping-pong longjmps between stacks: glibc's fortified longjmp would
 * abort (see csrc/switch_setjmp.h). */
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
#include "qemu-coroutine.h"

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

/* Run fn over one slice of n operations and keep in *best the ns per
 * operation if it is the first slice (round 0) or the best so far. */
static void time_slice(void (*fn)(unsigned long), unsigned long n, int round,
                       double *best)
{
    double t0 = now_ns(), ns;
    fn(n);
    ns = (now_ns() - t0) / (double)n;
    if (round == 0 || ns < *best)
        *best = ns;
}

/* The slice of a measurement of n operations in ROUNDS slices. */
static unsigned long slice_of(unsigned long n)
{
    return n / ROUNDS ? n / ROUNDS : 1;
}

/* The best (lowest) ns per operation over ROUNDS slices of fn(n / ROUNDS). */
static double best_of(void (*fn)(unsigned long), unsigned long n)
{
    double best = 0;
    int r;
    for (r = 0; r < ROUNDS; r++)
        time_slice(fn, slice_of(n), r, &best);
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

/* ---- the same round trip through QEMU's API ------------------------------ */

static Coroutine *qemu_yielder;

static void coroutine_fn qemu_yield_entry(void *opaque)
{
    (void)opaque;
    while (!yield_stop)
        qemu_coroutine_yield();
}

static void run_qemu(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++)
        qemu_coroutine_enter(qemu_yielder, NULL);
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

/* ---- a coroutine mutex, uncontended, against two plain calls ----------- */

static CostackMutex bench_mutex = COSTACK_MUTEX_INIT;
static unsigned long mutex_count;

static void mutex_entry(void *opaque)
{
    unsigned long i;
    (void)opaque;
    for (i = 0; i < mutex_count; i++) {
        costack_mutex_lock(&bench_mutex);
        costack_mutex_unlock(&bench_mutex);
    }
}

/* n lock+unlock pairs in one coroutine (its create, enter and end are
 * spread over the slice). */
static void run_mutex(unsigned long n)
{
    CostackCoroutine *co = costack_create(mutex_entry, NULL);
    if (!co)
        die("costack_create");
    mutex_count = n;
    costack_enter(co);
}

/* Stand-ins for a lock and an unlock that cannot be inlined. */
static __attribute__((noinline)) void fake_lock(unsigned long *p)
{
    ++*p;
    __asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void fake_unlock(unsigned long *p)
{
    --*p;
    __asm__ __volatile__("" ::: "memory");
}

static unsigned long fake_word;

static void run_two_calls(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++) {
        fake_lock(&fake_word);
        fake_unlock(&fake_word);
    }
}

/* ---- a contended mutex: two coroutines hand it to each other ------------ */

static unsigned long handoff_left;

/* The first (opaque non-NULL) takes the mutex and yields, so that the
 * second waits for it; from then on each pass unlocks, which hands the
 * mutex to the other, and locks again, which waits and so lets the other
 * run.  The last pass ends both. */
static void handoff_entry(void *opaque)
{
    costack_mutex_lock(&bench_mutex);
    if (opaque)
        costack_yield();
    while (handoff_left) {
        handoff_left--;
        costack_mutex_unlock(&bench_mutex);
        costack_mutex_lock(&bench_mutex);
    }
    costack_mutex_unlock(&bench_mutex);
}

static void run_handoff(unsigned long n)
{
    CostackCoroutine *a = costack_create(handoff_entry, &handoff_left);
    CostackCoroutine *b = costack_create(handoff_entry, NULL);
    if (!a || !b)
        die("costack_create");
    handoff_left = n;
    costack_enter(a); /* a holds the mutex */
    costack_enter(b); /* b waits for it */
    costack_enter(a); /* the passes, until both end */
    if (handoff_left) {
        fprintf(stderr, "perf: the hand-off went wrong\n");
        exit(1);
    }
}

/* ---- the core under the hand-off: wake the other, wait --------------------- */

static CostackCoroutine *ww_co[2];
static unsigned long ww_left;
static int ww_ended;

/* Coroutine i waits for its first wake, then wakes the other one and
 * waits, until the count runs out; the first to see it end wakes the
 * other one a last time. */
static void ww_entry(void *opaque)
{
    CostackCoroutine *other = ww_co[opaque ? 1 : 0];
    costack_wait(NULL, NULL);
    while (ww_left) {
        ww_left--;
        costack_wake(other);
        costack_wait(NULL, NULL);
    }
    if (!ww_ended++)
        costack_wake(other);
}

static void run_wake_wait(unsigned long n)
{
    ww_co[0] = costack_create(ww_entry, &ww_left); /* wakes [1] */
    ww_co[1] = costack_create(ww_entry, NULL);     /* wakes [0] */
    if (!ww_co[0] || !ww_co[1])
        die("costack_create");
    ww_left = n;
    ww_ended = 0;
    costack_enter(ww_co[0]);
    costack_enter(ww_co[1]);
    costack_wake(ww_co[0]); /* from outside: runs them to the end */
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

/* ---- floor: inline-asm ping-pong, call and ret paired ------------------- */

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_FLOOR 1

/* The other stack's saved stack pointer (sp: where the address of its
 * continuation is), the main side's while the other one runs (link), and
 * the other stack's top (for the first entry).  Offsets used by the asm. */
typedef struct FloorCtx {
    void *sp;
    void *link;
    void *top;
    void (*main)(struct FloorCtx *c); /* what the other stack runs */
} FloorCtx;

static FloorCtx floor_ctx, floor_deep_ctx;

#if defined(__x86_64__)
/* All but rsp, rbp (saved by hand: it may be the frame pointer) and rsi
 * (the operand): the compiler saves what it needs once, outside the loop. */
#define FLOOR_CLOBBERS                                                      \
    "rax", "rbx", "rcx", "rdx", "rdi", "r8", "r9", "r10", "r11", "r12",    \
        "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",       \
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
        "xmm13", "xmm14", "xmm15", "memory", "cc"

/* Call the other side's continuation; its floor_yield returns here.  The
 * red zone is stepped over before anything is pushed. */
static inline void floor_enter(FloorCtx *c)
{
    __asm__ __volatile__("lea -128(%%rsp), %%rsp\n\t"
                         "push %%rbp\n\t"
                         "mov (%%rsi), %%rax\n\t"
                         "call *(%%rax)\n\t"
                         "pop %%rbp\n\t"
                         "lea 128(%%rsp), %%rsp\n\t"
                         : "+S"(c)
                         :
                         : FLOOR_CLOBBERS);
}

/* Leave a continuation on this stack and ret to the main side's call; the
 * next floor_enter calls the continuation. */
static inline void floor_yield(FloorCtx *c)
{
    __asm__ __volatile__("lea -128(%%rsp), %%rsp\n\t"
                         "push %%rbp\n\t"
                         "lea 1f(%%rip), %%rax\n\t"
                         "push %%rax\n\t"
                         "mov %%rsp, (%%rsi)\n\t"
                         "mov 8(%%rsi), %%rsp\n\t"
                         "ret\n"
                         "1:\n\t"
                         "mov %%rsp, 8(%%rsi)\n\t"
                         "mov (%%rsi), %%rsp\n\t"
                         "lea 8(%%rsp), %%rsp\n\t"
                         "pop %%rbp\n\t"
                         "lea 128(%%rsp), %%rsp\n\t"
                         : "+S"(c)
                         :
                         : FLOOR_CLOBBERS);
}

/* The other stack's first continuation: record the main side, move to the
 * new stack, run c->main(c). */
__asm__(".text\n"
        ".p2align 4\n.globl perf_floor_start\n.hidden perf_floor_start\n"
        "perf_floor_start:\n\t"
        "mov %rsp, 8(%rsi)\n\t"
        "mov 16(%rsi), %rsp\n\t"
        "mov %rsi, %rdi\n\t"
        "call *24(%rsi)\n\t"
        "ud2\n");
#else /* __aarch64__ */
/* All but sp, x29 (saved by hand) and x0 (x18 too: on Linux it is an
 * ordinary temporary, which the other side may change). */
#define FLOOR_CLOBBERS                                                      \
    "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",     \
        "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x20",      \
        "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30",      \
        "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",  \
        "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",      \
        "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",      \
        "v29", "v30", "v31", "memory", "cc"

/* blr to the other side's continuation, which saves x29 and x30 on this
 * stack; its floor_yield restores them and returns here. */
static inline void floor_enter(FloorCtx *c)
{
    register FloorCtx *x0 __asm__("x0") = c;
    __asm__ __volatile__("ldr x1, [x0]\n\t"
                         "ldr x1, [x1]\n\t"
                         "blr x1\n\t"
                         : "+r"(x0)
                         :
                         : FLOOR_CLOBBERS);
}

static inline void floor_yield(FloorCtx *c)
{
    register FloorCtx *x0 __asm__("x0") = c;
    __asm__ __volatile__("adr x1, 1f\n\t"
                         "stp x1, x29, [sp, #-16]!\n\t"
                         "mov x2, sp\n\t"
                         "str x2, [x0]\n\t"
                         "ldr x2, [x0, #8]\n\t"
                         "mov sp, x2\n\t"
                         "ldp x30, x29, [sp], #16\n\t"
                         "ret\n"
                         "1:\n\t"
                         "stp x30, x29, [sp, #-16]!\n\t"
                         "mov x2, sp\n\t"
                         "str x2, [x0, #8]\n\t"
                         "ldr x2, [x0]\n\t"
                         "mov sp, x2\n\t"
                         "ldp x1, x29, [sp], #16\n\t"
                         : "+r"(x0)
                         :
                         : FLOOR_CLOBBERS);
}

__asm__(".text\n"
        ".p2align 4\n.globl perf_floor_start\n.hidden perf_floor_start\n"
        "perf_floor_start:\n\t"
        "stp x30, x29, [sp, #-16]!\n\t"
        "mov x2, sp\n\t"
        "str x2, [x0, #8]\n\t"
        "ldr x2, [x0, #16]\n\t"
        "mov sp, x2\n\t"
        "ldr x3, [x0, #24]\n\t"
        "blr x3\n\t"
        "brk #1\n");
#endif

void perf_floor_start(void);

static __attribute__((noreturn)) void floor_main(FloorCtx *c)
{
    for (;;)
        floor_yield(c);
}

/* Set c up to run c->main on a stack of its own. */
static void floor_setup(FloorCtx *c, void (*main_fn)(FloorCtx *))
{
    size_t size = 64 << 10;
    char *stack = (char *)mmap(NULL, size, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1,
                               0);
    void (*start)(void) = perf_floor_start;
    if (stack == (char *)MAP_FAILED)
        die("mmap");
    /* The first continuation: a slot holding perf_floor_start. */
    c->top = stack + size - 64;
    c->sp = stack + size - 32;
    c->main = main_fn;
    memcpy(c->sp, &start, sizeof(start));
}

static void run_floor(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++)
        floor_enter(&floor_ctx);
}
#endif /* x86-64 or aarch64 */

/* ---- switch alone: an out-of-line switch function, no bookkeeping -------
 *
 * The technique of costack's asm backend reduced to the switch: a function
 * that pushes the callee-saved registers, swaps the stack pointer with
 * *slot, pops the other side's and leaves by jumping to the other side's
 * return address; one copy per direction.  Nothing else: no current
 * coroutine, no states, no checks.  Any C API whose enter and yield are
 * functions pays at least this (a caller's callee-saved registers must
 * survive the call), where an inlined switch saves only the live ones.
 * Between it and the floor lies the cost of the ABI; between it and the
 * round trip above, the cost of the coroutine's bookkeeping. */

#if defined(HAVE_FLOOR)
#define HAVE_ALONE 1

/* Global (and hidden) in the asm below: an aarch64 GOT entry for a local
 * label is made against its section, so two such labels whose addresses C
 * takes would share one entry. */
void perf_alone_enter(void **slot);
void perf_alone_yield(void **slot);
void perf_alone_start(void);

#if defined(__x86_64__)
/* The frame at a saved stack pointer S: S+0 unused (alignment), S+8 r15,
 * r14, r13, r12, rbx, rbp, S+56 the return address.  A new stack's first
 * frame has rbx = the body, r12 = its argument, the return address
 * perf_alone_start. */
#define ALONE_SWITCH(name)                                                  \
    ".p2align 4\n.globl " name "\n.hidden " name "\n" name ":\n\t"          \
    "push %rbp\n\tpush %rbx\n\tpush %r12\n\t"                               \
    "push %r13\n\tpush %r14\n\tpush %r15\n\t"                               \
    "sub $8, %rsp\n\t"                                                      \
    "mov %rsp, %rax\n\tmov (%rdi), %rsp\n\tmov %rax, (%rdi)\n\t"            \
    "add $8, %rsp\n\t"                                                      \
    "pop %r15\n\tpop %r14\n\tpop %r13\n\t"                                  \
    "pop %r12\n\tpop %rbx\n\tpop %rbp\n\t"                                  \
    "pop %rcx\n\tjmp *%rcx\n"
__asm__(".text\n" ALONE_SWITCH("perf_alone_enter")
            ALONE_SWITCH("perf_alone_yield")
        ".p2align 4\n.globl perf_alone_start\n.hidden perf_alone_start\n"
        "perf_alone_start:\n\t"
        "mov %r12, %rdi\n\tcall *%rbx\n\tud2\n");
#define ALONE_FRAME 64
#define ALONE_BODY 5 /* rbx */
#define ALONE_ARG 4  /* r12 */
#define ALONE_RET 7
#else /* __aarch64__ */
/* The frame at S: x19-x28, x29, x30 (the return address), d8-d15.  A new
 * stack's first frame has x19 = the body, x20 = its argument, x30 =
 * perf_alone_start. */
#define ALONE_SWITCH(name)                                                  \
    ".p2align 4\n.globl " name "\n.hidden " name "\n" name ":\n\t"          \
    "sub sp, sp, #160\n\t"                                                  \
    "stp x19, x20, [sp, #0]\n\tstp x21, x22, [sp, #16]\n\t"                 \
    "stp x23, x24, [sp, #32]\n\tstp x25, x26, [sp, #48]\n\t"                \
    "stp x27, x28, [sp, #64]\n\tstp x29, x30, [sp, #80]\n\t"                \
    "stp d8, d9, [sp, #96]\n\tstp d10, d11, [sp, #112]\n\t"                 \
    "stp d12, d13, [sp, #128]\n\tstp d14, d15, [sp, #144]\n\t"              \
    "mov x2, sp\n\tldr x3, [x0]\n\tstr x2, [x0]\n\tmov sp, x3\n\t"          \
    "ldp x19, x20, [sp, #0]\n\tldp x21, x22, [sp, #16]\n\t"                 \
    "ldp x23, x24, [sp, #32]\n\tldp x25, x26, [sp, #48]\n\t"                \
    "ldp x27, x28, [sp, #64]\n\tldp x29, x30, [sp, #80]\n\t"                \
    "ldp d8, d9, [sp, #96]\n\tldp d10, d11, [sp, #112]\n\t"                 \
    "ldp d12, d13, [sp, #128]\n\tldp d14, d15, [sp, #144]\n\t"              \
    "add sp, sp, #160\n\tbr x30\n"
__asm__(".text\n" ALONE_SWITCH("perf_alone_enter")
            ALONE_SWITCH("perf_alone_yield")
        ".p2align 4\n.globl perf_alone_start\n.hidden perf_alone_start\n"
        "perf_alone_start:\n\t"
        "mov x0, x20\n\tblr x19\n\tbrk #1\n");
#define ALONE_FRAME 160
#define ALONE_BODY 0 /* x19 */
#define ALONE_ARG 1  /* x20 */
#define ALONE_RET 11 /* x30 */
#endif

static void *alone_slot;

static __attribute__((noreturn)) void alone_main(void *arg)
{
    (void)arg;
    for (;;)
        perf_alone_yield(&alone_slot);
}

/* Give alone_slot a new stack whose first frame starts alone_main. */
static void alone_setup(void)
{
    size_t size = 64 << 10;
    char *stack = (char *)mmap(NULL, size, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1,
                               0);
    void **frame;
    void (*start)(void) = perf_alone_start;
    void (*body)(void *) = alone_main;
    if (stack == (char *)MAP_FAILED)
        die("mmap");
    frame = (void **)(void *)(stack + size - ALONE_FRAME);
    memset(frame, 0, ALONE_FRAME);
    memcpy(&frame[ALONE_BODY], &body, sizeof(body));
    memcpy(&frame[ALONE_RET], &start, sizeof(start));
    frame[ALONE_ARG] = NULL;
    alone_slot = frame;
}

static void run_alone(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++)
        perf_alone_enter(&alone_slot);
}
#endif /* HAVE_FLOOR */

/* ---- deep: each side DEEP_DEPTH calls deep ------------------------------ */

#define DEEP_DEPTH 8

/* What the innermost functions do: switch through costack, through the
 * floor's ping-pong, or not at all (the calls alone). */
enum { DEEP_CALLS, DEEP_COSTACK, DEEP_FLOOR };
static volatile int deep_mode;
static volatile int deep_stop;
static CostackCoroutine *deep_co;

/* The innermost function of the resumer's chain: enters the other side. */
static __attribute__((noinline)) unsigned long r0(unsigned long x)
{
    switch (deep_mode) {
    case DEEP_COSTACK:
        costack_enter(deep_co);
        break;
#ifdef HAVE_FLOOR
    case DEEP_FLOOR:
        floor_enter(&floor_deep_ctx);
        break;
#endif
    default:
        break;
    }
    return x + 1;
}

/* The innermost function of the coroutine's chain: yields. */
static __attribute__((noinline)) unsigned long c0(unsigned long x)
{
    switch (deep_mode) {
    case DEEP_COSTACK:
        costack_yield();
        break;
#ifdef HAVE_FLOOR
    case DEEP_FLOOR:
        floor_yield(&floor_deep_ctx);
        break;
#endif
    default:
        break;
    }
    return x + 1;
}

/* Link i of a chain: calls link i-1 and returns after it (the empty asm
 * keeps the call from becoming a jump).  Distinct functions, so that
 * every return has an address of its own. */
#define DEEP_LINK(side, i, next)                                            \
    static __attribute__((noinline)) unsigned long side##i(unsigned long x) \
    {                                                                       \
        x = next(x + 1);                                                    \
        __asm__ __volatile__("" : "+r"(x));                                 \
        return x;                                                           \
    }
DEEP_LINK(r, 1, r0)
DEEP_LINK(r, 2, r1)
DEEP_LINK(r, 3, r2)
DEEP_LINK(r, 4, r3)
DEEP_LINK(r, 5, r4)
DEEP_LINK(r, 6, r5)
DEEP_LINK(r, 7, r6)
DEEP_LINK(r, 8, r7)
DEEP_LINK(c, 1, c0)
DEEP_LINK(c, 2, c1)
DEEP_LINK(c, 3, c2)
DEEP_LINK(c, 4, c3)
DEEP_LINK(c, 5, c4)
DEEP_LINK(c, 6, c5)
DEEP_LINK(c, 7, c6)
DEEP_LINK(c, 8, c7)

static unsigned long deep_sink;

static void deep_entry(void *opaque)
{
    (void)opaque;
    while (!deep_stop)
        deep_sink += c8(0);
}

#ifdef HAVE_FLOOR
static __attribute__((noreturn)) void floor_deep_main(FloorCtx *c)
{
    (void)c;
    for (;;)
        deep_sink += c8(0);
}
#endif

/* n round trips through both chains (DEEP_CALLS: the chains, no switch). */
static void run_deep(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; i++) {
        deep_sink += r8(i);
        if (deep_mode == DEEP_CALLS)
            deep_sink += c8(i);
    }
}

/* The best ns per round trip over ROUNDS slices of each mode, interleaved
 * (modes that this target lacks stay 0). */
static void measure_deep(unsigned long n, double best[3])
{
    unsigned long slice = slice_of(n);
    int r, m;
    best[0] = best[1] = best[2] = 0;
    for (r = 0; r < ROUNDS; r++)
        for (m = DEEP_CALLS; m <= DEEP_FLOOR; m++) {
#ifndef HAVE_FLOOR
            if (m == DEEP_FLOOR)
                continue;
#endif
            deep_mode = m;
            time_slice(run_deep, slice, r, &best[m]);
        }
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
                  depth = 1000, yields = 100000000, deeps = 10000000,
                  mutexes = 100000000, handoffs = 20000000;
    double t_life, t_fresh, t_nest, t_yield = 0, t_call, t_pp = 0;
    double t_mutex = 0, t_calls2 = 0, t_handoff = 0, t_ww = 0;
    double t_floor = 0, t_alone = 0, t_deep[3], t_qemu = 0;
    int i, r, values = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            lifecycles /= 10;
            fresh /= 10;
            chains /= 10;
            yields /= 10;
            deeps /= 10;
            mutexes /= 10;
            handoffs /= 10;
            continue;
        }
        if (strcmp(argv[i], "--values") == 0) {
            values = 1;
            continue;
        }
        lifecycles = opt(argv[i], "--lifecycle", lifecycles);
        fresh = opt(argv[i], "--fresh", fresh);
        chains = opt(argv[i], "--chains", chains);
        depth = opt(argv[i], "--depth", depth);
        yields = opt(argv[i], "--yield", yields);
        deeps = opt(argv[i], "--deep", deeps);
        mutexes = opt(argv[i], "--mutex", mutexes);
        handoffs = opt(argv[i], "--handoff", handoffs);
    }
    if (!lifecycles || !fresh || !chains || !depth || !yields || !deeps ||
        !mutexes || !handoffs) {
        fprintf(stderr, "usage: perf [--quick] [--lifecycle=N] [--fresh=N] "
                        "[--chains=N] [--depth=N] [--yield=N] "
                        "[--deep=N] [--mutex=N] [--handoff=N]\n");
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
    qemu_yielder = qemu_coroutine_create(qemu_yield_entry);
    pingpong_setup();
    run_yield(1000);
    run_qemu(1000);
    run_pingpong(1000);
#ifdef HAVE_FLOOR
    floor_setup(&floor_ctx, floor_main);
    run_floor(1000);
#endif
#ifdef HAVE_ALONE
    alone_setup();
    run_alone(1000);
#endif
    for (r = 0; r < ROUNDS; r++) {
        unsigned long slice = slice_of(yields);
        time_slice(run_yield, slice, r, &t_yield);
        time_slice(run_pingpong, slice, r, &t_pp);
        time_slice(run_qemu, slice, r, &t_qemu);
#ifdef HAVE_FLOOR
        time_slice(run_floor, slice, r, &t_floor);
#endif
#ifdef HAVE_ALONE
        time_slice(run_alone, slice, r, &t_alone);
#endif
    }
    yield_stop = 1;
    costack_enter(yielder); /* let them end */
    qemu_coroutine_enter(qemu_yielder, NULL);
    printf("yield      %11lu x enter+yield        %8.1f ns\n", yields,
           t_yield);
    printf("qemu       %11lu x the same, QEMU API %8.1f ns\n", yields,
           t_qemu);
    printf("ping-pong  %11lu x bare sigsetjmp/siglongjmp round trip %.1f ns\n",
           yields, t_pp);
#ifdef HAVE_ALONE
    printf("alone      %11lu x out-of-line switch function alone %.2f ns\n",
           yields, t_alone);
#endif
#ifdef HAVE_FLOOR
    printf("floor      %11lu x inline-asm round trip, call/ret paired %.2f ns\n",
           yields, t_floor);
#endif

    t_call = best_of(run_call, yields);
    printf("call       %11lu x function call      %8.2f ns\n", yields,
           t_call);

    /* The mutex and its two calls, slice by slice in turn; then the
     * hand-off, against the round trip measured above. */
    run_mutex(1000);
    run_two_calls(1000);
    run_handoff(1000);
    run_wake_wait(1000);
    for (r = 0; r < ROUNDS; r++) {
        time_slice(run_mutex, slice_of(mutexes), r, &t_mutex);
        time_slice(run_two_calls, slice_of(mutexes), r, &t_calls2);
    }
    for (r = 0; r < ROUNDS; r++) {
        time_slice(run_handoff, slice_of(handoffs), r, &t_handoff);
        time_slice(run_wake_wait, slice_of(handoffs), r, &t_ww);
    }
    printf("mutex      %11lu x lock+unlock, free  %8.2f ns\n", mutexes,
           t_mutex);
    printf("two calls  %11lu x two plain calls    %8.2f ns\n", mutexes,
           t_calls2);
    printf("hand-off   %11lu x mutex passed between two coroutines %.1f ns\n",
           handoffs, t_handoff);
    printf("wake+wait  %11lu x the same, bare costack_wake + costack_wait "
           "%.1f ns\n",
           handoffs, t_ww);

    deep_co = costack_create(deep_entry, NULL);
    if (!deep_co)
        die("costack_create");
#ifdef HAVE_FLOOR
    floor_setup(&floor_deep_ctx, floor_deep_main);
#endif
    measure_deep(deeps / 100 ? deeps / 100 : 1, t_deep); /* warm up */
    measure_deep(deeps, t_deep);
    deep_mode = DEEP_COSTACK;
    deep_stop = 1;
    costack_enter(deep_co); /* let it end */
    printf("deep       %11lu x enter+yield, %d calls deep each side %.1f ns\n",
           deeps, DEEP_DEPTH, t_deep[DEEP_COSTACK]);
#ifdef HAVE_FLOOR
    printf("deep floor %11lu x floor round trip, same chains %.1f ns\n", deeps,
           t_deep[DEEP_FLOOR]);
#endif
    printf("deep calls %11lu x the same chains, no switch %.1f ns\n", deeps,
           t_deep[DEEP_CALLS]);

    printf("\nratios (targets in brackets)\n");
    printf("  round trip / bare ping-pong     %5.2f  [<= 1.2]\n",
           t_yield / t_pp);
#ifdef HAVE_FLOOR
    printf("  round trip / floor              %5.2f  [<= 2]\n",
           t_yield / t_floor);
#endif
#ifdef HAVE_ALONE
    printf("  switch alone / floor            %5.2f\n", t_alone / t_floor);
    printf("  round trip / switch alone       %5.2f\n", t_yield / t_alone);
#endif
    printf("  pooled lifecycle / round trip   %5.2f  [<= 2]\n",
           t_life / t_yield);
    printf("  fresh lifecycle / pooled        %5.1f\n", t_fresh / t_life);
    printf("  round trip / function call      %5.1f\n", t_yield / t_call);
    printf("  QEMU API / round trip           %5.2f\n", t_qemu / t_yield);
    printf("  mutex lock+unlock / two calls   %5.2f  [<= 2]\n",
           t_mutex / t_calls2);
    printf("  mutex hand-off / round trip     %5.2f  [<= 2.5]\n",
           t_handoff / t_yield);
    printf("  bare wake+wait / round trip     %5.2f\n", t_ww / t_yield);
    printf("  deep round trip - calls         %5.1f ns (tight loop %.1f ns)\n",
           t_deep[DEEP_COSTACK] - t_deep[DEEP_CALLS], t_yield);
#ifdef HAVE_FLOOR
    printf("  deep floor - calls              %5.1f ns (tight loop %.2f ns)\n",
           t_deep[DEEP_FLOOR] - t_deep[DEEP_CALLS], t_floor);
    printf("  deep / deep floor               %5.2f\n",
           t_deep[DEEP_COSTACK] / t_deep[DEEP_FLOOR]);
#endif
    if (values) {
        printf("\nvalue lifecycle %.3f\nvalue fresh %.3f\nvalue nesting %.3f\n"
               "value yield %.3f\nvalue qemu %.3f\nvalue pingpong %.3f\n"
               "value floor %.3f\nvalue alone %.3f\nvalue call %.3f\n"
               "value deep %.3f\n"
               "value deep_floor %.3f\nvalue deep_calls %.3f\n"
               "value mutex %.3f\nvalue two_calls %.3f\nvalue handoff %.3f\n"
               "value wake_wait %.3f\n",
               t_life, t_fresh, t_nest, t_yield, t_qemu, t_pp, t_floor, t_alone,
               t_call,
               t_deep[DEEP_COSTACK], t_deep[DEEP_FLOOR], t_deep[DEEP_CALLS],
               t_mutex, t_calls2, t_handoff, t_ww);
    }
    return 0;
}

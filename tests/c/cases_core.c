/*
 * cases_core.c - single-threaded cases of the native API: lifecycle, yield,
 * nesting, self/leader, entered, in_coroutine, ordering, dangling access,
 * many suspended coroutines, deep stacks, the pool, destroy, stack sizes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

#include "costack.h"
#include "harness.h"

#if defined(TEST_ASAN)
#include <sanitizer/lsan_interface.h>
#endif

static size_t page_size(void)
{
#ifdef _WIN32
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
#else
    return (size_t)sysconf(_SC_PAGESIZE);
#endif
}

/* ---- backend name ------------------------------------------------------ */

void case_backend_name(void)
{
    const char *name = costack_backend_name();
    REQUIRE(name != NULL);
#ifdef _WIN32
    EXPECT(strcmp(name, "fibers") == 0);
#else
    EXPECT(strcmp(name, "asm") == 0 || strcmp(name, "ucontext") == 0 ||
           strcmp(name, "sigaltstack") == 0);
#endif
}

/* ---- lifecycle ----------------------------------------------------------- */

static int lifecycle_runs;
static void *lifecycle_opaque;
static int lifecycle_inside;

static void lifecycle_entry(void *opaque)
{
    lifecycle_runs++;
    lifecycle_opaque = opaque;
    lifecycle_inside = costack_in_coroutine();
}

void case_lifecycle(void)
{
    int token = 0;
    CostackStats before, created, after;
    CostackCoroutine *co;

    lifecycle_runs = 0;
    costack_stats(&before);
    co = costack_create(lifecycle_entry, &token);
    REQUIRE(co != NULL);
    costack_stats(&created);
    EXPECT_EQ(created.live, before.live + 1);
    EXPECT(created.stacks_mapped >= 1);
    EXPECT(created.stack_bytes_mapped >=
           created.stacks_mapped * COSTACK_DEFAULT_STACK_SIZE);
    EXPECT_EQ(lifecycle_runs, 0); /* create does not run it */
    EXPECT(!costack_entered(co));
    EXPECT_EQ(costack_stack_size(co), COSTACK_DEFAULT_STACK_SIZE);

    costack_enter(co); /* runs to the end: co is released */
    EXPECT_EQ(lifecycle_runs, 1);
    EXPECT(lifecycle_opaque == &token);
    EXPECT_EQ(lifecycle_inside, 1);
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
    /* Terminated coroutines keep their stacks in the pool. */
    EXPECT_EQ(after.stacks_mapped, created.stacks_mapped);
    EXPECT_EQ(after.pooled, created.pooled + 1);

    /* The next create takes it from the pool: no new stack. */
    co = costack_create(lifecycle_entry, NULL);
    REQUIRE(co != NULL);
    costack_stats(&created);
    EXPECT_EQ(created.stacks_mapped, after.stacks_mapped);
    costack_enter(co);
    EXPECT_EQ(lifecycle_runs, 2);
    EXPECT(lifecycle_opaque == NULL);
}

/* ---- yield counts ---------------------------------------------------------- */

#define YIELDS 1000

typedef struct YieldState {
    int yields;
    int done;
} YieldState;

static void yield_entry(void *opaque)
{
    YieldState *s = (YieldState *)opaque;
    int i;
    for (i = 0; i < YIELDS; i++) {
        s->yields++;
        costack_yield();
    }
    s->done = 1;
}

void case_yield_counts(void)
{
    YieldState s;
    CostackCoroutine *co;
    int enters = 0;
    int in_step = 1;

    memset(&s, 0, sizeof(s));
    co = costack_create(yield_entry, &s);
    REQUIRE(co != NULL);
    while (!s.done) {
        costack_enter(co);
        enters++;
        /* Each enter runs exactly one step. */
        if (!s.done && s.yields != enters)
            in_step = 0;
        if (enters > YIELDS + 10)
            break;
    }
    EXPECT(in_step);
    EXPECT_EQ(s.yields, YIELDS);
    EXPECT_EQ(enters, YIELDS + 1);
    EXPECT_EQ(s.done, 1);
}

/* ---- nesting ------------------------------------------------------------- */

#define NEST_DEPTH 128

typedef struct Nest {
    int n_enter;
    int n_return;
    int max;
    int self_kept; /* every level still saw itself as self after its child */
    size_t live_at_bottom;
} Nest;

static void nest_entry(void *opaque)
{
    Nest *nb = (Nest *)opaque;
    CostackCoroutine *me = costack_self();

    nb->n_enter++;
    if (nb->n_enter < nb->max) {
        CostackCoroutine *child = costack_create(nest_entry, nb);
        if (!child) {
            harness_fail(__FILE__, __LINE__, "create at depth %d: %s",
                         nb->n_enter, strerror(errno));
        } else {
            costack_enter(child);
        }
    } else {
        CostackStats st;
        costack_stats(&st);
        nb->live_at_bottom = st.live;
    }
    if (costack_self() != me || !costack_entered(me))
        nb->self_kept = 0;
    nb->n_return++;
}

void case_nesting_128(void)
{
    Nest nb;
    CostackStats before, after;
    CostackCoroutine *root;

    memset(&nb, 0, sizeof(nb));
    nb.max = NEST_DEPTH;
    nb.self_kept = 1;
    costack_stats(&before);
    root = costack_create(nest_entry, &nb);
    REQUIRE(root != NULL);
    costack_enter(root);
    EXPECT_EQ(nb.n_enter, NEST_DEPTH);
    EXPECT_EQ(nb.n_return, NEST_DEPTH);
    EXPECT(nb.self_kept);
    EXPECT(nb.live_at_bottom >= before.live + NEST_DEPTH);
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
    EXPECT(!costack_in_coroutine());
}

/* ---- self and leader ------------------------------------------------------- */

typedef struct SelfState {
    CostackCoroutine *co;
    CostackCoroutine *leader;
    CostackCoroutine *self_inside;
    CostackCoroutine *self_in_child;
    CostackCoroutine *self_after_child;
    CostackCoroutine *self_after_yield;
} SelfState;

static SelfState self_state;

static void self_child(void *opaque)
{
    (void)opaque;
    self_state.self_in_child = costack_self();
}

static void self_entry(void *opaque)
{
    CostackCoroutine *child = costack_create(self_child, NULL);
    (void)opaque;
    self_state.self_inside = costack_self();
    if (child) {
        costack_enter(child);
        if (self_state.self_in_child == self_state.self_inside ||
            self_state.self_in_child == NULL)
            harness_fail(__FILE__, __LINE__, "child's self is wrong");
    } else {
        harness_fail(__FILE__, __LINE__, "create child failed");
    }
    self_state.self_after_child = costack_self();
    costack_yield();
    self_state.self_after_yield = costack_self();
}

void case_self_and_leader(void)
{
    CostackCoroutine *leader = costack_self();
    CostackCoroutine *co;

    REQUIRE(leader != NULL);
    EXPECT(costack_self() == leader); /* stable */
    EXPECT(costack_entered(leader));  /* a leader is always active */

    memset(&self_state, 0, sizeof(self_state));
    co = costack_create(self_entry, NULL);
    REQUIRE(co != NULL);
    EXPECT(co != leader);
    self_state.co = co;
    costack_enter(co);
    EXPECT(self_state.self_inside == co);
    EXPECT(self_state.self_after_child == co);
    EXPECT(self_state.self_in_child != NULL);
    EXPECT(self_state.self_in_child != co);
    EXPECT(self_state.self_in_child != leader);
    EXPECT(costack_self() == leader); /* back on the leader after a yield */
    costack_enter(co);
    EXPECT(self_state.self_after_yield == co);
    EXPECT(costack_self() == leader);
}

/* ---- entered --------------------------------------------------------------- */

typedef struct EnteredState {
    CostackCoroutine *outer;
    CostackCoroutine *inner;
    int outer_inside;        /* entered(outer) seen by outer itself */
    int outer_from_inner;    /* entered(outer) seen by inner, outer waiting */
    int inner_inside;
    int inner_after_yield;   /* entered(inner) seen by outer after the yield */
    int outer_second;        /* entered(outer) after it was resumed */
} EnteredState;

static EnteredState es;

static void entered_inner(void *opaque)
{
    (void)opaque;
    es.inner_inside = costack_entered(es.inner);
    es.outer_from_inner = costack_entered(es.outer);
    costack_yield();
}

static void entered_outer(void *opaque)
{
    (void)opaque;
    es.outer_inside = costack_entered(es.outer);
    es.inner = costack_create(entered_inner, NULL);
    if (!es.inner) {
        harness_fail(__FILE__, __LINE__, "create inner failed");
        return;
    }
    costack_enter(es.inner);
    es.inner_after_yield = costack_entered(es.inner);
    costack_yield();
    es.outer_second = costack_entered(es.outer);
    costack_enter(es.inner); /* let it finish */
}

void case_entered(void)
{
    memset(&es, 0, sizeof(es));
    es.outer = costack_create(entered_outer, NULL);
    REQUIRE(es.outer != NULL);
    EXPECT(!costack_entered(es.outer)); /* never entered */
    costack_enter(es.outer);
    EXPECT_EQ(es.outer_inside, 1);
    EXPECT_EQ(es.inner_inside, 1);
    EXPECT_EQ(es.outer_from_inner, 1); /* waiting on inner: still active */
    EXPECT_EQ(es.inner_after_yield, 0);
    EXPECT(!costack_entered(es.outer)); /* suspended */
    costack_enter(es.outer);
    EXPECT_EQ(es.outer_second, 1);
}

/* ---- in_coroutine -------------------------------------------------------- */

static int inco_outer, inco_inner, inco_after_yield;

static void inco_child(void *opaque)
{
    (void)opaque;
    inco_inner = costack_in_coroutine();
}

static void inco_entry(void *opaque)
{
    CostackCoroutine *child = costack_create(inco_child, NULL);
    (void)opaque;
    inco_outer = costack_in_coroutine();
    if (child)
        costack_enter(child);
    costack_yield();
    inco_after_yield = costack_in_coroutine();
}

void case_in_coroutine(void)
{
    CostackCoroutine *co;
    inco_outer = inco_inner = inco_after_yield = -1;
    EXPECT_EQ(costack_in_coroutine(), 0);
    co = costack_create(inco_entry, NULL);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_in_coroutine(), 0); /* creating does not enter */
    costack_enter(co);
    EXPECT_EQ(costack_in_coroutine(), 0);
    costack_enter(co);
    EXPECT_EQ(costack_in_coroutine(), 0);
    EXPECT_EQ(inco_outer, 1);
    EXPECT_EQ(inco_inner, 1);
    EXPECT_EQ(inco_after_yield, 1);
}

/* ---- order across a nested yield ----------------------------------------- */

static int order_log[32];
static int order_n;
static CostackCoroutine *order_a, *order_b;

static void order_record(int step)
{
    if (order_n < 32)
        order_log[order_n] = step;
    order_n++;
}

static void order_entry_b(void *opaque)
{
    (void)opaque;
    order_record(3);
    costack_yield(); /* back to a, its caller */
    order_record(6);
}

static void order_entry_a(void *opaque)
{
    (void)opaque;
    order_record(2);
    costack_enter(order_b);
    order_record(4);
    costack_yield(); /* back to the leader */
    order_record(8);
}

void case_order_nested_yield(void)
{
    int i;
    order_n = 0;
    order_a = costack_create(order_entry_a, NULL);
    order_b = costack_create(order_entry_b, NULL);
    REQUIRE(order_a != NULL && order_b != NULL);
    order_record(1);
    costack_enter(order_a);
    order_record(5);
    costack_enter(order_b); /* b's new caller is the leader, not a */
    order_record(7);
    costack_enter(order_a);
    order_record(9);
    EXPECT_EQ(order_n, 9);
    for (i = 0; i < 9 && i < order_n; i++)
        EXPECT_EQ(order_log[i], i + 1);
}

/* ---- no access to a terminated caller's memory (QEMU's dangling case) ---- */

/* a enters b; b yields (to a); a terminates.  b is then resumed from the
 * leader and must return there: a's coroutine object is freed and a's
 * stack unmapped (pooling is off), so any access to either shows up as a
 * crash here or as an error under Valgrind. */
static CostackCoroutine *dangle_b;
static volatile char *dangle_a_local; /* an address on a's stack */
static int dangle_b_done, dangle_b_self_ok;

static void dangle_entry_b(void *opaque)
{
    (void)opaque;
    costack_yield();
    dangle_b_self_ok = costack_self() == dangle_b && costack_in_coroutine();
    dangle_b_done = 1;
}

static void dangle_entry_a(void *opaque)
{
    volatile char local[256];
    (void)opaque;
    memset((void *)local, 0x5a, sizeof(local));
    dangle_a_local = local;
    costack_enter(dangle_b);
    /* returns here when b yields; a ends now */
}

/* Whether p is readable: the kernel reads it for us (process_vm_readv on
 * ourselves) and fails with EFAULT when it is unmapped or guarded (freed
 * slab stacks are guarded whole, see stack_unix.c).  Not a read by the
 * program itself, so Valgrind has nothing to report. */
static int address_accessible(const volatile void *p)
{
    char c;
#ifdef _WIN32
    /* Windows: whether the page is committed and readable, from the
     * system's own map (Wine's ReadProcessMemory reads freed pages too). */
    MEMORY_BASIC_INFORMATION mbi;
    (void)c;
    if (VirtualQuery((const void *)p, &mbi, sizeof(mbi)) != sizeof(mbi))
        return 0;
    return mbi.State == MEM_COMMIT &&
           !(mbi.Protect & (PAGE_NOACCESS | PAGE_GUARD));
#else
    struct iovec local, remote;
    int fds[2], ok;
    local.iov_base = &c;
    local.iov_len = 1;
    remote.iov_base = (void *)p;
    remote.iov_len = 1;
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1)
        return 1;
    if (errno != ENOSYS)
        return 0;
    /* qemu-user has no process_vm_readv: let write(2) read the byte
     * instead (EFAULT when it cannot). */
    if (pipe(fds) != 0)
        return 1;
    ok = write(fds[1], (const void *)p, 1) == 1;
    close(fds[0]);
    close(fds[1]);
    return ok;
#endif
}

void case_no_dangling_access(void)
{
    size_t saved_max = costack_pool_max();
    CostackCoroutine *a;
    CostackStats before, after;

    /* Pooling off: a's memory really goes away when it terminates.  The
     * thread's pool is drained first by creating from it. */
    costack_pool_set_max(0);
    {
        CostackCoroutine *drain[128];
        int i, n = 0;
        CostackStats st;
        costack_stats(&st);
        for (i = 0; i < 128 && st.pooled > 0; i++) {
            drain[n] = costack_create(dangle_entry_b, NULL);
            if (!drain[n])
                break;
            n++;
            costack_stats(&st);
        }
        while (n > 0)
            costack_destroy(drain[--n]);
        costack_stats(&st);
        EXPECT_EQ(st.pooled, 0);
    }

    dangle_b_done = dangle_b_self_ok = 0;
    dangle_a_local = NULL;
    dangle_b = costack_create(dangle_entry_b, NULL);
    a = costack_create(dangle_entry_a, NULL);
    if (!dangle_b || !a) {
        harness_fail(__FILE__, __LINE__, "create failed");
        costack_pool_set_max(saved_max);
        return;
    }
    costack_stats(&before);
    costack_enter(a); /* a enters b, b yields to a, a terminates */
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live - 1);
    EXPECT_EQ(after.stacks_mapped, before.stacks_mapped - 1); /* a is gone */
    EXPECT(dangle_a_local != NULL);
    EXPECT(address_accessible(&saved_max)); /* the probe can say yes */
    if (dangle_a_local)
        EXPECT(!address_accessible(dangle_a_local));
    EXPECT_EQ(dangle_b_done, 0);

    costack_enter(dangle_b); /* must come back here, not to a */
    EXPECT_EQ(dangle_b_done, 1);
    EXPECT_EQ(dangle_b_self_ok, 1);
    EXPECT(costack_self() != dangle_b);
    EXPECT(!costack_in_coroutine());
    costack_pool_set_max(saved_max);
    EXPECT_EQ(costack_pool_max(), saved_max);
}

/* ---- 10,000 suspended at once ---------------------------------------------- */

#define MANY 10000

typedef struct ManyState {
    int index;
    int stack_copy_ok; /* its stack kept its own data while suspended */
    int done;
} ManyState;

static void many_entry(void *opaque)
{
    ManyState *s = (ManyState *)opaque;
    volatile int on_stack[64];
    int i;
    for (i = 0; i < 64; i++)
        on_stack[i] = s->index * 64 + i;
    costack_yield();
    s->stack_copy_ok = 1;
    for (i = 0; i < 64; i++)
        if (on_stack[i] != s->index * 64 + i)
            s->stack_copy_ok = 0;
    s->done = 1;
}

void case_suspended_10000(void)
{
    CostackCoroutine **cos;
    ManyState *st;
    CostackStats before, during, after;
    int i, created = 0, ok = 1, done = 0;

#if defined(TEST_TSAN)
    harness_skip("under ThreadSanitizer each coroutine has a fiber, and "
                 "10000 at once pass gcc 12's limit of 8128 threads and "
                 "fibers, and with clang's, where stacks have mappings of "
                 "their own (COSTACK_NO_MADV_GUARD), vm.max_map_count, "
                 "since a fiber maps memory of its own (destroy_suspended_"
                 "many keeps 1500)");
    return;
#endif
    cos = (CostackCoroutine **)calloc(MANY, sizeof(*cos));
    st = (ManyState *)calloc(MANY, sizeof(*st));
    if (!cos || !st) {
        free(cos);
        free(st);
        harness_fail(__FILE__, __LINE__, "out of memory");
        return;
    }
    costack_stats(&before);
    for (i = 0; i < MANY; i++) {
        st[i].index = i;
        cos[i] = costack_create(many_entry, &st[i]);
        if (!cos[i]) {
            harness_fail(__FILE__, __LINE__, "create #%d: %s", i,
                         strerror(errno));
            break;
        }
        created++;
        costack_enter(cos[i]);
    }
    costack_stats(&during);
    EXPECT_EQ(created, MANY);
    EXPECT_EQ(during.live, before.live + (size_t)created);
    EXPECT(during.stacks_mapped >= (size_t)created);
    for (i = 0; i < created; i++)
        if (costack_entered(cos[i]))
            ok = 0;
    EXPECT(ok); /* all suspended */
    /* Resume them in reverse, so stacks are not simply reused in order. */
    for (i = created - 1; i >= 0; i--)
        costack_enter(cos[i]);
    ok = 1;
    for (i = 0; i < created; i++) {
        done += st[i].done;
        if (!st[i].stack_copy_ok)
            ok = 0;
    }
    EXPECT_EQ(done, created);
    EXPECT(ok);
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
    EXPECT(after.pooled <= costack_pool_max());
    free(cos);
    free(st);
}

/* ---- several hundred KiB of stack with the default size ------------------ */

#define DEEP_FRAMES 160 /* of a bit more than 4 KiB each: about 660 KiB */

static uintptr_t deep_lowest;

static TEST_NOINLINE unsigned long deep_recurse(int n)
{
    volatile unsigned char frame[4096];
    unsigned long sum;
    size_t i;
    for (i = 0; i < sizeof(frame); i += 512)
        frame[i] = (unsigned char)(n + i);
    if ((uintptr_t)frame < deep_lowest)
        deep_lowest = (uintptr_t)frame;
    sum = n > 0 ? deep_recurse(n - 1) : 0;
    for (i = 0; i < sizeof(frame); i += 512)
        sum += frame[i];
    return sum;
}

typedef struct DeepState {
    uintptr_t top;
    unsigned long sum;
    unsigned long big_sum;
} DeepState;

static TEST_NOINLINE unsigned long big_frame(void)
{
    /* One frame of 512 KiB, touched all over. */
    volatile unsigned char big[512 * 1024];
    unsigned long sum = 0;
    size_t i;
    for (i = 0; i < sizeof(big); i += 64)
        big[i] = (unsigned char)i;
    for (i = 0; i < sizeof(big); i += 64)
        sum += big[i];
    return sum;
}

static void deep_entry(void *opaque)
{
    DeepState *d = (DeepState *)opaque;
    volatile char here;
    d->top = (uintptr_t)&here;
    deep_lowest = d->top;
    d->sum = deep_recurse(DEEP_FRAMES - 1);
    d->big_sum = big_frame();
}

void case_deep_stack_default_size(void)
{
    DeepState d;
    unsigned long expect_sum = 0, expect_big = 0;
    size_t i;
    int n;
    CostackCoroutine *co;

    if (harness_locals_on_fake_stack()) {
        harness_skip("ASan's detect_stack_use_after_return keeps these "
                     "frames on its fake stack, not on the coroutine's, and "
                     "their addresses measure that: run with "
                     "detect_stack_use_after_return=0 (ctest's "
                     "costack-suite-c-asan-real-stack does)");
        return;
    }
    memset(&d, 0, sizeof(d));
    for (n = 0; n < DEEP_FRAMES; n++)
        for (i = 0; i < 4096; i += 512)
            expect_sum += (unsigned char)(n + i);
    for (i = 0; i < 512 * 1024; i += 64)
        expect_big += (unsigned char)i;

    co = costack_create(deep_entry, &d);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_stack_size(co), COSTACK_DEFAULT_STACK_SIZE);
    costack_enter(co);
    EXPECT_EQ(d.sum, expect_sum);
    EXPECT_EQ(d.big_sum, expect_big);
    EXPECT(d.top > deep_lowest);
    EXPECT(d.top - deep_lowest >= (size_t)(DEEP_FRAMES - 1) * 4096);
}

/* ---- pool ------------------------------------------------------------------ */

static unsigned long pool_counter;

static void pool_entry(void *opaque)
{
    (void)opaque;
    pool_counter++;
}

#define LIFECYCLES 1000000

void case_pool_reuse_no_growth(void)
{
    CostackStats s0, s1;
    size_t rss0, rss1;
    unsigned long i;
    int failed_create = 0;

    /* Warm up: the first stack, the thread's pool, stdio buffers. */
    for (i = 0; i < 1000; i++) {
        CostackCoroutine *co = costack_create(pool_entry, NULL);
        if (!co) {
            failed_create = 1;
            break;
        }
        costack_enter(co);
    }
    REQUIRE(!failed_create);
    pool_counter = 0;
    costack_stats(&s0);
    rss0 = harness_rss_bytes();
    for (i = 0; i < LIFECYCLES; i++) {
        CostackCoroutine *co = costack_create(pool_entry, NULL);
        if (!co) {
            failed_create = 1;
            break;
        }
        costack_enter(co);
    }
    rss1 = harness_rss_bytes();
    costack_stats(&s1);
    EXPECT(!failed_create);
    EXPECT_EQ(pool_counter, LIFECYCLES);
    EXPECT_EQ(s1.live, s0.live);
    EXPECT_EQ(s1.stacks_mapped, s0.stacks_mapped);
    EXPECT_EQ(s1.stack_bytes_mapped, s0.stack_bytes_mapped);
    EXPECT_EQ(s1.pooled, s0.pooled);
    /* A leak of even 8 bytes per lifecycle would be 8 MB here. */
    EXPECT(rss0 > 0);
#if defined(TEST_TSAN)
    (void)rss1;
    harness_skip("RSS not compared: ThreadSanitizer's own memory (the "
                 "event history it keeps per fiber and thread) grows by "
                 "hundreds of MiB over a million switches once thousands "
                 "of fibers have existed, so RSS does not measure "
                 "costack's");
#else
    if (rss1 > rss0 + ((size_t)2 << 20))
        harness_fail(__FILE__, __LINE__, "RSS grew from %zu to %zu bytes",
                     rss0, rss1);
#endif
}

static void pool_yield_entry(void *opaque)
{
    (void)opaque;
    costack_yield();
}

/* Two mappings per stack: at most (max_map_count - reserve) / 2 pooled. */
int child_pool_cap_mappings(void)
{
    long max_map = harness_max_map_count();
    size_t cap;
    costack_pool_set_max((size_t)-1);
    cap = costack_pool_max();
    printf("max_map_count %ld, pool cap %zu\n", max_map, cap);
    return cap > 0 && cap <= (size_t)(max_map / 2) ? 0 : 1;
}

void case_pool_max(void)
{
    size_t saved = costack_pool_max();
    CostackCoroutine *cos[200];
    CostackStats st, before;
    int i, n = 0;

    ChildResult r;

    /* Slab stacks (Linux 6.13+) take no mapping each, so nothing caps the
     * pool there.  With a mapping per stack (mprotect guards, forced by
     * COSTACK_NO_MADV_GUARD=1) the pool is capped by the mapping limit, as
     * QEMU does: checked in a child, the mode is chosen once per process. */
    costack_pool_set_max((size_t)-1);
    EXPECT(costack_pool_max() > 0);
#ifdef _WIN32
    /* No mapping limit on Windows: nothing caps the pool. */
    EXPECT(costack_pool_max() == (size_t)-1);
    (void)r;
#else
    if (harness_run_child("pool_cap_mappings", "COSTACK_NO_MADV_GUARD", "1",
                          &r) == 0)
        EXPECT_EXIT0(&r);
#endif

    costack_pool_set_max(10);
    EXPECT_EQ(costack_pool_max(), 10);
    for (i = 0; i < 200; i++) {
        cos[n] = costack_create(pool_yield_entry, NULL);
        if (!cos[n])
            break;
        costack_enter(cos[n]);
        n++;
    }
    EXPECT_EQ(n, 200);
    costack_stats(&before);
    for (i = 0; i < n; i++)
        costack_enter(cos[i]); /* terminate */
    costack_stats(&st);
    EXPECT(st.pooled <= 10);
    EXPECT(st.stacks_mapped <= before.stacks_mapped - (size_t)n + 10);

    costack_pool_set_max(saved);
    EXPECT_EQ(costack_pool_max(), saved);
}

/* ---- destroy ------------------------------------------------------------- */

static int destroy_ran, destroy_resumed;

static void destroy_entry(void *opaque)
{
    (void)opaque;
    destroy_ran = 1;
    costack_yield();
    destroy_resumed = 1;
}

void case_destroy(void)
{
    CostackStats s0, s1, s2;
    CostackCoroutine *co;

    destroy_ran = destroy_resumed = 0;
    /* Never entered: released without running; its stack is reusable. */
    co = costack_create(destroy_entry, NULL);
    REQUIRE(co != NULL);
    costack_stats(&s0);
    costack_destroy(co);
    costack_stats(&s1);
    EXPECT_EQ(destroy_ran, 0);
    EXPECT_EQ(s1.live, s0.live - 1);
    EXPECT_EQ(s1.stacks_mapped, s0.stacks_mapped);
    EXPECT_EQ(s1.pooled, s0.pooled + 1);

    /* Suspended: released without resuming; its stack goes. */
    co = costack_create(destroy_entry, NULL);
    REQUIRE(co != NULL);
    costack_enter(co);
    EXPECT_EQ(destroy_ran, 1);
    costack_stats(&s1);
    costack_destroy(co);
    costack_stats(&s2);
    EXPECT_EQ(destroy_resumed, 0);
    EXPECT_EQ(s2.live, s1.live - 1);
    EXPECT_EQ(s2.stacks_mapped, s1.stacks_mapped - 1);

    /* Creating and running still works afterwards. */
    destroy_ran = 0;
    co = costack_create(destroy_entry, NULL);
    REQUIRE(co != NULL);
    costack_enter(co);
    costack_enter(co);
    EXPECT_EQ(destroy_ran, 1);
    EXPECT_EQ(destroy_resumed, 1);
}

/* ---- many suspended coroutines destroyed ---------------------------------- */

/* 1500 at once, each suspended 48 calls deep: without fibers, TSan's
 * one call stack for the thread would grow past the 65536 frames its
 * stack depot takes; with them, gcc 12's TSan, which keeps most of a MiB
 * per fiber, stays near 1.3 GiB. */
#define DESTROY_MANY 1500
#define DESTROY_DEPTH 48
#define DESTROY_ROUNDS 3

static volatile unsigned long destroy_many_sink;

/* DESTROY_DEPTH frames deep, each with a local whose address is taken (so
 * that ASan's detect_stack_use_after_return puts them on the coroutine's
 * fake stack), then suspended for good. */
static TEST_NOINLINE void destroy_many_nest(int depth,
                                            volatile unsigned long *up)
{
    volatile unsigned long local = (unsigned long)depth + *up;
    if (depth > 0)
        destroy_many_nest(depth - 1, &local);
    else
        costack_yield();
    destroy_many_sink += local; /* not reached: destroyed while suspended */
}

static void destroy_many_entry(void *opaque)
{
    volatile unsigned long first = (unsigned long)(uintptr_t)opaque;
    destroy_many_nest(DESTROY_DEPTH, &first);
}

/* Many coroutines suspended deep inside nested calls, all destroyed,
 * several rounds: the counters come back, and so do the mappings and the
 * address space (their stacks, and under ASan their fake stacks, of about
 * 11 MiB each).  Under TSan each has a fiber (sanitizer.h), destroyed with
 * it. */
void case_destroy_suspended_many(void)
{
    CostackCoroutine **cos;
    CostackStats before, during, after;
    long maps_first = -1, maps_last = -1;
    size_t vm_first = 0, vm_last = 0;
    int round, i, created;

    cos = (CostackCoroutine **)calloc(DESTROY_MANY, sizeof(*cos));
    REQUIRE(cos != NULL);
    costack_stats(&before);
    for (round = 0; round < DESTROY_ROUNDS; round++) {
        created = 0;
        for (i = 0; i < DESTROY_MANY; i++) {
            cos[i] = costack_create(destroy_many_entry, (void *)(uintptr_t)i);
            if (!cos[i]) {
                harness_fail(__FILE__, __LINE__, "create #%d: %s", i,
                             strerror(errno));
                break;
            }
            created++;
            costack_enter(cos[i]);
        }
        costack_stats(&during);
        EXPECT_EQ(created, DESTROY_MANY);
        EXPECT_EQ(during.live, before.live + (size_t)created);
        for (i = 0; i < created; i++)
            costack_destroy(cos[i]);
        costack_stats(&after);
        EXPECT_EQ(after.live, before.live);
        EXPECT(after.stacks_mapped <= before.stacks_mapped);
        if (round == 0) {
            maps_first = harness_map_count();
            vm_first = harness_vm_bytes();
        } else {
            maps_last = harness_map_count();
            vm_last = harness_vm_bytes();
        }
    }
    /* Something kept per coroutine would be thousands of mappings, or
     * gigabytes of address space. */
#if defined(TEST_TSAN)
    harness_skip("mappings and address space not compared: "
                 "ThreadSanitizer keeps memory and mappings of its own for "
                 "destroyed fibers, hundreds of mappings per round");
    maps_first = -1;
    vm_first = 0;
#endif
    if (maps_first >= 0 && maps_last > maps_first + 100)
        harness_fail(__FILE__, __LINE__,
                     "mappings grew from %ld to %ld over %d rounds",
                     maps_first, maps_last, DESTROY_ROUNDS - 1);
    if (vm_first > 0 && vm_last > vm_first + ((size_t)1 << 30))
        harness_fail(__FILE__, __LINE__,
                     "address space grew from %zu to %zu MiB over %d rounds",
                     vm_first >> 20, vm_last >> 20, DESTROY_ROUNDS - 1);
    EXPECT_EQ(destroy_many_sink, 0);
    free(cos);
}

/* ---- a finished coroutine's stack, in the pool ----------------------------- */

static volatile int *volatile pooled_local;

/* Not inlined: the local's address outlives its frame on purpose. */
static TEST_NOINLINE void remember_pooled_local(volatile int *p)
{
    pooled_local = p;
}

static void pooled_entry(void *opaque)
{
    volatile int local = 42;
    (void)opaque;
    remember_pooled_local(&local); /* dangling once the coroutine ends */
}

/* Child: read a local of a coroutine that has ended, whose stack waits in
 * the pool.  Prints what it read. */
int child_read_pooled_stack(void)
{
    CostackCoroutine *co = costack_create(pooled_entry, NULL);
    int v;
    if (!co)
        return 3;
    costack_enter(co); /* runs to its end: the stack goes to the pool */
    v = *pooled_local;
    printf("read %d\n", v);
    return 0;
}

/* With ASan, the part of a pooled stack its coroutine used is poisoned
 * until the stack is reused, so reading a finished coroutine's frames is
 * reported (the child runs without detect_stack_use_after_return, so the
 * local is on the coroutine's stack).  Without ASan the stack stays mapped
 * while pooled and the read just reads (whatever the way out of the
 * coroutine left there). */
void case_pooled_stack_poisoned(void)
{
    ChildResult r;
    if (harness_run_child("read_pooled_stack", NULL, NULL, &r) != 0)
        return;
#if defined(TEST_ASAN)
    if ((r.exited && r.status == 0) ||
        !strstr(r.err, "AddressSanitizer: use-after-poison")) {
        harness_fail(__FILE__, __LINE__,
                     "ASan should report the read of a pooled stack: "
                     "exited %d status %d signal %d stdout <<%s>> "
                     "stderr <<%.2000s>>",
                     r.exited, r.status, r.sig, r.out, r.err);
    }
#else
    EXPECT_EXIT0(&r);
    EXPECT(strstr(r.out, "read ") != NULL);
#endif
}

/* ---- a heap block only a suspended coroutine holds ------------------------- */

static void holds_block_entry(void *opaque)
{
    char *volatile block = (char *)malloc(64);
    (void)opaque;
    if (block)
        block[0] = 1;
    costack_yield(); /* not resumed */
    free(block);
}

/* Child: leave a coroutine suspended that alone refers to a heap block,
 * and (under ASan) ask LeakSanitizer for its check before exiting. */
int child_exit_suspended(void)
{
    CostackCoroutine *co = costack_create(holds_block_entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
#if defined(TEST_ASAN)
    if (__lsan_do_recoverable_leak_check() != 0)
        return 4;
#endif
    return 0;
}

/* With ASan, LeakSanitizer scans live coroutines' stacks too, so a block
 * a suspended coroutine still refers to is no leak (the child runs without
 * detect_stack_use_after_return, whose fake frames of suspended coroutines
 * it would not scan: sanitizer.h).  Elsewhere the child just exits. */
void case_suspended_block_not_leaked(void)
{
    ChildResult r;
    if (harness_run_child("exit_suspended", NULL, NULL, &r) == 0)
        EXPECT_EXIT0(&r); /* and no sanitizer report */
}

/* ---- create_with: stack sizes ---------------------------------------------- */

typedef struct SizeUse {
    size_t bytes; /* how much stack to touch */
    unsigned long sum;
} SizeUse;

static TEST_NOINLINE unsigned long touch_chunk(size_t left)
{
    volatile unsigned char chunk[2048];
    unsigned long sum;
    size_t i;
    for (i = 0; i < sizeof(chunk); i += 256)
        chunk[i] = (unsigned char)(left >> 11);
    sum = left > sizeof(chunk) ? touch_chunk(left - sizeof(chunk)) : 0;
    for (i = 0; i < sizeof(chunk); i += 256)
        sum += chunk[i];
    return sum + 1;
}

static void size_entry(void *opaque)
{
    SizeUse *u = (SizeUse *)opaque;
    u->sum = touch_chunk(u->bytes);
}

static void expect_einval(size_t size, int line)
{
    CostackOptions o;
    CostackCoroutine *co;
    memset(&o, 0, sizeof(o));
    o.stack_size = size;
    errno = 0;
    co = costack_create_with(size_entry, NULL, &o);
    if (co) {
        harness_fail(__FILE__, line, "stack size %zu accepted", size);
        costack_destroy(co);
    } else if (errno != EINVAL) {
        harness_fail(__FILE__, line, "stack size %zu: errno %d, not EINVAL",
                     size, errno);
    }
}

void case_create_with_sizes(void)
{
    size_t page = page_size();
    CostackOptions o;
    CostackCoroutine *co;
    CostackStats s0, s1;
    SizeUse u;

    /* NULL options and size 0 mean the default. */
    co = costack_create_with(size_entry, &u, NULL);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_stack_size(co), COSTACK_DEFAULT_STACK_SIZE);
    costack_destroy(co);
    memset(&o, 0, sizeof(o));
    co = costack_create_with(size_entry, &u, &o);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_stack_size(co), COSTACK_DEFAULT_STACK_SIZE);
    costack_destroy(co);

    /* The minimum works and can use half of itself. */
    o.stack_size = COSTACK_MIN_STACK_SIZE;
    co = costack_create_with(size_entry, &u, &o);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_stack_size(co), COSTACK_MIN_STACK_SIZE);
    u.bytes = COSTACK_MIN_STACK_SIZE / 2;
    u.sum = 0;
    costack_enter(co);
    EXPECT(u.sum > 0);

    /* Odd sizes are rounded up to whole pages. */
    o.stack_size = COSTACK_MIN_STACK_SIZE + 1000;
    co = costack_create_with(size_entry, &u, &o);
    REQUIRE(co != NULL);
    EXPECT(costack_stack_size(co) >= o.stack_size);
    EXPECT(costack_stack_size(co) < o.stack_size + page);
    EXPECT_EQ(costack_stack_size(co) % page, 0);
    costack_destroy(co);

    /* A large stack (a size nothing else uses, so it is freshly mapped)
     * counts in the statistics and can use most of itself. */
    o.stack_size = ((size_t)4 << 20) + 3 * page;
    costack_stats(&s0);
    co = costack_create_with(size_entry, &u, &o);
    REQUIRE(co != NULL);
    costack_stats(&s1);
    EXPECT_EQ(costack_stack_size(co), o.stack_size);
    EXPECT_EQ(s1.stacks_mapped, s0.stacks_mapped + 1);
    EXPECT(s1.stack_bytes_mapped - s0.stack_bytes_mapped >= o.stack_size);
    u.bytes = (size_t)3 << 20;
    u.sum = 0;
    costack_enter(co);
    EXPECT(u.sum > 0);

    /* Pooled stacks of another size are not handed out for the default. */
    co = costack_create(size_entry, &u);
    REQUIRE(co != NULL);
    EXPECT_EQ(costack_stack_size(co), COSTACK_DEFAULT_STACK_SIZE);
    costack_destroy(co);

    /* Bad sizes: NULL with EINVAL. */
    expect_einval(1, __LINE__);
    expect_einval(COSTACK_MIN_STACK_SIZE - 1, __LINE__);
    expect_einval((size_t)-1, __LINE__);
    expect_einval((size_t)-1 - 100, __LINE__);
}

/* ---- user data --------------------------------------------------------- */

static size_t user_seen_size;
static int user_seen_ok;

/* Checks, from inside, that its user data holds the pattern user_fill
 * wrote, then adds one to every byte and yields once. */
static void user_entry(void *opaque)
{
    unsigned char *p = (unsigned char *)costack_user_data(costack_self());
    size_t i, n = user_seen_size;
    (void)opaque;
    user_seen_ok = p != NULL;
    for (i = 0; p && i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + 1))
            user_seen_ok = 0;
    for (i = 0; p && i < n; i++)
        p[i]++;
    costack_yield();
}

static void user_fill(CostackCoroutine *co, size_t n)
{
    unsigned char *p = (unsigned char *)costack_user_data(co);
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + 1);
}

/* Runs a coroutine with n bytes of user data to its end; returns its user
 * data's address (for comparison only, it is invalid by then). */
static uintptr_t user_round(size_t n)
{
    CostackOptions o;
    CostackCoroutine *co;
    unsigned char *p;
    size_t i;
    int ok = 1;

    memset(&o, 0, sizeof(o));
    o.user_size = n;
    co = costack_create_with(user_entry, NULL, &o);
    if (!co) {
        harness_fail(__FILE__, __LINE__, "create with user_size %zu", n);
        return 0;
    }
    p = (unsigned char *)costack_user_data(co);
    EXPECT(p != NULL);
    EXPECT_EQ((uintptr_t)p % COSTACK_USER_DATA_ALIGN, 0);
    user_fill(co, n);
    user_seen_size = n;
    user_seen_ok = 0;
    costack_enter(co);
    EXPECT(user_seen_ok);
    /* What the coroutine wrote is there for its caller too. */
    EXPECT(costack_user_data(co) == (void *)p);
    for (i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + 2))
            ok = 0;
    EXPECT(ok);
    costack_enter(co);
    return (uintptr_t)p;
}

void case_user_data(void)
{
    CostackOptions o;
    CostackCoroutine *co;
    size_t max = costack_pool_max();
    uintptr_t a, b;

    /* None asked for: NULL. */
    co = costack_create(user_entry, NULL);
    REQUIRE(co != NULL);
    EXPECT(costack_user_data(co) == NULL);
    costack_destroy(co);

    /* With the pool on, a coroutine that ends leaves its user data to the
     * next create that asks for no more: the same block again. */
    costack_pool_set_max(16);
    a = user_round(100);
    b = user_round(90);
    EXPECT(a == b);
    /* More than it had: a larger block, and it is all usable. */
    user_round(3000);
    /* Larger than COSTACK_POOLED_USER_SIZE: freed at the end, not kept. */
    user_round(COSTACK_POOLED_USER_SIZE + 1);
    user_round((size_t)1 << 20);
    /* A pooled coroutine that had user data, reused without: NULL. */
    co = costack_create(user_entry, NULL);
    REQUIRE(co != NULL);
    EXPECT(costack_user_data(co) == NULL);
    costack_destroy(co);
    /* With the pool off, too. */
    costack_pool_set_max(0);
    user_round(64);
    costack_pool_set_max(max);

    /* Too much: NULL with EINVAL. */
    memset(&o, 0, sizeof(o));
    o.user_size = COSTACK_MAX_USER_SIZE + 1;
    errno = 0;
    EXPECT(costack_create_with(user_entry, NULL, &o) == NULL);
    EXPECT_EQ(errno, EINVAL);
}

/*
 * cases_death.c - what must end a process, and what must not: misuse
 * aborts with its message, a stack overflow is reported and kills by
 * SIGSEGV, faults that are not overflows reach the previous handler, and
 * exhausted memory or mappings make create return NULL with ENOMEM.
 *
 * Each case runs a payload (child_*) in a child process, the suite binary
 * executed again with `--child NAME`, and checks how the child ended.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "costack.h"
#include "qemu-coroutine.h"
#include "harness.h"

/* ---- misuse ------------------------------------------------------------------ */

static void reenter_self_entry(void *opaque)
{
    (void)opaque;
    costack_enter(costack_self());
}

int child_reenter_self(void)
{
    CostackCoroutine *co = costack_create(reenter_self_entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
    return 0; /* not reached */
}

static CostackCoroutine *reenter_a;

static void reenter_b_entry(void *opaque)
{
    (void)opaque;
    costack_enter(reenter_a); /* a is waiting for us: it has a caller */
}

static void reenter_a_entry(void *opaque)
{
    CostackCoroutine *b = costack_create(reenter_b_entry, NULL);
    (void)opaque;
    if (b)
        costack_enter(b);
}

int child_reenter_caller(void)
{
    reenter_a = costack_create(reenter_a_entry, NULL);
    if (!reenter_a)
        return 3;
    costack_enter(reenter_a);
    return 0; /* not reached */
}

int child_yield_no_one(void)
{
    costack_yield();
    return 0; /* not reached */
}

int child_enter_leader(void)
{
    costack_enter(costack_self());
    return 0; /* not reached */
}

static void destroy_self_entry(void *opaque)
{
    (void)opaque;
    costack_destroy(costack_self());
}

int child_destroy_active(void)
{
    CostackCoroutine *co = costack_create(destroy_self_entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
    return 0; /* not reached */
}

int child_lock_twice(void)
{
    costack_global_lock();
    costack_global_lock();
    return 0; /* not reached */
}

int child_unlock_unheld(void)
{
    costack_global_unlock();
    return 0; /* not reached */
}

/* stderr holds exactly one line. */
static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

static void expect_abort(const char *child, const char *msg, int line)
{
    ChildResult r;
    if (harness_run_child(child, NULL, NULL, &r) != 0)
        return;
    if (!harness_expect_death(&r, SIGABRT, msg, __FILE__, line))
        return;
    if (!one_line(r.err))
        harness_fail(__FILE__, line, "%s: stderr is not one line: <<%s>>",
                     child, r.err);
}

void case_death_misuse(void)
{
    expect_abort("reenter_self", "Co-routine re-entered recursively",
                 __LINE__);
    expect_abort("reenter_caller", "Co-routine re-entered recursively",
                 __LINE__);
    expect_abort("yield_no_one", "Co-routine is yielding to no one",
                 __LINE__);
    expect_abort("qemu_reenter", "Co-routine re-entered recursively",
                 __LINE__);
    expect_abort("qemu_yield_no_one", "Co-routine is yielding to no one",
                 __LINE__);
    expect_abort("enter_leader",
                 "costack: costack_enter: a thread's leader cannot be entered",
                 __LINE__);
    expect_abort("destroy_active",
                 "costack: costack_destroy: the coroutine is active",
                 __LINE__);
    expect_abort("lock_twice",
                 "costack: costack_global_lock: this thread already holds",
                 __LINE__);
    expect_abort("unlock_unheld",
                 "costack: costack_global_unlock: this thread does not hold",
                 __LINE__);
}

/* ---- stale handles and NULL arguments --------------------------------------- */

static void ends_at_once(void *opaque)
{
    (void)opaque;
}

static void says_it_ran(void *opaque)
{
    (void)opaque;
    printf("the new coroutine ran\n");
    fflush(stdout);
}

/* A coroutine run to its end: its handle is stale from then on. */
static CostackCoroutine *ended_coroutine(void)
{
    CostackCoroutine *co = costack_create(ends_at_once, NULL);
    if (co)
        costack_enter(co);
    return co;
}

int child_stale_enter(void)
{
    CostackCoroutine *co = ended_coroutine();
    if (!co)
        return 3;
    costack_enter(co);
    return 0; /* not reached */
}

int child_stale_destroy(void)
{
    CostackCoroutine *co = ended_coroutine();
    if (!co)
        return 3;
    costack_destroy(co);
    return 0; /* not reached */
}

/* Without COSTACK_DEBUG the next create would reuse the ended coroutine's
 * object, and the stale handle would run the new coroutine. */
int child_stale_reused(void)
{
    CostackCoroutine *stale = ended_coroutine(), *fresh;
    if (!stale)
        return 3;
    fresh = costack_create(says_it_ran, NULL);
    if (!fresh)
        return 4;
    costack_enter(stale);
    return 0; /* not reached */
}

int child_null_entered(void)
{
    return costack_entered(NULL);
}

int child_null_stack_size(void)
{
    return (int)costack_stack_size(NULL);
}

static void expect_stale_abort(const char *child, const char *msg, int line)
{
    ChildResult r;
    if (harness_run_child(child, "COSTACK_DEBUG", "1", &r) != 0)
        return;
    if (!harness_expect_death(&r, SIGABRT, msg, __FILE__, line))
        return;
    if (strstr(r.out, "ran"))
        harness_fail(__FILE__, line, "%s: the stale handle ran a coroutine",
                     child);
}

void case_death_stale_handles(void)
{
    /* With COSTACK_DEBUG=1 every stale use is caught, reuse included. */
    expect_stale_abort("stale_enter",
                       "costack: costack_enter: the coroutine has terminated "
                       "or was destroyed", __LINE__);
    expect_stale_abort("stale_destroy",
                       "costack: costack_destroy: the coroutine has "
                       "terminated or was destroyed", __LINE__);
    expect_stale_abort("stale_reused",
                       "costack: costack_enter: the coroutine has terminated "
                       "or was destroyed", __LINE__);
    /* Without it, a stale handle to a pooled coroutine is still caught. */
    expect_abort("stale_enter",
                 "costack: costack_enter: the coroutine has terminated or "
                 "was destroyed", __LINE__);
    expect_abort("null_entered", "costack: costack_entered: NULL coroutine",
                 __LINE__);
    expect_abort("null_stack_size",
                 "costack: costack_stack_size: NULL coroutine", __LINE__);
}

/* ---- stack overflow ---------------------------------------------------------- */

static volatile unsigned long overflow_limit = ~0UL;
static volatile unsigned long overflow_sink;

static TEST_NOINLINE void overflow_recurse(unsigned long n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    pad[sizeof(pad) - 1] = (char)n;
    if (n < overflow_limit)
        overflow_recurse(n + 1);
    overflow_sink += (unsigned long)pad[0] + (unsigned long)pad[511];
}

static void overflow_entry(void *opaque)
{
    (void)opaque;
    overflow_recurse(0);
}

/* Print the coroutine's address for the parent, then overflow it. */
static int overflow_with(size_t stack_size)
{
    CostackOptions o;
    CostackCoroutine *co;
    memset(&o, 0, sizeof(o));
    o.stack_size = stack_size;
    co = costack_create_with(overflow_entry, NULL, &o);
    if (!co)
        return 3;
    printf("co=%p size=%zu\n", (void *)co, costack_stack_size(co));
    fflush(stdout);
    costack_enter(co);
    return 0; /* not reached */
}

int child_overflow_default(void)
{
    return overflow_with(0);
}

int child_overflow_small(void)
{
    return overflow_with(64 << 10);
}

static void *overflow_thread(void *arg)
{
    *(int *)arg = overflow_with(0);
    return NULL;
}

int child_overflow_thread(void)
{
    pthread_t th;
    int rc = 4;
    if (pthread_create(&th, NULL, overflow_thread, &rc) != 0)
        return 5;
    pthread_join(th, NULL);
    return rc; /* not reached when the overflow kills */
}

static void expect_overflow(const char *child, size_t size, int line)
{
    ChildResult r;
    unsigned long long addr = 0;
    const char *p;
    char msg[200];

    if (harness_run_child(child, NULL, NULL, &r) != 0)
        return;
    p = strstr(r.out, "co=");
    if (!p || sscanf(p, "co=%llx", &addr) != 1 || addr == 0) {
        harness_fail(__FILE__, line, "%s: no coroutine address printed",
                     child);
        harness_expect_death(&r, SIGSEGV, NULL, __FILE__, line);
        return;
    }
    snprintf(msg, sizeof(msg),
             "costack: coroutine stack overflow (coroutine 0x%llx, stack "
             "%zu bytes)\n",
             addr, size);
    if (!harness_expect_death(&r, SIGSEGV, msg, __FILE__, line))
        return;
    if (!one_line(r.err))
        harness_fail(__FILE__, line, "%s: stderr is not one line: <<%s>>",
                     child, r.err);
}

void case_death_stack_overflow(void)
{
    expect_overflow("overflow_default", COSTACK_DEFAULT_STACK_SIZE, __LINE__);
    expect_overflow("overflow_small", (size_t)64 << 10, __LINE__);
    expect_overflow("overflow_thread", COSTACK_DEFAULT_STACK_SIZE, __LINE__);
}

/* ---- faults that are not ours ------------------------------------------------ */

static int *volatile null_pointer; /* volatile: the compiler cannot see NULL */

static void noop_entry(void *opaque)
{
    (void)opaque;
}

static TEST_NOINLINE TEST_NO_SANITIZE_NULL void null_deref(void)
{
    *null_pointer = 1;
}

static void null_deref_entry(void *opaque)
{
    (void)opaque;
    null_deref();
}

/* Use costack first, so its fault handler is installed. */
static int use_costack(void)
{
    CostackCoroutine *co = costack_create(noop_entry, NULL);
    if (!co)
        return -1;
    costack_enter(co);
    return 0;
}

int child_null_deref_top(void)
{
    if (use_costack() != 0)
        return 3;
    null_deref();
    return 0; /* not reached */
}

int child_null_deref_coroutine(void)
{
    CostackCoroutine *co = costack_create(null_deref_entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
    return 0; /* not reached */
}

#ifdef _WIN32
/* Windows: a vectored exception handler registered before costack's
 * (costack's goes first in line, and must pass the fault on). */
static LONG CALLBACK previous_handler(EXCEPTION_POINTERS *ep)
{
    static const char msg[] = "previous handler ran\n";
    const EXCEPTION_RECORD *rec = ep->ExceptionRecord;
    DWORD n;
    if (rec->ExceptionCode != EXCEPTION_ACCESS_VIOLATION)
        return EXCEPTION_CONTINUE_SEARCH;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, sizeof(msg) - 1, &n, NULL);
    TerminateProcess(GetCurrentProcess(),
                     rec->ExceptionInformation[1] == 0 ? 42 : 43);
    return EXCEPTION_CONTINUE_SEARCH;
}

int child_previous_handler(void)
{
    if (!AddVectoredExceptionHandler(1, previous_handler))
        return 3;
    if (use_costack() != 0) /* registers costack's handler, ahead of ours */
        return 4;
    null_deref();
    return 0; /* not reached */
}
#else
static void previous_handler(int sig, siginfo_t *info, void *uctx)
{
    static const char msg[] = "previous handler ran\n";
    (void)sig;
    (void)uctx;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* exiting anyway */
    }
    _exit(info->si_addr == NULL ? 42 : 43);
}

int child_previous_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = previous_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        return 3;
    if (use_costack() != 0) /* installs costack's handler over ours */
        return 4;
    null_deref();
    return 0; /* not reached */
}
#endif

void case_foreign_faults_pass_on(void)
{
    ChildResult r;

    /* The default action: death by SIGSEGV, and no costack message. */
    if (harness_run_child("null_deref_top", NULL, NULL, &r) == 0) {
        harness_expect_death(&r, SIGSEGV, NULL, __FILE__, __LINE__);
        EXPECT(strstr(r.err, "costack") == NULL);
    }
    /* Also inside a coroutine: a NULL access is no overflow. */
    if (harness_run_child("null_deref_coroutine", NULL, NULL, &r) == 0) {
        harness_expect_death(&r, SIGSEGV, NULL, __FILE__, __LINE__);
        EXPECT(strstr(r.err, "costack") == NULL);
    }
    /* A handler installed before costack's still gets the fault. */
    if (harness_run_child("previous_handler", NULL, NULL, &r) == 0) {
        if (!r.exited || r.status != 42 ||
            strcmp(r.err, "previous handler ran\n") != 0) {
            harness_fail(__FILE__, __LINE__,
                         "the previous SIGSEGV handler should run and exit "
                         "42: exited %d status %d signal %d stderr <<%s>>",
                         r.exited, r.status, r.sig, r.err);
        }
    }
}

/* ---- exhaustion: NULL + ENOMEM ------------------------------------------------ */

static void suspend_entry(void *opaque)
{
    (void)opaque;
    costack_yield();
}

/* Allow only `headroom` more bytes of address space than in use now. */
static int limit_address_space(size_t headroom)
{
#ifdef _WIN32
    (void)headroom; /* no RLIMIT_AS: the cases below are skipped */
    return -1;
#else
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    struct rlimit rl;
    int ok;
    if (!f)
        return -1;
    ok = fscanf(f, "%lu", &pages) == 1;
    fclose(f);
    if (!ok)
        return -1;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return -1;
    rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) +
                  (rlim_t)headroom;
    return setrlimit(RLIMIT_AS, &rl);
#endif
}

#define AS_MAX_COROUTINES 4096

/* Exit status of a child that found its address-space limit not enforced:
 * qemu-user (scripts/aarch64-test.sh) keeps RLIMIT_AS for itself and does
 * not apply it to the program it runs. */
#define AS_NOT_ENFORCED 77

/* After limit_address_space: whether a mapping far past the limit fails, as
 * it does wherever the limit is enforced. */
static int address_limit_enforced(void)
{
#ifdef _WIN32
    return 0;
#else
    size_t big = (size_t)1 << 30;
    void *m = mmap(NULL, big, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    munmap(m, big);
    return 0;
#endif
}

int child_enomem_rlimit_as(void)
{
    static CostackCoroutine *cos[AS_MAX_COROUTINES];
    CostackCoroutine *co;
    int n, err = 0, failures = 0;

    /* Thread set-up and stdio buffers before the limit. */
    if (use_costack() != 0)
        return 3;
    printf("limiting address space\n");
    fflush(stdout);
    if (limit_address_space((size_t)48 << 20) != 0)
        return 4;
    if (!address_limit_enforced())
        return AS_NOT_ENFORCED;
    for (n = 0; n < AS_MAX_COROUTINES; n++) {
        errno = 0;
        co = costack_create(suspend_entry, NULL);
        if (!co) {
            err = errno;
            break;
        }
        costack_enter(co);
        cos[n] = co;
    }
    printf("created %d, then errno %d (%s)\n", n, err, strerror(err));
    if (n == AS_MAX_COROUTINES) {
        printf("FAILED: create never returned NULL\n");
        failures++;
    }
    if (err != ENOMEM) {
        printf("FAILED: errno should be ENOMEM\n");
        failures++;
    }
    if (n < 4) {
        printf("FAILED: too few created before running out\n");
        failures++;
    }
    /* Give one back: creating works again. */
    if (n > 0) {
        costack_destroy(cos[--n]);
        co = costack_create(suspend_entry, NULL);
        if (!co) {
            printf("FAILED: create after a destroy: %s\n", strerror(errno));
            failures++;
        } else {
            costack_enter(co);
            costack_enter(co);
        }
    }
    while (n > 0)
        costack_enter(cos[--n]);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}

int child_qemu_create_exhausted(void)
{
    int n;
    if (use_costack() != 0)
        return 3;
    printf("limiting address space\n");
    fflush(stdout);
    if (limit_address_space((size_t)48 << 20) != 0)
        return 4;
    if (!address_limit_enforced())
        return AS_NOT_ENFORCED;
    for (n = 0; n < AS_MAX_COROUTINES; n++) {
        Coroutine *co = qemu_coroutine_create(suspend_entry);
        qemu_coroutine_enter(co, NULL);
    }
    printf("FAILED: qemu_coroutine_create never gave up\n");
    return 1;
}

void case_enomem_rlimit_as(void)
{
    ChildResult r;
#if defined(TEST_TSAN)
    harness_skip("ThreadSanitizer maps memory for each new coroutine's "
                 "fiber, and dies (\"failed to allocate\") instead of "
                 "failing the create when the address space runs out");
    return;
#endif
#if defined(TEST_ASAN)
    harness_skip("AddressSanitizer maps memory of its own (allocator, "
                 "internal tables) and dies (\"unable to mmap\") instead of "
                 "failing when the address-space limit hits one of those "
                 "before a stack");
    return;
#endif
#ifdef _WIN32
    harness_skip("Windows has no address-space limit (RLIMIT_AS), and the "
                 "job-object memory limit, its nearest kin, is not enforced "
                 "by Wine, so exhaustion cannot be provoked within what a "
                 "test may map (tests/windows/fibers.c checks the NULL + "
                 "errno path with an oversized stack)");
    return;
#endif
    if (harness_run_child("enomem_rlimit_as", NULL, NULL, &r) == 0) {
        if (r.exited && r.status == AS_NOT_ENFORCED) {
            harness_skip("RLIMIT_AS is not enforced here (qemu-user does "
                         "not apply it to the program it runs)");
            return;
        }
        EXPECT_EXIT0(&r);
    }
    /* The QEMU API cannot return NULL: it aborts with a message. */
    if (harness_run_child("qemu_create_exhausted", NULL, NULL, &r) == 0)
        EXPECT_DEATH(&r, SIGABRT,
                     "costack: qemu_coroutine_create: cannot create a "
                     "coroutine");
}

/* With COSTACK_NO_MADV_GUARD=1 guards come from mprotect, so each stack
 * costs two mappings and vm.max_map_count runs out after about 32k. */
int child_enomem_mappings(void)
{
    long max_map = harness_max_map_count();
    long maps_before, maps_after;
    long cap = max_map + 1000, n, i, err = 0;
    int failures = 0;
    CostackCoroutine **cos;
    CostackOptions o;

    cos = (CostackCoroutine **)calloc((size_t)cap, sizeof(*cos));
    if (!cos)
        return 3;
    memset(&o, 0, sizeof(o));
    o.stack_size = COSTACK_MIN_STACK_SIZE;
    costack_pool_set_max(0); /* destroy really unmaps */
    if (use_costack() != 0)
        return 4;
    maps_before = harness_map_count();
    printf("max_map_count %ld, mappings at start %ld\n", max_map,
           maps_before);
    fflush(stdout);

    for (n = 0; n < cap; n++) {
        errno = 0;
        cos[n] = costack_create_with(suspend_entry, NULL, &o);
        if (!cos[n]) {
            err = errno;
            break;
        }
        if (n == 99) {
            maps_after = harness_map_count();
            printf("100 stacks took %ld mappings\n", maps_after - maps_before);
            if (maps_after - maps_before < 190) {
                printf("FAILED: mprotect guards should take 2 mappings "
                       "per stack\n");
                failures++;
            }
        }
    }
    printf("created %ld, then errno %ld (%s)\n", n, err,
           strerror((int)err));
    if (n == cap) {
        printf("FAILED: create never returned NULL\n");
        failures++;
    }
    if (err != ENOMEM) {
        printf("FAILED: errno should be ENOMEM\n");
        failures++;
    }
    if (n < 1000 || n > max_map / 2) {
        printf("FAILED: expected about max_map_count / 2 stacks\n");
        failures++;
    }
    /* Give some back: creating (a fresh mapping) works again. */
    for (i = 0; i < 10 && n > 0; i++)
        costack_destroy(cos[--n]);
    o.stack_size = 2 * COSTACK_MIN_STACK_SIZE;
    cos[n] = costack_create_with(suspend_entry, NULL, &o);
    if (!cos[n]) {
        printf("FAILED: create after destroy: %s\n", strerror(errno));
        failures++;
    } else {
        n++;
    }
    while (n > 0)
        costack_destroy(cos[--n]);
    maps_after = harness_map_count();
    printf("mappings at end %ld\n", maps_after);
    if (maps_after > maps_before + 10) {
        printf("FAILED: mappings left behind\n");
        failures++;
    }
    free(cos);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}

void case_enomem_mappings(void)
{
    ChildResult r;
#ifdef _WIN32
    harness_skip("Windows has no limit on the number of mappings "
                 "(vm.max_map_count is Linux's)");
    return;
#endif
#if defined(TEST_TSAN)
    harness_skip("when the mappings run out, ThreadSanitizer's runtime "
                 "cannot map memory of its own and dies (\"ThreadSanitizer "
                 "failed to allocate\")");
    return;
#endif
    if (harness_run_child("enomem_mappings", "COSTACK_NO_MADV_GUARD", "1",
                          &r) == 0)
        EXPECT_EXIT0(&r);
}

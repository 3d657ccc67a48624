/*
 * million.c - a million guarded coroutines alive at once (a benchmark, not
 * a test; run by benches/million.sh in both guard modes).
 *
 *   million [N] [STACK_KIB]     defaults: 1000000 coroutines, 16 KiB stacks
 *
 * Creates N coroutines with small stacks, enters each once (it touches one
 * page of its stack and yields), checks every guard page, then resumes each
 * once more to completion (a million terminate at once: the pool keeps its
 * maximum, the rest go back to their slabs).  Prints, one "key: value" a
 * line: creation and first-entry ns per coroutine, resident KiB per
 * coroutine (/proc/self/statm), the mapping count (/proc/self/maps lines),
 * the guard checks, and the cost of the old way to get one guarded stack
 * (mmap + mprotect + first touch + munmap), measured in the same run, for
 * scale.  When create fails (the mapping budget of the mprotect fallback),
 * it goes on with the coroutines it has and says so.
 *
 * It reads each coroutine's guard address from the core's private header
 * (internal.h): no public API gives it, and the check is the point.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "costack.h"
#include "internal.h"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static size_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static long map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

/* Whether the kernel can read p on our behalf (EFAULT on a guard). */
static int readable(const void *p)
{
    char c;
    struct iovec local, remote;
    local.iov_base = &c;
    local.iov_len = 1;
    remote.iov_base = (void *)p;
    remote.iov_len = 1;
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

/* ---- the coroutines ------------------------------------------------------- */

static volatile int overflow_now;
static volatile unsigned long sink;

static void __attribute__((noinline)) recurse(unsigned long n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n < ~0UL)
        recurse(n + 1);
    sink += (unsigned long)pad[0];
}

static void entry(void *opaque)
{
    volatile char touch[64]; /* in the stack's top page */
    memset((char *)touch, (int)(uintptr_t)opaque, sizeof(touch));
    costack_yield();
    if (overflow_now)
        recurse(0);
    sink += (unsigned long)touch[0];
}

/* In a child (fork): overflow co; the parent expects SIGSEGV and the named
 * message.  1 if both came, 0 otherwise. */
static int overflow_is_caught(CostackCoroutine *co)
{
    int fds[2], status = 0;
    char err[512], want[160];
    ssize_t n, got = 0;
    pid_t pid;

    if (pipe(fds) != 0)
        return 0;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        overflow_now = 1;
        costack_enter(co);
        _exit(0); /* not reached */
    }
    close(fds[1]);
    while (got < (ssize_t)sizeof(err) - 1 &&
           (n = read(fds[0], err + got, sizeof(err) - 1 - (size_t)got)) > 0)
        got += n;
    err[got > 0 ? got : 0] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    snprintf(want, sizeof(want),
             "costack: coroutine stack overflow (coroutine %p, stack %zu "
             "bytes)",
             (void *)co, costack_stack_size(co));
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV &&
           strstr(err, want) != NULL;
}

/* ---- the old way, for scale ------------------------------------------------ */

static double old_way_ns(size_t stack_size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), total = stack_size + page;
    int i, n = 20000;
    double t0 = now_ns();
    for (i = 0; i < n; i++) {
        char *m = (char *)mmap(NULL, total, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                                   MAP_STACK,
                               -1, 0);
        if (m == (char *)MAP_FAILED || mprotect(m, page, PROT_NONE) != 0) {
            perror("old way");
            exit(1);
        }
        m[total - 1] = 1;
        munmap(m, total);
    }
    return (now_ns() - t0) / n;
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    long want = argc > 1 ? atol(argv[1]) : 1000000;
    size_t stack = (argc > 2 ? (size_t)atol(argv[2]) : 16) << 10;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CostackCoroutine **cos;
    CostackOptions o;
    CostackStats st;
    long n, i, bad_guard = 0, bad_stack = 0, caught = 0, samples = 0;
    int create_errno = 0;
    size_t rss0, rss1, rss2;
    double t0, t1, t2, t3, t4, base;
    const char *env = getenv("COSTACK_NO_MADV_GUARD");

    if (want <= 0 || stack < COSTACK_MIN_STACK_SIZE) {
        fprintf(stderr, "usage: million [N] [STACK_KIB >= 16]\n");
        return 2;
    }
    cos = (CostackCoroutine **)calloc((size_t)want, sizeof(*cos));
    if (!cos) {
        perror("calloc");
        return 1;
    }
    memset(&o, 0, sizeof(o));
    o.stack_size = stack;

    printf("backend: %s\n", costack_backend_name());
    printf("COSTACK_NO_MADV_GUARD: %s\n", env ? env : "(unset)");
    printf("coroutines wanted: %ld, stack %zu KiB + %zu KiB guard\n", want,
           stack >> 10, page >> 10);
    base = old_way_ns(stack);
    printf("old way, mmap+mprotect+touch+munmap: %.0f ns per stack\n", base);

    /* Create: the pool is empty, so every stack is new. */
    rss0 = rss_bytes();
    t0 = now_ns();
    for (n = 0; n < want; n++) {
        cos[n] = costack_create_with(entry, (void *)(uintptr_t)n, &o);
        if (!cos[n]) {
            create_errno = errno;
            break;
        }
    }
    t1 = now_ns();
    for (i = 0; i < n; i++)
        costack_enter(cos[i]); /* touches its page, yields */
    t2 = now_ns();
    rss1 = rss_bytes();
    costack_stats(&st);

    printf("alive: %ld%s%s\n", n, n < want ? ", then create failed: " : "",
           n < want ? strerror(create_errno) : "");
    if (n == 0)
        return 1;
    printf("create: %.0f ns per coroutine (%.2fx the old way)\n",
           (t1 - t0) / n, (t1 - t0) / n / base);
    printf("first enter: %.0f ns per coroutine\n", (t2 - t1) / n);
    printf("resident: %.2f KiB per coroutine, %.2f GiB in all\n",
           (double)(rss1 - rss0) / 1024.0 / n,
           (double)rss1 / (1024.0 * 1024 * 1024));
    printf("mappings: %ld\n", map_count());
    printf("stats: live %zu, stacks_mapped %zu, stack_bytes_mapped %.2f GiB\n",
           st.live, st.stacks_mapped,
           (double)st.stack_bytes_mapped / (1024.0 * 1024 * 1024));
    printf("high water of the first: %zu bytes\n",
           costack_stack_high_water(cos[0]));

    /* Guards: every guard page unreadable, every stack's lowest page
     * readable (it is the page right above). */
    t3 = now_ns();
    for (i = 0; i < n; i++) {
        if (readable(cos[i]->stack.guard))
            bad_guard++;
        if (!readable(cos[i]->stack.lo))
            bad_stack++;
    }
    printf("guards: %ld of %ld intact, %ld stacks unreadable (%.0f ns per "
           "check)\n",
           n - bad_guard, n, bad_stack, (now_ns() - t3) / (2.0 * n));
    {
        long pick[3];
        pick[0] = 0;
        pick[1] = n / 2;
        pick[2] = n - 1;
        for (i = 0; i < 3; i++) {
            if (i > 0 && pick[i] == pick[i - 1])
                continue;
            samples++;
            caught += overflow_is_caught(cos[pick[i]]);
        }
    }
    printf("overflows named and killed by SIGSEGV: %ld of %ld sampled\n",
           caught, samples);

    /* A million terminate at once. */
    t3 = now_ns();
    for (i = 0; i < n; i++)
        costack_enter(cos[i]);
    t4 = now_ns();
    rss2 = rss_bytes();
    costack_stats(&st);
    printf("finish: %.0f ns per coroutine\n", (t4 - t3) / n);
    printf("after: live %zu, pooled %zu (pool max %zu), stacks_mapped %zu, "
           "resident %.1f MiB, mappings %ld\n",
           st.live, st.pooled, costack_pool_max(), st.stacks_mapped,
           (double)rss2 / (1024.0 * 1024), map_count());

    free(cos);
    return bad_guard || bad_stack || caught != samples ? 1 : 0;
}

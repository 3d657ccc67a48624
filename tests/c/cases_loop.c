/*
 * cases_loop.c - the C suite's cases for the event loop (costack.h, "Event
 * loop"): tasks and joins, sleeps and yields, fd waits and their timeouts,
 * queue waits with a timeout, closing an fd under its waiters, the rules of
 * costack_loop_free, run_once, the worker pool, wakes from other threads
 * (under load, and racing with the loop going to sleep), the global mutex
 * while the loop sleeps, the pollable fd, and the misuse that aborts.
 *
 * No case asserts a duration: a timeout that must not fire is long (10 s)
 * and something else ends the wait first; a timeout that must fire is
 * short, and nothing else can end the wait.
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
#include <winsock2.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include "costack.h"
#include "harness.h"

#define MS 1000000LL
#define LONG_TIMEOUT (10000 * MS) /* never reached: something else ends it */

/* Valgrind runs the suite (tests/c_suite.rs) some 50 times slower: the
 * load cases do less there.  Its preload library names it. */
static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

static CostackLoop *new_loop(void)
{
    CostackLoop *loop = costack_loop_new();
    if (!loop)
        harness_fail(__FILE__, __LINE__, "costack_loop_new: %s",
                     strerror(errno));
    return loop;
}

static void free_loop(CostackLoop *loop)
{
    int r = costack_loop_free(loop);
    if (r != 0)
        harness_fail(__FILE__, __LINE__, "costack_loop_free: %s",
                     strerror(errno));
}

/* Small stacks, for the cases that make many tasks. */
static CostackOptions small_stack(void)
{
    CostackOptions o;
    memset(&o, 0, sizeof o);
    o.stack_size = COSTACK_MIN_STACK_SIZE;
    return o;
}

/* A log of steps, for orders. */
static char steps[512];
static void step(const char *s)
{
    size_t n = strlen(steps);
    while (*s && n + 1 < sizeof steps)
        steps[n++] = *s++;
    steps[n] = '\0';
}

/* A pair of connected fds: a socketpair (Windows: two TCP sockets
 * connected over the loopback, since the loop waits on sockets only). */
static int fd_pair(CostackFd fds[2])
{
#ifdef _WIN32
    WSADATA wsa;
    struct sockaddr_in a;
    int len = (int)sizeof a;
    SOCKET l, c, s;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return -1;
    l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (l == INVALID_SOCKET)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        closesocket(l);
        return -1;
    }
    c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (c == INVALID_SOCKET ||
        connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
        closesocket(l);
        return -1;
    }
    s = accept(l, NULL, NULL);
    closesocket(l);
    if (s == INVALID_SOCKET) {
        closesocket(c);
        return -1;
    }
    fds[0] = (CostackFd)s;
    fds[1] = (CostackFd)c;
    return 0;
#else
    int s[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
        return -1;
    fds[0] = s[0];
    fds[1] = s[1];
    return 0;
#endif
}

static void fd_close(CostackFd fd)
{
#ifdef _WIN32
    closesocket((SOCKET)fd);
#else
    close(fd);
#endif
}

static int fd_write(CostackFd fd, const char *s)
{
#ifdef _WIN32
    return send((SOCKET)fd, s, (int)strlen(s), 0);
#else
    return (int)write(fd, s, strlen(s));
#endif
}

static int fd_read(CostackFd fd, char *buf, int n)
{
#ifdef _WIN32
    return recv((SOCKET)fd, buf, n, 0);
#else
    return (int)read(fd, buf, (size_t)n);
#endif
}

/* ---- spawn and join ---------------------------------------------------------- */

static void *double_it(void *arg)
{
    return (void *)((char *)arg + (size_t)arg);
}

static void *sleepy_double(void *arg)
{
    costack_sleep_ns(1 * MS);
    return double_it(arg);
}

static size_t joined_result;

/* Joins the task arg from a coroutine. */
static void *joiner_fn(void *arg)
{
    void *r = NULL;
    if (costack_task_join((CostackTask *)arg, &r) == 0)
        joined_result = (size_t)r + 1;
    return NULL;
}

/* Joins arg once the first joiner waits: the errno of its refusal. */
static void *second_joiner(void *arg)
{
    costack_loop_yield();
    errno = 0;
    if (costack_task_join((CostackTask *)arg, NULL) != -1)
        return NULL;
    return (void *)(size_t)errno;
}

static void case_loop_spawn_join(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t[4], *target, *j;
    void *r = NULL;
    size_t i;
    REQUIRE(loop);
    for (i = 0; i < 4; i++) {
        t[i] = costack_loop_spawn(loop, i % 2 ? sleepy_double : double_it,
                                  (void *)(i + 1), NULL);
        REQUIRE(t[i]);
        EXPECT(costack_task_coroutine(t[i]) != NULL);
    }
    /* Join from outside: runs the loop until the task ended; the others
     * run meanwhile too. */
    for (i = 0; i < 4; i++) {
        EXPECT_EQ(costack_task_join(t[i], &r), 0);
        EXPECT_EQ((size_t)r, 2 * (i + 1));
    }

    /* Join from a coroutine: waits until the target ended. */
    joined_result = 0;
    target = costack_loop_spawn(loop, sleepy_double, (void *)20, NULL);
    REQUIRE(target);
    j = costack_loop_spawn(loop, joiner_fn, target, NULL);
    REQUIRE(j);
    costack_task_detach(j);
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT_EQ(joined_result, 41);

    /* A second joiner is refused while the first waits. */
    joined_result = 0;
    target = costack_loop_spawn(loop, sleepy_double, (void *)3, NULL);
    REQUIRE(target);
    j = costack_loop_spawn(loop, joiner_fn, target, NULL);
    REQUIRE(j);
    costack_task_detach(j);
    j = costack_loop_spawn(loop, second_joiner, target, NULL);
    REQUIRE(j);
    EXPECT_EQ(costack_task_join(j, &r), 0);
    EXPECT_EQ((size_t)r, EINVAL);
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT_EQ(joined_result, 7);

    /* A NULL fn, or options costack_create_with refuses, are invalid
     * arguments, and leave nothing behind (free succeeds). */
    errno = 0;
    EXPECT(costack_loop_spawn(loop, NULL, NULL, NULL) == NULL);
    EXPECT_EQ(errno, EINVAL);
    {
        CostackOptions o;
        memset(&o, 0, sizeof o);
        o.stack_size = COSTACK_MIN_STACK_SIZE - 1;
        errno = 0;
        EXPECT(costack_loop_spawn(loop, double_it, NULL, &o) == NULL);
        EXPECT_EQ(errno, EINVAL);
    }
    free_loop(loop);
}

/* A task that joins a task it spawned, and one that joins itself. */
static void *child_fn(void *arg)
{
    costack_sleep_ns(1 * MS);
    return (void *)((size_t)arg * 3);
}

static CostackTask *me;

static void *parent_fn(void *arg)
{
    CostackLoop *loop = (CostackLoop *)arg;
    CostackTask *c = costack_loop_spawn(loop, child_fn, (void *)7, NULL);
    void *r = NULL;
    if (!c)
        return NULL;
    EXPECT_EQ(costack_task_join(me, NULL), -1); /* itself */
    EXPECT_EQ(errno, EDEADLK);
    EXPECT_EQ(costack_task_join(c, &r), 0);
    return (void *)((size_t)r + 1);
}

static void case_loop_join_from_task(void)
{
    CostackLoop *loop = new_loop();
    void *r = NULL;
    REQUIRE(loop);
    me = costack_loop_spawn(loop, parent_fn, loop, NULL);
    REQUIRE(me);
    /* Keep the handle: join it from outside. */
    {
        CostackTask *t = me;
        EXPECT_EQ(costack_task_join(t, &r), 0);
    }
    EXPECT_EQ((size_t)r, 22);
    EXPECT_EQ(costack_loop_run(loop), 0); /* nothing left: returns */
    free_loop(loop);
}

/* ---- sleeps and yields --------------------------------------------------------- */

static void *sleeper(void *arg)
{
    long long ms = (long long)(size_t)arg;
    char s[8];
    costack_sleep_ns(ms * MS);
    snprintf(s, sizeof s, "%lld,", ms);
    step(s);
    return NULL;
}

static void *yielder(void *arg)
{
    int i;
    for (i = 0; i < 3; i++) {
        step((const char *)arg);
        costack_loop_yield();
    }
    return NULL;
}

static void case_loop_sleep_order(void)
{
    CostackLoop *loop = new_loop();
    static const size_t ms[] = {30, 0, 20, 10, 40};
    size_t i;
    REQUIRE(loop);
    steps[0] = '\0';
    for (i = 0; i < 5; i++) {
        CostackTask *t = costack_loop_spawn(loop, sleeper, (void *)ms[i],
                                            NULL);
        REQUIRE(t);
        costack_task_detach(t);
    }
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT(strcmp(steps, "0,10,20,30,40,") == 0);
    if (strcmp(steps, "0,10,20,30,40,") != 0)
        printf("  steps: %s\n", steps);

    /* Yields: round robin, in spawn order. */
    steps[0] = '\0';
    for (i = 0; i < 3; i++) {
        static const char *names[] = {"a", "b", "c"};
        CostackTask *t = costack_loop_spawn(loop, yielder,
                                            (void *)names[i], NULL);
        REQUIRE(t);
        costack_task_detach(t);
    }
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT(strcmp(steps, "abcabcabc") == 0);
    free_loop(loop);
}

/* A coroutine that is not a task sleeps on the thread's current loop; the
 * loop's dispatch enters it when the timer is due. */
static void plain_sleeper(void *opaque)
{
    costack_sleep_ns(2 * MS);
    *(int *)opaque = 1;
}

static void case_loop_plain_coroutine(void)
{
    CostackLoop *loop = new_loop();
    CostackCoroutine *co;
    int done = 0;
    REQUIRE(loop);
    costack_loop_set_current(loop);
    EXPECT(costack_loop_current() == loop);
    co = costack_create(plain_sleeper, &done);
    REQUIRE(co);
    costack_enter(co); /* sleeps */
    EXPECT_EQ(done, 0);
    EXPECT(costack_loop_timeout_ns(loop) >= 0);
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT_EQ(done, 1);
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1); /* no timer left */
    free_loop(loop); /* also unsets it as the current loop */
    EXPECT(costack_loop_current() == NULL);
}

/* ---- fd waits ------------------------------------------------------------------- */

static CostackFd pair[2];
static int results[8];

static void *wait_readable_short(void *arg)
{
    (void)arg;
    results[0] = costack_wait_fd(pair[0], COSTACK_READABLE, 5 * MS);
    return NULL;
}

static void *wait_readable_long(void *arg)
{
    char buf[8];
    (void)arg;
    results[1] = costack_wait_fd(pair[0], COSTACK_READABLE, LONG_TIMEOUT);
    results[2] = fd_read(pair[0], buf, sizeof buf);
    return NULL;
}

static void *write_later(void *arg)
{
    (void)arg;
    /* Once the short wait timed out: its timer is due before ours. */
    costack_sleep_ns(20 * MS);
    results[3] = costack_wait_fd(pair[1], COSTACK_WRITABLE, -1);
    results[4] = costack_wait_fd(pair[1], COSTACK_READABLE | COSTACK_WRITABLE,
                                 -1);
    fd_write(pair[1], "hi");
    return NULL;
}

static void case_loop_fd_wait(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    memset(results, 0, sizeof results);
    t = costack_loop_spawn(loop, wait_readable_short, NULL, NULL);
    REQUIRE(t);
    costack_task_detach(t);
    t = costack_loop_spawn(loop, wait_readable_long, NULL, NULL);
    REQUIRE(t);
    costack_task_detach(t);
    t = costack_loop_spawn(loop, write_later, NULL, NULL);
    REQUIRE(t);
    costack_task_detach(t);
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT_EQ(results[0], 0);                /* timed out */
    EXPECT_EQ(results[1], COSTACK_READABLE); /* woken by the write */
    EXPECT_EQ(results[2], 2);
    EXPECT_EQ(results[3], COSTACK_WRITABLE);
    EXPECT_EQ(results[4], COSTACK_WRITABLE); /* nothing to read */
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1); /* the long timer went */
    EXPECT_EQ(costack_loop_close_fd(loop, pair[0]), 0);
    EXPECT_EQ(costack_loop_close_fd(loop, pair[1]), 0);
    free_loop(loop);
}

/* A timeout of 0 polls: ready now, or 0. */
static void *poll_once(void *arg)
{
    (void)arg;
    results[0] = costack_wait_fd(pair[0], COSTACK_READABLE, 0);
    results[1] = costack_wait_fd(pair[1], COSTACK_WRITABLE, 0);
    return NULL;
}

static void case_loop_fd_poll(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    results[0] = results[1] = -2;
    t = costack_loop_spawn(loop, poll_once, NULL, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT_EQ(results[0], 0);
    EXPECT_EQ(results[1], COSTACK_WRITABLE);
    fd_close(pair[0]);
    fd_close(pair[1]);
    free_loop(loop);
}

/* Invalid fds: an error at once, never a hang. */
static void *bad_fds(void *arg)
{
    CostackFd fds[2];
    (void)arg;
    errno = 0;
    results[0] = costack_wait_fd((CostackFd)-1, COSTACK_READABLE, -1);
    results[1] = errno;
    if (fd_pair(fds) != 0)
        return NULL;
    fd_close(fds[1]);
    fd_close(fds[0]); /* a number that is not open now */
    errno = 0;
    results[2] = costack_wait_fd(fds[0], COSTACK_READABLE, -1);
    results[3] = errno;
    errno = 0;
    results[4] = costack_wait_fd(0, 0, -1);
    results[5] = errno;
    errno = 0;
    results[6] = costack_wait_fd(0, 4, -1);
    results[7] = errno;
    return NULL;
}

static void case_loop_fd_invalid(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    REQUIRE(loop);
    memset(results, 0, sizeof results);
    t = costack_loop_spawn(loop, bad_fds, NULL, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT_EQ(results[0], -1);
    EXPECT_EQ(results[1], EBADF);
    EXPECT_EQ(results[2], -1);
    EXPECT_EQ(results[3], EBADF);
    EXPECT_EQ(results[4], -1);
    EXPECT_EQ(results[5], EINVAL);
    EXPECT_EQ(results[6], -1);
    EXPECT_EQ(results[7], EINVAL);
    free_loop(loop); /* nothing of the bad fds is kept */
}

/* A regular file is always ready (poll says so; epoll refuses it, and the
 * loop answers for it). */
#ifndef _WIN32
static void *wait_file(void *arg)
{
    results[0] = costack_wait_fd(*(CostackFd *)arg,
                                 COSTACK_READABLE | COSTACK_WRITABLE, -1);
    return NULL;
}
#endif

static void case_loop_fd_regular_file(void)
{
#ifdef _WIN32
    harness_skip("Windows waits on sockets only");
#else
    char path[] = "/tmp/costack-loop-XXXXXX";
    CostackLoop *loop = new_loop();
    CostackTask *t;
    CostackFd fd;
    REQUIRE(loop);
    fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    results[0] = 0;
    t = costack_loop_spawn(loop, wait_file, &fd, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT_EQ(results[0], COSTACK_READABLE | COSTACK_WRITABLE);
    close(fd);
    free_loop(loop);
#endif
}

/* costack_loop_close_fd wakes every waiter with EBADF and closes. */
static void *wait_closed(void *arg)
{
    size_t i = (size_t)arg;
    errno = 0;
    results[2 * i] = costack_wait_fd(pair[0], COSTACK_READABLE,
                                     i ? LONG_TIMEOUT : -1);
    results[2 * i + 1] = errno;
    return NULL;
}

static void *closer(void *arg)
{
    CostackLoop *loop = (CostackLoop *)arg;
    costack_loop_yield(); /* the waiters wait by now */
    results[4] = costack_loop_close_fd(loop, pair[0]);
    return NULL;
}

static void case_loop_close_fd(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t[3];
    size_t i;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    memset(results, 0, sizeof results);
    for (i = 0; i < 2; i++) {
        t[i] = costack_loop_spawn(loop, wait_closed, (void *)i, NULL);
        REQUIRE(t[i]);
    }
    t[2] = costack_loop_spawn(loop, closer, loop, NULL);
    REQUIRE(t[2]);
    for (i = 0; i < 3; i++)
        EXPECT_EQ(costack_task_join(t[i], NULL), 0);
    EXPECT_EQ(results[0], -1);
    EXPECT_EQ(results[1], EBADF);
    EXPECT_EQ(results[2], -1);
    EXPECT_EQ(results[3], EBADF);
    EXPECT_EQ(results[4], 0);
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1); /* the timer went */
#ifndef _WIN32
    EXPECT_EQ(fcntl(pair[0], F_GETFD), -1); /* closed */
#endif
    /* Closing what is not open: the system's error. */
    EXPECT_EQ(costack_loop_close_fd(loop, pair[0]), -1);
    EXPECT_EQ(costack_loop_close_fd(loop, pair[1]), 0);
    free_loop(loop);
}

/* An fd closed (plainly) while no one waits, and its number reused: a
 * wait on the new file works. */
static void *wait_reused(void *arg)
{
    CostackLoop *loop = (CostackLoop *)arg;
    CostackFd a[2], b[2];
    char buf[4];
    (void)loop;
    if (fd_pair(a) != 0)
        return NULL;
    fd_write(a[1], "x");
    results[0] = costack_wait_fd(a[0], COSTACK_READABLE, -1);
    fd_read(a[0], buf, sizeof buf);
    fd_close(a[0]);
    fd_close(a[1]);
    if (fd_pair(b) != 0) /* the same numbers, most likely */
        return NULL;
    results[1] = b[0] == a[0] || b[1] == a[0];
    fd_write(b[1], "y");
    results[2] = costack_wait_fd(b[0], COSTACK_READABLE, LONG_TIMEOUT);
    results[3] = costack_wait_fd(b[1], COSTACK_WRITABLE, LONG_TIMEOUT);
    fd_close(b[0]);
    fd_close(b[1]);
    return NULL;
}

static void case_loop_fd_reused(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    REQUIRE(loop);
    memset(results, 0, sizeof results);
    t = costack_loop_spawn(loop, wait_reused, loop, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT_EQ(results[0], COSTACK_READABLE);
#ifndef _WIN32
    EXPECT_EQ(results[1], 1); /* the lowest numbers free: the same ones */
#endif
    EXPECT_EQ(results[2], COSTACK_READABLE);
    EXPECT_EQ(results[3], COSTACK_WRITABLE);
    free_loop(loop);
}

/* ---- queue waits with a timeout ---------------------------------------------------- */

static CostackQueue q = COSTACK_QUEUE_INIT;

static void *queue_waiter(void *arg)
{
    return (void *)(size_t)costack_queue_wait_timeout(
        &q, arg ? 5 * MS : LONG_TIMEOUT);
}

static void *queue_waker(void *arg)
{
    (void)arg;
    costack_sleep_ns(20 * MS); /* the short one timed out */
    results[0] = costack_queue_next(&q);
    results[1] = costack_queue_next(&q); /* nobody left */
    return NULL;
}

static void case_loop_queue_timeout(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *shortw, *longw, *waker;
    void *r1 = NULL, *r2 = NULL;
    REQUIRE(loop);
    costack_queue_init(&q);
    memset(results, 0, sizeof results);
    shortw = costack_loop_spawn(loop, queue_waiter, (void *)1, NULL);
    longw = costack_loop_spawn(loop, queue_waiter, NULL, NULL);
    waker = costack_loop_spawn(loop, queue_waker, NULL, NULL);
    REQUIRE(shortw && longw && waker);
    EXPECT_EQ(costack_task_join(shortw, &r1), 0);
    EXPECT_EQ((size_t)r1, 0); /* timed out */
    EXPECT_EQ(costack_task_join(waker, NULL), 0);
    EXPECT_EQ(costack_task_join(longw, &r2), 0);
    EXPECT_EQ((size_t)r2, 1); /* woken */
    EXPECT_EQ(results[0], 1);
    EXPECT_EQ(results[1], 0);
    EXPECT(costack_queue_empty(&q));
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1); /* its timer went */
    free_loop(loop);
}

/* costack_queue_wake_all wakes waiters with a timeout too. */
static void *queue_waker_all(void *arg)
{
    (void)arg;
    costack_loop_yield(); /* the waiters wait by now */
    results[0] = (int)costack_queue_wake_all(&q);
    return NULL;
}

static void case_loop_queue_timeout_wake_all(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *w[3], *waker;
    void *r;
    size_t i;
    REQUIRE(loop);
    costack_queue_init(&q);
    memset(results, 0, sizeof results);
    for (i = 0; i < 3; i++) {
        w[i] = costack_loop_spawn(loop, queue_waiter, NULL, NULL);
        REQUIRE(w[i]);
    }
    waker = costack_loop_spawn(loop, queue_waker_all, NULL, NULL);
    REQUIRE(waker);
    for (i = 0; i < 3; i++) {
        r = NULL;
        EXPECT_EQ(costack_task_join(w[i], &r), 0);
        EXPECT_EQ((size_t)r, 1); /* woken */
    }
    EXPECT_EQ(costack_task_join(waker, NULL), 0);
    EXPECT_EQ(results[0], 3);
    EXPECT(costack_queue_empty(&q));
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1);
    free_loop(loop);
}

/* ---- destroy and free ------------------------------------------------------------ */

static void plain_fd_waiter(void *opaque)
{
    (void)opaque;
    costack_wait_fd(pair[0], COSTACK_READABLE, LONG_TIMEOUT);
}

static void plain_queue_waiter(void *opaque)
{
    (void)opaque;
    costack_queue_wait_timeout(&q, LONG_TIMEOUT);
}

static void case_loop_destroy_and_free(void)
{
    CostackLoop *loop = new_loop();
    CostackCoroutine *a, *b, *c;
    CostackTask *t;
    REQUIRE(loop);
    EXPECT_EQ(costack_loop_free(NULL), 0);

    /* A task not yet run keeps the loop busy. */
    t = costack_loop_spawn(loop, double_it, (void *)1, NULL);
    REQUIRE(t);
    errno = 0;
    EXPECT_EQ(costack_loop_free(loop), -1);
    EXPECT_EQ(errno, EBUSY);
    EXPECT_EQ(costack_task_join(t, NULL), 0);

    /* Coroutines waiting on a timer, an fd and a queue keep it busy until
     * destroyed; destroy takes them off everything. */
    REQUIRE(fd_pair(pair) == 0);
    costack_queue_init(&q);
    costack_loop_set_current(loop);
    a = costack_create(plain_sleeper, NULL);
    b = costack_create(plain_fd_waiter, NULL);
    c = costack_create(plain_queue_waiter, NULL);
    REQUIRE(a && b && c);
    costack_enter(a);
    costack_enter(b);
    costack_enter(c);
    EXPECT(costack_waiting(a) && costack_waiting(b) && costack_waiting(c));
    EXPECT(!costack_queue_empty(&q));
    errno = 0;
    EXPECT_EQ(costack_loop_free(loop), -1);
    EXPECT_EQ(errno, EBUSY);
    costack_destroy(a);
    costack_destroy(b);
    costack_destroy(c);
    EXPECT(costack_queue_empty(&q));
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1);
    /* Nothing waits: run returns at once; the fd is still usable. */
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT_EQ(costack_loop_close_fd(loop, pair[0]), 0);
    EXPECT_EQ(costack_loop_close_fd(loop, pair[1]), 0);
    free_loop(loop);
}

/* ---- run_once --------------------------------------------------------------------- */

static void *wait_then_read(void *arg)
{
    char buf[8];
    (void)arg;
    results[0] = costack_wait_fd(pair[0], COSTACK_READABLE, -1);
    results[1] = fd_read(pair[0], buf, sizeof buf);
    return (void *)5;
}

static void case_loop_run_once(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    void *r = NULL;
    int i, n;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    memset(results, 0, sizeof results);
    EXPECT_EQ(costack_loop_run_once(loop), 0); /* empty */
    t = costack_loop_spawn(loop, wait_then_read, NULL, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_loop_timeout_ns(loop), 0); /* a task is ready */
    EXPECT_EQ(costack_loop_run_once(loop), 1);   /* entered: it waits */
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1);
    /* Nothing ready: returns at once (it would hang if it blocked). */
    EXPECT_EQ(costack_loop_run_once(loop), 0);
    EXPECT_EQ(costack_loop_run_once(loop), 0);
    EXPECT(costack_task_coroutine(t) != NULL);
    fd_write(pair[1], "abc");
    /* Ready now: the fd's wake, then the task's run. */
    for (i = 0, n = 0; i < 10 && costack_task_coroutine(t); i++)
        n += costack_loop_run_once(loop);
    EXPECT(costack_task_coroutine(t) == NULL);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(results[0], COSTACK_READABLE);
    EXPECT_EQ(results[1], 3);
    EXPECT_EQ(costack_task_join(t, &r), 0);
    EXPECT_EQ((size_t)r, 5);
    fd_close(pair[0]);
    fd_close(pair[1]);
    free_loop(loop);
}

/* ---- the worker pool --------------------------------------------------------------- */

static pthread_t loop_thread;

static void *blocking_work(void *arg)
{
    /* Not the loop's thread. */
    if (pthread_equal(pthread_self(), loop_thread))
        return NULL;
#ifndef _WIN32
    usleep(1000);
#endif
    return (void *)((size_t)arg * 10);
}

static void *use_pool(void *arg)
{
    void *r = NULL;
    if (costack_run_in_thread(blocking_work, arg, &r) != 0)
        return NULL;
    return r;
}

static void case_loop_run_in_thread(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t[16];
    size_t i;
    void *r;
    REQUIRE(loop);
    loop_thread = pthread_self();
    for (i = 0; i < 16; i++) {
        t[i] = costack_loop_spawn(loop, use_pool, (void *)(i + 1), NULL);
        REQUIRE(t[i]);
    }
    for (i = 0; i < 16; i++) {
        r = NULL;
        EXPECT_EQ(costack_task_join(t[i], &r), 0);
        EXPECT_EQ((size_t)r, 10 * (i + 1));
    }
    free_loop(loop); /* stops the workers */
}

/* A coroutine destroyed while its job runs: the worker finishes without
 * touching the job, the loop is not kept busy. */
static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_state; /* 1: the job runs; 2: it may finish */

static void *gated_work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_mutex);
    gate_state = 1;
    pthread_cond_broadcast(&gate_cond);
    while (gate_state != 2)
        pthread_cond_wait(&gate_cond, &gate_mutex);
    pthread_mutex_unlock(&gate_mutex);
    return (void *)1;
}

static void *release_gate(void *arg)
{
    (void)arg;
#ifdef _WIN32
    Sleep(5);
#else
    usleep(5000); /* most likely while destroy waits for the job */
#endif
    pthread_mutex_lock(&gate_mutex);
    gate_state = 2;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
    return NULL;
}

static void plain_pool_user(void *opaque)
{
    void *r = NULL;
    (void)opaque;
    costack_run_in_thread(gated_work, NULL, &r);
}

static void case_loop_run_in_thread_destroy(void)
{
    CostackLoop *loop = new_loop();
    CostackCoroutine *co;
    pthread_t th;
    REQUIRE(loop);
    costack_loop_set_current(loop);
    gate_state = 0;
    co = costack_create(plain_pool_user, NULL);
    REQUIRE(co);
    costack_enter(co);
    EXPECT(costack_waiting(co));
    /* The job runs on a worker... */
    pthread_mutex_lock(&gate_mutex);
    while (gate_state != 1)
        pthread_cond_wait(&gate_cond, &gate_mutex);
    pthread_mutex_unlock(&gate_mutex);
    /* ... until the thread lets it finish. */
    REQUIRE(pthread_create(&th, NULL, release_gate, NULL) == 0);
    costack_destroy(co); /* waits for the job to finish */
    pthread_join(th, NULL);
    EXPECT_EQ(gate_state, 2);
    EXPECT_EQ(costack_loop_run(loop), 0); /* nothing pending */
    free_loop(loop);
}

/* ---- other threads: stop, schedule, the race with sleep, the global mutex ------------- */

static void *stop_later(void *arg)
{
#ifdef _WIN32
    Sleep(10);
#else
    usleep(10000);
#endif
    costack_loop_stop((CostackLoop *)arg);
    return NULL;
}

static void *wait_forever(void *arg)
{
    (void)arg;
    results[0] = costack_wait_fd(pair[0], COSTACK_READABLE, -1);
    results[1] = errno;
    return NULL;
}

static void case_loop_stop_from_thread(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    pthread_t th;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    memset(results, 0, sizeof results);
    t = costack_loop_spawn(loop, wait_forever, NULL, NULL);
    REQUIRE(t);
    REQUIRE(pthread_create(&th, NULL, stop_later, loop) == 0);
    EXPECT_EQ(costack_loop_run(loop), 0); /* until stopped */
    pthread_join(th, NULL);
    EXPECT(costack_task_coroutine(t) != NULL); /* still waiting */
    /* A stop before run: run returns at once, and the stop is used up. */
    costack_loop_stop(loop);
    EXPECT_EQ(costack_loop_run(loop), 0);
    EXPECT(costack_task_coroutine(t) != NULL);
    /* A join from outside that a stop ends fails with EINTR and keeps the
     * handle. */
    costack_loop_stop(loop);
    errno = 0;
    EXPECT_EQ(costack_task_join(t, NULL), -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT(costack_task_coroutine(t) != NULL);
    /* Close the fd under it: the task ends with EBADF. */
    EXPECT_EQ(costack_loop_close_fd(loop, pair[0]), 0);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT_EQ(results[0], -1);
    EXPECT_EQ(results[1], EBADF);
    fd_close(pair[1]);
    free_loop(loop);
}

/* 8 threads wake N coroutines in all (100,000; fewer under Valgrind), in
 * batches, through costack_loop_schedule, while the loop runs: every one
 * runs exactly once. */
#define WAKE_THREADS 8
static CostackCoroutine **wake_co;
static unsigned char *wake_ran;
static size_t wake_base, wake_batch;
static CostackLoop *wake_loop;
static size_t wake_waiting;
static int wake_errors;

static void *wake_target(void *arg)
{
    size_t i = (size_t)arg;
    wake_co[i - wake_base] = costack_self();
    wake_waiting++;
    costack_wait(NULL, NULL); /* woken by another thread's schedule */
    wake_ran[i]++;
    return NULL;
}

static void *waker_thread(void *arg)
{
    size_t t = (size_t)arg, i;
    for (i = t; i < wake_batch; i += WAKE_THREADS)
        if (costack_loop_schedule(wake_loop, wake_co[i]) != 0)
            __atomic_fetch_add(&wake_errors, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void case_loop_cross_thread_wake(void)
{
    size_t total = under_valgrind() ? 10000 : 100000, batch = 2000, i;
    size_t runs = 0;
    CostackOptions o = small_stack();
    pthread_t th[WAKE_THREADS];
    wake_loop = new_loop();
    REQUIRE(wake_loop);
    wake_co = (CostackCoroutine **)calloc(batch, sizeof *wake_co);
    wake_ran = (unsigned char *)calloc(total, 1);
    REQUIRE(wake_co && wake_ran);
    wake_errors = 0;
    for (wake_base = 0; wake_base < total; wake_base += batch) {
        size_t t;
        wake_batch = batch;
        wake_waiting = 0;
        for (i = 0; i < batch; i++) {
            CostackTask *task = costack_loop_spawn(
                wake_loop, wake_target, (void *)(wake_base + i), &o);
            REQUIRE(task);
            costack_task_detach(task);
        }
        /* Every task runs to its wait... */
        costack_loop_run_once(wake_loop);
        EXPECT_EQ(wake_waiting, batch);
        /* ... and the threads wake them while the loop runs and sleeps. */
        for (t = 0; t < WAKE_THREADS; t++)
            REQUIRE(pthread_create(&th[t], NULL, waker_thread,
                                   (void *)t) == 0);
        EXPECT_EQ(costack_loop_run(wake_loop), 0); /* until all ended */
        for (t = 0; t < WAKE_THREADS; t++)
            pthread_join(th[t], NULL);
        runs++;
    }
    EXPECT_EQ(wake_errors, 0);
    for (i = 0; i < total; i++)
        if (wake_ran[i] != 1) {
            harness_fail(__FILE__, __LINE__, "coroutine %zu ran %d times", i,
                         wake_ran[i]);
            break;
        }
    EXPECT_EQ(runs, total / batch);
    free(wake_co);
    free(wake_ran);
    free_loop(wake_loop);
}

/* The race of a wake from another thread with the loop going to sleep:
 * the thread schedules at varied moments around the loop's last check;
 * a wake must never be lost.  A lost one would leave the loop asleep
 * until the guard's 10 s timeout, which the guard would report. */
static CostackQueue guard_q = COSTACK_QUEUE_INIT;
static pthread_mutex_t race_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t race_cond = PTHREAD_COND_INITIALIZER;
static CostackCoroutine *race_target;
static int race_round, race_done_round, race_quit;

static void *race_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&race_mutex);
    race_target = costack_self();
    race_round++;
    pthread_cond_broadcast(&race_cond);
    pthread_mutex_unlock(&race_mutex);
    costack_wait(NULL, NULL);
    costack_queue_next(&guard_q); /* the guard need not time out */
    return NULL;
}

static void *race_guard(void *arg)
{
    (void)arg;
    return (void *)(size_t)costack_queue_wait_timeout(&guard_q, LONG_TIMEOUT);
}

static void *race_thread(void *arg)
{
    CostackLoop *loop = (CostackLoop *)arg;
    unsigned seed = 12345;
    pthread_mutex_lock(&race_mutex);
    for (;;) {
        CostackCoroutine *co;
        volatile unsigned spin;
        unsigned n;
        while (race_round == race_done_round && !race_quit)
            pthread_cond_wait(&race_cond, &race_mutex);
        if (race_quit)
            break;
        co = race_target;
        race_done_round = race_round;
        pthread_mutex_unlock(&race_mutex);
        seed = seed * 1103515245u + 12345u;
        n = (seed >> 16) % 4000;
        for (spin = 0; spin < n; spin++)
            ;
        if (costack_loop_schedule(loop, co) != 0)
            __atomic_fetch_add(&wake_errors, 1, __ATOMIC_RELAXED);
        pthread_mutex_lock(&race_mutex);
    }
    pthread_mutex_unlock(&race_mutex);
    return NULL;
}

static void case_loop_lost_wake_race(void)
{
    CostackLoop *loop = new_loop();
    int rounds = under_valgrind() ? 200 : 3000, i, timed_out = 0;
    pthread_t th;
    REQUIRE(loop);
    costack_queue_init(&guard_q);
    race_round = race_done_round = race_quit = 0;
    wake_errors = 0;
    REQUIRE(pthread_create(&th, NULL, race_thread, loop) == 0);
    for (i = 0; i < rounds; i++) {
        CostackTask *w = costack_loop_spawn(loop, race_waiter, NULL, NULL);
        CostackTask *g = costack_loop_spawn(loop, race_guard, NULL, NULL);
        void *woken = NULL;
        if (!w || !g) {
            harness_fail(__FILE__, __LINE__, "spawn failed");
            break;
        }
        costack_task_detach(w);
        /* Runs the waiter to its wait; the loop then sleeps (nothing else
         * is ready) until the thread's wake. */
        EXPECT_EQ(costack_task_join(g, &woken), 0);
        if (!woken)
            timed_out++;
    }
    pthread_mutex_lock(&race_mutex);
    race_quit = 1;
    pthread_cond_broadcast(&race_cond);
    pthread_mutex_unlock(&race_mutex);
    pthread_join(th, NULL);
    EXPECT_EQ(timed_out, 0);
    EXPECT_EQ(wake_errors, 0);
    EXPECT_EQ(costack_loop_run(loop), 0);
    free_loop(loop);
}

/* The loop releases the global mutex while it sleeps: another thread takes
 * it then, and the loop has it back when it dispatches. */
static int lock_taken_by_thread;

static void *take_global_lock(void *arg)
{
    int i;
    (void)arg;
    /* Generous: the loop sleeps from its start until our write. */
    for (i = 0; i < 10000; i++) {
        if (costack_global_trylock()) {
            lock_taken_by_thread = 1;
            costack_global_unlock();
            break;
        }
#ifdef _WIN32
        Sleep(1);
#else
        usleep(1000);
#endif
    }
    fd_write(pair[1], "x");
    return NULL;
}

static void *check_lock_held(void *arg)
{
    (void)arg;
    results[0] = costack_wait_fd(pair[0], COSTACK_READABLE, -1);
    results[1] = costack_global_lock_held();
    return NULL;
}

static void case_loop_global_lock_released(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    pthread_t th;
    REQUIRE(loop);
    REQUIRE(fd_pair(pair) == 0);
    memset(results, 0, sizeof results);
    lock_taken_by_thread = 0;
    costack_global_lock();
    t = costack_loop_spawn(loop, check_lock_held, NULL, NULL);
    REQUIRE(t);
    REQUIRE(pthread_create(&th, NULL, take_global_lock, NULL) == 0);
    EXPECT_EQ(costack_task_join(t, NULL), 0);
    EXPECT(costack_global_lock_held());
    costack_global_unlock();
    pthread_join(th, NULL);
    EXPECT_EQ(lock_taken_by_thread, 1);
    EXPECT_EQ(results[0], COSTACK_READABLE);
    EXPECT_EQ(results[1], 1);
    fd_close(pair[0]);
    fd_close(pair[1]);
    free_loop(loop);
}

/* A task woken by another thread that holds the global mutex (as Rust
 * code does) while the loop sleeps without it: the wake reaches the loop,
 * which runs the task (a lost one would leave the guard to time out). */
static CostackQueue gq = COSTACK_QUEUE_INIT;

static void *gq_waiter(void *arg)
{
    (void)arg;
    costack_queue_wait(&gq);
    costack_queue_next(&guard_q);
    return NULL;
}

static void *gq_thread(void *arg)
{
    (void)arg;
    costack_global_lock(); /* once the loop sleeps: the waiter waits */
    results[0] = costack_queue_next(&gq);
    costack_global_unlock();
    return NULL;
}

static void case_loop_wake_under_global_mutex(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *w, *g;
    void *woken = NULL;
    pthread_t th;
    REQUIRE(loop);
    costack_queue_init(&gq);
    costack_queue_init(&guard_q);
    memset(results, 0, sizeof results);
    costack_global_lock();
    w = costack_loop_spawn(loop, gq_waiter, NULL, NULL);
    g = costack_loop_spawn(loop, race_guard, NULL, NULL);
    REQUIRE(w && g);
    costack_task_detach(w);
    if (pthread_create(&th, NULL, gq_thread, NULL) != 0) {
        costack_global_unlock();
        REQUIRE(0);
    }
    EXPECT_EQ(costack_task_join(g, &woken), 0);
    costack_global_unlock();
    pthread_join(th, NULL);
    EXPECT_EQ(results[0], 1);
    EXPECT(woken != NULL); /* not timed out */
    EXPECT_EQ(costack_loop_run(loop), 0);
    free_loop(loop);
}

/* ---- nesting: the pollable fd and the next deadline ----------------------------------- */

static void *schedule_from_thread(void *arg)
{
    costack_loop_schedule((CostackLoop *)arg, race_target);
    return NULL;
}

static void *nest_waiter(void *arg)
{
    (void)arg;
    race_target = costack_self();
    costack_wait(NULL, NULL);
    return (void *)9;
}

#ifndef _WIN32
static int readable_now(int fd)
{
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1;
}
#endif

static void case_loop_pollable_fd(void)
{
    CostackLoop *loop = new_loop();
    CostackTask *t;
    int fd;
    void *r = NULL;
    pthread_t th;
    REQUIRE(loop);
    fd = costack_loop_fd(loop);
    if (fd < 0) {
        /* poll(2) and WSAPoll loops have no such fd. */
        EXPECT_EQ(errno, ENOTSUP);
    }
    t = costack_loop_spawn(loop, nest_waiter, NULL, NULL);
    REQUIRE(t);
    EXPECT_EQ(costack_loop_timeout_ns(loop), 0);
    EXPECT_EQ(costack_loop_run_once(loop), 1); /* it waits */
    EXPECT_EQ(costack_loop_timeout_ns(loop), -1);
#ifndef _WIN32
    if (fd >= 0)
        EXPECT(!readable_now(fd)); /* idle */
#endif
    REQUIRE(pthread_create(&th, NULL, schedule_from_thread, loop) == 0);
    pthread_join(th, NULL);
#ifndef _WIN32
    if (fd >= 0) {
        int i;
        EXPECT(readable_now(fd)); /* work */
        for (i = 0; i < 10 && costack_task_coroutine(t); i++)
            costack_loop_run_once(loop);
        EXPECT(!readable_now(fd)); /* idle again */
    }
#endif
    EXPECT_EQ(costack_task_join(t, &r), 0);
    EXPECT_EQ((size_t)r, 9);
    free_loop(loop);
}

/* The loop's thread frees the loop as soon as the other thread's wake
 * made it return, while that thread may still be inside
 * costack_loop_schedule: free waits for it (the sanitizers and Valgrind
 * would see a use after free). */

static int free_woken;

static void *free_waiter(void *arg)
{
    (void)arg;
    race_target = costack_self();
    costack_wait(NULL, NULL);
    free_woken = 1;
    return NULL;
}

/* Keeps the loop busy (not asleep), so that it takes the wake from the
 * queue as soon as it is there, not after the thread's poke. */
static void *free_spinner(void *arg)
{
    (void)arg;
    while (!free_woken)
        costack_loop_yield();
    return NULL;
}

static void case_loop_free_after_remote_wake(void)
{
    int rounds = under_valgrind() ? 20 : 200, i;
    for (i = 0; i < rounds; i++) {
        CostackLoop *loop = new_loop();
        pthread_t th;
        CostackTask *t, *s;
        REQUIRE(loop);
        free_woken = 0;
        t = costack_loop_spawn(loop, free_waiter, NULL, NULL);
        s = costack_loop_spawn(loop, free_spinner, NULL, NULL);
        REQUIRE(t && s);
        costack_task_detach(t);
        costack_task_detach(s);
        costack_loop_run_once(loop); /* it waits, the spinner spins */
        REQUIRE(pthread_create(&th, NULL, schedule_from_thread, loop) == 0);
        EXPECT_EQ(costack_loop_run(loop), 0); /* until the task ended */
        EXPECT_EQ(costack_loop_free(loop), 0);
        pthread_join(th, NULL);
    }
}

/* ---- misuse ------------------------------------------------------------------------- */

static int child_loop_sleep_outside(void)
{
    costack_sleep_ns(1);
    return 0;
}

static void no_loop_entry(void *opaque)
{
    (void)opaque;
    costack_wait_fd(0, COSTACK_READABLE, -1);
}

static int child_loop_no_loop(void)
{
    CostackCoroutine *co = costack_create(no_loop_entry, NULL);
    if (!co)
        return 3;
    costack_enter(co);
    return 0;
}

static void *run_inside(void *arg)
{
    costack_loop_run((CostackLoop *)arg);
    return NULL;
}

static int child_loop_run_in_coroutine(void)
{
    CostackLoop *loop = costack_loop_new();
    if (!loop || !costack_loop_spawn(loop, run_inside, loop, NULL))
        return 3;
    costack_loop_run(loop);
    return 0;
}

/* COSTACK_DEBUG=1: a task woken by another thread, without the global
 * mutex, while its loop runs. */
static void *wake_from_thread(void *arg)
{
    (void)arg;
#ifdef _WIN32
    Sleep(20);
#else
    usleep(20000); /* the loop sleeps by now */
#endif
    costack_wake(race_target);
    return NULL;
}

static int child_loop_wake_other_thread(void)
{
    CostackLoop *loop = costack_loop_new();
    pthread_t th;
    if (!loop || !costack_loop_spawn(loop, nest_waiter, NULL, NULL))
        return 3;
    costack_loop_run_once(loop); /* nest_waiter waits */
    if (pthread_create(&th, NULL, wake_from_thread, NULL) != 0)
        return 3;
    costack_loop_run(loop);
    return 0;
}

static void *plain_yield(void *arg)
{
    (void)arg;
    costack_yield();
    return NULL;
}

static int child_loop_task_yields(void)
{
    CostackLoop *loop = costack_loop_new();
    if (!loop || !costack_loop_spawn(loop, plain_yield, NULL, NULL))
        return 3;
    costack_loop_run(loop);
    return 0;
}

static void expect_loop_abort_env(const char *child, const char *env,
                                  const char *msg, int line)
{
    ChildResult r;
    if (harness_run_child(child, env, env ? "1" : NULL, &r) != 0)
        return;
    (void)harness_expect_death(&r, SIGABRT, msg, __FILE__, line);
}

static void expect_loop_abort(const char *child, const char *msg, int line)
{
    expect_loop_abort_env(child, NULL, msg, line);
}

static void case_loop_death_misuse(void)
{
    expect_loop_abort("loop_sleep_outside",
                      "costack: costack_sleep_ns: outside a coroutine",
                      __LINE__);
    expect_loop_abort("loop_no_loop",
                      "costack: costack_wait_fd: no loop for this thread",
                      __LINE__);
    expect_loop_abort("loop_run_in_coroutine",
                      "costack: costack_loop_run: called from a coroutine",
                      __LINE__);
    expect_loop_abort("loop_task_yields",
                      "costack: costack_yield: a task of a loop yielded",
                      __LINE__);
#if !defined(TEST_TSAN)
    /* That misuse is a data race, which ThreadSanitizer reports (and
     * fails the child for) before the check aborts. */
    expect_loop_abort_env("loop_wake_other_thread", "COSTACK_DEBUG",
                          "costack: costack_wake: a task of a loop that runs "
                          "on another thread",
                          __LINE__);
#endif
}

const HarnessCase harness_cases_loop[] = {
    {"loop_spawn_join", case_loop_spawn_join},
    {"loop_join_from_task", case_loop_join_from_task},
    {"loop_sleep_order", case_loop_sleep_order},
    {"loop_plain_coroutine", case_loop_plain_coroutine},
    {"loop_fd_wait", case_loop_fd_wait},
    {"loop_fd_poll", case_loop_fd_poll},
    {"loop_fd_invalid", case_loop_fd_invalid},
    {"loop_fd_regular_file", case_loop_fd_regular_file},
    {"loop_close_fd", case_loop_close_fd},
    {"loop_fd_reused", case_loop_fd_reused},
    {"loop_queue_timeout", case_loop_queue_timeout},
    {"loop_queue_timeout_wake_all", case_loop_queue_timeout_wake_all},
    {"loop_destroy_and_free", case_loop_destroy_and_free},
    {"loop_run_once", case_loop_run_once},
    {"loop_run_in_thread", case_loop_run_in_thread},
    {"loop_run_in_thread_destroy", case_loop_run_in_thread_destroy},
    {"loop_stop_from_thread", case_loop_stop_from_thread},
    {"loop_cross_thread_wake", case_loop_cross_thread_wake},
    {"loop_lost_wake_race", case_loop_lost_wake_race},
    {"loop_global_lock_released", case_loop_global_lock_released},
    {"loop_wake_under_global_mutex", case_loop_wake_under_global_mutex},
    {"loop_pollable_fd", case_loop_pollable_fd},
    {"loop_free_after_remote_wake", case_loop_free_after_remote_wake},
    {"loop_death_misuse", case_loop_death_misuse},
    {NULL, NULL}
};

const HarnessChild harness_children_loop[] = {
    {"loop_sleep_outside", child_loop_sleep_outside},
    {"loop_no_loop", child_loop_no_loop},
    {"loop_run_in_coroutine", child_loop_run_in_coroutine},
    {"loop_wake_other_thread", child_loop_wake_other_thread},
    {"loop_task_yields", child_loop_task_yields},
    {NULL, NULL}
};

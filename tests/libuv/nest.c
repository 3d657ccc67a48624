/*
 * nest.c - a libuv loop drives a costack loop (costack.h, "Event loop",
 * nesting): libuv watches costack_loop_fd with a uv_poll_t, arms a
 * uv_timer_t from costack_loop_timeout_ns, and calls costack_loop_run_once
 * from both callbacks; costack_loop_run is never called.  The coroutines
 * sleep, wait on a pipe that a libuv timer writes to, time out on an fd
 * wait, and one is woken from another thread once it is the last one.  Built and run by ctest when
 * pkg-config finds libuv (cmake/CostackTests.cmake).
 *
 * Exit status 0 when every coroutine did what it should; 77 (ctest: skipped) when the loop has no pollable fd (built on
 * poll(2)); 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "costack.h"

#define MS 1000000LL

static CostackLoop *loop;
static uv_loop_t *uv;
static uv_poll_t poll_handle;
static uv_timer_t costack_timer, writer_timer;
static int pipe_fds[2];
static int tasks_left;
static int failures;
static int dispatches, fd_dispatches;
static char log_text[256];

static void note(const char *s)
{
    strncat(log_text, s, sizeof(log_text) - strlen(log_text) - 1);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "nest: failed: %s\n", what);
        failures++;
    }
}

/* ---- the coroutines ---------------------------------------------------------- */

static void *sleeper(void *arg)
{
    (void)arg;
    costack_sleep_ns(10 * MS);
    note("s10 ");
    costack_sleep_ns(20 * MS);
    note("s30 ");
    return NULL;
}

static void *pipe_reader(void *arg)
{
    char buf[8];
    int r;
    (void)arg;
    /* libuv's writer_timer writes after 20 ms. */
    r = costack_wait_fd(pipe_fds[0], COSTACK_READABLE, -1);
    check(r == COSTACK_READABLE, "the pipe became readable");
    check(read(pipe_fds[0], buf, sizeof buf) == 1, "one byte read");
    note("pipe ");
    return NULL;
}

static void *timing_out(void *arg)
{
    (void)arg;
    /* The pipe stays empty for 20 ms: a 5 ms wait on it, beside
     * pipe_reader's, times out. */
    check(costack_wait_fd(pipe_fds[0], COSTACK_READABLE, 5 * MS) == 0,
          "a wait with a 5 ms timeout timed out");
    note("t5 ");
    return NULL;
}

static CostackCoroutine *remote_target;

static void *remote_waiter(void *arg)
{
    (void)arg;
    remote_target = costack_self();
    costack_wait(NULL, NULL); /* woken by another thread */
    note("remote ");
    return NULL;
}

static pthread_mutex_t go_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;

/* Wakes remote_waiter once it is the last task: the costack loop has no
 * timer then, libuv no costack timer armed, so only the loop's fd can
 * bring the wake to libuv. */
static void *remote_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&go_mutex);
    while (!go)
        pthread_cond_wait(&go_cond, &go_mutex);
    pthread_mutex_unlock(&go_mutex);
    usleep(10000); /* libuv sleeps by now */
    if (costack_loop_schedule(loop, remote_target) != 0)
        failures++;
    return NULL;
}

static void *counted(void *arg)
{
    void *r = ((CostackTaskFn *)arg)(NULL);
    tasks_left--;
    return r;
}

/* ---- libuv's side ------------------------------------------------------------- */

static void on_costack_timer(uv_timer_t *t);

/* Run what is ready, then tell libuv when to come back. */
static void drive(void)
{
    long long ns;
    int n = costack_loop_run_once(loop);
    check(n >= 0, "costack_loop_run_once");
    dispatches++;
    if (tasks_left == 1 && !go) { /* only remote_waiter is left */
        pthread_mutex_lock(&go_mutex);
        go = 1;
        pthread_cond_signal(&go_cond);
        pthread_mutex_unlock(&go_mutex);
    }
    if (tasks_left == 0) {
        uv_poll_stop(&poll_handle);
        uv_timer_stop(&costack_timer);
        uv_close((uv_handle_t *)&poll_handle, NULL);
        uv_close((uv_handle_t *)&costack_timer, NULL);
        return;
    }
    ns = costack_loop_timeout_ns(loop);
    if (ns < 0)
        uv_timer_stop(&costack_timer);
    else
        uv_timer_start(&costack_timer, on_costack_timer,
                       (uint64_t)((ns + MS - 1) / MS), 0);
}

static void on_costack_fd(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)events;
    check(status == 0, "uv_poll status");
    fd_dispatches++;
    drive();
}

static void on_costack_timer(uv_timer_t *t)
{
    (void)t;
    drive();
}

static void on_writer_timer(uv_timer_t *t)
{
    check(write(pipe_fds[1], "x", 1) == 1, "libuv wrote to the pipe");
    uv_close((uv_handle_t *)t, NULL);
}

int main(void)
{
    static CostackTaskFn *const fns[] = {sleeper, pipe_reader, timing_out,
                                         remote_waiter};
    pthread_t th;
    int fd;
    size_t i;

    loop = costack_loop_new();
    if (!loop) {
        perror("costack_loop_new");
        return 1;
    }
    fd = costack_loop_fd(loop);
    if (fd < 0) {
        printf("nest: SKIP: this loop has no pollable fd (%s)\n",
               strerror(errno));
        return 77;
    }
    if (pipe(pipe_fds) != 0) {
        perror("pipe");
        return 1;
    }
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        CostackTask *t = costack_loop_spawn(loop, counted, (void *)fns[i],
                                            NULL);
        if (!t) {
            perror("costack_loop_spawn");
            return 1;
        }
        costack_task_detach(t);
        tasks_left++;
    }

    uv = uv_default_loop();
    uv_poll_init(uv, &poll_handle, fd);
    uv_poll_start(&poll_handle, UV_READABLE, on_costack_fd);
    uv_timer_init(uv, &costack_timer);
    uv_timer_init(uv, &writer_timer);
    uv_timer_start(&writer_timer, on_writer_timer, 20, 0);
    drive(); /* the spawned tasks are ready now */
    /* remote_waiter waits by now: wake it from another thread. */
    check(remote_target != NULL, "the remote waiter ran");
    if (pthread_create(&th, NULL, remote_thread, NULL) != 0)
        return 1;

    uv_run(uv, UV_RUN_DEFAULT);
    pthread_join(th, NULL);

    check(tasks_left == 0, "every task ended");
    {
        static const char *const notes[] = {"t5 ", "s10 ", "s30 ", "pipe ",
                                            "remote "};
        for (i = 0; i < sizeof notes / sizeof notes[0]; i++)
            check(strstr(log_text, notes[i]) != NULL, notes[i]);
    }
    check(strstr(log_text, "s10 ") < strstr(log_text, "s30 "),
          "s10 before s30");
    /* The other thread's wake reaches libuv through the fd alone (no
     * costack timer is armed then). */
    check(fd_dispatches >= 1, "libuv saw the loop's fd readable");
    check(costack_loop_timeout_ns(loop) == -1, "no timer left");
    check(costack_loop_free(loop) == 0, "costack_loop_free");
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    uv_loop_close(uv);
    printf("nest: log \"%s\", %d dispatches by libuv (%d for the fd), "
           "%d failures\n",
           log_text, dispatches, fd_dispatches, failures);
    return failures ? 1 : 0;
}

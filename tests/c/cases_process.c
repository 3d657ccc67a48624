/*
 * cases_process.c - coroutines and the process around them: fork() while
 * another thread holds the global mutex, and a program that takes over
 * the signal the sigaltstack backend starts stacks with.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "costack.h"
#include "harness.h"

#ifndef _WIN32
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void count_entry(void *opaque)
{
    int *n = (int *)opaque;
    (*n)++;
    costack_yield();
    (*n)++;
}

/* In a forked child: the global mutex and coroutines work.  Returns the
 * child's exit status (0: all good). */
static int in_child(int expect_held)
{
    CostackCoroutine *co;
    int n = 0;

    alarm(20); /* a hang becomes SIGALRM, which the parent reports */
    if (costack_global_lock_held() != expect_held)
        return 10;
    if (expect_held)
        costack_global_unlock();
    costack_global_lock();
    co = costack_create(count_entry, &n);
    if (!co)
        return 11;
    costack_enter(co);
    costack_enter(co);
    costack_global_unlock();
    return n == 2 ? 0 : 12;
}

/* Fork, run in_child in the child, and check how it ended. */
static void fork_and_check(int expect_held, int line)
{
    int status = 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        harness_fail(__FILE__, line, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0)
        _exit(in_child(expect_held));
    if (waitpid(pid, &status, 0) != pid) {
        harness_fail(__FILE__, line, "waitpid: %s", strerror(errno));
        return;
    }
    if (WIFSIGNALED(status))
        harness_fail(__FILE__, line, "the child died of signal %d%s",
                     WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
    else if (WEXITSTATUS(status) != 0)
        harness_fail(__FILE__, line, "the child exited with status %d",
                     WEXITSTATUS(status));
}

static int holder_fds[2]; /* holder -> main: locked; main -> holder: go */

static void *lock_holder(void *arg)
{
    char c = 1;
    (void)arg;
    costack_global_lock();
    if (write(holder_fds[1], &c, 1) != 1 || read(holder_fds[0], &c, 1) != 1)
        c = 0;
    costack_global_unlock();
    return NULL;
}

void case_fork_while_locked(void)
{
    int to_holder[2], from_holder[2];
    pthread_t th;
    char c;

    /* Another thread holds the global mutex across the fork: the child
     * gets it free, and the parent is not held up. */
    REQUIRE(pipe(to_holder) == 0 && pipe(from_holder) == 0);
    holder_fds[0] = to_holder[0];
    holder_fds[1] = from_holder[1];
    REQUIRE(pthread_create(&th, NULL, lock_holder, NULL) == 0);
    if (read(from_holder[0], &c, 1) == 1) {
        fork_and_check(0, __LINE__);
    } else {
        harness_fail(__FILE__, __LINE__, "the holder thread did not lock");
    }
    c = 1;
    EXPECT(write(to_holder[1], &c, 1) == 1);
    pthread_join(th, NULL);
    close(to_holder[0]);
    close(to_holder[1]);
    close(from_holder[0]);
    close(from_holder[1]);

    /* The forking thread holds it: the child holds it too. */
    costack_global_lock();
    fork_and_check(1, __LINE__);
    costack_global_unlock();

    /* Nobody holds it. */
    fork_and_check(0, __LINE__);
}

static void noop_entry(void *opaque)
{
    (void)opaque;
}

static void user_usr2(int sig)
{
    (void)sig;
}

/* Use costack (which sets the sigaltstack backend's SIGUSR2 handler), take
 * SIGUSR2 over, create another coroutine. */
int child_sigusr2_taken(void)
{
    struct sigaction sa;
    CostackOptions o;
    CostackCoroutine *co = costack_create(noop_entry, NULL);

    alarm(20); /* a hang becomes SIGALRM */
    if (!co)
        return 3;
    costack_enter(co);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = user_usr2;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        return 4;
    /* A size of its own: a new stack, not one from the pool. */
    memset(&o, 0, sizeof(o));
    o.stack_size = COSTACK_MIN_STACK_SIZE + 4096;
    co = costack_create_with(noop_entry, NULL, &o);
    if (!co)
        return 5;
    costack_enter(co);
    printf("created\n");
    return 0;
}

void case_sigusr2_taken(void)
{
    ChildResult r;
    if (harness_run_child("sigusr2_taken", NULL, NULL, &r) != 0)
        return;
    if (strcmp(costack_backend_name(), "sigaltstack") == 0) {
        EXPECT_DEATH(&r, SIGABRT,
                     "costack: the sigaltstack backend starts coroutine "
                     "stacks with SIGUSR2, and the program has replaced its "
                     "handler");
    } else {
        /* The other backends do not use SIGUSR2. */
        EXPECT_EXIT0(&r);
        EXPECT(strstr(r.out, "created") != NULL);
    }
}

#else /* _WIN32 */

void case_fork_while_locked(void)
{
    harness_skip("Windows has no fork()");
}

int child_sigusr2_taken(void)
{
    return 1;
}

void case_sigusr2_taken(void)
{
    harness_skip("Windows has no signals; the fibers backend uses none");
}

#endif

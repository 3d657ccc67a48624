/*
 * tasks.c - costack's event loop from C: three worker tasks take jobs
 * from a queue, each "works" by sleeping on the loop's timers, and add
 * their results to a total under a coroutine mutex; main spawns them,
 * feeds the jobs from a task of its own and joins everything.  The code
 * reads as if it blocked; it runs on one thread, and while one task
 * sleeps the others run.
 *
 * Build: as hello.c (see this directory's CMakeLists.txt), e.g. with
 * costack installed, `cc -std=c99 tasks.c $(pkg-config --cflags --libs
 * costack) -o tasks`.
 */
#include <stdint.h>
#include <stdio.h>

#include "costack.h"

#define JOBS 6
#define WORKERS 3

static CostackQueue jobs_ready = COSTACK_QUEUE_INIT; /* idle workers wait */
static int jobs[JOBS], job_count, next_job, closed;

static CostackMutex total_lock = COSTACK_MUTEX_INIT;
static long total;

/* A worker: take the next job, or wait on the queue until there is one;
 * stop when the feeder closed and no job is left.  Returns how many jobs
 * it did. */
static void *worker(void *arg)
{
    intptr_t done = 0;
    (void)arg;
    for (;;) {
        int job;
        while (next_job == job_count && !closed)
            costack_queue_wait(&jobs_ready);
        if (next_job == job_count)
            return (void *)done;
        job = jobs[next_job++];
        costack_sleep_ns(job * 1000000LL); /* the work: job milliseconds */
        costack_mutex_lock(&total_lock);
        total += job * job;
        costack_mutex_unlock(&total_lock);
        done++;
    }
}

/* The feeder: one job every millisecond, each waking one idle worker,
 * then the end of the work for all of them. */
static void *feeder(void *arg)
{
    int i;
    (void)arg;
    for (i = 1; i <= JOBS; i++) {
        jobs[job_count++] = i;
        costack_queue_next(&jobs_ready);
        costack_sleep_ns(1000000LL);
    }
    closed = 1;
    costack_queue_wake_all(&jobs_ready);
    return NULL;
}

int main(void)
{
    CostackLoop *loop = costack_loop_new();
    CostackTask *workers[WORKERS], *feed;
    long jobs_done = 0;
    int i;

    if (!loop) {
        perror("costack_loop_new");
        return 1;
    }
    for (i = 0; i < WORKERS; i++) {
        workers[i] = costack_loop_spawn(loop, worker, NULL, NULL);
        if (!workers[i]) {
            perror("costack_loop_spawn");
            return 1;
        }
    }
    feed = costack_loop_spawn(loop, feeder, NULL, NULL);
    if (!feed) {
        perror("costack_loop_spawn");
        return 1;
    }
    /* Joining from outside any coroutine runs the loop until the task
     * has ended. */
    costack_task_join(feed, NULL);
    for (i = 0; i < WORKERS; i++) {
        void *done;
        costack_task_join(workers[i], &done);
        jobs_done += (long)(intptr_t)done;
    }
    printf("%ld jobs done by %d workers, total %ld\n", jobs_done, WORKERS,
           total);
    costack_loop_free(loop);
    return 0;
}

/*
 * poller_epoll.c - the loop's poller on Linux (loop.h): epoll, and an
 * eventfd in the epoll set for wakes from other threads, so that the epoll
 * fd alone says when the loop has work (costack_loop_fd, for an outer
 * loop to watch).
 *
 * Fds are registered on their first wait and stay registered until
 * costack_loop_close_fd, one-shot (EPOLLONESHOT): every wait arms the
 * registration once (EPOLL_CTL_MOD, one system call) and the first event
 * disarms it.  One-shot, because a loop cannot see a plain close():
 *   - a wait on an fd that had no waiter arms anew, and a number that was
 *     closed and reused since fails EPOLL_CTL_MOD with ENOENT (epoll knows
 *     an fd by its number and its open file), so the new file is added;
 *     a number that is not open fails with EBADF: the wait's error;
 *   - a registration the loop keeps for nobody fires at most once, and
 *     an event for an fd without waiters is dropped: no busy loop over an
 *     fd that stays readable while no one waits on it.
 * The price is that system call per wait; a loop that kept every fd armed
 * would wait for free, and hang on the first reused number.
 */
#include "loop.h"

#if defined(COSTACK_POLLER_EPOLL)

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The eventfd's tag in epoll's data; an fd's tag is its number. */
#define WAKE_TAG UINT64_MAX
#define MAX_EVENTS 128

struct CostackPoller {
    int epfd;
    int evfd;
    struct epoll_event events[MAX_EVENTS];
};

CostackPoller *costack__poller_new(void)
{
    struct epoll_event ev;
    CostackPoller *p = (CostackPoller *)calloc(1, sizeof *p);
    int e;
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0)
        goto fail;
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->evfd < 0)
        goto fail_ep;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = WAKE_TAG;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) != 0)
        goto fail_ev;
    return p;
fail_ev:
    e = errno;
    close(p->evfd);
    errno = e;
fail_ep:
    e = errno;
    close(p->epfd);
    errno = e;
fail:
    e = errno;
    free(p);
    errno = e;
    return NULL;
}

void costack__poller_free(CostackPoller *p)
{
    close(p->evfd);
    close(p->epfd);
    free(p);
}

int costack__poller_fd(CostackPoller *p)
{
    return p->epfd;
}

int costack__poller_watch(CostackPoller *p, CostackFdEntry *e, unsigned want,
                          int fresh)
{
    struct epoll_event ev;
    /* Fewer events than armed: the extra ones fire at most once, for no
     * one, and are dropped. */
    if (!want || (!fresh && (e->armed & want) == want))
        return 0;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLONESHOT | (want & COSTACK_READABLE ? EPOLLIN : 0) |
                (want & COSTACK_WRITABLE ? EPOLLOUT : 0);
    ev.data.u64 = (uint64_t)(uint32_t)e->fd;
    if (e->registered) {
        if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, e->fd, &ev) == 0) {
            e->armed = want;
            return 0;
        }
        if (errno != ENOENT)
            return -1;
        e->registered = 0; /* closed, and the number reused */
    }
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, e->fd, &ev) != 0) {
        if (errno == EPERM) /* a regular file or a directory */
            return 1;
        if (errno != EEXIST ||
            epoll_ctl(p->epfd, EPOLL_CTL_MOD, e->fd, &ev) != 0)
            return -1;
    }
    e->registered = 1;
    e->armed = want;
    return 0;
}

void costack__poller_forget(CostackPoller *p, CostackFdEntry *e)
{
    if (e->registered)
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, e->fd, NULL);
    e->registered = 0;
    e->armed = 0;
}

int costack__poller_wait(CostackPoller *p, CostackLoop *loop,
                         long long timeout_ns)
{
    int n = epoll_wait(p->epfd, p->events, MAX_EVENTS,
                       costack__timeout_ms(timeout_ns));
    int i;
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (i = 0; i < n; i++) {
        uint32_t ev = p->events[i].events;
        CostackFdEntry *e;
        unsigned rev;
        if (p->events[i].data.u64 == WAKE_TAG) {
            uint64_t count;
            ssize_t r = read(p->evfd, &count, sizeof count);
            (void)r; /* EAGAIN: drained already */
            continue;
        }
        e = costack__loop_fd_entry(loop, (int)(uint32_t)p->events[i].data.u64);
        if (!e)
            continue;
        e->armed = 0; /* one-shot */
        rev = (ev & EPOLLIN ? COSTACK_READABLE : 0u) |
              (ev & EPOLLOUT ? COSTACK_WRITABLE : 0u) |
              (ev & (EPOLLERR | EPOLLHUP) ? COSTACK__FD_ERROR : 0u);
        costack__loop_fd_ready(loop, e, rev);
    }
    return 0;
}

void costack__poller_notify(CostackPoller *p)
{
    uint64_t one = 1;
    ssize_t r = write(p->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is full, so it is readable anyway */
}

#else
/* Not the poller of this target (loop.h). */
typedef int costack__poller_epoll_unused;
#endif

/*
 * poller_poll.c - the loop's poller on Unix without epoll (loop.h):
 * poll(2) over the fds that have waiters, and a self-pipe for wakes from
 * other threads.  There is no single fd that says the loop has work, so
 * costack_loop_fd fails with ENOTSUP: an outer loop can only call
 * costack_loop_run_once when costack_loop_timeout_ns says, or regularly.
 *
 * The array handed to poll holds the pipe, then one slot per fd with
 * waiters; an fd joins it on a wait and leaves it when its last waiter
 * is gone, so nothing of a closed fd stays behind.  Linux builds use this
 * poller too with -DCOSTACK_POLLER_POLL (to test it).
 */
#include "loop.h"

#if !defined(COSTACK_POLLER_EPOLL) && !defined(_WIN32)

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct CostackPoller {
    int rfd, wfd;            /* the self-pipe */
    struct pollfd *fds;      /* [0]: the pipe's read end */
    CostackFdEntry **entries; /* entries[i] watches fds[i], i >= 1 */
    size_t n, cap;
};

static int pipe_setup(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

CostackPoller *costack__poller_new(void)
{
    CostackPoller *p = (CostackPoller *)calloc(1, sizeof *p);
    int fds[2], e;
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->cap = 16;
    p->fds = (struct pollfd *)calloc(p->cap, sizeof *p->fds);
    p->entries = (CostackFdEntry **)calloc(p->cap, sizeof *p->entries);
    if (!p->fds || !p->entries) {
        errno = ENOMEM;
        goto fail;
    }
    if (pipe(fds) != 0)
        goto fail;
    if (pipe_setup(fds[0]) != 0 || pipe_setup(fds[1]) != 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        goto fail;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    p->fds[0].fd = p->rfd;
    p->fds[0].events = POLLIN;
    p->n = 1;
    return p;
fail:
    e = errno;
    free(p->fds);
    free(p->entries);
    free(p);
    errno = e;
    return NULL;
}

void costack__poller_free(CostackPoller *p)
{
    close(p->rfd);
    close(p->wfd);
    free(p->fds);
    free(p->entries);
    free(p);
}

int costack__poller_fd(CostackPoller *p)
{
    (void)p;
    errno = ENOTSUP;
    return -1;
}

static void slot_remove(CostackPoller *p, CostackFdEntry *e)
{
    size_t i = e->index, last = p->n - 1;
    if (i != last) {
        p->fds[i] = p->fds[last];
        p->entries[i] = p->entries[last];
        p->entries[i]->index = i;
    }
    p->n--;
    e->index = 0;
}

int costack__poller_watch(CostackPoller *p, CostackFdEntry *e, unsigned want,
                          int fresh)
{
    short events = (short)((want & COSTACK_READABLE ? POLLIN : 0) |
                           (want & COSTACK_WRITABLE ? POLLOUT : 0));
    if (!want) {
        if (e->index)
            slot_remove(p, e);
        return 0;
    }
    /* poll reports an fd that is not open only once it runs (POLLNVAL):
     * say so at the wait instead. */
    if (fresh && fcntl(e->fd, F_GETFD) < 0)
        return -1;
    if (e->index) {
        p->fds[e->index].events = events;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        struct pollfd *fds =
            (struct pollfd *)realloc(p->fds, cap * sizeof *fds);
        CostackFdEntry **entries;
        if (!fds) {
            errno = ENOMEM;
            return -1;
        }
        p->fds = fds;
        entries = (CostackFdEntry **)realloc(p->entries, cap * sizeof *entries);
        if (!entries) {
            errno = ENOMEM;
            return -1;
        }
        p->entries = entries;
        p->cap = cap;
    }
    e->index = p->n++;
    p->fds[e->index].fd = e->fd;
    p->fds[e->index].events = events;
    p->fds[e->index].revents = 0;
    p->entries[e->index] = e;
    return 0;
}

void costack__poller_forget(CostackPoller *p, CostackFdEntry *e)
{
    if (e->index)
        slot_remove(p, e);
}

int costack__poller_wait(CostackPoller *p, CostackLoop *loop,
                         long long timeout_ns)
{
    size_t i;
    int r = poll(p->fds, (nfds_t)p->n, costack__timeout_ms(timeout_ns));
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    if (r == 0)
        return 0;
    if (p->fds[0].revents) {
        char buf[64];
        while (read(p->rfd, buf, sizeof buf) > 0)
            ;
    }
    for (i = 1; i < p->n; i++) {
        short ev = p->fds[i].revents;
        unsigned rev;
        if (!ev)
            continue;
        rev = (ev & POLLIN ? COSTACK_READABLE : 0u) |
              (ev & POLLOUT ? COSTACK_WRITABLE : 0u) |
              (ev & (POLLERR | POLLHUP) ? COSTACK__FD_ERROR : 0u) |
              (ev & POLLNVAL ? COSTACK__FD_INVALID : 0u);
        costack__loop_fd_ready(loop, p->entries[i], rev);
    }
    return 0;
}

void costack__poller_notify(CostackPoller *p)
{
    char c = 1;
    ssize_t r = write(p->wfd, &c, 1);
    (void)r; /* EAGAIN: the pipe is full, so it is readable anyway */
}

#else
/* Not the poller of this target (loop.h). */
typedef int costack__poller_poll_unused;
#endif

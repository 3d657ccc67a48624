/*
 * poller_poll.c - the loop's poller built on an array of pollfds (loop.h),
 * for poll(2) on Unix without epoll (and on Linux built with
 * -DCOSTACK_POLLER_POLL, to test it) and for WSAPoll on Windows.
 *
 * The array handed to poll holds the wake channel, then one slot per fd
 * with waiters; an fd joins it on a wait and leaves it when its last
 * waiter is gone, so nothing of a closed fd stays behind.  Other threads
 * wake the loop through the wake channel: a self-pipe on Unix; on Windows
 * a loopback UDP socket connected to itself (WSAPoll waits on sockets
 * only, so an event object cannot wake it; a datagram to itself can).
 * Timers are the loop's own, as poll's timeout.  There is no single fd
 * that says the loop has work, so costack_loop_fd fails with ENOTSUP: an
 * outer loop can only call costack_loop_run_once when
 * costack_loop_timeout_ns says, or regularly.  On Windows only sockets
 * can be waited on: any other CostackFd is EBADF.
 *
 * What differs between the two systems is in the part marked "System
 * part" below; the rest is written once for both.
 */
#include "loop.h"

#if !defined(COSTACK_POLLER_EPOLL)

#include <errno.h>
#include <stdlib.h>

/* ---- System part ------------------------------------------------------
 * For each system:
 *   PollFd              the array's element type
 *   POLL_FD(fd)         a CostackFd as PollFd's fd
 *   EV_READ, EV_WRITE   the events to ask for readable and writable
 *   REV_READ, REV_WRITE the returned events that say readable, writable
 *   Wake                the wake channel
 *   sys_start           the system's set-up for pollers, once per process
 *                       (or nothing); -1 with errno
 *   wake_open           open the channel and fill in its slot; -1, errno
 *   wake_close, wake_drain (on the loop's thread), wake_send (any thread)
 *   fd_check            0 when fd can be watched; -1 with errno (EBADF)
 *   sys_poll            poll: >0 something is ready, 0 nothing (or a
 *                       signal came), -1 with errno
 * Both systems report errors and hang-ups as POLLERR or POLLHUP, and an
 * fd that is not open (or not a socket) as POLLNVAL. */
#if defined(_WIN32)

#include "windows_sys.h"
#include <winsock2.h>
#include <ws2tcpip.h>
#include <string.h>

typedef WSAPOLLFD PollFd;
#define POLL_FD(fd) ((SOCKET)(fd))
#define EV_READ POLLRDNORM
#define EV_WRITE POLLWRNORM
#define REV_READ (POLLRDNORM | POLLRDBAND)
#define REV_WRITE POLLWRNORM

typedef struct {
    SOCKET s; /* UDP, connected to its own address */
} Wake;

static int errno_of_wsa(int e)
{
    switch (e) {
    case WSAENOTSOCK:
        return EBADF;
    case WSAENOBUFS:
        return ENOMEM;
    case WSAEMFILE:
        return EMFILE;
    case WSAEINVAL:
        return EINVAL;
    default:
        return EIO;
    }
}

/* Winsock is started once for the process and never cleaned up, as libuv
 * does.  WSAStartup and WSACleanup keep a process-wide count, which Wine 8
 * updates with a plain increment and decrement: with loops made and
 * dropped on several threads at once (the Rust tests), a live loop's
 * WSAPoll failed with WSAENOTSOCK in about half the runs of
 * tests/event_loop.rs, and in none of 22 with one start. */
static INIT_ONCE wsa_once = INIT_ONCE_STATIC_INIT;
static int wsa_started;

static BOOL CALLBACK wsa_start(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
    WSADATA wsa;
    (void)once;
    (void)arg;
    (void)ctx;
    wsa_started = WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
    return TRUE;
}

static int sys_start(void)
{
    InitOnceExecuteOnce(&wsa_once, wsa_start, NULL, NULL);
    if (!wsa_started) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static int wake_open(Wake *w, PollFd *slot)
{
    struct sockaddr_in a;
    int len = (int)sizeof a;
    u_long nonblocking = 1;
    SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (s == INVALID_SOCKET) {
        errno = errno_of_wsa(WSAGetLastError());
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0 ||
        connect(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        ioctlsocket(s, FIONBIO, &nonblocking) != 0) {
        int e = WSAGetLastError();
        closesocket(s);
        errno = errno_of_wsa(e);
        return -1;
    }
    w->s = s;
    slot->fd = s;
    return 0;
}

static void wake_close(Wake *w)
{
    closesocket(w->s);
}

static void wake_drain(Wake *w)
{
    char buf[64];
    while (recv(w->s, buf, sizeof buf, 0) > 0)
        ;
}

static void wake_send(Wake *w)
{
    char c = 1;
    (void)send(w->s, &c, 1, 0); /* would block: a wake is queued */
}

static int fd_check(CostackFd fd)
{
    /* A socket?  WSAPoll would report anything else only once it runs
     * (POLLNVAL), or fail as a whole. */
    int type, len = (int)sizeof type;
    int r = getsockopt(POLL_FD(fd), SOL_SOCKET, SO_TYPE, (char *)&type, &len);
    if (r != 0) {
        errno = errno_of_wsa(WSAGetLastError());
        return -1;
    }
    return 0;
}

static int sys_poll(PollFd *fds, size_t n, int timeout_ms)
{
    size_t i;
    int r;
    /* The dispatch reads every slot's revents. */
    for (i = 0; i < n; i++)
        fds[i].revents = 0;
    r = WSAPoll(fds, (ULONG)n, timeout_ms);
    if (r == SOCKET_ERROR) {
        errno = errno_of_wsa(WSAGetLastError());
        return -1;
    }
    return r;
}

#else /* Unix: poll(2) */

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

typedef struct pollfd PollFd;
#define POLL_FD(fd) (fd)
#define EV_READ POLLIN
#define EV_WRITE POLLOUT
#define REV_READ POLLIN
#define REV_WRITE POLLOUT

typedef struct {
    int rfd, wfd; /* the self-pipe */
} Wake;

static int sys_start(void)
{
    return 0;
}

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

static int wake_open(Wake *w, PollFd *slot)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    if (pipe_setup(fds[0]) != 0 || pipe_setup(fds[1]) != 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    w->rfd = fds[0];
    w->wfd = fds[1];
    slot->fd = fds[0];
    return 0;
}

static void wake_close(Wake *w)
{
    close(w->rfd);
    close(w->wfd);
}

static void wake_drain(Wake *w)
{
    char buf[64];
    while (read(w->rfd, buf, sizeof buf) > 0)
        ;
}

static void wake_send(Wake *w)
{
    char c = 1;
    ssize_t r = write(w->wfd, &c, 1);
    (void)r; /* EAGAIN: the pipe is full, so it is readable anyway */
}

static int fd_check(CostackFd fd)
{
    /* poll reports an fd that is not open only once it runs (POLLNVAL):
     * say so at the wait instead. */
    return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}

static int sys_poll(PollFd *fds, size_t n, int timeout_ms)
{
    int r = poll(fds, (nfds_t)n, timeout_ms);
    if (r < 0 && errno == EINTR)
        return 0;
    return r;
}

#endif
/* ---- End of the system part ------------------------------------------ */

struct CostackPoller {
    Wake wake;
    PollFd *fds;              /* [0]: the wake channel */
    CostackFdEntry **entries; /* entries[i] watches fds[i], i >= 1 */
    size_t n, cap;
};

CostackPoller *costack__poller_new(void)
{
    CostackPoller *p;
    int e;
    if (sys_start() != 0)
        return NULL;
    p = (CostackPoller *)calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->cap = 16;
    p->fds = (PollFd *)calloc(p->cap, sizeof *p->fds);
    p->entries = (CostackFdEntry **)calloc(p->cap, sizeof *p->entries);
    if (!p->fds || !p->entries) {
        errno = ENOMEM;
        goto fail;
    }
    if (wake_open(&p->wake, &p->fds[0]) != 0)
        goto fail;
    p->fds[0].events = EV_READ;
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
    wake_close(&p->wake);
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
    short events = (short)((want & COSTACK_READABLE ? EV_READ : 0) |
                           (want & COSTACK_WRITABLE ? EV_WRITE : 0));
    if (!want) {
        if (e->index)
            slot_remove(p, e);
        return 0;
    }
    if (fresh && fd_check(e->fd) != 0)
        return -1;
    if (e->index) {
        p->fds[e->index].events = events;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        PollFd *fds = (PollFd *)realloc(p->fds, cap * sizeof *fds);
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
    p->fds[e->index].fd = POLL_FD(e->fd);
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
    int r = sys_poll(p->fds, p->n, costack__timeout_ms(timeout_ns));
    if (r <= 0)
        return r;
    if (p->fds[0].revents)
        wake_drain(&p->wake);
    for (i = 1; i < p->n; i++) {
        short ev = p->fds[i].revents;
        unsigned rev;
        if (!ev)
            continue;
        rev = (ev & REV_READ ? COSTACK_READABLE : 0u) |
              (ev & REV_WRITE ? COSTACK_WRITABLE : 0u) |
              (ev & (POLLERR | POLLHUP) ? COSTACK__FD_ERROR : 0u) |
              (ev & POLLNVAL ? COSTACK__FD_INVALID : 0u);
        costack__loop_fd_ready(loop, p->entries[i], rev);
    }
    return 0;
}

void costack__poller_notify(CostackPoller *p)
{
    wake_send(&p->wake);
}

#else
/* Not the poller of this target (loop.h). */
typedef int costack__poller_poll_unused;
#endif

/*
 * poller_wsapoll.c - the loop's poller on Windows (loop.h): WSAPoll over
 * the sockets that have waiters, and a loopback UDP socket connected to
 * itself for wakes from other threads (WSAPoll waits on sockets only, so
 * an event object cannot wake it; a datagram to itself can).  Timers are
 * the loop's own, as WSAPoll's timeout.  There is no single pollable
 * handle for an outer loop: costack_loop_fd fails with ENOTSUP, and an
 * outer loop can only call costack_loop_run_once when
 * costack_loop_timeout_ns says, or regularly.
 *
 * Only sockets can be waited on: any other CostackFd is EBADF.  The array
 * handed to WSAPoll holds the wake socket, then one slot per socket with
 * waiters, as in poller_poll.c.
 */
#include "loop.h"

#if defined(_WIN32)

#include "windows_sys.h"
#include <winsock2.h>
#include <ws2tcpip.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct CostackPoller {
    SOCKET wake;               /* UDP, connected to its own address */
    WSAPOLLFD *fds;            /* [0]: the wake socket */
    CostackFdEntry **entries;  /* entries[i] watches fds[i], i >= 1 */
    size_t n, cap;
};

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

static SOCKET wake_socket(void)
{
    struct sockaddr_in a;
    int len = (int)sizeof a;
    u_long nonblocking = 1;
    SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (s == INVALID_SOCKET)
        return s;
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
        WSASetLastError(e);
        return INVALID_SOCKET;
    }
    return s;
}

CostackPoller *costack__poller_new(void)
{
    WSADATA wsa;
    CostackPoller *p;
    int e;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        errno = EIO;
        return NULL;
    }
    p = (CostackPoller *)calloc(1, sizeof *p);
    if (!p) {
        WSACleanup();
        errno = ENOMEM;
        return NULL;
    }
    p->cap = 16;
    p->fds = (WSAPOLLFD *)calloc(p->cap, sizeof *p->fds);
    p->entries = (CostackFdEntry **)calloc(p->cap, sizeof *p->entries);
    if (!p->fds || !p->entries) {
        e = ENOMEM;
        goto fail;
    }
    p->wake = wake_socket();
    if (p->wake == INVALID_SOCKET) {
        e = errno_of_wsa(WSAGetLastError());
        goto fail;
    }
    p->fds[0].fd = p->wake;
    p->fds[0].events = POLLRDNORM;
    p->n = 1;
    return p;
fail:
    free(p->fds);
    free(p->entries);
    free(p);
    WSACleanup();
    errno = e;
    return NULL;
}

void costack__poller_free(CostackPoller *p)
{
    closesocket(p->wake);
    free(p->fds);
    free(p->entries);
    free(p);
    WSACleanup();
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
    SHORT events = (SHORT)((want & COSTACK_READABLE ? POLLRDNORM : 0) |
                           (want & COSTACK_WRITABLE ? POLLWRNORM : 0));
    if (!want) {
        if (e->index)
            slot_remove(p, e);
        return 0;
    }
    if (fresh) {
        /* A socket?  WSAPoll would report anything else only once it
         * runs (POLLNVAL), or fail as a whole. */
        int type, len = (int)sizeof type;
        if (getsockopt((SOCKET)e->fd, SOL_SOCKET, SO_TYPE, (char *)&type,
                       &len) != 0) {
            errno = errno_of_wsa(WSAGetLastError());
            return -1;
        }
    }
    if (e->index) {
        p->fds[e->index].events = events;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        WSAPOLLFD *fds = (WSAPOLLFD *)realloc(p->fds, cap * sizeof *fds);
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
    p->fds[e->index].fd = (SOCKET)e->fd;
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
    int r;
    for (i = 0; i < p->n; i++)
        p->fds[i].revents = 0;
    r = WSAPoll(p->fds, (ULONG)p->n, costack__timeout_ms(timeout_ns));
    if (r == SOCKET_ERROR) {
        errno = errno_of_wsa(WSAGetLastError());
        return -1;
    }
    if (r == 0)
        return 0;
    if (p->fds[0].revents) {
        char buf[64];
        while (recv(p->wake, buf, sizeof buf, 0) > 0)
            ;
    }
    for (i = 1; i < p->n; i++) {
        SHORT ev = p->fds[i].revents;
        unsigned rev;
        if (!ev)
            continue;
        rev = (ev & (POLLRDNORM | POLLRDBAND) ? COSTACK_READABLE : 0u) |
              (ev & POLLWRNORM ? COSTACK_WRITABLE : 0u) |
              (ev & (POLLERR | POLLHUP) ? COSTACK__FD_ERROR : 0u) |
              (ev & POLLNVAL ? COSTACK__FD_INVALID : 0u);
        costack__loop_fd_ready(loop, p->entries[i], rev);
    }
    return 0;
}

void costack__poller_notify(CostackPoller *p)
{
    char c = 1;
    (void)send(p->wake, &c, 1, 0); /* would block: a wake is queued */
}

#else
/* Not the poller of this target (loop.h). */
typedef int costack__poller_wsapoll_unused;
#endif

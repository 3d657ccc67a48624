/*
 * loop.h - the contract between the portable event loop (loop.c) and its
 * pollers, one per way of asking the system which fds are ready:
 *
 *   poller_epoll.c    Linux: epoll, and an eventfd for wakes from other
 *                     threads; the epoll fd is the loop's pollable fd
 *   poller_poll.c     an array of pollfds: other Unix (and Linux built
 *                     with -DCOSTACK_POLLER_POLL): poll(2) and a
 *                     self-pipe; Windows: WSAPoll on sockets, and a
 *                     loopback UDP socket that other threads send a byte to
 *
 * Every Unix build compiles both files; each compiles to nothing unless
 * it is the one for the target (COSTACK_POLLER_EPOLL below), so
 * sources.txt needs no rule per operating system.
 *
 * loop.c owns the fd entries (one per fd a coroutine waited on), their
 * waiters and what they want; a poller watches the fds it is told to and
 * reports what is ready.  Everything here runs on the loop's thread but
 * costack__poller_notify, which any thread calls.  Not installed.
 */
#ifndef COSTACK_LOOP_H
#define COSTACK_LOOP_H

#include "internal.h"

#if defined(__linux__) && !defined(COSTACK_POLLER_POLL)
#define COSTACK_POLLER_EPOLL 1
#endif

/* What a poller reports for an fd, besides COSTACK_READABLE and
 * COSTACK_WRITABLE: an error or hang-up (every waiter is woken with the
 * events it waits for: its next read or write says what happened), or an
 * fd that is not open (every waiter gets EBADF). */
#define COSTACK__FD_ERROR 4u
#define COSTACK__FD_INVALID 8u

typedef struct CostackPoller CostackPoller;
typedef struct CostackFdEntry CostackFdEntry;
typedef struct CostackLoopWait CostackLoopWait;

/* A list of waits (loop.c): an fd's waiters, or a batch being woken. */
typedef struct CostackWaitList {
    CostackLoopWait *first, *last;
} CostackWaitList;

/* One fd the loop knows: created on the first wait on it, freed by
 * costack_loop_close_fd or costack_loop_free. */
struct CostackFdEntry {
    CostackFd fd;
    unsigned want;             /* the union of the waiters' events */
    unsigned revents;          /* reported, not yet dispatched */
    CostackWaitList waiters;
    CostackFdEntry *ready_next, *ready_prev; /* loop's list of entries with
                                              * revents */
    int on_ready;
    /* The poller's own: */
    int registered;            /* epoll: in the epoll set */
    unsigned armed;            /* epoll: the events armed (one-shot) */
    size_t index;              /* poll, WSAPoll: slot in the fd array + 1,
                                * 0 when not watched */
};

/* A new poller (its wake-up fd included); NULL with errno. */
CostackPoller *costack__poller_new(void);
void costack__poller_free(CostackPoller *p);

/* The fd that is readable while the poller has something to report (the
 * epoll fd), or -1 with errno ENOTSUP. */
int costack__poller_fd(CostackPoller *p);

/* Watch e->fd for want (COSTACK_READABLE|COSTACK_WRITABLE; 0: no longer).
 * fresh: the entry had no waiter before this call, so the fd may have been
 * closed and its number reused since the poller last saw it: check the
 * registration anew.  0; 1 when the fd cannot be watched because it is
 * always ready (a regular file: epoll refuses those, poll says ready);
 * -1 with errno (EBADF for an fd that is not open, ENOMEM).  With want
 * 0 it never fails. */
int costack__poller_watch(CostackPoller *p, CostackFdEntry *e, unsigned want,
                          int fresh);

/* Forget e->fd before it is closed (costack_loop_close_fd) or the entry
 * freed. */
void costack__poller_forget(CostackPoller *p, CostackFdEntry *e);

/* Wait at most timeout_ns (negative: no limit; 0: do not block) for fds
 * or a notify, and report each ready fd with costack__loop_fd_ready.  A
 * notify is consumed (drained) here.  0, or -1 with errno (an interrupted
 * wait is 0). */
int costack__poller_wait(CostackPoller *p, CostackLoop *loop,
                         long long timeout_ns);

/* Make the current or next costack__poller_wait return.  Any thread;
 * async-signal-safe. */
void costack__poller_notify(CostackPoller *p);

/* For pollers: the entry of fd (NULL when the loop has none), and the
 * report that it is ready for revents (COSTACK_READABLE, COSTACK_WRITABLE,
 * COSTACK__FD_ERROR, COSTACK__FD_INVALID).  The report only records: the
 * waiters are woken after costack__poller_wait returns. */
CostackFdEntry *costack__loop_fd_entry(CostackLoop *loop, CostackFd fd);
void costack__loop_fd_ready(CostackLoop *loop, CostackFdEntry *e,
                            unsigned revents);

/* Milliseconds for a timeout of ns nanoseconds, rounded up so that a
 * poller never wakes before a timer is due (negative: -1, no limit). */
int costack__timeout_ms(long long ns);

#endif /* COSTACK_LOOP_H */

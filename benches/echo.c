/*
 * echo.c - why the event loop: the same TCP echo server written twice,
 * as coroutines on costack's loop (one task per connection, code that
 * reads as blocking: wait until readable, read, write) and as epoll
 * callbacks in plain C (one state struct per connection, a callback per
 * event), under the same client load in the same run.  Linux only.
 *
 *   benches/echo.sh [--conns=N] [--trips=N] [--size=B] [--reps=N]
 *
 * Each server runs on a thread of its own; the client, on the main
 * thread, opens --conns connections over the loopback, then keeps one
 * message of --size bytes in flight on each until --trips round trips
 * are done in all.  Per server it prints the round trips per second
 * (the median of --reps runs, the kinds alternating) and the memory per
 * connection: how much the process's resident memory grew while the
 * server accepted the connections and set each up to its first wait,
 * over --conns.  Both servers do the same system calls per message (one
 * read per readiness event, one write), but for one: every wait of the
 * loop's arms the fd's one-shot epoll registration again (epoll_ctl; see
 * csrc/poller_epoll.c for why).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "costack.h"

#define BUF_SIZE 4096

static int conns = 100;
static long trips = 100000;
static int msg_size = 64;
static int reps = 3;

static int ready; /* server connections set up (atomic) */
static size_t stack_used; /* the most a connection's stack used */

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void nonblocking(int fd)
{
    int one = 1, fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int listener(struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
        listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0)
        die("listen");
    return fd;
}

/* ---- the coroutine server -------------------------------------------------------- */

static CostackLoop *co_loop;
static int co_listen;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            if (costack_wait_fd(fd, COSTACK_WRITABLE, -1) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    size_t used = costack_stack_high_water(costack_self());
    if (used > stack_used)
        stack_used = used;
    __atomic_fetch_add(&ready, 1, __ATOMIC_RELEASE);
    for (;;) {
        ssize_t n;
        if (costack_wait_fd(fd, COSTACK_READABLE, -1) < 0)
            break;
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
            break;
    }
    costack_loop_close_fd(co_loop, fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(co_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        CostackTask *t;
        if (fd < 0) {
            if (errno == EAGAIN &&
                costack_wait_fd(co_listen, COSTACK_READABLE, -1) > 0)
                continue;
            return NULL; /* closed: the end */
        }
        nonblocking(fd);
        t = costack_loop_spawn(co_loop, connection, (void *)(intptr_t)fd,
                               NULL);
        if (!t)
            die("costack_loop_spawn");
        costack_task_detach(t);
    }
}

static void *co_server(void *arg)
{
    CostackTask *a;
    (void)arg;
    a = costack_loop_spawn(co_loop, acceptor, NULL, NULL);
    if (!a)
        die("spawn");
    costack_loop_run(co_loop); /* until stopped */
    costack_loop_close_fd(co_loop, co_listen); /* the acceptor ends */
    costack_loop_run(co_loop);                 /* and the rest */
    costack_task_join(a, NULL);
    return NULL;
}

/* ---- the callback server ------------------------------------------------------------ */

typedef struct Conn {
    int fd;
    char *pending; /* what a short write left, or NULL */
    size_t pending_len;
} Conn;

static int cb_epfd, cb_stop, cb_listen;

static void cb_close(Conn *c)
{
    epoll_ctl(cb_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static void cb_interest(Conn *c, uint32_t ev)
{
    struct epoll_event e;
    e.events = ev;
    e.data.ptr = c;
    epoll_ctl(cb_epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write p[0..n), keeping what does not fit for the writable callback. */
static int cb_send(Conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            c->pending = (char *)malloc(n);
            if (!c->pending)
                return -1;
            memcpy(c->pending, p, n);
            c->pending_len = n;
            cb_interest(c, EPOLLOUT);
            return 0;
        } else {
            return -1;
        }
    }
    return 0;
}

static void on_readable(Conn *c)
{
    char buf[BUF_SIZE];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0 || cb_send(c, buf, (size_t)n) < 0)
        cb_close(c);
}

static void on_writable(Conn *c)
{
    char *p = c->pending;
    size_t n = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    cb_interest(c, EPOLLIN);
    if (cb_send(c, p, n) < 0) {
        free(p);
        cb_close(c);
        return;
    }
    free(p);
}

static void on_accept(void)
{
    for (;;) {
        struct epoll_event e;
        Conn *c;
        int fd = accept4(cb_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        nonblocking(fd);
        c = (Conn *)calloc(1, sizeof *c);
        if (!c)
            die("calloc");
        c->fd = fd;
        e.events = EPOLLIN;
        e.data.ptr = c;
        if (epoll_ctl(cb_epfd, EPOLL_CTL_ADD, fd, &e) != 0)
            die("epoll_ctl");
        __atomic_fetch_add(&ready, 1, __ATOMIC_RELEASE);
    }
}

static void *cb_server(void *arg)
{
    struct epoll_event ev[128];
    (void)arg;
    for (;;) {
        int n = epoll_wait(cb_epfd, ev, 128, -1), i;
        for (i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &cb_listen) {
                on_accept();
            } else if (p == &cb_stop) {
                return NULL;
            } else if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP) &&
                       !((Conn *)p)->pending) {
                on_readable((Conn *)p);
            } else if (ev[i].events & EPOLLOUT) {
                on_writable((Conn *)p);
            }
        }
    }
}

/* ---- the client ------------------------------------------------------------------- */

typedef struct Client {
    int fd;
    int got; /* bytes of the echo received */
} Client;

static Client *clients;
static char *msg;

static void connect_all(const struct sockaddr_in *addr)
{
    int i;
    for (i = 0; i < conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)addr,
                              sizeof *addr) != 0)
            die("connect");
        nonblocking(fd);
        clients[i].fd = fd;
        clients[i].got = 0;
    }
}

static double cpu_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keep one message in flight per connection until trips round trips;
 * *cpu gets the server thread's CPU seconds meanwhile. */
static double run_load(clockid_t server, double *cpu)
{
    struct epoll_event ev[128];
    long sent = 0, done = 0;
    char buf[BUF_SIZE];
    double t0;
    int ep = epoll_create1(EPOLL_CLOEXEC), i;
    if (ep < 0)
        die("epoll_create1");
    for (i = 0; i < conns; i++) {
        struct epoll_event e;
        e.events = EPOLLIN;
        e.data.ptr = &clients[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &e);
    }
    t0 = now_s();
    *cpu = cpu_s(server);
    for (i = 0; i < conns && sent < trips; i++, sent++)
        if (write(clients[i].fd, msg, (size_t)msg_size) != msg_size)
            die("client write");
    while (done < trips) {
        int n = epoll_wait(ep, ev, 128, -1);
        for (i = 0; i < n; i++) {
            Client *c = (Client *)ev[i].data.ptr;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                die("client read");
            }
            c->got += (int)r;
            if (c->got < msg_size)
                continue;
            c->got -= msg_size;
            done++;
            if (sent < trips) {
                if (write(c->fd, msg, (size_t)msg_size) != msg_size)
                    die("client write");
                sent++;
            }
        }
    }
    *cpu = cpu_s(server) - *cpu;
    close(ep);
    return (double)trips / (now_s() - t0);
}

static void close_all(void)
{
    int i;
    for (i = 0; i < conns; i++)
        close(clients[i].fd);
}

/* One run of one server: round trips per second; *mem gets the resident
 * bytes per connection, *cpu the server's CPU microseconds per trip. */
static double run_server(int coroutines, double *mem, double *cpu)
{
    struct sockaddr_in addr;
    pthread_t th;
    clockid_t server;
    long before, after;
    double rate;
    __atomic_store_n(&ready, 0, __ATOMIC_RELEASE);
    if (coroutines) {
        co_listen = listener(&addr);
        co_loop = costack_loop_new();
        if (!co_loop)
            die("costack_loop_new");
        if (pthread_create(&th, NULL, co_server, NULL) != 0)
            die("pthread_create");
    } else {
        struct epoll_event e;
        cb_listen = listener(&addr);
        cb_epfd = epoll_create1(EPOLL_CLOEXEC);
        cb_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        e.events = EPOLLIN;
        e.data.ptr = &cb_listen;
        epoll_ctl(cb_epfd, EPOLL_CTL_ADD, cb_listen, &e);
        e.data.ptr = &cb_stop;
        epoll_ctl(cb_epfd, EPOLL_CTL_ADD, cb_stop, &e);
        if (pthread_create(&th, NULL, cb_server, NULL) != 0)
            die("pthread_create");
    }
    usleep(20000); /* the server thread is up and waits */
    before = rss_bytes();
    connect_all(&addr);
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < conns)
        usleep(1000);
    usleep(20000); /* the last ones reached their wait */
    after = rss_bytes();
    *mem = (double)(after - before) / conns;
    if (pthread_getcpuclockid(th, &server) != 0)
        die("pthread_getcpuclockid");
    rate = run_load(server, cpu);
    *cpu = *cpu * 1e6 / (double)trips;
    close_all();
    if (coroutines) {
        costack_loop_stop(co_loop);
        pthread_join(th, NULL);
        if (costack_loop_free(co_loop) != 0)
            die("costack_loop_free");
    } else {
        uint64_t one = 1;
        if (write(cb_stop, &one, sizeof one) != sizeof one)
            die("eventfd");
        pthread_join(th, NULL);
        close(cb_listen);
        close(cb_stop);
        close(cb_epfd);
        /* Connections the client closed: their Conns are freed when read
         * returns 0, which the stopped server may not have seen. */
    }
    return rate;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    double rate[2][64], mem[2][64], cpu[2][64], r[2], m[2], c[2];
    int i, k;
    for (i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--conns=", 8))
            conns = atoi(argv[i] + 8);
        else if (!strncmp(argv[i], "--trips=", 8))
            trips = atol(argv[i] + 8);
        else if (!strncmp(argv[i], "--size=", 7))
            msg_size = atoi(argv[i] + 7);
        else if (!strncmp(argv[i], "--reps=", 7))
            reps = atoi(argv[i] + 7);
        else {
            fprintf(stderr, "usage: echo [--conns=N] [--trips=N] "
                            "[--size=B] [--reps=N]\n");
            return 2;
        }
    }
    if (conns < 1 || trips < 1 || msg_size < 1 || msg_size > BUF_SIZE ||
        reps < 1 || reps > 64) {
        fprintf(stderr, "echo: out of range\n");
        return 2;
    }
    /* Every run maps fresh stacks (none from a pool, whose pages an
     * earlier run touched), so that each measures its own memory. */
    costack_pool_set_max(0);
    clients = (Client *)calloc((size_t)conns, sizeof *clients);
    msg = (char *)malloc((size_t)msg_size);
    if (!clients || !msg)
        die("malloc");
    memset(msg, 'x', (size_t)msg_size);
    printf("echo: %d connections, %ld round trips of %d bytes, %d runs "
           "each (backend %s)\n",
           conns, trips, msg_size, reps, costack_backend_name());
    for (i = 0; i < reps; i++)
        for (k = 0; k < 2; k++) {
            /* Alternate which goes first, so drift hits both alike. */
            int kind = (i + k) % 2;
            rate[kind][i] =
                run_server(kind == 0, &mem[kind][i], &cpu[kind][i]);
        }
    for (k = 0; k < 2; k++) {
        r[k] = median(rate[k], reps);
        m[k] = median(mem[k], reps);
        c[k] = median(cpu[k], reps);
    }
    printf("%-28s %12s %16s %14s\n", "server", "trips/s", "server us/trip",
           "bytes/conn");
    printf("%-28s %12.0f %16.2f %14.0f\n", "coroutines (costack loop)", r[0],
           c[0], m[0]);
    printf("%-28s %12.0f %16.2f %14.0f\n", "epoll callbacks (plain C)", r[1],
           c[1], m[1]);
    printf("coroutines / callbacks: %.2fx throughput (wall clock), %.2fx "
           "(server CPU time per trip)\n",
           r[0] / r[1], c[1] / c[0]);
    printf("a connection's coroutine stack: %zu bytes used (of %zu "
           "reserved); a callback connection: a %zu-byte struct\n",
           stack_used, (size_t)COSTACK_DEFAULT_STACK_SIZE, sizeof(Conn));
    return 0;
}

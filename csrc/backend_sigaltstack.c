/*
 * backend_sigaltstack.c - a signal handler gets a new stack going; switches
 * are _setjmp/_longjmp (switch_setjmp.h).  The GNU Pth recipe, for systems
 * without a usable makecontext.
 *
 * To get onto a new stack: block SIGUSR2, make the new stack this thread's
 * alternate signal stack, send SIGUSR2 to this thread and wait for it.  The
 * handler runs on the new stack, saves a jump buffer and returns.  The
 * creator puts the previous alternate stack and mask back, then jumps into
 * the saved buffer: execution continues on the new stack, in a frame the
 * handler left behind, with no signal context around it any more.  All of
 * that is about ten system calls per new stack and none per switch.
 *
 * SIGUSR2 is reserved for this.  Its handler is installed once and never
 * reset: restoring the old action while another thread raises the signal
 * would kill the process.  A program that installs a handler of its own
 * for SIGUSR2 afterwards would take our signal and leave the creator
 * waiting for ever, so every bootstrap checks that the handler is still
 * ours, before sending the signal and whenever the wait ends without it,
 * and aborts with a message that says so.
 */

/* The bootstrap longjmps between the new stack and the creator's; glibc's
 * fortified longjmp would abort (see switch_setjmp.h). */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "backend.h"
#include "platform.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif

#define BOOT_SIGNAL SIGUSR2

/* ThreadSanitizer defers a signal that arrives outside its own blocking
 * calls and runs the handler later, on the interrupted stack rather than
 * the alternate one, so no new stack would ever be started. */
#if defined(COSTACK_TSAN)
#error "costack: the sigaltstack backend cannot run under ThreadSanitizer (it runs signal handlers on the interrupted stack); use the asm or ucontext backend"
#endif

const char costack__backend_name[] = "sigaltstack";

/* The bootstrap in progress on this thread (one at a time per thread). */
typedef struct Boot {
    CostackCoroutine *co;
    jmp_buf creator;
    jmp_buf handler;
    volatile sig_atomic_t called;
} Boot;

static COSTACK_THREAD_LOCAL Boot *volatile current_boot;

static COSTACK_NOINLINE Boot *get_boot(void)
{
    COSTACK_BARRIER();
    return current_boot;
}

/* Run costack__coroutine_main(co) as the outermost frame of the stack: its
 * return address is 0, which stack walkers (the unwinder behind backtraces,
 * Rust's panic backtraces, debuggers) take as the end of the stack.
 * Otherwise they would walk on through the signal frame below into the
 * creator's stack as it was during the bootstrap, long since reused, and
 * crash.  Elsewhere, a plain call (the walk may go astray there). */
static COSTACK_NORETURN void run_outermost(CostackCoroutine *co)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ __volatile__("and $-16, %%rsp\n\t"
                         "xor %%ebp, %%ebp\n\t"
                         "push $0\n\t"
                         "jmp *%1"
                         :
                         : "D"(co), "r"(&costack__coroutine_main)
                         : "memory");
    __builtin_unreachable();
#elif defined(__aarch64__) && defined(__GNUC__)
    register CostackCoroutine *x0 __asm__("x0") = co;
    register void (*x16)(CostackCoroutine *) __asm__("x16") =
        &costack__coroutine_main;
    __asm__ __volatile__("mov x9, sp\n\t"
                         "and x9, x9, #-16\n\t"
                         "mov sp, x9\n\t"
                         "mov x29, xzr\n\t"
                         "mov x30, xzr\n\t"
                         "br x16"
                         :
                         : "r"(x0), "r"(x16)
                         : "x9", "memory");
    __builtin_unreachable();
#else
    costack__coroutine_main(co);
#endif
}

static COSTACK_NOINLINE void bootstrap(void)
{
    Boot *boot = get_boot();
    CostackCoroutine *co = boot->co;

    COSTACK_SETJMP_PARK(co, boot->creator);
    run_outermost(co);
}

static void on_boot_signal(int sig)
{
    Boot *boot = get_boot();
    (void)sig;
    if (!boot)
        return; /* not ours: nothing is being bootstrapped here */
    if (!_setjmp(boot->handler)) {
        boot->called = 1;
        return;
    }
    /* Reached by the creator's longjmp, outside any signal context. */
    bootstrap();
}

static int handler_error;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_boot_signal;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(BOOT_SIGNAL, &sa, NULL) != 0)
        handler_error = errno ? errno : EINVAL;
}

/* Abort, naming the cause, unless SIGUSR2's handler is still ours. */
static void check_handler(void)
{
    struct sigaction cur;
    if (sigaction(BOOT_SIGNAL, NULL, &cur) == 0 &&
        !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_boot_signal)
        return;
    costack__die("costack: the sigaltstack backend starts coroutine stacks "
                 "with SIGUSR2, and the program has replaced its handler "
                 "(SIGUSR2 is reserved while this backend is in use)");
}

static int start_stack(CostackCoroutine *co)
{
    Boot boot;
    sigset_t block, old_mask, wait_mask;
    stack_t ss, old_ss;
    int e;

    memset(&boot, 0, sizeof(boot));
    boot.co = co;

    sigemptyset(&block);
    sigaddset(&block, BOOT_SIGNAL);
    if ((e = pthread_sigmask(SIG_BLOCK, &block, &old_mask)) != 0) {
        errno = e;
        return -1;
    }
    ss.ss_sp = co->stack.lo;
    ss.ss_size = co->stack.size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, &old_ss) != 0) {
        e = errno;
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        errno = e;
        return -1;
    }

    current_boot = &boot;
    check_handler();
    pthread_kill(pthread_self(), BOOT_SIGNAL);
    sigfillset(&wait_mask);
    sigdelset(&wait_mask, BOOT_SIGNAL);
    while (!boot.called) {
        sigsuspend(&wait_mask);
        /* A handler ran, and not ours, if the bootstrap did not happen. */
        if (!boot.called)
            check_handler();
    }

    /* Put the thread's previous signal stack back (or none). */
    memset(&ss, 0, sizeof(ss));
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    if (!(old_ss.ss_flags & SS_DISABLE))
        sigaltstack(&old_ss, NULL);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    /* Into the handler's frame, now an ordinary frame on the new stack.
     * Valgrind saw the handler return and marked its frame dead; nothing
     * tells it we go back there (a switch to a registered stack is not
     * tracked), so say that the stack is addressable again. */
#if defined(VALGRIND_MAKE_MEM_UNDEFINED)
    VALGRIND_MAKE_MEM_UNDEFINED(co->stack.lo, co->stack.size);
#endif
    if (!_setjmp(boot.creator)) {
        costack__san_boot_depart(co);
        _longjmp(boot.handler, 1);
    }
    costack__san_boot_returned();
    current_boot = NULL;
    return 0;
}

int costack__backend_create(CostackCoroutine *co, size_t stack_size,
                            size_t guard_size)
{
    pthread_once(&handler_once, install_handler);
    if (handler_error) {
        errno = handler_error;
        return -1;
    }
    if (costack__setjmp_prepare(co, stack_size, guard_size) != 0)
        return -1;
    if (start_stack(co) != 0) {
        int e = errno;
        costack__backend_free(co);
        errno = e;
        return -1;
    }
    return 0;
}

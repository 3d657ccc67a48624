/*
 * costack.h - stackful coroutines for C and C++ (the native costack API).
 *
 * A coroutine is a function that runs on its own stack and can suspend
 * itself (costack_yield) in the middle of its work; the code that entered it
 * (costack_enter) continues, and can enter it again later to resume it where
 * it stopped.  Code that reads as synchronous can so be asynchronous
 * underneath: a coroutine issues a request, yields to its caller's event
 * loop, and is entered again when the answer arrives.
 *
 * Model
 *   - costack_enter(co) makes the current coroutine (or the thread's leader,
 *     outside any coroutine) the caller of co and switches to co.
 *   - costack_yield() switches back to the caller of the current coroutine
 *     and forgets that caller: the next costack_enter sets a new one.
 *   - When a coroutine's entry function returns, the coroutine terminates,
 *     control returns to its caller, and the coroutine object is released
 *     (kept in a pool for the next costack_create).  Its handle is invalid
 *     from then on: using it is undefined behaviour.  costack catches what
 *     it can (a handle whose object sits in the pool aborts with "has
 *     terminated or was destroyed"), but once costack_create reuses the
 *     object the stale handle drives the new coroutine.  With
 *     COSTACK_DEBUG=1 in the environment nothing is pooled and ended
 *     coroutines' objects are kept aside (the 65536 most recent), so every
 *     use of a stale handle aborts with that message.
 *   - An entry function must return normally: leaving a coroutine by
 *     longjmp (or siglongjmp) to a point outside it is undefined
 *     behaviour (costack would still believe the coroutine runs, and a
 *     later yield would jump to a stale stack pointer).  Return, or yield
 *     and let the caller destroy the coroutine.  A C++ exception must not
 *     escape an entry function either: the frames below it are costack's,
 *     C code built without unwind tables, so the C++ runtime calls
 *     std::terminate; catch it inside the entry function.
 *   - Coroutines nest: a coroutine may enter another; yield always returns to
 *     the immediate caller.
 *
 * Threads
 *   Every thread has its own chain of active coroutines.  A suspended
 *   coroutine (entered before, now yielded) may be entered later from another
 *   thread, provided the program orders the two threads' accesses (a mutex,
 *   for example costack_global_lock).  The core reads its thread-local state
 *   afresh after every switch, so a coroutine that moved sees its new thread.
 *   Code that runs in such a coroutine must do the same with its own
 *   thread-locals: a compiler may keep a thread-local's address, or the
 *   result of a function declared const (glibc's pthread_self() is), from
 *   before a costack_yield to after it.  Read them through a function the
 *   compiler does not inline, as QEMU does.
 *
 * The global mutex
 *   The process has one costack mutex (costack_global_lock).  The C API never
 *   takes it by itself; the Rust API runs coroutines only while it is held,
 *   so C code that wants to share data with Rust coroutines takes it too.
 *
 * fork() (Unix)
 *   The child of a fork can use costack.  Its global mutex is free, unless
 *   the thread that forked held it (then the child's one thread holds it);
 *   data another thread was changing under it may be half-changed, as with
 *   any mutex at fork.  fork never waits for the global mutex.  Coroutines
 *   suspended at the fork exist in the child too and can be entered there.
 *
 * Errors
 *   What a caller can handle returns NULL with errno set: resource
 *   exhaustion (ENOMEM, EAGAIN) and invalid arguments (EINVAL) from
 *   costack_create.  Misuse (entering a running coroutine, yielding outside
 *   a coroutine, a NULL or stale coroutine handle, ...) prints one line
 *   starting "costack:" (or QEMU's message, where QEMU has one) to stderr
 *   and aborts.
 *
 * Stack overflow
 *   Below every stack lies a guard of inaccessible memory (64 KiB unless
 *   CostackOptions.guard_size says otherwise).  A coroutine that overflows
 *   its stack faults there, and costack prints "costack: coroutine stack
 *   overflow (coroutine 0x..., stack N bytes)" and dies of the fault.  A
 *   single frame larger than the guard (a large local array, alloca, a
 *   signal handler's frame on the coroutine's stack) can jump it and write
 *   into whatever lies below, another coroutine's stack included: build
 *   code that has such frames and runs in coroutines with
 *   -fstack-clash-protection (gcc, clang), which touches every page of a
 *   large frame in order, or give those coroutines a larger guard.  The
 *   core itself is built with it where the compiler has it.  On Windows
 *   every frame larger than a page probes its pages (__chkstk) and the
 *   system guards fiber stacks, so no frame can jump the guard.
 *
 * Signals (Unix)
 *   A SIGSEGV/SIGBUS handler reports overflows of a coroutine's stack (a
 *   fault in its guard, or below its stack with the stack pointer there
 *   too) and passes every other fault on to the handler installed before
 *   it.  The sigaltstack backend reserves SIGUSR2: a program that installs
 *   its own handler for it makes the next costack_create abort with a
 *   message that says so.
 *
 * Floating-point control state
 *   The rounding mode and the rest of the floating-point control state
 *   (x86-64: the control bits of MXCSR and the x87 control word; aarch64:
 *   FPCR) are the thread's: by default a switch leaves them as they are,
 *   so a rounding mode that a coroutine sets (fesetround) is still set in
 *   its caller after the coroutine yields, and the other way round.  C
 *   code that changes the control state inside a coroutine, or around
 *   costack_enter, and wants each side to keep its own, creates the
 *   coroutine with COSTACK_KEEP_FP_CONTROL in CostackOptions.flags: then
 *   every switch into that coroutine gives it back the state it had when
 *   it last yielded, every switch out of it gives its caller back the
 *   state the caller had when it entered it, and the coroutine starts with
 *   the state of the thread that created it.  That costs a few
 *   nanoseconds per switch, and only that coroutine's switches pay; code
 *   that leaves the control state alone (Rust code always does) never
 *   needs it.  The same on every Unix backend; for targets other than
 *   x86-64 and aarch64 (or compilers other than gcc and clang) the flag
 *   keeps nothing.  Windows fibers keep the state per fiber whatever the
 *   flag says (FIBER_FLAG_FLOAT_SWITCH).
 */
#ifndef COSTACK_H
#define COSTACK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A coroutine.  Opaque; created by costack_create, released when its entry
 *  function returns (or by costack_destroy). */
typedef struct CostackCoroutine CostackCoroutine;

/** A coroutine's entry function; it receives the opaque given to create. */
typedef void CostackEntry(void *opaque);

/** The default stack size: 1 MiB, as in QEMU. */
#define COSTACK_DEFAULT_STACK_SIZE ((size_t)1 << 20)
/** The smallest stack size accepted by costack_create_with. */
#define COSTACK_MIN_STACK_SIZE ((size_t)16 << 10)
/** The largest stack size accepted by costack_create_with: 1 GiB. */
#define COSTACK_MAX_STACK_SIZE ((size_t)1 << 30)
/** The default guard size: 64 KiB of inaccessible memory below every stack,
 *  so that a frame up to that size which overflows faults in the guard
 *  instead of writing past it (see "Stack overflow" above). */
#define COSTACK_DEFAULT_GUARD_SIZE ((size_t)64 << 10)
/** The largest guard size accepted by costack_create_with: 64 MiB. */
#define COSTACK_MAX_GUARD_SIZE ((size_t)64 << 20)

/** Options for costack_create_with.  Zero-initialise, then set fields. */
typedef struct CostackOptions {
    /** Usable stack size in bytes, not counting the guard; 0 means
     *  COSTACK_DEFAULT_STACK_SIZE.  Rounded up to the page size. */
    size_t stack_size;
    /** Bytes of inaccessible guard below the stack; 0 means
     *  COSTACK_DEFAULT_GUARD_SIZE.  Rounded up to the page size.  Guards
     *  cost address space and a few page-table entries, not memory.
     *  Ignored on Windows, where the system guards fiber stacks and every
     *  frame larger than a page probes its pages. */
    size_t guard_size;
    /** Bytes of user data the coroutine keeps for its user, readable and
     *  writable through costack_user_data from create until the coroutine
     *  terminates or is destroyed; 0 means none.  At most
     *  COSTACK_MAX_USER_SIZE. */
    size_t user_size;
    /** COSTACK_KEEP_FP_CONTROL, or 0 (see "Floating-point control state"
     *  above). */
    unsigned int flags;
} CostackOptions;

/** CostackOptions.flags: the coroutine keeps a floating-point control
 *  state of its own (see "Floating-point control state" above). */
#define COSTACK_KEEP_FP_CONTROL 1u

/** Process-wide counters (a snapshot; each field is read atomically). */
typedef struct CostackStats {
    /** Coroutines created and not yet terminated or destroyed. */
    size_t live;
    /** Terminated coroutines kept, stack and all, for reuse by create. */
    size_t pooled;
    /** Coroutine stacks currently allocated (of live and pooled
     *  coroutines).  Each is a mapping of its own or, where the kernel has
     *  MADV_GUARD_INSTALL (Linux 6.13+), a slot carved from a larger
     *  mapping (a slab) shared with other stacks of the same size. */
    size_t stacks_mapped;
    /** Bytes of address space those stacks occupy, guards included
     *  (reserved, not resident: see costack_stack_high_water for what a
     *  stack actually uses). */
    size_t stack_bytes_mapped;
    /** Bytes of address space costack holds for stacks: the stacks above
     *  plus slab slots that hold no stack and empty slabs kept for reuse
     *  (costack_pool_set_max gives the empty slabs back).  Reserved, not
     *  resident: free slots hold no memory. */
    size_t stack_address_space;
} CostackStats;

/**
 * Create a coroutine that will run entry(opaque) on a new stack of the
 * default size.  It does not run until costack_enter.  Any thread.
 * Returns NULL with errno set when memory or mappings are exhausted
 * (ENOMEM) or the system refuses (EAGAIN); never aborts for that.
 */
CostackCoroutine *costack_create(CostackEntry *entry, void *opaque);

/**
 * As costack_create, with options (NULL means defaults).  A stack size
 * below COSTACK_MIN_STACK_SIZE or above COSTACK_MAX_STACK_SIZE, a guard
 * size above COSTACK_MAX_GUARD_SIZE, or a user_size above
 * COSTACK_MAX_USER_SIZE gives NULL with errno EINVAL; so does a NULL entry
 * (for costack_create too).
 */
CostackCoroutine *costack_create_with(CostackEntry *entry, void *opaque,
                                      const CostackOptions *options);

/**
 * Enter co: run it until it yields or terminates, then return.  The current
 * coroutine (or the thread's leader) becomes co's caller.  Any thread, for a
 * coroutine that is not currently active (see the thread notes above).
 * Aborts with "Co-routine re-entered recursively" if co already has a caller
 * (it is running, or in the chain of active coroutines), and with a
 * "costack:" message if co is NULL, a thread's leader or has terminated
 * (as far as that can be told: see the Model notes on stale handles).
 */
void costack_enter(CostackCoroutine *co);

/**
 * Suspend the current coroutine and switch back to its caller, which
 * continues after its costack_enter.  Returns when the coroutine is entered
 * again.  Aborts with "Co-routine is yielding to no one" outside a coroutine.
 */
void costack_yield(void);

/** The current coroutine; outside any coroutine, the calling thread's
 *  leader (never NULL).  The leader can be compared but not entered. */
CostackCoroutine *costack_self(void);

/** Non-zero when the calling code runs inside a coroutine. */
int costack_in_coroutine(void);

/** Non-zero while co is active: entered and not yet yielded (it is running,
 *  or it entered another coroutine that is).  Zero for a suspended or
 *  never-entered coroutine.  Non-zero for a thread's leader.  Aborts with a
 *  "costack:" message for NULL or an ended coroutine. */
int costack_entered(const CostackCoroutine *co);

/**
 * Release a coroutine that is not active (never entered, or suspended in
 * costack_yield) without running it further.  Nothing on its stack is
 * cleaned up: memory it allocated and not yet freed leaks.  Aborts with a
 * "costack:" message if co is NULL, active, or has ended (as far as that
 * can be told: see the Model notes on stale handles).
 */
void costack_destroy(CostackCoroutine *co);

/** Usable stack size of co in bytes (the guard not counted).  Aborts with
 *  a "costack:" message for NULL or an ended coroutine. */
size_t costack_stack_size(const CostackCoroutine *co);

/** The alignment of the user data (costack_user_data), in bytes. */
#define COSTACK_USER_DATA_ALIGN 16
/** The largest CostackOptions.user_size accepted: 1 GiB. */
#define COSTACK_MAX_USER_SIZE ((size_t)1 << 30)
/** User data of at most this many bytes stays with a coroutine that goes
 *  to the pool, for reuse by the next create; larger user data is freed
 *  when its coroutine ends. */
#define COSTACK_POOLED_USER_SIZE 1024

/**
 * The user data of co: CostackOptions.user_size bytes (NULL when that was
 * 0), aligned to COSTACK_USER_DATA_ALIGN, uninitialised at create (a
 * coroutine reused from the pool may hand out what an earlier one wrote),
 * and valid until co terminates or is destroyed.  It lives with the
 * coroutine object, so that a wrapper can keep its per-coroutine state
 * there instead of allocating a block of its own: a create that reuses a
 * pooled coroutine whose user data is large enough (see
 * COSTACK_POOLED_USER_SIZE) allocates nothing.  Any thread.  Aborts with a
 * "costack:" message for NULL or an ended coroutine.
 */
void *costack_user_data(const CostackCoroutine *co);

/**
 * Stack usage report: how deep co's stack has been used so far, in bytes
 * from its top, so that stack sizes can be chosen from measurements.
 *
 * Measured, not painted: a stack's pages start untouched and the system
 * backs a page with memory only when it is first used, so the lowest backed
 * page is the deepest the stack went.  The report asks the system which
 * pages are resident: mincore on Unix (one system call per 1 MiB of stack),
 * QueryWorkingSetEx on Windows (one per 256 KiB).  Nothing is paid at
 * create or switch.  Any thread, at any time (a coroutine running elsewhere gives a
 * snapshot).
 *
 * The result is a multiple of the page size, at most costack_stack_size(co),
 * and counts whole pages: a frame that touches one byte of a page counts the
 * page.  Once created, a coroutine usually reports a page or more already:
 * the frames that start its stack, at the top.  Beware:
 *   - Reuse.  costack_create may give a new coroutine the stack of one that
 *     terminated earlier (the pool, see costack_pool_set_max): that stack
 *     keeps the pages its earlier users touched, so the report is the
 *     deepest use of the stack by any coroutine that ran on it.  For a
 *     number that is one coroutine's own, create it with the pool disabled
 *     (costack_pool_set_max(0), which empties the shared pool and the
 *     calling thread's): a stack that leaves the pool is cleared (its
 *     memory given back) before another coroutine gets it.
 *   - Swap.  A page the system swapped out (or, on Windows, trimmed from
 *     the working set) is not counted, so under memory pressure the report
 *     can be too low.
 *   - A large local array that is never touched does not count, although
 *     the stack must still be big enough to hold it.
 * Returns 0 for a thread's leader (its stack is not costack's).  Aborts
 * with a "costack:" message if co has terminated and sits in the pool.
 */
size_t costack_stack_high_water(const CostackCoroutine *co);

/** The global costack mutex: lock it.  Aborts with a "costack:" message if
 *  the calling thread already holds it (it is not recursive). */
void costack_global_lock(void);
/** Try to lock the global mutex; non-zero on success.  Aborts as
 *  costack_global_lock if the calling thread already holds it. */
int costack_global_trylock(void);
/** Unlock the global mutex.  Aborts with a "costack:" message if the
 *  calling thread does not hold it. */
void costack_global_unlock(void);
/** Non-zero if the calling thread holds the global mutex. */
int costack_global_lock_held(void);

/** Called after each release of the global mutex by costack_global_unlock
 *  (the loop's release while it sleeps included), on the releasing thread,
 *  which then holds no costack lock.  It must not block on the global
 *  mutex (a trylock is fine) and must return normally. */
typedef void CostackReleaseHook(void);
/** Set the release hook (NULL: none); one per process.  The Rust async
 *  bridge sets it to wake the tasks whose poll found the mutex taken. */
void costack_global_set_release_hook(CostackReleaseHook *hook);

/**
 * Set the most terminated coroutines kept for reuse, over all threads (each
 * thread keeps a small batch of its own, the rest is shared).  Where every
 * stack needs kernel mappings of its own (Linux before 6.13, or
 * COSTACK_NO_MADV_GUARD=1 in the environment), the effective limit is also
 * capped by the kernel's mapping limit (vm.max_map_count), as QEMU does;
 * stacks carved from slabs need none.  0 disables pooling.  Surplus
 * coroutines of the shared pool and of the calling thread's batch are freed
 * at once; other threads' batches shrink when those threads next finish a
 * coroutine, or go to the shared pool when they exit.  Any thread.
 */
void costack_pool_set_max(size_t max);
/** The effective pool limit (after the mapping-limit cap). */
size_t costack_pool_max(void);

/** Fill *stats with a snapshot of the process-wide counters. */
void costack_stats(CostackStats *stats);

/** The name of the backend compiled in: "ucontext", "sigaltstack", ... */
const char *costack_backend_name(void);

/* ==== Waiting and waking ==================================================
 *
 * A coroutine waits (costack_wait) until something wakes it
 * (costack_wake).  Every primitive below (queues, mutexes, rwlocks, sleeps,
 * fd waits) is a wait and a wake.
 *
 * When a woken coroutine runs
 *   Woken from inside another coroutine, it does not run at once: it runs
 *   when the waker next yields or terminates, before control goes back to
 *   the waker's resumer.  Several woken coroutines run in the order they
 *   were woken, and the coroutines each of them wakes run before the
 *   older ones (depth-first), as QEMU's coroutines do.  Woken from outside
 *   any coroutine, it is entered at once, before costack_wake returns.  A
 *   coroutine that belongs to an event loop (costack_loop_spawn) is woken
 *   through its loop instead: it runs when the loop dispatches it.  Which
 *   of these applies is the coroutine's wake hook (costack_set_wake_hook):
 *   none means the two rules above; a loop, or the Rust async bridge (a
 *   task's Waker), sets its own.
 *
 * Who may wake whom
 *   A coroutine's home is the loop or thread that last entered it.  A
 *   queue, mutex or rwlock, and every coroutine that waits on it, are used
 *   by one thread at a time: either every thread that touches them holds
 *   the global mutex (costack_global_lock; Rust always does), or they all
 *   belong to one loop's thread.  From any other thread the only wake
 *   allowed is costack_loop_schedule, which enqueues and never enters.
 *   With COSTACK_DEBUG=1 in the environment each queue, mutex and rwlock
 *   records the thread that used it last, and a use from another thread
 *   by a thread that does not hold the global mutex aborts.
 *
 * Misuse
 *   Waking a coroutine that does not wait, or waking it a second time
 *   before it ran, aborts ("costack: costack_wake: ...").  costack_enter
 *   on a coroutine that waits aborts too: only its wake resumes it.
 *   costack_destroy of a waiting (or woken, not yet run) coroutine first
 *   takes it off whatever it waits on.  A coroutine that terminates, or is
 *   destroyed, while it holds a mutex or rwlock aborts with the number of
 *   locks it held.
 */

/** Called when a wait ends (woken, timed out by its loop, or the waiter
 *  destroyed), before anything else happens to co: take co off whatever
 *  it waits on.  Must not switch. */
typedef void CostackDetach(CostackCoroutine *co, void *arg);

/**
 * Suspend the running coroutine until costack_wake(it).  detach(self,
 * arg) is called when the wait ends (see CostackDetach; NULL for none).
 * Aborts outside a coroutine ("costack: costack_wait: outside a
 * coroutine").  A coroutine is woken at most once per wait.
 */
void costack_wait(CostackDetach *detach, void *arg);

/**
 * Wake co, which waits in costack_wait: see "When a woken coroutine
 * runs".  Aborts if co does not wait or was woken already.
 */
void costack_wake(CostackCoroutine *co);

/** Whether co waits in costack_wait and has not been woken. */
int costack_waiting(const CostackCoroutine *co);

/** A wake hook: called by costack_wake(co), after co's wait was detached,
 *  instead of the default (defer or enter).  It must see to it that co is
 *  entered later with costack_enter, on co's home thread. */
typedef void CostackWakeHook(CostackCoroutine *co, void *arg);

/** Give co a wake hook (NULL: the default).  Kept until co terminates or
 *  is destroyed, or the hook is changed. */
void costack_set_wake_hook(CostackCoroutine *co, CostackWakeHook *hook,
                           void *arg);

/* ---- Queues ---------------------------------------------------------------
 * A FIFO of waiting coroutines (QEMU's CoQueue).  A plain struct: embed it
 * or declare it anywhere, initialise it with COSTACK_QUEUE_INIT or
 * costack_queue_init.  Its fields are private.  An empty queue owns
 * nothing: it can be dropped (or go out of scope) at any time; one with
 * waiters must outlive them (or they must be destroyed first, which takes
 * them off it).  The woken run as "When a woken coroutine runs" says.
 *
 *   static CostackQueue ready = COSTACK_QUEUE_INIT;
 *   // a consumer (in a coroutine):
 *   while (!item_available())
 *       costack_queue_wait(&ready);
 *   // a producer (in a coroutine, or outside any):
 *   add_item();
 *   costack_queue_next(&ready);
 */
typedef struct CostackQueue {
    CostackCoroutine *first_, *last_;
    void *debug_thread_;
} CostackQueue;
#define COSTACK_QUEUE_INIT {NULL, NULL, NULL}

/** Make q an empty queue. */
void costack_queue_init(CostackQueue *q);
/** Wait at the tail of q until woken (costack_queue_next, _wake_all, or
 *  costack_wake).  In a coroutine only: aborts outside one
 *  ("costack: costack_queue_wait: outside a coroutine"). */
void costack_queue_wait(CostackQueue *q);
/** As costack_queue_wait, at the head of q: for a woken coroutine that
 *  must wait again without losing its turn. */
void costack_queue_wait_head(CostackQueue *q);
/** Wake the first waiter of q; 1 if there was one, 0 if q was empty.  In
 *  a coroutine or outside any (then the woken one runs before this
 *  returns). */
int costack_queue_next(CostackQueue *q);
/** Wake every coroutine that waits on q now, in order; returns how many.
 *  One that waits on q again when it runs (outside a coroutine, before
 *  this returns) is not woken again by this call. */
size_t costack_queue_wake_all(CostackQueue *q);
/** Whether q has no waiter. */
int costack_queue_empty(const CostackQueue *q);

/* ---- Mutexes --------------------------------------------------------------
 * A coroutine mutex (QEMU's CoMutex): lock waits, without blocking the
 * thread, while another coroutine holds it.  Unlock hands the mutex to the
 * first waiter (FIFO): the waiter holds it from the unlock on and runs
 * when the unlocker yields, waits or ends (a loop's task: when its loop
 * dispatches it), and no coroutine can take it in between.  Not
 * recursive.  Fields private; initialise with COSTACK_MUTEX_INIT or
 * costack_mutex_init.  A held mutex counts in its holder's locks: a
 * coroutine that ends or is destroyed while it holds one aborts, a waiter
 * that an unlock made the holder and that has not run yet included.
 *
 *   static CostackMutex log_mutex = COSTACK_MUTEX_INIT;
 *   costack_mutex_lock(&log_mutex);
 *   write_two_lines_that_may_yield();
 *   costack_mutex_unlock(&log_mutex);
 */
typedef struct CostackMutex {
    CostackCoroutine *holder_;
    CostackQueue waiters_;
} CostackMutex;
#define COSTACK_MUTEX_INIT {NULL, COSTACK_QUEUE_INIT}

/** Make m an unlocked mutex. */
void costack_mutex_init(CostackMutex *m);
/** Lock m, waiting while another coroutine holds it.  In a coroutine
 *  only; aborts if the caller holds m already. */
void costack_mutex_lock(CostackMutex *m);
/** Lock m if it is free: 1, else 0 (held by anyone, the caller included).
 *  Never waits.  In a coroutine only. */
int costack_mutex_trylock(CostackMutex *m);
/** Unlock m, which the calling coroutine holds; the first waiter gets it.
 *  Aborts if m is not locked, or another coroutine holds it. */
void costack_mutex_unlock(CostackMutex *m);

/* ---- Read-write locks -----------------------------------------------------
 * Any number of readers, or one writer (QEMU's CoRwlock).  FIFO and fair:
 * a reader that arrives while anyone waits (a writer, above all) waits
 * too, so a stream of readers cannot starve a writer.  An unlock that
 * frees the lock hands it to the head of the queue: a writer, or the run
 * of readers at the head, all at once.  Holds count in the holder's locks
 * as a mutex's do.  Fields private; initialise with COSTACK_RWLOCK_INIT or
 * costack_rwlock_init.  All functions are for coroutines only.
 *
 *   costack_rwlock_rdlock(&table_lock);
 *   entry = lookup(key);
 *   if (!entry) {
 *       costack_rwlock_upgrade(&table_lock); // may wait: look again
 *       entry = lookup_or_insert(key);
 *   }
 *   costack_rwlock_unlock(&table_lock);
 */
typedef struct CostackRwlock {
    size_t readers_;          /* readers holding it */
    CostackCoroutine *writer_; /* the writer holding it, or NULL */
    CostackQueue waiters_;
} CostackRwlock;
#define COSTACK_RWLOCK_INIT {0, NULL, COSTACK_QUEUE_INIT}

/** Make l an unlocked rwlock. */
void costack_rwlock_init(CostackRwlock *l);
/** Take a read lock: at once if no writer holds l and nobody waits, else
 *  wait for the turn.  Aborts if the caller holds the write lock. */
void costack_rwlock_rdlock(CostackRwlock *l);
/** Take the write lock: at once if l is free, else wait for the turn.
 *  Aborts if the caller holds the write lock already. */
void costack_rwlock_wrlock(CostackRwlock *l);
/** A reader becomes the writer: at once if it is the only reader and no
 *  one waits; otherwise it releases its read lock and waits as a writer
 *  at the tail (another writer may run in between, so what was read
 *  must be read again).  Aborts unless the caller holds a read lock (as
 *  far as that can be told: readers are counted, not named). */
void costack_rwlock_upgrade(CostackRwlock *l);
/** The writer becomes a reader; never waits.  Readers waiting at the head
 *  of the queue get the lock too.  Aborts unless the caller holds the
 *  write lock. */
void costack_rwlock_downgrade(CostackRwlock *l);
/** Release a read or write lock the calling coroutine holds.  Aborts if l
 *  is not locked, if another coroutine holds its write lock, or if l has
 *  readers and the caller holds no lock at all (a reader is not named, so
 *  a coroutine that holds some other lock and unlocks a read lock it does
 *  not hold is not caught). */
void costack_rwlock_unlock(CostackRwlock *l);

/* ==== Event loop ==========================================================
 *
 * A loop owns coroutines (tasks) and wakes them when what they wait for is
 * ready: a timer, an fd, a queue, another thread.  Built on epoll on Linux,
 * poll(2) on other Unix, WSAPoll (sockets only) and timers on Windows.
 * Each thread has at most one current loop: the one it runs, or the one
 * costack_loop_set_current chose; the waits below use the loop of the
 * task that calls them, else the thread's current loop.  A coroutine that
 * is not a task (created and entered by the program) may wait on a loop
 * too: its wake then enters it from the loop's dispatch.
 *
 * All functions are for the loop's thread, but costack_loop_schedule and
 * costack_loop_stop, which any thread may call.  While it sleeps in
 * epoll/poll, a loop whose thread holds the global mutex releases it, so
 * that other threads can run coroutines meanwhile, and takes it back
 * before it dispatches.
 *
 * One iteration of a loop: wait for fds (blocking until the next timer is
 * due when nothing is ready), wake the waiters of the ready fds, then
 * those whose timers are due, then the coroutines other threads
 * scheduled, then enter, in order, the tasks that were ready when that
 * last step began; a task woken or yielding meanwhile runs in the next
 * iteration, so the loop keeps polling under any load.  Timers are kept
 * in nanoseconds and the system waits in whole milliseconds, rounded up:
 * a timer never fires early.
 *
 * Fds (Linux): the loop registers an fd with epoll on its first wait and
 * keeps it until costack_loop_close_fd (or costack_loop_free); every wait
 * arms it once more (one system call), so an fd that no coroutine waits
 * on may be closed with a plain close(), and its number reused, safely.
 * Readiness is a hint, as with any poll: a read after a readable wait may
 * still fail with EAGAIN (another reader was first); use non-blocking
 * fds and wait again.  On Windows the fds are sockets, and nothing else
 * can be waited on.
 *
 * Tasks end by returning from their function: destroying a task's
 * coroutine (costack_task_coroutine) leaves its join waiting forever and
 * the loop busy.  A task suspends only by waiting (or costack_loop_yield):
 * a task that calls costack_yield aborts, since no one would resume it.
 *
 * fork(): a loop made before the fork is not for the child (its epoll
 * instance is the parent's too, its worker threads are gone); the child
 * makes a loop of its own.  A coroutine that is not a task and waits on the loop
 * may be destroyed: that takes it off the timer, fd, queue or worker job
 * it waits on (a worker job that runs is waited for).
 *
 * Nesting (Linux): costack_loop_fd is one fd that becomes readable when
 * the loop has work, and costack_loop_timeout_ns says when its next timer
 * is due; an outer loop (libuv, glib, libev) watches the fd, arms a timer,
 * and calls costack_loop_run_once, which never blocks.  Where the loop is
 * built on poll(2) or WSAPoll there is no such fd (costack_loop_fd returns
 * -1 with ENOTSUP): the outer loop can only call costack_loop_run_once
 * periodically.
 */

/** A socket on Windows, an fd elsewhere. */
#if defined(_WIN32)
typedef unsigned long long CostackFd;
#else
typedef int CostackFd;
#endif

typedef struct CostackLoop CostackLoop;
/** A spawned coroutine's join handle. */
typedef struct CostackTask CostackTask;
/** A task's body, or a function for costack_run_in_thread. */
typedef void *CostackTaskFn(void *arg);

/** A new loop; NULL with errno (ENOMEM, EMFILE, ...). */
CostackLoop *costack_loop_new(void);
/** Free loop, its fd registrations and its worker threads (joined): 0,
 *  or -1 with EBUSY while it runs, or tasks, waits or scheduled wakes
 *  remain.  NULL: 0.  A costack_loop_schedule or costack_loop_stop of
 *  another thread may still be returning when the loop saw its effect:
 *  free waits for it, so the loop may be freed as soon as it returned. */
int costack_loop_free(CostackLoop *loop);
/** The calling thread's current loop, or NULL. */
CostackLoop *costack_loop_current(void);
/** Make loop (or NULL) the calling thread's current loop. */
void costack_loop_set_current(CostackLoop *loop);

/** Create a coroutine that runs fn(arg) as a task of loop and schedule
 *  it (it first runs when the loop dispatches).  options as for
 *  costack_create_with.  NULL with errno as costack_create. */
CostackTask *costack_loop_spawn(CostackLoop *loop, CostackTaskFn *fn,
                                void *arg, const CostackOptions *options);
/** Wait for task to end, store what its fn returned in *result (if
 *  result is not NULL) and free the handle.  In a coroutine: waits.
 *  Outside: runs the task's loop until the task ended (aborting as
 *  costack_loop_run does).  0, or -1 with errno, the handle kept:
 *  EDEADLK (a task joining itself), EINVAL (another coroutine joins it
 *  already), EINTR (outside: costack_loop_stop came first), or the
 *  loop's error.  A task's handle is joined or detached once. */
int costack_task_join(CostackTask *task, void **result);
/** Free the handle without waiting; the task runs on. */
void costack_task_detach(CostackTask *task);
/** The task's coroutine while it exists, else NULL. */
CostackCoroutine *costack_task_coroutine(const CostackTask *task);

/** Run loop until no task is ready and nothing waits on it (timers, fds,
 *  tasks waiting on queues or locks count as waiting), or until
 *  costack_loop_stop.  Makes loop the thread's current loop meanwhile.
 *  Aborts from a coroutine, or when the loop runs already (from inside
 *  its own dispatch).  0, or -1 with errno when the system's wait fails. */
int costack_loop_run(CostackLoop *loop);
/** Dispatch what is ready now (timers due, fds ready, scheduled tasks)
 *  without blocking: one iteration (see above).  Returns how many
 *  coroutines it entered, or -1 with errno.  Aborts as costack_loop_run.
 *  When tasks are left ready, costack_loop_fd stays readable. */
int costack_loop_run_once(CostackLoop *loop);
/** Make costack_loop_run (or a join from outside, which then fails with
 *  EINTR) return after its current iteration; if the loop does not run,
 *  the next run returns at once.  Any thread. */
void costack_loop_stop(CostackLoop *loop);
/** Thread-safe wake (QEMU's aio_co_wake): any thread may call it for a
 *  coroutine that waits in costack_wait; the loop's thread wakes it
 *  (costack_wake) on its next iteration, and the loop's poller is poked so
 *  that a loop asleep wakes up: a wake racing with the loop going to
 *  sleep is never lost.  Never enters.  co must still wait when the loop
 *  wakes it, and must not be destroyed before.  0, or -1 with errno
 *  (ENOMEM). */
int costack_loop_schedule(CostackLoop *loop, CostackCoroutine *co);
/** One fd that is readable while loop has work (Linux); -1 with ENOTSUP
 *  elsewhere. */
int costack_loop_fd(CostackLoop *loop);
/** Nanoseconds until loop's next timer is due: 0 when work is ready now,
 *  -1 when nothing is due. */
long long costack_loop_timeout_ns(CostackLoop *loop);

/** costack_wait_fd's events. */
#define COSTACK_READABLE 1
#define COSTACK_WRITABLE 2

/** In a coroutine: sleep ns nanoseconds (timers of the loop; 0 or
 *  negative: as costack_loop_yield).  Aborts outside a coroutine, or when
 *  the caller is not a task and the thread has no current loop (the same
 *  for the waits below). */
void costack_sleep_ns(long long ns);
/** In a coroutine: let the loop's other ready tasks run first. */
void costack_loop_yield(void);
/** In a coroutine: wait until fd is ready for events (COSTACK_READABLE,
 *  COSTACK_WRITABLE, or both), or timeout_ns passed (negative: no
 *  timeout).  The ready events (> 0), 0 on timeout, or -1 with errno
 *  (EBADF: fd is invalid, or was closed with costack_loop_close_fd while
 *  waited on).  A plain close() of an fd a coroutine waits on is undefined
 *  (epoll forgets it silently): close it with costack_loop_close_fd. */
int costack_wait_fd(CostackFd fd, int events, long long timeout_ns);
/** Close fd (closesocket on Windows), after unregistering it, and wake its
 *  waiters with EBADF.  What close returned: 0, or -1 with errno. */
int costack_loop_close_fd(CostackLoop *loop, CostackFd fd);
/** In a coroutine: wait on q as costack_queue_wait, at most timeout_ns
 *  (negative: no timeout).  1 if woken, 0 if it timed out. */
int costack_queue_wait_timeout(CostackQueue *q, long long timeout_ns);
/** In a coroutine: run fn(arg) on one of the loop's worker threads (as
 *  many as CPUs, started on first use) and wait for it; *result gets what
 *  fn returned.  fn must not use costack.  0, or -1 with errno. */
int costack_run_in_thread(CostackTaskFn *fn, void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif /* COSTACK_H */

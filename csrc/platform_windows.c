/*
 * platform_windows.c - the Windows platform layer: mutexes, conditions and
 * threads, the clock and the CPU count, the thread-exit hook, the page
 * size, the pool cap and stack-overflow reporting.
 *
 * Fiber stacks are allocated, guarded and freed by the system
 * (backend_fibers.c), so platform.h's stack mapping has no Windows version.
 */
#include "windows_sys.h"
#include <psapi.h> /* QueryWorkingSetEx (in kernel32 since Windows 7) */

#include <process.h> /* _beginthreadex */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "platform.h"

static SRWLOCK global_mutex = SRWLOCK_INIT;
static SRWLOCK pool_mutex = SRWLOCK_INIT;

void costack__mutex_lock_global(void)
{
    AcquireSRWLockExclusive(&global_mutex);
}

int costack__mutex_trylock_global(void)
{
    return TryAcquireSRWLockExclusive(&global_mutex) != 0;
}

void costack__mutex_unlock_global(void)
{
    ReleaseSRWLockExclusive(&global_mutex);
}

void costack__mutex_lock_pool(void)
{
    AcquireSRWLockExclusive(&pool_mutex);
}

void costack__mutex_unlock_pool(void)
{
    ReleaseSRWLockExclusive(&pool_mutex);
}

/* ---- for the event loop: locks, worker threads, the clock, the CPUs ---- */

void costack__platform_mutex_init(CostackPlatformMutex *m)
{
    InitializeSRWLock(m);
}

void costack__platform_mutex_destroy(CostackPlatformMutex *m)
{
    (void)m; /* an SRW lock holds nothing */
}

/* An SRW lock cannot fail to lock: nothing to die of. */
void costack__platform_mutex_lock(CostackPlatformMutex *m)
{
    AcquireSRWLockExclusive(m);
}

void costack__platform_mutex_unlock(CostackPlatformMutex *m)
{
    ReleaseSRWLockExclusive(m);
}

void costack__platform_cond_init(CostackPlatformCond *c)
{
    InitializeConditionVariable(c);
}

void costack__platform_cond_destroy(CostackPlatformCond *c)
{
    (void)c; /* a condition variable holds nothing */
}

void costack__platform_cond_wait(CostackPlatformCond *c,
                                 CostackPlatformMutex *m)
{
    SleepConditionVariableSRW(c, m, INFINITE, 0);
}

void costack__platform_cond_signal(CostackPlatformCond *c)
{
    WakeConditionVariable(c);
}

void costack__platform_cond_broadcast(CostackPlatformCond *c)
{
    WakeAllConditionVariable(c);
}

/* What a new thread runs: handed over by the thread that started it,
 * freed by the new one. */
typedef struct ThreadStart {
    void (*body)(void *);
    void *arg;
} ThreadStart;

static unsigned __stdcall thread_main(void *opaque)
{
    ThreadStart start = *(ThreadStart *)opaque;
    free(opaque);
    start.body(start.arg);
    return 0;
}

/* _beginthreadex, not CreateThread: the C runtime sets up the thread (and
 * sets errno when it cannot). */
int costack__platform_thread_start(CostackPlatformThread *thread,
                                   void (*body)(void *), void *arg)
{
    ThreadStart *start = (ThreadStart *)malloc(sizeof *start);
    uintptr_t h;
    if (!start) {
        errno = ENOMEM;
        return -1;
    }
    start->body = body;
    start->arg = arg;
    h = _beginthreadex(NULL, 0, thread_main, start, 0, NULL);
    if (!h) {
        int e = errno;
        free(start);
        errno = e;
        return -1;
    }
    *thread = (HANDLE)h;
    return 0;
}

void costack__platform_thread_join(CostackPlatformThread thread)
{
    WaitForSingleObject(thread, INFINITE);
    CloseHandle(thread);
}

long long costack__platform_now_ns(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER c;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq); /* the same value in every thread */
    QueryPerformanceCounter(&c);
    /* Whole seconds and the rest apart: counter * 1e9 would overflow. */
    return (long long)(c.QuadPart / freq.QuadPart) * 1000000000LL +
           (long long)(c.QuadPart % freq.QuadPart) * 1000000000LL /
               freq.QuadPart;
}

int costack__platform_cpu_count(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    if (si.dwNumberOfProcessors == 0)
        return 1;
    return si.dwNumberOfProcessors > 1024 ? 1024
                                          : (int)si.dwNumberOfProcessors;
}

/* ---- memory ------------------------------------------------------------ */

size_t costack__platform_page_size(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize ? (size_t)si.dwPageSize : 4096;
}

/* Fiber stacks are the system's, each its own reservation: nothing is kept
 * without a stack in it. */
void costack__stack_trim(void)
{
}

size_t costack__stack_address_space(size_t stack_bytes)
{
    return stack_bytes;
}

/* Windows has no per-process limit on mappings like Linux's
 * vm.max_map_count: pooled stacks cost address space and the committed
 * pages only, which costack_pool_set_max bounds. */
size_t costack__platform_pool_cap(void)
{
    return (size_t)-1;
}

/* A page of a fiber's stack is resident when it is in the process's
 * working set (QueryWorkingSetEx: a committed page that was never touched
 * is not).  Not "committed": Windows commits a fiber stack as it grows,
 * but Wine commits it whole at creation. */
int costack__platform_resident(const char *addr, size_t n,
                               unsigned char *resident)
{
    PSAPI_WORKING_SET_EX_INFORMATION info[64]; /* 1 KiB of the caller's stack */
    size_t page = costack__page_size(), done = 0, i;

    while (done < n) {
        size_t k = n - done < 64 ? n - done : 64;
        for (i = 0; i < k; i++)
            info[i].VirtualAddress = (void *)(addr + (done + i) * page);
        if (!K32QueryWorkingSetEx(GetCurrentProcess(), info,
                                  (DWORD)(k * sizeof(info[0]))))
            return -1;
        for (i = 0; i < k; i++)
            resident[done + i] = info[i].VirtualAttributes.Valid ? 1 : 0;
        done += k;
    }
    return 0;
}

/* ---- per-thread registration ------------------------------------------ */

/* A TLS slot holding the CostackThread of every thread that uses costack:
 * the thread-exit hook and the overflow handler find it there without
 * touching the compiler's thread-local storage (which mingw emulates, and
 * allocates on first touch). */
static DWORD thread_slot = TLS_OUT_OF_INDEXES;
static INIT_ONCE process_once = INIT_ONCE_STATIC_INIT;

/* ---- stack overflow reporting ------------------------------------------ */

static char *fault_stack_pointer(const CONTEXT *ctx, char *fallback)
{
#if defined(_M_X64) || defined(__x86_64__)
    (void)fallback;
    return (char *)(uintptr_t)ctx->Rsp;
#elif defined(_M_IX86) || defined(__i386__)
    (void)fallback;
    return (char *)(uintptr_t)ctx->Esp;
#elif defined(_M_ARM64) || defined(__aarch64__) || defined(_M_ARM) || \
    defined(__arm__)
    (void)fallback;
    return (char *)(uintptr_t)ctx->Sp;
#else
    /* The handler runs on the stack that overflowed. */
    (void)ctx;
    return fallback;
#endif
}

/* A vectored handler sees every exception of the process first; it claims
 * only a stack overflow on the stack of the coroutine the thread runs, and
 * leaves everything else to the handlers after it. */
static LONG CALLBACK on_exception(EXCEPTION_POINTERS *ep)
{
    char here;
    DWORD last_error;
    CostackThread *t;
    CostackCoroutine *co;
    char *sp;

    if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_STACK_OVERFLOW ||
        thread_slot == TLS_OUT_OF_INDEXES)
        return EXCEPTION_CONTINUE_SEARCH;
    last_error = GetLastError();
    t = (CostackThread *)TlsGetValue(thread_slot);
    SetLastError(last_error);
    if (!t)
        return EXCEPTION_CONTINUE_SEARCH;
    co = t->current;
    sp = fault_stack_pointer(ep->ContextRecord, &here);
    if (co && co->state != COSTACK_LEADER && co->stack.map &&
        sp >= (char *)co->stack.map &&
        sp < (char *)co->stack.map + co->stack.map_size) {
        char msg[COSTACK_OVERFLOW_MESSAGE_MAX];
        size_t n = costack__overflow_message(msg, co);
        DWORD written;
        WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, (DWORD)n, &written,
                  NULL);
        /* Die of the original exception, as an unhandled one would, but
         * without running handlers that might resume on a stack that has
         * no room left. */
        RaiseFailFastException(ep->ExceptionRecord, ep->ContextRecord, 0);
    }
    return EXCEPTION_CONTINUE_SEARCH;
}

static BOOL CALLBACK init_process(PINIT_ONCE once, void *param, void **out)
{
    (void)once;
    (void)param;
    (void)out;
    thread_slot = TlsAlloc();
    if (thread_slot == TLS_OUT_OF_INDEXES)
        return FALSE;
    /* First in line, so a handler that resumes execution cannot swallow a
     * coroutine overflow before it is reported. */
    if (!AddVectoredExceptionHandler(1, on_exception)) {
        TlsFree(thread_slot);
        thread_slot = TLS_OUT_OF_INDEXES;
        return FALSE;
    }
    return TRUE;
}

/* ---- threads ----------------------------------------------------------- */

int costack__platform_thread_init(CostackThread *t)
{
    if (!InitOnceExecuteOnce(&process_once, init_process, NULL, NULL) ||
        !TlsSetValue(thread_slot, t)) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

void costack__platform_thread_exit(CostackThread *t)
{
    (void)t;
    if (thread_slot != TLS_OUT_OF_INDEXES)
        TlsSetValue(thread_slot, NULL);
}

/*
 * The thread-exit hook is a TLS callback: the loader calls it on every
 * thread that ends (DLL_THREAD_DETACH), whichever fiber runs, in an EXE and
 * in a DLL alike, with mingw and MSVC.  Callbacks run in the order of their
 * section names; ".CRT$XLB" comes before the C runtime's own (".CRT$XLC",
 * ".CRT$XLD"), which free mingw's emulated thread-locals, where the
 * CostackThread lives.  A fiber-local (FlsAlloc) callback would be simpler
 * but runs for the fiber current at exit, not for the thread, and at
 * process exit too.  At process exit (DLL_PROCESS_DETACH) nothing is freed:
 * other threads were killed, perhaps holding the pool mutex.
 */
static void NTAPI on_tls_callback(void *module, DWORD reason, void *reserved)
{
    CostackThread *t;
    (void)module;
    (void)reserved;
    if (reason != DLL_THREAD_DETACH || thread_slot == TLS_OUT_OF_INDEXES)
        return;
    t = (CostackThread *)TlsGetValue(thread_slot);
    if (t)
        costack__thread_exit(t);
}

#if defined(_MSC_VER)
#pragma section(".CRT$XLB", read)
__declspec(allocate(".CRT$XLB"))
const PIMAGE_TLS_CALLBACK costack__tls_callback = on_tls_callback;
/* Keep the callback and make the linker emit a TLS directory. */
#if defined(_M_IX86)
#pragma comment(linker, "/INCLUDE:__tls_used")
#pragma comment(linker, "/INCLUDE:_costack__tls_callback")
#else
#pragma comment(linker, "/INCLUDE:_tls_used")
#pragma comment(linker, "/INCLUDE:costack__tls_callback")
#endif
#else
__attribute__((section(".CRT$XLB"), used))
const PIMAGE_TLS_CALLBACK costack__tls_callback = on_tls_callback;
#endif

/*
 * fibers.c - what only the Windows Fibers backend does, tested on Windows
 * (under Wine in CI: scripts/wine-test.sh).  The behaviour every backend
 * shares is the C suite's (tests/c), which runs on Windows too.
 *
 *   fibers          run every case; exit 1 if any failed
 *   fibers --child NAME   run one child payload (the overflow case)
 */
#include "windows_sys.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "costack.h"

static int failures;

#define EXPECT(cond)                                                        \
    ((cond) ? (void)0 : fail(__FILE__, __LINE__, #cond))

static void fail(const char *file, int line, const char *what)
{
    failures++;
    printf("  %s:%d: failed: %s\n", file, line, what);
    fflush(stdout);
}

/* ---- the leader: converted lazily, and only when it is no fiber ------- */

static int steps;

static void count_steps(void *opaque)
{
    int n = *(int *)opaque;
    int i;
    for (i = 0; i < n; i++) {
        steps++;
        costack_yield();
    }
}

static void case_backend_name(void)
{
    EXPECT(strcmp(costack_backend_name(), "fibers") == 0);
}

/* A thread that never used costack is no fiber; its first coroutine makes
 * it one; its exit hook converts it back (observed from inside the hook's
 * effects: the thread ends cleanly, and its pooled coroutines reach the
 * shared pool, below). */
static DWORD WINAPI convert_thread(void *arg)
{
    int *result = (int *)arg;
    int n = 3;
    CostackCoroutine *co;

    result[0] = IsThreadAFiber();
    co = costack_create(count_steps, &n);
    if (!co)
        return 1;
    result[1] = IsThreadAFiber();
    while (steps < n)
        costack_enter(co);
    costack_enter(co); /* returns from count_steps: terminates */
    return 0;
}

static void case_leader_converted_lazily(void)
{
    int result[2] = {-1, -1};
    HANDLE h;
    DWORD code = 99;

    steps = 0;
    h = CreateThread(NULL, 0, convert_thread, result, 0, NULL);
    EXPECT(h != NULL);
    if (!h)
        return;
    WaitForSingleObject(h, INFINITE);
    GetExitCodeThread(h, &code);
    CloseHandle(h);
    EXPECT(code == 0);
    EXPECT(result[0] == 0);
    EXPECT(result[1] != 0);
    EXPECT(steps == 3);
}

/* A thread that is a fiber already (the host's) keeps its fiber: costack
 * switches from and back to it and does not convert it back. */
static DWORD WINAPI host_fiber_thread(void *arg)
{
    int *result = (int *)arg;
    int n = 2;
    void *host = ConvertThreadToFiber(NULL);
    CostackCoroutine *co;

    if (!host)
        return 1;
    co = costack_create(count_steps, &n);
    if (!co)
        return 2;
    costack_enter(co);
    result[0] = GetCurrentFiber() == host;
    costack_enter(co);
    costack_enter(co); /* terminates */
    result[1] = GetCurrentFiber() == host && IsThreadAFiber();
    /* The host converts back itself; this must not be costack's to do. */
    result[2] = ConvertFiberToThread() != 0;
    return 0;
}

static void case_host_fiber_kept(void)
{
    int result[3] = {0, 0, 0};
    HANDLE h;
    DWORD code = 99;

    steps = 0;
    h = CreateThread(NULL, 0, host_fiber_thread, result, 0, NULL);
    EXPECT(h != NULL);
    if (!h)
        return;
    WaitForSingleObject(h, INFINITE);
    GetExitCodeThread(h, &code);
    CloseHandle(h);
    EXPECT(code == 0);
    EXPECT(result[0]);
    EXPECT(result[1]);
    EXPECT(result[2]);
    EXPECT(steps == 2);
}

/* The host switches between fibers of its own: a coroutine entered from one
 * host fiber yields back to the host fiber that entered it this time. */
static void *host_main_fiber;
static void *host_other_fiber;
static CostackCoroutine *shared_co;
static int other_saw_return;

static void WINAPI other_fiber_main(void *arg)
{
    (void)arg;
    costack_enter(shared_co); /* yields back here, not to the first fiber */
    other_saw_return = GetCurrentFiber() == host_other_fiber;
    SwitchToFiber(host_main_fiber);
}

static DWORD WINAPI host_switching_thread(void *arg)
{
    int *ok = (int *)arg;
    int n = 5;

    host_main_fiber = ConvertThreadToFiber(NULL);
    host_other_fiber = CreateFiber(0, other_fiber_main, NULL);
    if (!host_main_fiber || !host_other_fiber)
        return 1;
    shared_co = costack_create(count_steps, &n);
    if (!shared_co)
        return 2;
    costack_enter(shared_co);
    SwitchToFiber(host_other_fiber);
    *ok = GetCurrentFiber() == host_main_fiber && steps == 2;
    costack_destroy(shared_co);
    DeleteFiber(host_other_fiber);
    ConvertFiberToThread();
    return 0;
}

static void case_host_switches_fibers(void)
{
    int ok = 0;
    HANDLE h;
    DWORD code = 99;

    steps = 0;
    other_saw_return = 0;
    h = CreateThread(NULL, 0, host_switching_thread, &ok, 0, NULL);
    EXPECT(h != NULL);
    if (!h)
        return;
    WaitForSingleObject(h, INFINITE);
    GetExitCodeThread(h, &code);
    CloseHandle(h);
    EXPECT(code == 0);
    EXPECT(other_saw_return);
    EXPECT(ok);
}

/* ---- thread exit: the hook runs ---------------------------------------- */

static void noop(void *opaque)
{
    (void)opaque;
}

static DWORD WINAPI pool_thread(void *arg)
{
    CostackOptions opt;
    int i;
    memset(&opt, 0, sizeof(opt));
    opt.stack_size = (size_t)96 << 10;
    (void)arg;
    for (i = 0; i < 4; i++) {
        CostackCoroutine *co[4];
        int k;
        for (k = 0; k < 4; k++) {
            co[k] = costack_create_with(noop, NULL, &opt);
            if (!co[k])
                return 1;
        }
        for (k = 0; k < 4; k++)
            costack_enter(co[k]);
    }
    return 0;
}

/* Coroutines that end on a thread are pooled by that thread; when it exits,
 * its exit hook hands them to the shared pool, where another thread reuses
 * them without creating stacks.  Without the hook they would stay with the
 * dead thread, and the creates below would make new stacks. */
static void case_thread_exit_hands_over_pool(void)
{
    CostackStats before, after;
    CostackOptions opt;
    CostackCoroutine *co[4];
    HANDLE h;
    DWORD code = 99;
    int k;

    memset(&opt, 0, sizeof(opt));
    opt.stack_size = (size_t)96 << 10;
    h = CreateThread(NULL, 0, pool_thread, NULL, 0, NULL);
    EXPECT(h != NULL);
    if (!h)
        return;
    WaitForSingleObject(h, INFINITE);
    GetExitCodeThread(h, &code);
    CloseHandle(h);
    EXPECT(code == 0);

    costack_stats(&before);
    EXPECT(before.pooled >= 4);
    for (k = 0; k < 4; k++) {
        co[k] = costack_create_with(noop, NULL, &opt);
        EXPECT(co[k] != NULL);
    }
    costack_stats(&after);
    EXPECT(after.stacks_mapped == before.stacks_mapped);
    EXPECT(after.pooled == before.pooled - 4);
    for (k = 0; k < 4; k++)
        if (co[k])
            costack_enter(co[k]);
}

/* The same with costack linked into a DLL loaded at run time
 * (tests/windows/in_dll.c): the DLL's TLS callback runs as the EXE's does. */
static void case_thread_exit_hook_in_a_dll(void)
{
    typedef int NewStacks(void);
    HMODULE dll = LoadLibraryA("costack_in_dll.dll");
    NewStacks *new_stacks;

    EXPECT(dll != NULL);
    if (!dll)
        return;
    new_stacks = (NewStacks *)(void (*)(void))GetProcAddress(
        dll, "costack_in_dll_new_stacks");
    EXPECT(new_stacks != NULL);
    if (new_stacks)
        EXPECT(new_stacks() == 0);
}

/* ---- stacks ------------------------------------------------------------ */

static size_t used_deepest;

#if defined(__GNUC__)
__attribute__((noinline))
#elif defined(_MSC_VER)
__declspec(noinline)
#endif
static size_t recurse(char *top, size_t want)
{
    volatile char frame[1024];
    size_t used = (size_t)(top - (char *)frame);
    frame[0] = 1;
    frame[sizeof(frame) - 1] = 1;
    if (used + 2 * sizeof(frame) < want)
        return recurse(top, want) + frame[0];
    return used + frame[0];
}

static void use_stack(void *opaque)
{
    char top;
    size_t want = *(size_t *)opaque;
    used_deepest = recurse(&top, want);
}

/* The whole requested size is usable: the system's guard page and the room
 * kept for the overflow report come on top of it. */
static void case_usable_size(void)
{
    CostackOptions opt;
    CostackCoroutine *co;
    CostackStats st;
    size_t want;

    memset(&opt, 0, sizeof(opt));
    /* Wine reserves at least 1 MiB for any stack: ask for no less, so the
     * slack is needed there too. */
    opt.stack_size = (size_t)1 << 20;
    want = opt.stack_size;
    co = costack_create_with(use_stack, &want, &opt);
    EXPECT(co != NULL);
    if (!co)
        return;
    EXPECT(costack_stack_size(co) == opt.stack_size);
    costack_stats(&st);
    EXPECT(st.stacks_mapped >= 1);
    EXPECT(st.stack_bytes_mapped >= st.stacks_mapped * opt.stack_size);
    costack_enter(co);
    EXPECT(used_deepest + 2 * 1024 >= want);
}

/* A stack larger than COSTACK_MAX_STACK_SIZE: NULL and EINVAL, no abort.
 * (Exhaustion itself, ENOMEM, needs a limit on the address space or on
 * mappings, as the C suite's cases use on Linux; Wine enforces neither,
 * and reserving the whole address space to provoke it is more than a test
 * may map.) */
static void case_oversized_stack_is_an_error(void)
{
    CostackOptions opt;
    CostackCoroutine *co;

    memset(&opt, 0, sizeof(opt));
    opt.stack_size = COSTACK_MAX_STACK_SIZE + 1;
    errno = 0;
    co = costack_create_with(noop, NULL, &opt);
    EXPECT(co == NULL);
    EXPECT(errno == EINVAL);
    /* Smaller stacks still come. */
    opt.stack_size = 0;
    co = costack_create_with(noop, NULL, &opt);
    EXPECT(co != NULL);
    if (co)
        costack_enter(co);
}

/* ---- overflow: the named report, then the process dies ----------------- */

static void overflow(void *opaque)
{
    char top;
    (void)opaque;
    recurse(&top, (size_t)-1 / 2);
}

static int child_overflow(void)
{
    CostackOptions opt;
    CostackCoroutine *co;
    memset(&opt, 0, sizeof(opt));
    opt.stack_size = (size_t)64 << 10;
    co = costack_create_with(overflow, NULL, &opt);
    if (!co)
        return 3;
    printf("coroutine %p\n", (void *)co);
    fflush(stdout);
    costack_enter(co);
    return 0; /* not reached */
}

/* An overflow of the thread's own stack is not costack's to report, even
 * on a thread that runs coroutines: the system's handling goes on. */
static int child_overflow_leader(void)
{
    CostackCoroutine *co = costack_create(noop, NULL);
    char top;
    if (!co)
        return 3;
    costack_enter(co);
    printf("recursing on the thread's stack\n");
    fflush(stdout);
    recurse(&top, (size_t)-1 / 2);
    return 77; /* not reached */
}

/* Run this program as a child with --child name; collect its stdout and
 * stderr (together) and exit code. */
static int run_child(const char *name, char *out, size_t size, DWORD *code)
{
    char self[MAX_PATH];
    char cmd[MAX_PATH + 64];
    SECURITY_ATTRIBUTES sa;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    HANDLE rd, wr;
    size_t got = 0;
    DWORD n;

    if (!GetModuleFileNameA(NULL, self, sizeof(self)))
        return -1;
    snprintf(cmd, sizeof(cmd), "\"%s\" --child %s", self, name);
    memset(&sa, 0, sizeof(sa));
    sa.nLength = sizeof(sa);
    sa.bInheritHandle = TRUE;
    if (!CreatePipe(&rd, &wr, &sa, 0))
        return -1;
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = wr;
    si.hStdError = wr;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si,
                        &pi)) {
        CloseHandle(rd);
        CloseHandle(wr);
        return -1;
    }
    CloseHandle(wr);
    while (got + 1 < size &&
           ReadFile(rd, out + got, (DWORD)(size - 1 - got), &n, NULL) && n)
        got += n;
    out[got] = '\0';
    CloseHandle(rd);
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return 0;
}

static void case_overflow_reported(void)
{
    char out[4096], expect[128];
    DWORD code = 0;
    void *co = NULL;
    const char *line;

    EXPECT(run_child("overflow", out, sizeof(out), &code) == 0);
    /* Dies of the overflow: an NTSTATUS error code, not an exit(). */
    EXPECT((code & 0xC0000000u) == 0xC0000000u);
    line = strstr(out, "coroutine ");
    EXPECT(line && sscanf(line, "coroutine %p", &co) == 1);
    snprintf(expect, sizeof(expect),
             "costack: coroutine stack overflow (coroutine 0x%llx, "
             "stack 65536 bytes)",
             (unsigned long long)(uintptr_t)co);
    EXPECT(strstr(out, expect) != NULL);
    if (failures)
        printf("  child exit code 0x%lx, output: <<%s>>\n",
               (unsigned long)code, out);
}

static void case_leader_overflow_not_claimed(void)
{
    char out[4096];
    DWORD code = 0;

    EXPECT(run_child("overflow_leader", out, sizeof(out), &code) == 0);
    EXPECT(strstr(out, "recursing on the thread's stack") != NULL);
    EXPECT(strstr(out, "costack:") == NULL);
    /* Windows ends the process with EXCEPTION_STACK_OVERFLOW; Wine runs
     * out of room for the unhandled-exception path on the thread's own
     * stack and ends it with a status that varies (0 or 1). */
    EXPECT(code != 77);
    if (failures)
        printf("  child exit code 0x%lx, output: <<%s>>\n",
               (unsigned long)code, out);
}

/* ---- runner ------------------------------------------------------------- */

typedef struct Case {
    const char *name;
    void (*fn)(void);
} Case;

static const Case cases[] = {
    {"backend_name", case_backend_name},
    {"leader_converted_lazily", case_leader_converted_lazily},
    {"host_fiber_kept", case_host_fiber_kept},
    {"host_switches_fibers", case_host_switches_fibers},
    {"thread_exit_hands_over_pool", case_thread_exit_hands_over_pool},
    {"thread_exit_hook_in_a_dll", case_thread_exit_hook_in_a_dll},
    {"usable_size", case_usable_size},
    {"oversized_stack_is_an_error", case_oversized_stack_is_an_error},
    {"overflow_reported", case_overflow_reported},
    {"leader_overflow_not_claimed", case_leader_overflow_not_claimed},
};

int main(int argc, char **argv)
{
    size_t i;
    int failed = 0;

    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        if (strcmp(argv[2], "overflow") == 0)
            return child_overflow();
        if (strcmp(argv[2], "overflow_leader") == 0)
            return child_overflow_leader();
        return 2;
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        failures = 0;
        cases[i].fn();
        printf("%s %s\n", failures ? "FAIL" : "PASS", cases[i].name);
        fflush(stdout);
        if (failures)
            failed++;
    }
    printf("%d passed, %d failed\n",
           (int)(sizeof(cases) / sizeof(cases[0])) - failed, failed);
    return failed ? 1 : 0;
}

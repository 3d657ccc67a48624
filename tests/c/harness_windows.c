/*
 * harness_windows.c - the parts of the harness that differ on Windows
 * (suite.c has the POSIX ones): running a child, how it ended, the
 * process's resident memory.  Built by scripts/wine-test.sh with mingw-w64.
 *
 * Windows has no signals: a process ends with an exit code.  The harness
 * reports the endings the cases expect as the signal a Unix process would
 * have died of, so the cases stay the same:
 *   SIGABRT  abort(): exit code 3 (msvcrt), or 0xC0000409 (the UCRT's
 *            abort, a fail-fast);
 *   SIGSEGV  an unhandled access violation (0xC0000005), stack overflow
 *            (0xC00000FD), or a fail-fast (0xC0000602: costack's overflow
 *            report ends the process with RaiseFailFastException, which
 *            Wine turns into that code).
 */
#ifdef _WIN32

#include <windows.h>
#include <psapi.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define CHILD_TIMEOUT_MS 120000

const char *harness_signal_name(int sig)
{
    switch (sig) {
    case SIGABRT:
        return "SIGABRT (from the exit code)";
    case SIGSEGV:
        return "SIGSEGV (from the exit code)";
    default:
        return "signal";
    }
}

/* The last filter before the system's: end the process with the
 * exception's code, as an unhandled exception does, without a debugger. */
static LONG WINAPI die_quietly(EXCEPTION_POINTERS *ep)
{
    (void)ep;
    return EXCEPTION_EXECUTE_HANDLER;
}

void harness_child_setup(void)
{
    /* No error dialogs and no debugger for the crashes the children are
     * there for (Wine ignores the error mode and starts winedbg unless a
     * filter ends the process first). */
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX |
                 SEM_NOOPENFILEERRORBOX);
    SetUnhandledExceptionFilter(die_quietly);
}

/* A temporary file the child inherits as stdout or stderr; deleted when
 * the parent closes it. */
static HANDLE temp_file(void)
{
    char dir[MAX_PATH], path[MAX_PATH];
    SECURITY_ATTRIBUTES sa;

    if (!GetTempPathA(sizeof(dir), dir) ||
        !GetTempFileNameA(dir, "cst", 0, path))
        return INVALID_HANDLE_VALUE;
    memset(&sa, 0, sizeof(sa));
    sa.nLength = sizeof(sa);
    sa.bInheritHandle = TRUE;
    return CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       &sa, CREATE_ALWAYS,
                       FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE,
                       NULL);
}

/* Read back what the child wrote; "\r\n" (text-mode stdio) becomes "\n",
 * so the cases compare text as on Unix. */
static void read_all(HANDLE h, char *buf, size_t size)
{
    size_t got = 0, i, j;
    DWORD n;
    SetFilePointer(h, 0, NULL, FILE_BEGIN);
    while (got + 1 < size &&
           ReadFile(h, buf + got, (DWORD)(size - 1 - got), &n, NULL) && n)
        got += n;
    for (i = j = 0; i < got; i++)
        if (!(buf[i] == '\r' && i + 1 < got && buf[i + 1] == '\n'))
            buf[j++] = buf[i];
    buf[j] = '\0';
}

static void set_ending(ChildResult *r, DWORD code)
{
    switch (code) {
    case 3:
    case 0xC0000409u:
        r->signaled = 1;
        r->sig = SIGABRT;
        break;
    case 0xC0000005u:
    case 0xC00000FDu:
    case 0xC0000602u:
        r->signaled = 1;
        r->sig = SIGSEGV;
        break;
    default:
        r->exited = 1;
        r->status = (int)code;
    }
}

int harness_run_child(const char *name, const char *env_name,
                      const char *env_value, ChildResult *r)
{
    char self[MAX_PATH], cmd[2 * MAX_PATH];
    char saved[4096];
    DWORD saved_len = 0, code = 0, wait;
    HANDLE out, err;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    BOOL started;

    memset(r, 0, sizeof(*r));
    if (!GetModuleFileNameA(NULL, self, sizeof(self))) {
        harness_fail(__FILE__, __LINE__, "GetModuleFileName failed");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "\"%s\" --child %s", self, name);
    out = temp_file();
    err = temp_file();
    if (out == INVALID_HANDLE_VALUE || err == INVALID_HANDLE_VALUE) {
        harness_fail(__FILE__, __LINE__, "cannot create temporary files");
        if (out != INVALID_HANDLE_VALUE)
            CloseHandle(out);
        if (err != INVALID_HANDLE_VALUE)
            CloseHandle(err);
        return -1;
    }
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = out;
    si.hStdError = err;

    /* The child inherits the environment, with env_name set for it. */
    if (env_name) {
        saved_len = GetEnvironmentVariableA(env_name, saved, sizeof(saved));
        SetEnvironmentVariableA(env_name, env_value);
    }
    fflush(stdout);
    fflush(stderr);
    started = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si,
                             &pi);
    if (env_name)
        SetEnvironmentVariableA(env_name, saved_len && saved_len < sizeof(saved)
                                              ? saved
                                              : NULL);
    if (!started) {
        harness_fail(__FILE__, __LINE__, "CreateProcess failed: error %lu",
                     (unsigned long)GetLastError());
        CloseHandle(out);
        CloseHandle(err);
        return -1;
    }
    wait = WaitForSingleObject(pi.hProcess, CHILD_TIMEOUT_MS);
    if (wait != WAIT_OBJECT_0) {
        TerminateProcess(pi.hProcess, 0xDEAD);
        WaitForSingleObject(pi.hProcess, INFINITE);
        harness_fail(__FILE__, __LINE__, "child %s timed out", name);
    }
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    read_all(out, r->out, sizeof(r->out));
    read_all(err, r->err, sizeof(r->err));
    CloseHandle(out);
    CloseHandle(err);
    set_ending(r, code);
    return 0;
}

size_t harness_rss_bytes(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof(pmc));
    pmc.cb = sizeof(pmc);
    if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof(pmc)))
        return 0;
    return pmc.WorkingSetSize;
}

/* Not measured on Windows (the cases that compare it skip the check). */
size_t harness_vm_bytes(void)
{
    return 0;
}

/* Windows has no per-process count of mappings, nor a limit on it; the
 * cases about vm.max_map_count are skipped there. */
long harness_map_count(void)
{
    return -1;
}

long harness_max_map_count(void)
{
    return -1;
}

#endif /* _WIN32 */

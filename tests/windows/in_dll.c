/*
 * in_dll.c - costack linked into a DLL that a program loads at run time
 * (tests/windows/fibers.c, case thread_exit_hook_in_a_dll): the DLL's own
 * copy of costack must see its threads exit too.  scripts/wine-test.sh
 * builds it as costack_in_dll.dll beside fibers.exe.
 */
#include "windows_sys.h"

#include "costack.h"

/* Designated: the fields not named are zero, whatever fields the header
 * adds. */
static const CostackOptions options = {.stack_size = (size_t)96 << 10};

static void noop(void *opaque)
{
    (void)opaque;
}

/* Four coroutines end on this thread and stay in its pool. */
static DWORD WINAPI pool_four(void *arg)
{
    CostackCoroutine *co[4];
    int k;
    (void)arg;
    for (k = 0; k < 4; k++) {
        co[k] = costack_create_with(noop, NULL, &options);
        if (!co[k])
            return 1;
    }
    for (k = 0; k < 4; k++)
        costack_enter(co[k]);
    return 0;
}

/* Lets a thread pool four coroutines and exit, then creates four here: the
 * number of stacks that had to be made anew (0 when the thread's exit hook
 * handed its pool over), or -1 if something failed. */
__declspec(dllexport) int costack_in_dll_new_stacks(void)
{
    CostackCoroutine *co[4];
    CostackStats before, after;
    DWORD code = 1;
    HANDLE h = CreateThread(NULL, 0, pool_four, NULL, 0, NULL);
    int k, ok = 1;

    if (!h)
        return -1;
    WaitForSingleObject(h, INFINITE);
    GetExitCodeThread(h, &code);
    CloseHandle(h);
    if (code != 0)
        return -1;
    costack_stats(&before);
    for (k = 0; k < 4; k++)
        if (!(co[k] = costack_create_with(noop, NULL, &options)))
            ok = 0;
    costack_stats(&after);
    for (k = 0; k < 4; k++)
        if (co[k])
            costack_enter(co[k]);
    return ok ? (int)(after.stacks_mapped - before.stacks_mapped) : -1;
}

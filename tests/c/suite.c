/*
 * suite.c - the runner of the costack C test suite and its harness.
 *
 *   suite                 run every case; exit 1 if any failed
 *   suite NAME...         run the named cases only
 *   suite --list          list the cases
 *   suite --child NAME    run one child payload (used by the cases)
 *
 * Every case prints "PASS name" or "FAIL name"; failures print file:line
 * and the failed expression first.  A case that cannot run on the platform
 * prints "SKIP name: why".  Compiled as C99 and as C++11.  On Windows,
 * harness_windows.c replaces the POSIX parts below (children, /proc).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
/* No fork, signals or /proc: harness_windows.c runs the children. */
#define strsignal harness_signal_name
#else
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "costack.h"
#include "harness.h"

#if defined(TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

typedef HarnessCase Case;
typedef HarnessChild Child;

static const Case cases[] = {
    {"backend_name", case_backend_name},
    {"lifecycle", case_lifecycle},
    {"yield_counts", case_yield_counts},
    {"nesting_128", case_nesting_128},
    {"self_and_leader", case_self_and_leader},
    {"entered", case_entered},
    {"in_coroutine", case_in_coroutine},
    {"order_nested_yield", case_order_nested_yield},
    {"no_dangling_access", case_no_dangling_access},
    {"suspended_10000", case_suspended_10000},
    {"deep_stack_default_size", case_deep_stack_default_size},
    {"finish_on_other_thread", case_finish_on_other_thread},
    {"longjmp_in_coroutine", case_longjmp_in_coroutine},
    {"two_threads_at_once", case_two_threads_at_once},
    {"pool_reuse_no_growth", case_pool_reuse_no_growth},
    {"pool_max", case_pool_max},
    {"pool_limit_threads", case_pool_limit_threads},
    {"global_lock", case_global_lock},
    {"global_lock_exclusion", case_global_lock_exclusion},
    {"destroy", case_destroy},
    {"destroy_suspended_many", case_destroy_suspended_many},
    {"pooled_stack_poisoned", case_pooled_stack_poisoned},
    {"suspended_block_not_leaked", case_suspended_block_not_leaked},
    {"create_with_sizes", case_create_with_sizes},
    {"user_data", case_user_data},
    {"qemu_opaque_first_enter", case_qemu_opaque_first_enter},
    {"qemu_self_in_coroutine", case_qemu_self_in_coroutine},
    {"qemu_mixing", case_qemu_mixing},
    {"death_misuse", case_death_misuse},
    {"death_stack_overflow", case_death_stack_overflow},
    {"foreign_faults_pass_on", case_foreign_faults_pass_on},
    {"enomem_rlimit_as", case_enomem_rlimit_as},
    {"enomem_mappings", case_enomem_mappings},
    {"stack_high_water", case_stack_high_water},
    {"death_high_water_terminated", case_death_high_water_terminated},
    {"death_overflow_slab", case_death_overflow_slab},
    {"stack_limits", case_stack_limits},
    {"stacks_come_back", case_stacks_come_back},
    {"fork_while_locked", case_fork_while_locked},
    {"death_stale_handles", case_death_stale_handles},
    {"sigusr2_taken", case_sigusr2_taken},
    {"backtrace_ends", case_backtrace_ends},
    {"registers_survive_switches", case_registers_survive_switches},
    {"fp_control_state", case_fp_control_state},
    {NULL, NULL}
};

static const Child children[] = {
    {"reenter_self", child_reenter_self},
    {"reenter_caller", child_reenter_caller},
    {"yield_no_one", child_yield_no_one},
    {"enter_leader", child_enter_leader},
    {"destroy_active", child_destroy_active},
    {"lock_twice", child_lock_twice},
    {"unlock_unheld", child_unlock_unheld},
    {"qemu_reenter", child_qemu_reenter},
    {"qemu_yield_no_one", child_qemu_yield_no_one},
    {"overflow_default", child_overflow_default},
    {"overflow_small", child_overflow_small},
    {"overflow_thread", child_overflow_thread},
    {"null_deref_top", child_null_deref_top},
    {"null_deref_coroutine", child_null_deref_coroutine},
    {"previous_handler", child_previous_handler},
    {"enomem_rlimit_as", child_enomem_rlimit_as},
    {"qemu_create_exhausted", child_qemu_create_exhausted},
    {"enomem_mappings", child_enomem_mappings},
    {"pool_cap_mappings", child_pool_cap_mappings},
    {"high_water_terminated", child_high_water_terminated},
    {"read_pooled_stack", child_read_pooled_stack},
    {"exit_suspended", child_exit_suspended},
    {"sigusr2_taken", child_sigusr2_taken},
    {"stale_enter", child_stale_enter},
    {"stale_destroy", child_stale_destroy},
    {"stale_reused", child_stale_reused},
    {"null_entered", child_null_entered},
    {"null_stack_size", child_null_stack_size},
#ifndef _WIN32
    {"overflow_slab", child_overflow_slab},
    {"overflow_big_frame", child_overflow_big_frame},
    {"overflow_signal_frame", child_overflow_signal_frame},
#endif
    {NULL, NULL}
};

/* Every table of cases and of children: this file's, then one per area
 * file (harness.h), each ending with {NULL, NULL}. */
static const Case *const case_tables[] = {
    cases, harness_cases_wait, harness_cases_lock, harness_cases_loop,
};
static const Child *const child_tables[] = {
    children, harness_children_wait, harness_children_lock,
    harness_children_loop,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int case_failures; /* failures recorded by the running case */
static const char *case_skipped; /* why the running case was skipped */
static int passed, failed, skipped;
#ifndef _WIN32
static char self_path[4096];
#endif

/* ---- harness ------------------------------------------------------------ */

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    case_failures++;
    printf("  %s:%d: failed: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int harness_expect_eq(long long a, long long b, const char *ea,
                      const char *eb, const char *file, int line)
{
    if (a == b)
        return 1;
    harness_fail(file, line, "%s == %s (%lld != %lld)", ea, eb, a, b);
    return 0;
}

void harness_skip(const char *why)
{
    case_skipped = why;
}

#ifndef _WIN32
static void read_all(FILE *f, char *buf, size_t size)
{
    size_t n;
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

/* qemu-user adds a line of its own to the stderr of a child killed by a
 * signal ("qemu: uncaught target signal 6 (Aborted) - core dumped"): not
 * the child's output, so it goes. */
static void drop_runner_report(char *err)
{
    char *line = strstr(err, "qemu: uncaught target signal ");
    char *next;
    if (!line || (line != err && line[-1] != '\n'))
        return;
    next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    memmove(line, next, strlen(next) + 1);
}

/* The children exercise costack's own fault handling and put frames on
 * coroutine stacks on purpose (to overflow them, to find their mapping),
 * which a sanitizer would take over: its SIGSEGV and SIGBUS handlers
 * (handle_segv) turn a fault into a report and an exit status instead of
 * the death by signal the cases check, and are the "previous handler"
 * costack passes foreign faults to; ASan's fake stack
 * (detect_stack_use_after_return) moves frames off the stack they run on.
 * So children run without those, added last to the options they inherit
 * (the last setting wins). */
static void child_sanitizer_options(void)
{
#if defined(TEST_ASAN) || defined(TEST_TSAN)
    static const char *const vars[2] = {"ASAN_OPTIONS", "TSAN_OPTIONS"};
    static const char *const add[2] = {
        "handle_segv=0:handle_sigbus=0:detect_stack_use_after_return=0",
        "handle_segv=0:handle_sigbus=0"};
    char buf[2048];
#if defined(TEST_ASAN)
    int which = 0;
#else
    int which = 1;
#endif
    const char *old = getenv(vars[which]);
    snprintf(buf, sizeof(buf), "%s%s%s", old ? old : "",
             old && *old ? ":" : "", add[which]);
    setenv(vars[which], buf, 1);
#endif
}

int harness_run_child(const char *name, const char *env_name,
                      const char *env_value, ChildResult *r)
{
    FILE *out = tmpfile();
    FILE *err = tmpfile();
    pid_t pid;
    int status;

    memset(r, 0, sizeof(*r));
    if (!out || !err) {
        harness_fail(__FILE__, __LINE__, "tmpfile: %s", strerror(errno));
        if (out)
            fclose(out);
        if (err)
            fclose(err);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        harness_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        fclose(out);
        fclose(err);
        return -1;
    }
    if (pid == 0) {
        /* COSTACK_TEST_RUNNER: a program to run the child with, such as
         * qemu-aarch64 for a cross-built suite (scripts/aarch64-test.sh). */
        const char *runner = getenv("COSTACK_TEST_RUNNER");
        char *argv[5];
        int n = 0;
        if (runner && *runner)
            argv[n++] = (char *)runner;
        argv[n++] = self_path;
        argv[n++] = (char *)"--child";
        argv[n++] = (char *)name;
        argv[n] = NULL;
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        if (env_name)
            setenv(env_name, env_value, 1);
        child_sanitizer_options();
        if (runner && *runner)
            execvp(runner, argv);
        else
            execv(self_path, argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            harness_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
            fclose(out);
            fclose(err);
            return -1;
        }
    }
    read_all(out, r->out, sizeof(r->out));
    read_all(err, r->err, sizeof(r->err));
    drop_runner_report(r->err);
    fclose(out);
    fclose(err);
    if (WIFEXITED(status)) {
        r->exited = 1;
        r->status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r->signaled = 1;
        r->sig = WTERMSIG(status);
    }
    return 0;
}
#endif /* !_WIN32 */

static void print_child(const ChildResult *r)
{
    if (r->exited)
        printf("  child exited with status %d\n", r->status);
    else if (r->signaled)
        printf("  child killed by signal %d (%s)\n", r->sig,
               strsignal(r->sig));
    printf("  child stdout: <<%s>>\n  child stderr: <<%s>>\n", r->out,
           r->err);
    fflush(stdout);
}

/* Whether a child's stderr holds a sanitizer's report or warning. */
static int sanitizer_report(const char *err)
{
    return strstr(err, "Sanitizer:") || strstr(err, "runtime error:") ||
           strstr(err, "==WARNING:");
}

int harness_expect_death(const ChildResult *r, int sig, const char *msg,
                         const char *file, int line)
{
    int ok = 1;
    if (sanitizer_report(r->err)) {
        harness_fail(file, line, "a sanitizer reported in the child");
        ok = 0;
    }
    if (!r->signaled || r->sig != sig) {
        harness_fail(file, line, "child should die by signal %d (%s)", sig,
                     strsignal(sig));
        ok = 0;
    }
    if (msg && !strstr(r->err, msg)) {
        harness_fail(file, line, "child's stderr should contain \"%s\"",
                     msg);
        ok = 0;
    }
    if (!ok)
        print_child(r);
    return ok;
}

int harness_expect_exit0(const ChildResult *r, const char *file, int line)
{
    if (r->exited && r->status == 0 && !sanitizer_report(r->err))
        return 1;
    harness_fail(file, line, "child should exit with status 0%s",
                 sanitizer_report(r->err) ? ", and no sanitizer report" : "");
    print_child(r);
    return 0;
}

#ifndef _WIN32
size_t harness_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t harness_vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu", &size) != 1)
        size = 0;
    fclose(f);
    return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

long harness_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

long harness_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = 65530;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1 || v <= 0)
            v = 65530;
        fclose(f);
    }
    return v;
}
#endif /* !_WIN32 */

TEST_NOINLINE int harness_locals_on_fake_stack(void)
{
#if defined(TEST_ASAN)
    volatile char local = 0;
    void *fake = __asan_get_current_fake_stack();
    return fake && __asan_addr_is_in_fake_stack(fake, (void *)&local, NULL,
                                                NULL) != NULL;
#else
    return 0;
#endif
}

/* ---- main ------------------------------------------------------------------ */

static int run_child(const char *name)
{
    size_t i;
    const Child *c;
#ifdef _WIN32
    harness_child_setup(); /* the parent stops it after 120 s */
#else
    struct rlimit no_core;

    /* Children die on purpose: no core files, and no hanging forever. */
    no_core.rlim_cur = 0;
    no_core.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &no_core);
    alarm(120);
#endif
    for (i = 0; i < COUNT(child_tables); i++)
        for (c = child_tables[i]; c->name; c++)
            if (strcmp(c->name, name) == 0)
                return c->fn();
    fprintf(stderr, "suite: no child payload named %s\n", name);
    return 2;
}

static void run_case(const Case *c)
{
    case_failures = 0;
    case_skipped = NULL;
    printf("RUN  %s\n", c->name);
    fflush(stdout);
    c->fn();
    if (case_failures) {
        printf("FAIL %s\n", c->name);
        failed++;
    } else if (case_skipped) {
        printf("SKIP %s: %s\n", c->name, case_skipped);
        skipped++;
    } else {
        printf("PASS %s\n", c->name);
        passed++;
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t i;
    const Case *c;
    int a;
#ifndef _WIN32
    ssize_t n;

    /* readlink, not argv[0]: the children must be this very binary (under
     * Valgrind, /proc/self/exe still names the program, not Valgrind). */
    n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n <= 0) {
        fprintf(stderr, "suite: cannot read /proc/self/exe: %s\n",
                strerror(errno));
        return 2;
    }
    self_path[n] = '\0';
#endif

    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return run_child(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < COUNT(case_tables); i++)
            for (c = case_tables[i]; c->name; c++)
                printf("%s\n", c->name);
        return 0;
    }

    printf("costack C suite, backend %s\n", costack_backend_name());
    if (argc == 1) {
        for (i = 0; i < COUNT(case_tables); i++)
            for (c = case_tables[i]; c->name; c++)
                run_case(c);
    } else {
        for (a = 1; a < argc; a++) {
            int found = 0;
            for (i = 0; i < COUNT(case_tables); i++) {
                for (c = case_tables[i]; c->name; c++) {
                    if (strcmp(c->name, argv[a]) == 0) {
                        found = 1;
                        run_case(c);
                    }
                }
            }
            if (!found) {
                printf("FAIL %s (no such case)\n", argv[a]);
                failed++;
            }
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

/*
 * harness.h - the small test harness of the costack C suite (suite.c is the
 * runner, cases_*.c hold the cases).  Written in the common subset of C99
 * and C++11: the suite is compiled both ways.
 *
 * A case is a function void(void).  EXPECT records a failure and goes on;
 * REQUIRE records it and returns from the calling function.  Cases that
 * must die (misuse aborts, stack overflow) or that exhaust the process
 * (memory, mappings) run in a child: the suite executes itself again as
 * `suite --child NAME`, and the parent checks the child's status, stdout and
 * stderr.
 */
#ifndef COSTACK_TEST_HARNESS_H
#define COSTACK_TEST_HARNESS_H

#include <stddef.h>

#if defined(__MINGW32__)
/* mingw-w64, built with __USE_MINGW_ANSI_STDIO=1: C99 formats (%zu). */
#define TEST_NOINLINE __attribute__((noinline))
#define TEST_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define TEST_NOINLINE __attribute__((noinline))
#define TEST_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TEST_NOINLINE
#define TEST_PRINTF(f, a)
#endif

/* The sanitizers the suite is compiled with (CMake's COSTACK_SANITIZE
 * builds it with the core's), for the few cases a sanitizer cannot
 * follow: those say why with harness_skip, and cmake/CostackTests.cmake
 * lists them per sanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(TEST_ASAN)
#define TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(TEST_TSAN)
#define TEST_TSAN 1
#endif
#endif

/* On a function that faults through a NULL pointer on purpose: UBSan's
 * null check would report the access and exit instead.  gcc checks a
 * function inlined into one that is checked: use with TEST_NOINLINE. */
#if defined(__GNUC__) || defined(__clang__)
#define TEST_NO_SANITIZE_NULL __attribute__((no_sanitize("null")))
#else
#define TEST_NO_SANITIZE_NULL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Record a failure of the running case (printed at once, with file:line). */
void harness_fail(const char *file, int line, const char *fmt, ...)
    TEST_PRINTF(3, 4);
/* Compare two integers; record a failure naming both expressions. */
int harness_expect_eq(long long a, long long b, const char *ea,
                      const char *eb, const char *file, int line);

#define EXPECT(cond)                                                        \
    ((cond) ? (void)0 : harness_fail(__FILE__, __LINE__, "%s", #cond))
#define EXPECT_EQ(a, b)                                                     \
    ((void)harness_expect_eq((long long)(a), (long long)(b), #a, #b,        \
                             __FILE__, __LINE__))
#define REQUIRE(cond)                                                       \
    do {                                                                    \
        if (!(cond)) {                                                      \
            harness_fail(__FILE__, __LINE__, "required: %s", #cond);        \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Mark the running case skipped, because it cannot run on this platform;
 * why is printed with it ("SKIP name: why").  The case returns after. */
void harness_skip(const char *why);

/* What a child run left behind. */
typedef struct ChildResult {
    int exited;    /* exited normally, with status */
    int status;
    int signaled;  /* killed by signal sig */
    int sig;
    char out[16384]; /* its stdout, NUL-terminated (truncated if longer) */
    char err[16384]; /* its stderr */
} ChildResult;

/*
 * Run `<this binary> --child name` with the environment variable env_name
 * set to env_value (both may be NULL), wait for it and fill *r.  Returns 0,
 * or -1 after recording a failure when the child could not be run.
 */
int harness_run_child(const char *name, const char *env_name,
                      const char *env_value, ChildResult *r);

/* Expect the child to have died by signal sig with msg in its stderr;
 * prints the child's output on mismatch.  Returns non-zero if it did. */
int harness_expect_death(const ChildResult *r, int sig, const char *msg,
                         const char *file, int line);
#define EXPECT_DEATH(r, sig, msg)                                           \
    ((void)harness_expect_death((r), (sig), (msg), __FILE__, __LINE__))

/* Expect the child to have exited with status 0; prints its output when
 * not.  Returns non-zero if it did. */
int harness_expect_exit0(const ChildResult *r, const char *file, int line);
#define EXPECT_EXIT0(r)                                                     \
    ((void)harness_expect_exit0((r), __FILE__, __LINE__))

/* Resident set size of this process in bytes (0 if unknown). */
size_t harness_rss_bytes(void);
/* Address space of this process in bytes (0 if unknown). */
size_t harness_vm_bytes(void);
/* Number of mappings of this process (lines of /proc/self/maps). */
long harness_map_count(void);
/* vm.max_map_count, or 65530 if it cannot be read. */
long harness_max_map_count(void);

/* Whether this thread's instrumented frames keep their locals on ASan's
 * fake stack (detect_stack_use_after_return), where a local's address says
 * nothing about the stack the function runs on.  0 without ASan. */
int harness_locals_on_fake_stack(void);

#ifdef _WIN32
/* harness_windows.c: Windows has no signals; these name the endings
 * harness_run_child reports as signals, and set a child up to crash
 * quietly (no error dialog, no debugger). */
const char *harness_signal_name(int sig);
void harness_child_setup(void);
#endif

/* ---- the cases -----------------------------------------------------------
 * A case, and a child payload (run by harness_run_child; its return value
 * is the child's exit status).  suite.c lists the cases of the files
 * declared below; the area files cases_wait.c, cases_lock.c and
 * cases_loop.c each have their own tables, ending with {NULL, NULL}. */
typedef struct HarnessCase {
    const char *name;
    void (*fn)(void);
} HarnessCase;
typedef struct HarnessChild {
    const char *name;
    int (*fn)(void);
} HarnessChild;

extern const HarnessCase harness_cases_wait[], harness_cases_lock[],
    harness_cases_loop[];
extern const HarnessChild harness_children_wait[], harness_children_lock[],
    harness_children_loop[];


void case_backend_name(void);
void case_lifecycle(void);
void case_yield_counts(void);
void case_nesting_128(void);
void case_self_and_leader(void);
void case_entered(void);
void case_in_coroutine(void);
void case_order_nested_yield(void);
void case_no_dangling_access(void);
void case_suspended_10000(void);
void case_deep_stack_default_size(void);
void case_finish_on_other_thread(void);
void case_longjmp_in_coroutine(void);
void case_two_threads_at_once(void);
void case_pool_reuse_no_growth(void);
void case_pool_max(void);
void case_pool_limit_threads(void);
void case_global_lock(void);
void case_global_lock_exclusion(void);
void case_destroy(void);
void case_destroy_suspended_many(void);
void case_pooled_stack_poisoned(void);
void case_suspended_block_not_leaked(void);
void case_create_with_sizes(void);
void case_user_data(void);
void case_qemu_opaque_first_enter(void);
void case_qemu_self_in_coroutine(void);
void case_qemu_mixing(void);
void case_death_misuse(void);
void case_death_stack_overflow(void);
void case_foreign_faults_pass_on(void);
void case_enomem_rlimit_as(void);
void case_enomem_mappings(void);
void case_stack_high_water(void);
void case_death_high_water_terminated(void);
void case_death_overflow_slab(void);
void case_stack_limits(void);
void case_stacks_come_back(void);
void case_fork_while_locked(void);
void case_death_stale_handles(void);
void case_sigusr2_taken(void);
void case_backtrace_ends(void);
void case_registers_survive_switches(void);
void case_fp_control_state(void);

/* Child payloads: run in a child process by `suite --child NAME`.  They
 * return the child's exit status (when they do not die). */
int child_reenter_self(void);
int child_reenter_caller(void);
int child_yield_no_one(void);
int child_enter_leader(void);
int child_destroy_active(void);
int child_lock_twice(void);
int child_unlock_unheld(void);
int child_qemu_reenter(void);
int child_qemu_yield_no_one(void);
int child_overflow_default(void);
int child_overflow_small(void);
int child_overflow_thread(void);
int child_null_deref_top(void);
int child_null_deref_coroutine(void);
int child_previous_handler(void);
int child_enomem_rlimit_as(void);
int child_qemu_create_exhausted(void);
int child_enomem_mappings(void);
int child_pool_cap_mappings(void);
int child_high_water_terminated(void);
int child_read_pooled_stack(void);
int child_exit_suspended(void);
int child_sigusr2_taken(void);
int child_stale_enter(void);
int child_stale_destroy(void);
int child_stale_reused(void);
int child_null_entered(void);
int child_null_stack_size(void);
#ifndef _WIN32
int child_overflow_slab(void);
int child_overflow_big_frame(void);
int child_overflow_signal_frame(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* COSTACK_TEST_HARNESS_H */

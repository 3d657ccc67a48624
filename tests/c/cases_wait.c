/*
 * cases_wait.c - the C suite's cases for the core's waiting and waking
 * (costack_wait, costack_wake, wake hooks): when a woken coroutine runs,
 * in which order, what destroy does to a waiter, and the misuse that
 * aborts.  Queues and locks built on it are in cases_lock.c, the loop in
 * cases_loop.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "costack.h"
#include "harness.h"

/* ---- a log of steps ------------------------------------------------------ */

static char steps[256];

static void step(const char *s)
{
    size_t n = strlen(steps);
    while (*s && n < sizeof(steps) - 1)
        steps[n++] = *s++;
    steps[n] = '\0';
}

/* A coroutine that logs "<name>", waits, then logs "<name>'" and ends. */
static void waiter_entry(void *opaque)
{
    char name[2] = {*(const char *)opaque, '\0'};
    step(name);
    costack_wait(NULL, NULL);
    step(name);
    step("'");
}

static CostackCoroutine *new_waiter(const char *name)
{
    CostackCoroutine *co = costack_create(waiter_entry, (void *)name);
    if (co)
        costack_enter(co);
    return co;
}

/* ---- when and in which order the woken run ------------------------------ */

void case_wake_outside_enters_at_once(void);
void case_wake_outside_enters_at_once(void)
{
    CostackCoroutine *a;
    steps[0] = '\0';
    a = new_waiter("a");
    REQUIRE(a);
    EXPECT(costack_waiting(a));
    step("|");
    costack_wake(a); /* from the leader: a runs before wake returns */
    step("|");
    EXPECT(strcmp(steps, "a|a'|") == 0);
}

static CostackCoroutine *wa, *wb, *wc;

/* Wakes a and b, logs, yields; when entered again, ends. */
static void waker_entry(void *opaque)
{
    (void)opaque;
    costack_wake(wa);
    costack_wake(wb);
    step("W");
    costack_yield();
    step("w");
}

void case_wake_deferred_until_yield(void);
void case_wake_deferred_until_yield(void)
{
    CostackCoroutine *w;
    steps[0] = '\0';
    wa = new_waiter("a");
    wb = new_waiter("b");
    REQUIRE(wa && wb);
    w = costack_create(waker_entry, NULL);
    REQUIRE(w);
    step("|");
    costack_enter(w);
    /* a and b ran, in the order they were woken, after w yielded and
     * before this enter returned. */
    step("|");
    EXPECT(strcmp(steps, "ab|Wa'b'|") == 0);
    costack_enter(w);
    EXPECT(strcmp(steps, "ab|Wa'b'|w") == 0);
}

/* a, when woken, wakes c before it ends: c runs before b (depth-first). */
static void wakes_c_entry(void *opaque)
{
    (void)opaque;
    step("a");
    costack_wait(NULL, NULL);
    costack_wake(wc);
    step("A");
}

void case_wake_depth_first(void);
void case_wake_depth_first(void)
{
    CostackCoroutine *w;
    steps[0] = '\0';
    wa = costack_create(wakes_c_entry, NULL);
    REQUIRE(wa);
    costack_enter(wa);
    wb = new_waiter("b");
    wc = new_waiter("c");
    REQUIRE(wb && wc);
    w = costack_create(waker_entry, NULL);
    REQUIRE(w);
    step("|");
    costack_enter(w);
    step("|");
    EXPECT(strcmp(steps, "abc|WAc'b'|") == 0);
    costack_enter(w);
}

/* Wakes a, then ends: a runs, then the resumer continues. */
static void wake_and_end_entry(void *opaque)
{
    (void)opaque;
    costack_wake(wa);
    step("E");
}

void case_wake_then_terminate(void);
void case_wake_then_terminate(void)
{
    CostackStats before, after;
    CostackCoroutine *w;
    int i;
    /* Twice, so that the second round reuses pooled coroutines that went
     * through the hand-off. */
    for (i = 0; i < 2; i++) {
        steps[0] = '\0';
        wa = new_waiter("a");
        REQUIRE(wa);
        costack_stats(&before);
        w = costack_create(wake_and_end_entry, NULL);
        REQUIRE(w);
        costack_enter(w);
        EXPECT(strcmp(steps, "aEa'") == 0);
        costack_stats(&after);
        /* w and a both ended and were released. */
        EXPECT_EQ(after.live + 1, before.live);
    }
}

/* A coroutine that enters w and logs when it continues: the woken run
 * before it, not before the leader. */
static void middle_entry(void *opaque)
{
    costack_enter((CostackCoroutine *)opaque);
    step("M");
    costack_yield();
}

void case_wake_nested_resumer(void);
void case_wake_nested_resumer(void)
{
    CostackCoroutine *w, *m;
    steps[0] = '\0';
    wa = new_waiter("a");
    wb = new_waiter("b");
    REQUIRE(wa && wb);
    w = costack_create(waker_entry, NULL);
    m = costack_create(middle_entry, w);
    REQUIRE(w && m);
    costack_enter(m);
    step("|");
    EXPECT(strcmp(steps, "abWa'b'M|") == 0);
    costack_enter(m);
    costack_enter(w);
}

/* The waker wakes many; every one runs exactly once, in order. */
#define MANY 500
static CostackCoroutine *many[MANY];
static int many_order[MANY], many_ran;

static void many_entry(void *opaque)
{
    costack_wait(NULL, NULL);
    many_order[many_ran++] = (int)(size_t)opaque;
}

static void wake_many_entry(void *opaque)
{
    int i;
    (void)opaque;
    for (i = 0; i < MANY; i++)
        costack_wake(many[i]);
}

void case_wake_many(void);
void case_wake_many(void)
{
    CostackOptions small;
    CostackCoroutine *w;
    int i;
    memset(&small, 0, sizeof(small));
    small.stack_size = COSTACK_MIN_STACK_SIZE;
    many_ran = 0;
    for (i = 0; i < MANY; i++) {
        many[i] = costack_create_with(many_entry, (void *)(size_t)i, &small);
        REQUIRE(many[i]);
        costack_enter(many[i]);
    }
    w = costack_create(wake_many_entry, NULL);
    REQUIRE(w);
    costack_enter(w);
    EXPECT_EQ(many_ran, MANY);
    for (i = 0; i < MANY; i++)
        if (many_order[i] != i) {
            EXPECT_EQ(many_order[i], i);
            break;
        }
}

/* ---- wake hooks --------------------------------------------------------- */

static CostackCoroutine *hooked;
static int hook_calls;
static void *hook_arg_seen;

static void record_hook(CostackCoroutine *co, void *arg)
{
    hooked = co;
    hook_calls++;
    hook_arg_seen = arg;
}

static void wake_a_entry(void *opaque)
{
    (void)opaque;
    costack_wake(wa);
    step("W");
}

void case_wake_hook(void);
void case_wake_hook(void)
{
    CostackCoroutine *w;
    int token;
    steps[0] = '\0';
    hook_calls = 0;
    wa = new_waiter("a");
    REQUIRE(wa);
    costack_set_wake_hook(wa, record_hook, &token);
    /* From a coroutine: the hook, not the hand-off. */
    w = costack_create(wake_a_entry, NULL);
    REQUIRE(w);
    costack_enter(w);
    EXPECT(strcmp(steps, "aW") == 0);
    EXPECT_EQ(hook_calls, 1);
    EXPECT(hooked == wa);
    EXPECT(hook_arg_seen == (void *)&token);
    EXPECT(!costack_waiting(wa));
    /* The hook's owner enters it. */
    costack_enter(wa);
    EXPECT(strcmp(steps, "aWa'") == 0);
}

/* ---- destroy ------------------------------------------------------------ */

static int detached;

static void count_detach(CostackCoroutine *co, void *arg)
{
    (void)co;
    *(int *)arg += 1;
}

static void wait_detach_entry(void *opaque)
{
    (void)opaque;
    costack_wait(count_detach, &detached);
    step("never");
}

/* Wakes a, then destroys it before it could run. */
static void wake_destroy_entry(void *opaque)
{
    (void)opaque;
    costack_wake(wa);
    costack_destroy(wa);
    step("D");
}

void case_wait_destroy(void);
void case_wait_destroy(void)
{
    CostackCoroutine *co, *w;
    CostackStats before, after;
    steps[0] = '\0';
    detached = 0;
    costack_stats(&before);
    co = costack_create(wait_detach_entry, NULL);
    REQUIRE(co);
    costack_enter(co);
    costack_destroy(co); /* waiting: detached first */
    EXPECT_EQ(detached, 1);
    /* Woken (detached by the wake), then destroyed while it sits on its
     * waker's list: it never runs, and the waker's yield still works. */
    co = costack_create(wait_detach_entry, NULL);
    REQUIRE(co);
    costack_enter(co);
    wa = co;
    w = costack_create(wake_destroy_entry, NULL);
    REQUIRE(w);
    costack_enter(w);
    EXPECT_EQ(detached, 2);
    EXPECT(strcmp(steps, "D") == 0);
    costack_stats(&after);
    EXPECT_EQ(after.live, before.live);
}

/* ---- across threads ----------------------------------------------------- */

static void *wake_from_thread(void *arg)
{
    costack_global_lock();
    costack_wake((CostackCoroutine *)arg); /* entered at once, here */
    costack_global_unlock();
    return NULL;
}

void case_wake_on_other_thread(void);
void case_wake_on_other_thread(void)
{
    pthread_t th;
    steps[0] = '\0';
    costack_global_lock();
    wa = new_waiter("a");
    costack_global_unlock();
    REQUIRE(wa);
    REQUIRE(pthread_create(&th, NULL, wake_from_thread, wa) == 0);
    pthread_join(th, NULL);
    EXPECT(strcmp(steps, "aa'") == 0);
}

/* ---- the global mutex's release hook ------------------------------------ */

static int releases;
static int released_free; /* the mutex was free when the hook ran */

static void count_release(void)
{
    releases++;
    if (costack_global_trylock()) {
        released_free++;
        costack_global_set_release_hook(NULL); /* no recursion below */
        costack_global_unlock();
        costack_global_set_release_hook(count_release);
    }
}

void case_global_release_hook(void);
void case_global_release_hook(void)
{
    releases = released_free = 0;
    costack_global_set_release_hook(count_release);
    costack_global_lock();
    EXPECT_EQ(releases, 0);
    costack_global_unlock();
    EXPECT_EQ(releases, 1);
    EXPECT_EQ(released_free, 1);
    EXPECT(!costack_global_lock_held());
    costack_global_set_release_hook(NULL);
    costack_global_lock();
    costack_global_unlock();
    EXPECT_EQ(releases, 1);
}

/* ---- misuse -------------------------------------------------------------- */

static void yield_entry(void *opaque)
{
    (void)opaque;
    costack_yield();
}

static int child_wake_not_waiting(void)
{
    CostackCoroutine *co = costack_create(yield_entry, NULL);
    costack_enter(co);
    costack_wake(co);
    return 0;
}

static void hook_nothing(CostackCoroutine *co, void *arg)
{
    (void)co;
    (void)arg;
}

static int child_wake_twice(void)
{
    CostackCoroutine *co = new_waiter("a");
    costack_set_wake_hook(co, hook_nothing, NULL);
    costack_wake(co);
    costack_wake(co);
    return 0;
}

static int child_enter_waiting(void)
{
    costack_enter(new_waiter("a"));
    return 0;
}

static void wake_enter_entry(void *opaque)
{
    (void)opaque;
    costack_wake(wa);
    costack_enter(wa); /* on this coroutine's woken list */
}

static int child_enter_woken_queued(void)
{
    wa = new_waiter("a");
    costack_enter(costack_create(wake_enter_entry, NULL));
    return 0;
}

static int child_wait_outside(void)
{
    costack_wait(NULL, NULL);
    return 0;
}

static void expect_abort(const char *child, const char *msg, int line)
{
    ChildResult r;
    if (harness_run_child(child, NULL, NULL, &r) != 0)
        return;
    (void)harness_expect_death(&r, SIGABRT, msg, __FILE__, line);
}

void case_death_wait_misuse(void);
void case_death_wait_misuse(void)
{
    expect_abort("wake_not_waiting",
                 "costack: costack_wake: the coroutine does not wait",
                 __LINE__);
    expect_abort("wake_twice",
                 "costack: costack_wake: the coroutine was woken already",
                 __LINE__);
    expect_abort("enter_waiting",
                 "costack: costack_enter: the coroutine waits", __LINE__);
    expect_abort("enter_woken_queued",
                 "costack: costack_enter: the coroutine was woken and is "
                 "queued to run",
                 __LINE__);
    expect_abort("wait_outside", "costack: costack_wait: outside a coroutine",
                 __LINE__);
}

const HarnessCase harness_cases_wait[] = {
    {"wake_outside_enters_at_once", case_wake_outside_enters_at_once},
    {"wake_deferred_until_yield", case_wake_deferred_until_yield},
    {"wake_depth_first", case_wake_depth_first},
    {"wake_then_terminate", case_wake_then_terminate},
    {"wake_nested_resumer", case_wake_nested_resumer},
    {"wake_many", case_wake_many},
    {"wake_hook", case_wake_hook},
    {"wait_destroy", case_wait_destroy},
    {"wake_on_other_thread", case_wake_on_other_thread},
    {"global_release_hook", case_global_release_hook},
    {"death_wait_misuse", case_death_wait_misuse},
    {NULL, NULL}
};

const HarnessChild harness_children_wait[] = {
    {"wake_not_waiting", child_wake_not_waiting},
    {"wake_twice", child_wake_twice},
    {"enter_waiting", child_enter_waiting},
    {"enter_woken_queued", child_enter_woken_queued},
    {"wait_outside", child_wait_outside},
    {NULL, NULL}
};

/*
 * cases_qemu.c - the QEMU-compatible header (include/qemu-coroutine.h):
 * the opaque of the first enter, self and in_coroutine, and mixing it with
 * the native API in one program (both headers in one file).
 */
#include <string.h>

#include "costack.h"
#include "qemu-coroutine.h"
#include "harness.h"

/* ---- the opaque reaches the entry on the first enter only -------------- */

typedef struct QemuOpaque {
    void *first;
    int steps;
} QemuOpaque;

static QemuOpaque qo;

static void coroutine_fn qemu_opaque_entry(void *opaque)
{
    qo.first = opaque;
    qo.steps++;
    qemu_coroutine_yield();
    qo.steps++;
    qemu_coroutine_yield();
    qo.steps++;
}

void case_qemu_opaque_first_enter(void)
{
    int a = 1, b = 2, c = 3;
    Coroutine *co;

    memset(&qo, 0, sizeof(qo));
    co = qemu_coroutine_create(qemu_opaque_entry);
    REQUIRE(co != NULL);
    EXPECT_EQ(qo.steps, 0); /* create does not run it */
    qemu_coroutine_enter(co, &a);
    EXPECT(qo.first == &a);
    EXPECT_EQ(qo.steps, 1);
    qemu_coroutine_enter(co, &b); /* later opaques are ignored */
    EXPECT_EQ(qo.steps, 2);
    qemu_coroutine_enter(co, NULL);
    EXPECT_EQ(qo.steps, 3);
    EXPECT(qo.first == &a);

    /* A new coroutine (most likely the same object, from the pool) gets
     * its own first opaque, not a stale one. */
    memset(&qo, 0, sizeof(qo));
    co = qemu_coroutine_create(qemu_opaque_entry);
    REQUIRE(co != NULL);
    qemu_coroutine_enter(co, &c);
    EXPECT(qo.first == &c);
    qemu_coroutine_enter(co, &a);
    qemu_coroutine_enter(co, &b);
    EXPECT_EQ(qo.steps, 3);
    EXPECT(qo.first == &c);
}

/* ---- self and in_coroutine ------------------------------------------------- */

typedef struct QemuSelf {
    Coroutine *co;
    Coroutine *self_inside;
    bool in_inside;
    Coroutine *self_after_yield;
} QemuSelf;

static void coroutine_fn qemu_self_entry(void *opaque)
{
    QemuSelf *s = (QemuSelf *)opaque;
    s->self_inside = qemu_coroutine_self();
    s->in_inside = qemu_in_coroutine();
    qemu_coroutine_yield();
    s->self_after_yield = qemu_coroutine_self();
}

void case_qemu_self_in_coroutine(void)
{
    QemuSelf s;
    Coroutine *leader = qemu_coroutine_self();

    memset(&s, 0, sizeof(s));
    REQUIRE(leader != NULL); /* never NULL, even outside a coroutine */
    EXPECT(qemu_coroutine_self() == leader);
    EXPECT((void *)leader == (void *)costack_self());
    EXPECT(!qemu_in_coroutine());
    s.co = qemu_coroutine_create(qemu_self_entry);
    REQUIRE(s.co != NULL);
    qemu_coroutine_enter(s.co, &s);
    EXPECT(s.self_inside == s.co);
    EXPECT(s.self_inside != leader);
    EXPECT(s.in_inside);
    EXPECT(qemu_coroutine_self() == leader);
    EXPECT(!qemu_in_coroutine());
    qemu_coroutine_enter(s.co, NULL);
    EXPECT(s.self_after_yield == s.co);
}

/* ---- mixing with the native API ------------------------------------------ */

typedef struct Mix {
    int native_steps;
    int qemu_steps;
    int native_saw_self;
    int qemu_saw_self;
    CostackCoroutine *native;
    Coroutine *qemu;
} Mix;

static Mix mix;

/* A native coroutine that uses the QEMU calls. */
static void mix_native_entry(void *opaque)
{
    (void)opaque;
    mix.native_saw_self =
        (void *)qemu_coroutine_self() == (void *)mix.native &&
        qemu_in_coroutine();
    mix.native_steps++;
    qemu_coroutine_yield();
    mix.native_steps++;
}

/* A QEMU coroutine that uses the native calls and enters a native one. */
static void coroutine_fn mix_qemu_entry(void *opaque)
{
    Mix *m = (Mix *)opaque;
    m->qemu_saw_self = (void *)costack_self() == (void *)m->qemu &&
                       costack_in_coroutine();
    m->qemu_steps++;
    m->native = costack_create(mix_native_entry, NULL);
    if (!m->native)
        return;
    costack_enter(m->native);  /* runs until its qemu_coroutine_yield */
    costack_yield();           /* back to the leader */
    m->qemu_steps++;
    costack_enter(m->native);  /* finish it */
}

void case_qemu_mixing(void)
{
    memset(&mix, 0, sizeof(mix));
    mix.qemu = qemu_coroutine_create(mix_qemu_entry);
    REQUIRE(mix.qemu != NULL);
    qemu_coroutine_enter(mix.qemu, &mix);
    REQUIRE(mix.native != NULL);
    EXPECT_EQ(mix.qemu_steps, 1);
    EXPECT_EQ(mix.native_steps, 1);
    EXPECT_EQ(mix.qemu_saw_self, 1);
    EXPECT_EQ(mix.native_saw_self, 1);
    EXPECT(!costack_entered((CostackCoroutine *)mix.qemu));
    /* Resume the QEMU coroutine through the native API. */
    costack_enter((CostackCoroutine *)mix.qemu);
    EXPECT_EQ(mix.qemu_steps, 2);
    EXPECT_EQ(mix.native_steps, 2);
    EXPECT(!qemu_in_coroutine());
}

/* ---- misuse through the QEMU API (child payloads) ------------------------- */

static void coroutine_fn qemu_reenter_entry(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_self(), NULL);
}

int child_qemu_reenter(void)
{
    Coroutine *co = qemu_coroutine_create(qemu_reenter_entry);
    qemu_coroutine_enter(co, NULL);
    return 0; /* not reached */
}

int child_qemu_yield_no_one(void)
{
    qemu_coroutine_yield();
    return 0; /* not reached */
}

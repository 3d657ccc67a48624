/*
 * cases_switch.c - what a switch must keep for each side: the callee-saved
 * registers (values live across costack_enter and costack_yield, in both
 * the coroutine and its resumer), and the floating-point control state:
 * the thread's by default, per side for a coroutine created with
 * COSTACK_KEEP_FP_CONTROL, on every backend alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fenv.h>
#include <string.h>

#include "costack.h"
#include "harness.h"

/* ---- registers ------------------------------------------------------------ */

#define REG_ROUNDS 50

typedef struct RegResult {
    long long ints[8];
    double reals[8];
} RegResult;

/* One step of the computation both sides run; not inlined, so that the
 * values live across it stay in callee-saved registers (or the stack). */
static TEST_NOINLINE long long step_int(long long v, long long k)
{
    /* Unsigned: the products wrap, which signed overflow may not. */
    return (long long)((unsigned long long)v * 6364136223846793005ULL +
                       (unsigned long long)k * 1442695040888963407ULL + 1);
}

static TEST_NOINLINE double step_real(double v, long long k)
{
    return v * 0.5 + (double)(k % 7) * 0.25 + 1.0;
}

/* Eight integers and eight doubles live across every call of between();
 * seed tells the two sides apart. */
static void compute(long long seed, void (*between)(void), RegResult *out)
{
    long long i0 = seed, i1 = seed + 1, i2 = seed + 2, i3 = seed + 3;
    long long i4 = seed + 4, i5 = seed + 5, i6 = seed + 6, i7 = seed + 7;
    double r0 = (double)seed, r1 = r0 + 1, r2 = r0 + 2, r3 = r0 + 3;
    double r4 = r0 + 4, r5 = r0 + 5, r6 = r0 + 6, r7 = r0 + 7;
    long long k;
    for (k = 0; k < REG_ROUNDS; k++) {
        i0 = step_int(i0, k);
        r0 = step_real(r0, k);
        between();
        i1 = step_int(i1, k) ^ i0;
        r1 = step_real(r1, k) + r0;
        i2 = step_int(i2, k) ^ i1;
        r2 = step_real(r2, k) + r1;
        i3 = step_int(i3, k) ^ i2;
        r3 = step_real(r3, k) + r2;
        i4 = step_int(i4, k) ^ i3;
        r4 = step_real(r4, k) + r3;
        i5 = step_int(i5, k) ^ i4;
        r5 = step_real(r5, k) + r4;
        i6 = step_int(i6, k) ^ i5;
        r6 = step_real(r6, k) + r5;
        i7 = step_int(i7, k) ^ i6;
        r7 = step_real(r7, k) + r6;
    }
    out->ints[0] = i0, out->ints[1] = i1, out->ints[2] = i2;
    out->ints[3] = i3, out->ints[4] = i4, out->ints[5] = i5;
    out->ints[6] = i6, out->ints[7] = i7;
    out->reals[0] = r0, out->reals[1] = r1, out->reals[2] = r2;
    out->reals[3] = r3, out->reals[4] = r4, out->reals[5] = r5;
    out->reals[6] = r6, out->reals[7] = r7;
}

static void nothing(void)
{
}

static CostackCoroutine *reg_co;
static RegResult reg_inside;

static void yield_once(void)
{
    costack_yield();
}

static void enter_once(void)
{
    costack_enter(reg_co);
}

static void reg_entry(void *opaque)
{
    (void)opaque;
    compute(1000, yield_once, &reg_inside);
    for (;;) /* the resumer may enter more often than we yield */
        costack_yield();
}

void case_registers_survive_switches(void)
{
    RegResult expect_inside, expect_outside, outside;

    compute(1000, nothing, &expect_inside);
    compute(-77, nothing, &expect_outside);
    memset(&reg_inside, 0, sizeof(reg_inside));
    reg_co = costack_create(reg_entry, NULL);
    REQUIRE(reg_co != NULL);
    compute(-77, enter_once, &outside); /* enters REG_ROUNDS times */
    costack_enter(reg_co);              /* the last step of the inside */
    EXPECT(memcmp(&outside, &expect_outside, sizeof(outside)) == 0);
    EXPECT(memcmp(&reg_inside, &expect_inside, sizeof(reg_inside)) == 0);
    costack_destroy(reg_co);
}

/* ---- floating-point control state ----------------------------------------- */

/* Without COSTACK_KEEP_FP_CONTROL the control state is the thread's: a
 * rounding mode set on either side of a switch is in force on the other.
 * With it, each side keeps its own, and the coroutine starts with its
 * creator's, on every Unix backend (costack.h).  On x86-64 the mode is read
 * from both the x87 control word and MXCSR, so that each is checked. */

#if !defined(_WIN32) && defined(FE_UPWARD) && defined(FE_DOWNWARD) &&      \
    defined(FE_TOWARDZERO) && (defined(__x86_64__) || defined(__aarch64__))

static int fp_seen[4];

/* The rounding mode; on x86-64 only if the x87 control word (what
 * fegetround reads) and MXCSR agree on it, -1 if they do not. */
static int rounding(void)
{
    int mode = fegetround();
#if defined(__x86_64__)
    unsigned int csr;
    __asm__ __volatile__("stmxcsr %0" : "=m"(csr));
    if ((int)((csr >> 3) & 0xc00) != mode)
        return -1;
#endif
    return mode;
}

static void fp_entry(void *opaque)
{
    (void)opaque;
    fp_seen[0] = rounding(); /* the creator's, or the resumer's */
    fesetround(FE_UPWARD);
    costack_yield();
    fp_seen[1] = rounding();
    fesetround(FE_TOWARDZERO);
    costack_yield();
    fp_seen[2] = rounding();
}

/* A nested coroutine that sets its own mode and yields. */
static void fp_inner_entry(void *opaque)
{
    (void)opaque;
    fesetround(FE_DOWNWARD);
    costack_yield();
}

/* Enters a kept-state coroutine from a plain one: the plain one's mode
 * stays the thread's, the inner one's stays its own. */
static void fp_outer_entry(void *opaque)
{
    CostackCoroutine *inner;
    CostackOptions opts;
    (void)opaque;
    memset(&opts, 0, sizeof(opts));
    opts.flags = COSTACK_KEEP_FP_CONTROL;
    fesetround(FE_UPWARD);
    inner = costack_create_with(fp_inner_entry, NULL, &opts);
    if (!inner) {
        fp_seen[3] = -2;
        return;
    }
    costack_enter(inner);
    fp_seen[3] = rounding(); /* the inner one's DOWNWARD stays inner */
    costack_destroy(inner);
    fesetround(FE_TOWARDZERO); /* the outer one shares the thread's */
}

/* One run of fp_entry, keeping (keep) or not; start is the mode the
 * creator has when it creates the coroutine. */
static void fp_run(int keep, int start)
{
    CostackCoroutine *co;
    CostackOptions opts;

    memset(&opts, 0, sizeof(opts));
    opts.flags = keep ? COSTACK_KEEP_FP_CONTROL : 0;
    memset(fp_seen, 0, sizeof(fp_seen));
    fesetround(start);
    co = costack_create_with(fp_entry, NULL, &opts);
    REQUIRE(co != NULL);
    fesetround(FE_TONEAREST);
    costack_enter(co);
    EXPECT_EQ(fp_seen[0], keep ? start : FE_TONEAREST);
    EXPECT_EQ(rounding(), keep ? FE_TONEAREST : FE_UPWARD);
    fesetround(FE_DOWNWARD);
    costack_enter(co);
    EXPECT_EQ(fp_seen[1], keep ? FE_UPWARD : FE_DOWNWARD);
    EXPECT_EQ(rounding(), keep ? FE_DOWNWARD : FE_TOWARDZERO);
    fesetround(FE_TONEAREST);
    costack_enter(co); /* ends */
    EXPECT_EQ(fp_seen[2], keep ? FE_TOWARDZERO : FE_TONEAREST);
    EXPECT_EQ(rounding(), FE_TONEAREST);
    fesetround(FE_TONEAREST);
}

void case_fp_control_state(void)
{
    CostackCoroutine *outer;

    REQUIRE(rounding() == FE_TONEAREST);
    fp_run(0, FE_TONEAREST);
    fp_run(1, FE_TONEAREST);
    /* The creator's mode at create, also for an object from the pool
     * (the runs above left theirs there), and the flag is per create:
     * plain again after a kept one. */
    fp_run(1, FE_UPWARD);
    fp_run(0, FE_TONEAREST);
    fp_run(1, FE_TOWARDZERO);

    memset(fp_seen, 0, sizeof(fp_seen));
    outer = costack_create(fp_outer_entry, NULL);
    REQUIRE(outer != NULL);
    costack_enter(outer); /* ends */
    EXPECT_EQ(fp_seen[3], FE_UPWARD);
    EXPECT_EQ(rounding(), FE_TOWARDZERO);
    fesetround(FE_TONEAREST);
}

#else

void case_fp_control_state(void)
{
    harness_skip("the floating-point control state is checked on x86-64 "
                 "and aarch64 Unix only (on Windows fibers keep it with "
                 "FIBER_FLAG_FLOAT_SWITCH, the system's business)");
}

#endif

/*
 * test_portable.c -- C-only tests of csrc/kernels/portable_internal.h.
 *
 * Each portable fallback is checked against what the compiler offers, where
 * it offers it: checked arithmetic against __builtin_*_overflow and exact
 * 128-bit sums, the 128-bit words and their rounding to double against
 * unsigned __int128, the CPU feature probe against __builtin_cpu_supports.
 * `make portability` builds this file with and without MUSHIN_NO_BUILTINS,
 * so the same checks also cover the header's dispatching names with every
 * fallback forced on.
 *
 * Prints one line per failure and closes with "N passed, M failed"; exits
 * non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/portable_internal.h"
#include "kernels/rng_internal.h"

#include "ctest.h"

#if defined(__SIZEOF_INT128__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_NATIVE_128 1
__extension__ typedef __int128 native_i128;
__extension__ typedef unsigned __int128 native_u128;
#endif

static const int64_t edges[] = {
    0, 1, -1, 2, -2, 3, -3, 7,
    INT64_C(2147483647), INT64_C(-2147483648), INT64_C(4294967296), INT64_C(-4294967296),
    INT64_C(3037000499), INT64_C(-3037000499), INT64_C(3037000500), INT64_C(-3037000500),
    INT64_C(4611686018427387904), INT64_C(-4611686018427387904),
    INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, INT64_MAX / 2, INT64_MIN / 2,
};
#define N_EDGES ((int)(sizeof edges / sizeof edges[0]))

/* the exact answer, from a wider type where there is one */
static void
check_checked_pair(int64_t a, int64_t b, int *ok)
{
    int64_t r1, r2, r3, r4, r5, r6;
    const int oa = mushin_add_overflow_i64_portable(a, b, &r1);
    const int os = mushin_sub_overflow_i64_portable(a, b, &r2);
    const int om = mushin_mul_overflow_i64_portable(a, b, &r3);
    if (oa != mushin_add_overflow_i64(a, b, &r4) || r1 != r4) *ok = 0;
    if (os != mushin_sub_overflow_i64(a, b, &r5) || r2 != r5) *ok = 0;
    if (om != mushin_mul_overflow_i64(a, b, &r6) || r3 != r6) *ok = 0;
#if defined(__GNUC__) || defined(__clang__)
    {
        int64_t g;
        if (oa != __builtin_add_overflow(a, b, &g) || g != r1) *ok = 0;
        if (os != __builtin_sub_overflow(a, b, &g) || g != r2) *ok = 0;
        if (om != __builtin_mul_overflow(a, b, &g) || g != r3) *ok = 0;
    }
#endif
#ifdef HAVE_NATIVE_128
    {
        const native_i128 s = (native_i128)a + b, d = (native_i128)a - b, p = (native_i128)a * b;
        if (oa != (s < INT64_MIN || s > INT64_MAX)) *ok = 0;
        if (os != (d < INT64_MIN || d > INT64_MAX)) *ok = 0;
        if (om != (p < INT64_MIN || p > INT64_MAX)) *ok = 0;
        if (!oa && r1 != (int64_t)s) *ok = 0;
        if (!os && r2 != (int64_t)d) *ok = 0;
        if (!om && r3 != (int64_t)p) *ok = 0;
    }
#endif
}

static void
test_checked_arithmetic(void)
{
    mushin_rng rng;
    int ok = 1, i, j, k;
    int64_t r;
    for (i = 0; i < N_EDGES; i++) {
        for (j = 0; j < N_EDGES; j++) {
            check_checked_pair(edges[i], edges[j], &ok);
        }
    }
    mushin_rng_init(&rng, 11, 0);
    for (k = 0; k < 200000; k++) {
        const int64_t a = (int64_t)mushin_rng_next(&rng) >> (k % 64);
        const int64_t b = (int64_t)mushin_rng_next(&rng) >> ((k / 64) % 64);
        check_checked_pair(a, b, &ok);
    }
    CHECK(ok);
    /* the cases the glue relies on, spelled out */
    CHECK(mushin_add_overflow_i64(INT64_MAX, 1, &r) && r == INT64_MIN);
    CHECK(!mushin_add_overflow_i64(INT64_MAX, -1, &r) && r == INT64_MAX - 1);
    CHECK(mushin_sub_overflow_i64(INT64_MIN, 1, &r) && r == INT64_MAX);
    CHECK(mushin_mul_overflow_i64(INT64_MIN, -1, &r) && r == INT64_MIN);
    CHECK(!mushin_mul_overflow_i64(INT64_C(3037000499), INT64_C(3037000499), &r) &&
          r == INT64_C(9223372030926249001));
    CHECK(mushin_mul_overflow_i64(INT64_C(3037000500), INT64_C(3037000500), &r));
    CHECK(!mushin_mul_overflow_i64(INT64_MIN, 1, &r) && r == INT64_MIN);
    CHECK(!mushin_mul_overflow_i64(0, INT64_MIN, &r) && r == 0);
}

#ifdef HAVE_NATIVE_128
static native_u128
to_native(mushin_u128 a)
{
    return ((native_u128)a.hi << 64) | a.lo;
}
#endif

static mushin_u128
make_u128(uint64_t hi, uint64_t lo)
{
    mushin_u128 r;
    r.hi = hi;
    r.lo = lo;
    return r;
}

static void
test_u128(void)
{
    mushin_rng rng;
    int ok = 1, k;
    mushin_u128 p;
    /* hand-checked values first */
    p = mushin_mul_wide_u64(UINT64_MAX, UINT64_MAX);
    CHECK(p.hi == UINT64_MAX - 1 && p.lo == 1);
    p = mushin_mul_wide_u64_portable(UINT64_MAX, UINT64_MAX);
    CHECK(p.hi == UINT64_MAX - 1 && p.lo == 1);
    p = mushin_u128_add(make_u128(0, UINT64_MAX), mushin_u128_from_u64(1));
    CHECK(p.hi == 1 && p.lo == 0);
    p = mushin_u128_sub(make_u128(1, 0), mushin_u128_from_u64(1));
    CHECK(p.hi == 0 && p.lo == UINT64_MAX);
    CHECK(mushin_u128_cmp(make_u128(1, 0), make_u128(0, UINT64_MAX)) == 1);
    CHECK(mushin_u128_cmp(make_u128(0, 5), make_u128(0, 5)) == 0);
    CHECK(mushin_u128_cmp(make_u128(2, 4), make_u128(2, 5)) == -1);
    /* 2^64 + 2^11 is halfway between two doubles: ties to even, down */
    CHECK(mushin_u128_to_double(make_u128(1, 2048)) == 18446744073709551616.0);
    CHECK(mushin_u128_to_double(make_u128(1, 2049)) == 18446744073709555712.0);
    CHECK(mushin_u128_to_double(make_u128(1, 6144)) == 18446744073709559808.0);
    CHECK(mushin_u128_to_double(make_u128(UINT64_MAX, UINT64_MAX)) == ldexp(1.0, 128));
    CHECK(mushin_u128_to_double(make_u128(0, UINT64_MAX)) == ldexp(1.0, 64));
    mushin_rng_init(&rng, 12, 0);
    for (k = 0; k < 200000; k++) {
        const uint64_t a = mushin_rng_next(&rng) >> (k % 64);
        const uint64_t b = mushin_rng_next(&rng) >> ((k / 64) % 64);
        const mushin_u128 w = mushin_mul_wide_u64(a, b), wp = mushin_mul_wide_u64_portable(a, b);
        /* near-ties: a 54-bit head, then a run of zeros or ones, then noise */
        const int shift = (int)(mushin_rng_next(&rng) % 75);
        const uint64_t head = (mushin_rng_next(&rng) >> 10) | (UINT64_C(1) << 53);
        mushin_u128 tie = make_u128(shift >= 64 ? head << (shift - 64) : (shift ? head >> (64 - shift) : 0),
                                    shift >= 64 ? 0 : head << shift);
        if (k % 3 == 1) tie = mushin_u128_add(tie, mushin_u128_from_u64(mushin_rng_next(&rng) & 0xff));
        if (k % 3 == 2) tie = mushin_u128_sub(tie, mushin_u128_from_u64(1));
        if (w.lo != wp.lo || w.hi != wp.hi) ok = 0;
        if (mushin_u128_cmp(mushin_u128_sub(mushin_u128_add(w, tie), tie), w) != 0) ok = 0;
#ifdef HAVE_NATIVE_128
        {
            const native_u128 x = to_native(w), y = to_native(tie);
            if (to_native(w) != (native_u128)a * b) ok = 0;
            if (to_native(mushin_u128_add(w, tie)) != x + y) ok = 0;
            if (to_native(mushin_u128_sub(w, tie)) != x - y) ok = 0;
            if (to_native(mushin_u128_mul_u64(tie, a)) != y * a) ok = 0;
            if (mushin_u128_cmp(w, tie) != (x > y) - (x < y)) ok = 0;
            if (mushin_u128_to_double(w) != (double)x) ok = 0;
            if (mushin_u128_to_double(tie) != (double)y) ok = 0;
        }
#endif
    }
    CHECK(ok);
}

static void
test_bit_scan(void)
{
    mushin_rng rng;
    int ok = 1, k, b;
    for (b = 0; b < 64; b++) {
        const uint64_t w = (uint64_t)1 << b;
        if (mushin_ctz64(w) != b || mushin_ctz64_portable(w) != b) ok = 0;
        if (mushin_ctz64(w | (w << 1)) != b || mushin_ctz64(UINT64_MAX << b) != b) ok = 0;
    }
    CHECK(ok);
    mushin_rng_init(&rng, 13, 0);
    for (k = 0; k < 100000; k++) {
        const uint64_t w = mushin_rng_next(&rng) >> (k % 64) | 1u << (k % 2);
#if defined(__GNUC__) || defined(__clang__)
        if (mushin_ctz64(w) != __builtin_ctzll(w)) ok = 0;
#endif
        if (mushin_ctz64(w) != mushin_ctz64_portable(w)) ok = 0;
    }
    CHECK(ok);
}

static void
test_cpu_features(void)
{
    const int f = mushin_cpu_features();
    CHECK(!(f & MUSHIN_CPU_AVX512) || (f & MUSHIN_CPU_AVX2));
#if defined(MUSHIN_GNUC) && defined(MUSHIN_X86_64)
    __builtin_cpu_init();
    /* every CPU with AVX2 has F16C, so the builtins' view can be compared */
    CHECK(((f & MUSHIN_CPU_AVX2) != 0) ==
          (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi2")));
    CHECK(((f & MUSHIN_CPU_AVX512) != 0) ==
          ((f & MUSHIN_CPU_AVX2) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq")));
#elif !defined(MUSHIN_MSVC)
    CHECK(f == 0); /* no probe: every caller stays on its baseline path */
#endif
}

MUSHIN_ALWAYS_INLINE int64_t
sum_inline(const int64_t *x, int n)
{
    int64_t s = 0;
    int i;
    for (i = 0; i < n; i++) {
        MUSHIN_PREFETCH(x + i + 8);
        s += x[i];
    }
    return s;
}

MUSHIN_TARGET_AVX2 static int64_t
sum_avx2(const int64_t *x, int n)
{
    return sum_inline(x, n);
}

static void
test_attributes_compile_and_run(void)
{
    int64_t x[64];
    int level = -1, i;
    for (i = 0; i < 64; i++) x[i] = i;
    CHECK(sum_inline(x, 64) == 2016);
    if (mushin_cpu_features() & MUSHIN_CPU_AVX2) {
        CHECK(sum_avx2(x, 64) == 2016);
    }
    MUSHIN_ATOMIC_STORE_INT(&level, 2);
    CHECK(MUSHIN_ATOMIC_LOAD_INT(&level) == 2);
    CHECK(MUSHIN_PI == 3.141592653589793);
    CHECK(MUSHIN_SQRT1_2 == 0.7071067811865476);
}

int
main(void)
{
    test_checked_arithmetic();
    test_u128();
    test_bit_scan();
    test_cpu_features();
    test_attributes_compile_and_run();
    printf("test_portable (%s): %d passed, %d failed\n",
#ifdef MUSHIN_NO_BUILTINS
           "fallbacks forced",
#else
           "compiler builtins",
#endif
           passed, failed);
    return failed != 0;
}

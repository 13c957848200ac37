/*
 * portable_internal.h -- the one place where mushin's C names a compiler.
 *
 * The kernels and the glue are ISO C11; what only some compilers offer
 * (overflow builtins, 128-bit integers, always_inline, target attributes,
 * prefetch, cpuid) is reached through the names below, so the same sources
 * build with GCC, Clang and MSVC.  Each construct has a portable fallback;
 * define MUSHIN_NO_BUILTINS to force every fallback on (`make portability`
 * builds and runs the C tests both ways, and csrc/tests/test_portable.c
 * checks each fallback against the compiler's version bit for bit).
 *
 * Header-only and static: not part of the kernel API (hence `_internal`).
 */
#ifndef MUSHIN_PORTABLE_INTERNAL_H
#define MUSHIN_PORTABLE_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(MUSHIN_NO_BUILTINS) && (defined(__GNUC__) || defined(__clang__))
#define MUSHIN_GNUC 1
#endif
#if !defined(MUSHIN_NO_BUILTINS) && defined(_MSC_VER) && !defined(__clang__)
#define MUSHIN_MSVC 1
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define MUSHIN_X86_64 1
#endif

#if defined(MUSHIN_MSVC)
#include <intrin.h>
#endif
#if defined(MUSHIN_GNUC) && defined(MUSHIN_X86_64)
#include <cpuid.h>
#endif

/* pi and 1/sqrt(2) to double precision; M_PI and M_SQRT1_2 are POSIX, not
 * ISO C, and MSVC hides them. */
#define MUSHIN_PI 3.14159265358979323846
#define MUSHIN_SQRT1_2 0.70710678118654752440

/* ------------------------------------------------------ inlining ---- */

#if defined(MUSHIN_GNUC)
#define MUSHIN_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(MUSHIN_MSVC)
#define MUSHIN_ALWAYS_INLINE static __forceinline
#else
#define MUSHIN_ALWAYS_INLINE static inline
#endif

/* Per-function instruction sets, for code compiled once per ISA level and
 * picked at run time.  MSVC needs no attribute: it accepts any intrinsic in
 * any function.  Elsewhere the macros are empty and MUSHIN_HAVE_TARGETS is
 * not defined, so such code must keep to its baseline path. */
#if defined(MUSHIN_GNUC) && defined(MUSHIN_X86_64)
#define MUSHIN_HAVE_TARGETS 1
#define MUSHIN_TARGET_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))
#define MUSHIN_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2,f16c")))
#elif defined(MUSHIN_MSVC) && defined(MUSHIN_X86_64)
#define MUSHIN_HAVE_TARGETS 1
#define MUSHIN_TARGET_AVX2
#define MUSHIN_TARGET_AVX512
#else
#define MUSHIN_TARGET_AVX2
#define MUSHIN_TARGET_AVX512
#endif

/* A hint that the cache line at p is about to be read. */
#if defined(MUSHIN_GNUC)
#define MUSHIN_PREFETCH(p) __builtin_prefetch(p)
#elif defined(MUSHIN_MSVC) && defined(MUSHIN_X86_64)
#define MUSHIN_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define MUSHIN_PREFETCH(p) ((void)(p))
#endif

/* Stop at once: a fuzz finding or a broken invariant in a C test. */
#if defined(MUSHIN_GNUC)
#define MUSHIN_TRAP() __builtin_trap()
#elif defined(MUSHIN_MSVC)
#define MUSHIN_TRAP() __debugbreak()
#else
#include <stdlib.h>
#define MUSHIN_TRAP() abort()
#endif

/* Relaxed atomic load and store of an int: a value that racing threads
 * compute identically (a detected CPU level, a cap) and only need to read
 * whole.  Aligned int accesses are single instructions on MSVC's targets. */
#if defined(MUSHIN_GNUC)
#define MUSHIN_ATOMIC_LOAD_INT(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MUSHIN_ATOMIC_STORE_INT(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#else
#define MUSHIN_ATOMIC_LOAD_INT(p) (*(volatile int *)(p))
#define MUSHIN_ATOMIC_STORE_INT(p, v) ((void)(*(volatile int *)(p) = (v)))
#endif

/* --------------------------------------------- checked arithmetic ---- */

/* Each returns nonzero when the exact result does not fit in int64 and
 * stores the result wrapped modulo 2^64 either way, as GCC's and Clang's
 * __builtin_*_overflow do.  The _portable versions are always defined so
 * the tests can compare them with the builtins. */
static inline int
mushin_add_overflow_i64_portable(int64_t a, int64_t b, int64_t *out)
{
    const int overflow = b > 0 ? a > INT64_MAX - b : a < INT64_MIN - b;
    *out = (int64_t)((uint64_t)a + (uint64_t)b);
    return overflow;
}

static inline int
mushin_sub_overflow_i64_portable(int64_t a, int64_t b, int64_t *out)
{
    const int overflow = b > 0 ? a < INT64_MIN + b : a > INT64_MAX + b;
    *out = (int64_t)((uint64_t)a - (uint64_t)b);
    return overflow;
}

static inline int
mushin_mul_overflow_i64_portable(int64_t a, int64_t b, int64_t *out)
{
    int overflow;
    if (a > 0) {
        overflow = b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a;
    }
    else if (a < 0) {
        overflow = b > 0 ? a < INT64_MIN / b : b < 0 && b < INT64_MAX / a;
    }
    else {
        overflow = 0;
    }
    *out = (int64_t)((uint64_t)a * (uint64_t)b);
    return overflow;
}

#if defined(MUSHIN_GNUC)
static inline int mushin_add_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return __builtin_add_overflow(a, b, out); }
static inline int mushin_sub_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return __builtin_sub_overflow(a, b, out); }
static inline int mushin_mul_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return __builtin_mul_overflow(a, b, out); }
#else
static inline int mushin_add_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return mushin_add_overflow_i64_portable(a, b, out); }
static inline int mushin_sub_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return mushin_sub_overflow_i64_portable(a, b, out); }
static inline int mushin_mul_overflow_i64(int64_t a, int64_t b, int64_t *out)
{ return mushin_mul_overflow_i64_portable(a, b, out); }
#endif

/* ---------------------------------------------------- bit scans ---- */

/* The index of the lowest set bit of a nonzero word. */
static inline int
mushin_ctz64_portable(uint64_t word)
{
    int n = 0;
    while (!(word & 1u)) {
        word >>= 1;
        n++;
    }
    return n;
}

static inline int
mushin_ctz64(uint64_t word)
{
#if defined(MUSHIN_GNUC)
    return __builtin_ctzll(word);
#elif defined(MUSHIN_MSVC) && defined(MUSHIN_X86_64)
    unsigned long index;
    _BitScanForward64(&index, word);
    return (int)index;
#else
    return mushin_ctz64_portable(word);
#endif
}

/* ------------------------------------------------- 128-bit words ---- */

/* An unsigned 128-bit integer as two words; arithmetic is modulo 2^128. */
typedef struct {
    uint64_t lo, hi;
} mushin_u128;

/* a * b in full, from 32-bit halves. */
static inline mushin_u128
mushin_mul_wide_u64_portable(uint64_t a, uint64_t b)
{
    const uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32;
    const uint64_t b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
    const uint64_t lo_lo = a_lo * b_lo;
    const uint64_t hi_lo = a_hi * b_lo;
    const uint64_t lo_hi = a_lo * b_hi;
    const uint64_t hi_hi = a_hi * b_hi;
    const uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
    mushin_u128 r;
    r.lo = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
    r.hi = hi_hi + (hi_lo >> 32) + (cross >> 32);
    return r;
}

static inline mushin_u128
mushin_mul_wide_u64(uint64_t a, uint64_t b)
{
#if defined(MUSHIN_GNUC) && defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 wide;
    const wide p = (wide)a * b;
    mushin_u128 r;
    r.lo = (uint64_t)p;
    r.hi = (uint64_t)(p >> 64);
    return r;
#elif defined(MUSHIN_MSVC) && defined(MUSHIN_X86_64)
    mushin_u128 r;
    r.lo = _umul128(a, b, &r.hi);
    return r;
#else
    return mushin_mul_wide_u64_portable(a, b);
#endif
}

static inline mushin_u128
mushin_u128_from_u64(uint64_t x)
{
    mushin_u128 r;
    r.lo = x;
    r.hi = 0;
    return r;
}

static inline mushin_u128
mushin_u128_add(mushin_u128 a, mushin_u128 b)
{
    mushin_u128 r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo);
    return r;
}

static inline mushin_u128
mushin_u128_sub(mushin_u128 a, mushin_u128 b)
{
    mushin_u128 r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

/* a * b modulo 2^128 */
static inline mushin_u128
mushin_u128_mul_u64(mushin_u128 a, uint64_t b)
{
    mushin_u128 r = mushin_mul_wide_u64(a.lo, b);
    r.hi += a.hi * b;
    return r;
}

static inline int
mushin_u128_cmp(mushin_u128 a, mushin_u128 b)
{
    if (a.hi != b.hi) {
        return a.hi < b.hi ? -1 : 1;
    }
    return (a.lo > b.lo) - (a.lo < b.lo);
}

/* a rounded to the nearest double (ties to even), as a compiler converts
 * its own 128-bit type: the top 64 bits, with every bit below them folded
 * into the lowest one (far below the rounding position, so ties and
 * near-ties round as the whole number does), converted once and scaled
 * exactly. */
static inline double
mushin_u128_to_double(mushin_u128 a)
{
    int bits = 0;
    uint64_t top, sticky, h = a.hi;
    if (h == 0) {
        return (double)a.lo;
    }
    while (h) {
        bits++;
        h >>= 1;
    }
    if (bits == 64) {
        top = a.hi;
        sticky = a.lo != 0;
    }
    else {
        top = (a.hi << (64 - bits)) | (a.lo >> bits);
        sticky = (a.lo << (64 - bits)) != 0;
    }
    return ldexp((double)(top | sticky), bits);
}

/* --------------------------------------------------- CPU features ---- */

enum {
    MUSHIN_CPU_AVX2 = 1 << 0,    /* with FMA, BMI2 and F16C */
    MUSHIN_CPU_AVX512 = 1 << 1   /* F, VL, BW and DQ */
};

/* The x86-64 feature sets the ISA-dispatched kernels need, each only when
 * the OS also saves the registers (XCR0); 0 on other CPUs and compilers.
 * Cheap but not free: callers cache it. */
static inline int
mushin_cpu_features(void)
{
#if defined(MUSHIN_X86_64) && (defined(MUSHIN_GNUC) || defined(MUSHIN_MSVC))
    unsigned int r1[4] = {0, 0, 0, 0}, r7[4] = {0, 0, 0, 0};
    uint64_t xcr0;
    int features = 0, avx2, avx512;
#if defined(MUSHIN_GNUC)
    unsigned int max_leaf = __get_cpuid_max(0, NULL), lo, hi;
    if (max_leaf < 7) {
        return 0;
    }
    __cpuid_count(1, 0, r1[0], r1[1], r1[2], r1[3]);
    __cpuid_count(7, 0, r7[0], r7[1], r7[2], r7[3]);
    if (!(r1[2] & (1u << 27))) { /* OSXSAVE: xgetbv is usable */
        return 0;
    }
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((uint64_t)hi << 32) | lo;
#else
    int regs[4];
    __cpuid(regs, 0);
    if (regs[0] < 7) {
        return 0;
    }
    __cpuidex(regs, 1, 0);
    r1[0] = (unsigned)regs[0]; r1[1] = (unsigned)regs[1];
    r1[2] = (unsigned)regs[2]; r1[3] = (unsigned)regs[3];
    __cpuidex(regs, 7, 0);
    r7[0] = (unsigned)regs[0]; r7[1] = (unsigned)regs[1];
    r7[2] = (unsigned)regs[2]; r7[3] = (unsigned)regs[3];
    if (!(r1[2] & (1u << 27))) {
        return 0;
    }
    xcr0 = _xgetbv(0);
#endif
    /* leaf 1 ECX: FMA 12, F16C 29; leaf 7 EBX: AVX2 5, BMI2 8, AVX512F 16,
     * DQ 17, BW 30, VL 31; XCR0: SSE+AVX state 0x6, opmask+ZMM 0xe0 */
    avx2 = (r1[2] & (1u << 12)) && (r1[2] & (1u << 29)) && (r7[1] & (1u << 5)) &&
           (r7[1] & (1u << 8)) && (xcr0 & 0x6) == 0x6;
    avx512 = avx2 && (r7[1] & (1u << 16)) && (r7[1] & (1u << 17)) && (r7[1] & (1u << 30)) &&
             (r7[1] & (1u << 31)) && (xcr0 & 0xe6) == 0xe6;
    if (avx2) {
        features |= MUSHIN_CPU_AVX2;
    }
    if (avx512) {
        features |= MUSHIN_CPU_AVX512;
    }
    return features;
#else
    return 0;
#endif
}

#endif /* MUSHIN_PORTABLE_INTERNAL_H */

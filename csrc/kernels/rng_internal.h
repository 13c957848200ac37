/*
 * rng_internal.h -- the one random-number generator of the C core.
 *
 * Every resampling loop (bootstrap, permutation, simulation) draws from here
 * so that results depend only on (seed, stream): a loop gives resample `b`
 * its own stream `b`, and the answer is then the same bit for bit whatever
 * the number of threads or the order in which they run.
 *
 * The generator is SplitMix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014): a 64-bit counter advanced by
 * a fixed odd increment and passed through a bijective finaliser.  A stream
 * starts the counter at a point derived from both the seed and the stream
 * number by the same finaliser.  Integers in [0, n) use Lemire's
 * multiply-and-reject method (ACM TOMACS 2019), which is exactly uniform.
 *
 * Header-only and static: not part of the kernel API (hence `_internal`).
 * Portable C11; the 64x64->128 multiply is portable_internal.h's: the
 * compiler's 128-bit type, MSVC's _umul128, or 32-bit halves, which give
 * the same bits (csrc/tests/test_rng.c, test_portable.c).
 */
#ifndef MUSHIN_RNG_INTERNAL_H
#define MUSHIN_RNG_INTERNAL_H

#include <stdint.h>

#include "portable_internal.h"

#define MUSHIN_RNG_GAMMA UINT64_C(0x9E3779B97F4A7C15)

typedef struct {
    uint64_t state;
} mushin_rng;

/* The SplitMix64 finaliser: a bijection on 64-bit words. */
static inline uint64_t mushin_rng_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* High 64 bits of a * b: from 32-bit halves, and as the compiler does it
 * (portable_internal.h); both give the same bits (csrc/tests/test_rng.c). */
static inline uint64_t mushin_mul_hi64_portable(uint64_t a, uint64_t b) {
    return mushin_mul_wide_u64_portable(a, b).hi;
}

static inline uint64_t mushin_mul_hi64(uint64_t a, uint64_t b) {
    return mushin_mul_wide_u64(a, b).hi;
}

/* Stream `stream` of generator `seed`; distinct (seed, stream) pairs start
 * at unrelated points of the 2^64-long sequence. */
static inline void mushin_rng_init(mushin_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = mushin_rng_mix(seed + MUSHIN_RNG_GAMMA) ^ mushin_rng_mix(~stream * MUSHIN_RNG_GAMMA);
}

static inline uint64_t mushin_rng_next(mushin_rng *rng) {
    rng->state += MUSHIN_RNG_GAMMA;
    return mushin_rng_mix(rng->state);
}

/* Uniform integer in [0, n); n must be at least 1. */
static inline uint64_t mushin_rng_below(mushin_rng *rng, uint64_t n) {
    uint64_t x = mushin_rng_next(rng);
    uint64_t low = x * n;
    if (low < n) {
        const uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
        while (low < threshold) {
            x = mushin_rng_next(rng);
            low = x * n;
        }
    }
    return mushin_mul_hi64(x, n);
}

/* Uniform double in [0, 1), a multiple of 2^-53. */
static inline double mushin_rng_uniform(mushin_rng *rng) {
    return (double)(mushin_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

#endif /* MUSHIN_RNG_INTERNAL_H */

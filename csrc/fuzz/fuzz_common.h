/*
 * fuzz_common.h -- what the libFuzzer harnesses of csrc/fuzz/ share: a
 * reader that turns the fuzzer's bytes into parameters, and the check that
 * stops the run on a mismatch.
 *
 * A harness must never crash on its own account: every read past the end
 * of the input yields zeros, so any input -- including the empty one -- is a
 * valid test case, and a trap always means the kernel disagreed with the
 * reference (or a sanitizer fired inside it).
 */
#ifndef MUSHIN_FUZZ_COMMON_H
#define MUSHIN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../kernels/portable_internal.h"

/* Print where the disagreement is before trapping, so the crash log of a
 * finding says which invariant broke without a debugger. */
#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,   \
                    __LINE__, #cond);                                         \
            MUSHIN_TRAP();                                                    \
        }                                                                     \
    } while (0)

typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_reader;

static inline uint8_t
fuzz_u8(fuzz_reader *r)
{
    uint8_t v = 0;
    if (r->size > 0) {
        v = r->data[0];
        r->data++;
        r->size--;
    }
    return v;
}

static inline uint16_t
fuzz_u16(fuzz_reader *r)
{
    const uint16_t lo = fuzz_u8(r);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(r) << 8);
}

static inline uint64_t
fuzz_u64(fuzz_reader *r)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) {
        v |= (uint64_t)fuzz_u8(r) << (8 * i);
    }
    return v;
}

static inline double
fuzz_f64_bits(fuzz_reader *r)
{
    const uint64_t bits = fuzz_u64(r);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* An integer in [0, n) (n >= 1). */
static inline uint32_t
fuzz_below(fuzz_reader *r, uint32_t n)
{
    return (uint32_t)(fuzz_u16(r) % n);
}

#endif /* MUSHIN_FUZZ_COMMON_H */

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

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../kernels/mushin_kernels.h"
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

/* ------------------------------------------ integer element layouts -- */

/* Bytes, store and load of one integer element of a mushin_itype, written
 * here rather than taken from the kernels so the harnesses check the
 * kernels' loaders against an independent reading. */
static inline size_t
fuzz_int_size(mushin_itype type)
{
    switch (type) {
    case MUSHIN_INT8: case MUSHIN_UINT8: return 1;
    case MUSHIN_INT16: case MUSHIN_UINT16: return 2;
    case MUSHIN_INT32: case MUSHIN_UINT32: return 4;
    default: return 8;
    }
}

static inline void
fuzz_store_int(char *p, mushin_itype type, int64_t v)
{
    switch (type) {
    case MUSHIN_INT8: { int8_t x = (int8_t)v; memcpy(p, &x, 1); break; }
    case MUSHIN_UINT8: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
    case MUSHIN_INT16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case MUSHIN_UINT16: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case MUSHIN_INT32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    case MUSHIN_UINT32: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

static inline int64_t
fuzz_read_int(const char *p, mushin_itype type)
{
    switch (type) {
    case MUSHIN_INT8: { int8_t x; memcpy(&x, p, 1); return x; }
    case MUSHIN_UINT8: { uint8_t x; memcpy(&x, p, 1); return x; }
    case MUSHIN_INT16: { int16_t x; memcpy(&x, p, 2); return x; }
    case MUSHIN_UINT16: { uint16_t x; memcpy(&x, p, 2); return x; }
    case MUSHIN_INT32: { int32_t x; memcpy(&x, p, 4); return x; }
    case MUSHIN_UINT32: { uint32_t x; memcpy(&x, p, 4); return x; }
    default: { int64_t x; memcpy(&x, p, 8); return x; }
    }
}

/* -------------------------------------------- float element layouts -- */

static inline size_t
fuzz_float_size(mushin_ftype type)
{
    return type == MUSHIN_FLOAT64 ? 8 : type == MUSHIN_FLOAT32 ? 4 : 2;
}

/* IEEE binary16 -> double, written from the definition. */
static inline double
fuzz_half_value(uint16_t h)
{
    const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
    double v;
    if (exponent == 31) {
        v = mantissa ? NAN : INFINITY;
    }
    else if (exponent == 0) {
        v = ldexp((double)mantissa, -24);
    }
    else {
        v = ldexp((double)(mantissa + 1024), exponent - 25);
    }
    return sign ? -v : v;
}

/* One element of a mushin_ftype as double (bfloat16: the top half of a
 * binary32). */
static inline double
fuzz_read_float(const char *p, mushin_ftype type)
{
    uint16_t h;
    uint32_t bits;
    float f;
    double d;
    switch (type) {
    case MUSHIN_FLOAT16:
        memcpy(&h, p, 2);
        return fuzz_half_value(h);
    case MUSHIN_BFLOAT16:
        memcpy(&h, p, 2);
        bits = (uint32_t)h << 16;
        memcpy(&f, &bits, 4);
        return f;
    case MUSHIN_FLOAT32:
        memcpy(&f, p, 4);
        return f;
    default:
        memcpy(&d, p, 8);
        return d;
    }
}

#endif /* MUSHIN_FUZZ_COMMON_H */

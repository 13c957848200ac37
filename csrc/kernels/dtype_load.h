/*
 * dtype_load.h -- reading one element of a DLPack-described buffer as a C
 * value: float16 and bfloat16 widened exactly to float32, every float type
 * to double, every label integer type to int64.  Shared by the kernels
 * that read tensors (confusion.c, logits.c, argmax.c, perimage.c, scores.c)
 * so that each conversion is written once.
 *
 * Loads go through memcpy: the producer's buffer may be unaligned (any
 * byte_offset), and memcpy of a fixed small size compiles to one load.
 */
#ifndef MUSHIN_DTYPE_LOAD_H
#define MUSHIN_DTYPE_LOAD_H

#include <stdint.h>
#include <string.h>

#include "mushin_kernels.h"
#include "portable_internal.h"

static inline float
mushin_bits_to_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

/* IEEE binary16 -> binary32, exact for every input (NaN payloads kept).
 * Subnormals go through an integer-to-float conversion and a power-of-two
 * scale whose result is normal, so flush-to-zero modes cannot touch them. */
static inline float
mushin_half_to_float(uint16_t h)
{
    /* three candidate results, picked without branches so loops vectorise */
    const uint32_t magnitude = h & 0x7fffu;
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t normal = (magnitude << 13) + ((uint32_t)(127 - 15) << 23);
    const uint32_t inf_nan = (magnitude << 13) | 0x7f800000u;
    const float scaled = (float)(int32_t)magnitude * 0x1p-24f; /* zero, subnormal */
    uint32_t small, bits;
    memcpy(&small, &scaled, sizeof(small));
    bits = magnitude >= 0x7c00u ? inf_nan : (magnitude >= 0x0400u ? normal : small);
    return mushin_bits_to_float(bits | sign);
}

/* bfloat16 is the top half of a binary32: exact by construction. */
static inline float
mushin_bfloat_to_float(uint16_t h)
{
    return mushin_bits_to_float((uint32_t)h << 16);
}

/* One float16, bfloat16 or float32 element as float32 (exact). */
static inline float
mushin_load_float32(const char *src, mushin_ftype type)
{
    uint16_t h;
    float f;
    switch (type) {
    case MUSHIN_FLOAT16:
        memcpy(&h, src, sizeof(h));
        return mushin_half_to_float(h);
    case MUSHIN_BFLOAT16:
        memcpy(&h, src, sizeof(h));
        return mushin_bfloat_to_float(h);
    default:
        memcpy(&f, src, sizeof(f));
        return f;
    }
}

/* One element of a fixed float type as double (exact): a loader per type,
 * so a loop can bind one once and carry no type switch per element. */
static inline double
mushin_load_f16(const char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof(h));
    return (double)mushin_half_to_float(h);
}

static inline double
mushin_load_bf16(const char *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof(h));
    return (double)mushin_bfloat_to_float(h);
}

static inline double
mushin_load_f32(const char *p)
{
    float f;
    memcpy(&f, p, sizeof(f));
    return (double)f;
}

static inline double
mushin_load_f64(const char *p)
{
    double d;
    memcpy(&d, p, sizeof(d));
    return d;
}

/* One integer label of any mushin_itype as int64 (exact). */
static inline int64_t
mushin_load_label(const char *p, mushin_itype type)
{
    switch (type) {
    case MUSHIN_INT8: { int8_t v; memcpy(&v, p, 1); return v; }
    case MUSHIN_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case MUSHIN_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case MUSHIN_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case MUSHIN_UINT8: { uint8_t v; memcpy(&v, p, 1); return v; }
    case MUSHIN_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case MUSHIN_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    }
    return 0;
}

/* n labels of type `type`, `stride` bytes apart, widened to int64: one loop
 * per type, so each vectorises (inlined into every instruction-set body of
 * a caller that is compiled several times). */
MUSHIN_ALWAYS_INLINE void
mushin_load_labels(int64_t *dst, const char *src, int64_t stride, int64_t n, mushin_itype type)
{
    int64_t i;
#define MUSHIN_LOAD_LABELS(T)                        \
    for (i = 0; i < n; i++) {                        \
        T v_;                                        \
        memcpy(&v_, src + i * stride, sizeof(v_));   \
        dst[i] = (int64_t)v_;                        \
    }                                                \
    break;
    switch (type) {
    case MUSHIN_INT8: MUSHIN_LOAD_LABELS(int8_t)
    case MUSHIN_INT16: MUSHIN_LOAD_LABELS(int16_t)
    case MUSHIN_INT32: MUSHIN_LOAD_LABELS(int32_t)
    case MUSHIN_INT64: MUSHIN_LOAD_LABELS(int64_t)
    case MUSHIN_UINT8: MUSHIN_LOAD_LABELS(uint8_t)
    case MUSHIN_UINT16: MUSHIN_LOAD_LABELS(uint16_t)
    case MUSHIN_UINT32: MUSHIN_LOAD_LABELS(uint32_t)
    }
#undef MUSHIN_LOAD_LABELS
}

/* A block of n labels as int64: read in place when the view already is
 * contiguous, aligned int64, otherwise widened into buf (room for n). */
MUSHIN_ALWAYS_INLINE const int64_t *
mushin_label_block(int64_t *buf, const char *src, int64_t stride, int64_t n, mushin_itype type)
{
    if (type == MUSHIN_INT64 && stride == (int64_t)sizeof(int64_t) &&
        (uintptr_t)src % sizeof(int64_t) == 0) {
        return (const int64_t *)(const void *)src;
    }
    mushin_load_labels(buf, src, stride, n, type);
    return buf;
}

#endif /* MUSHIN_DTYPE_LOAD_H */

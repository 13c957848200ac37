/*
 * argmax.c -- the argmax over the class dimension of a block of float
 * logits, for the fused path of logits.c (declared in argmax_internal.h).
 *
 * Two loop orders, chosen by the layout:
 *   - classes outer (NCHW, or any layout whose pixels are not contiguous
 *     class vectors): each class's values for a run of pixels are a row
 *     compared element-wise against the running maxima, so the comparison
 *     vectorises across pixels.  With contiguous rows (NCHW) sixteen pixels
 *     at a time go through every class with their maxima in registers;
 *     otherwise a block of rows is gathered (and converted) first;
 *   - classes inner (channels-last, classes contiguous): SIMD over each
 *     pixel's class vector -- its maximum, and the first class equal to it
 *     (AVX2 / AVX-512); the baseline scans the vector, four pixels side by
 *     side.
 * float16 / bfloat16 are converted to float32, exactly; float64 is compared
 * as double.  The comparison reproduces torch.argmax: a value replaces the
 * running maximum when it is larger or NaN, unless the running maximum is
 * already NaN, so ties and NaNs keep the first index.  The fast loops take
 * only larger values and report whether they met a NaN; a block that held
 * one is done again with the exact rule.
 */
#include "argmax_internal.h"
#include "dtype_load.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- conversion -- */

/* element loaders: dtype_load.h */

/* n values of a float32-comparable row (float32, float16, bfloat16) as
 * float32: the row itself when it is contiguous aligned float32, else
 * converted into buf. */
static const float *
load_row_f32(const char *src, int64_t stride, mushin_ftype type, int64_t n, float *buf)
{
    int64_t i;
    if (type == MUSHIN_FLOAT32 && stride == 4 && (uintptr_t)src % 4 == 0) {
        return (const float *)src;
    }
    if (stride == 2 && (uintptr_t)src % 2 == 0 && type != MUSHIN_FLOAT32) {
        const uint16_t *h = (const uint16_t *)src;
        if (type == MUSHIN_BFLOAT16) {
            for (i = 0; i < n; i++) {
                buf[i] = mushin_bfloat_to_float(h[i]);
            }
        }
        else {
            for (i = 0; i < n; i++) {
                buf[i] = mushin_half_to_float(h[i]);
            }
        }
        return buf;
    }
    for (i = 0; i < n; i++) {
        buf[i] = mushin_load_float32(src + i * stride, type);
    }
    return buf;
}

static const double *
load_row_f64(const char *src, int64_t stride, int64_t n, double *buf)
{
    int64_t i;
    if (stride == 8 && (uintptr_t)src % 8 == 0) {
        return (const double *)src;
    }
    for (i = 0; i < n; i++) {
        memcpy(&buf[i], src + i * stride, sizeof(double));
    }
    return buf;
}

/* ------------------------------------------------------------- argmax -- */

/* "v replaces the running maximum b": larger, or NaN where b is not. */
#define TAKES_OVER(v, b) ((!((v) <= (b))) & ((b) == (b)))

/*
 * One class's row against the running maxima of a block.  The fast step
 * takes only larger values, which is exact as long as the row holds no NaN
 * (a NaN maximum from an earlier row is never replaced, as required); it
 * reports whether the row held one, and the block is then redone with the
 * exact step.  NaN logits are rare, so the redo is too.
 */
MUSHIN_BODY int
max_step_f32_body(float *restrict best, int32_t *restrict index, const float *restrict row,
                  int64_t n, int32_t c)
{
    int32_t nan_seen = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        /* blends written as arithmetic so that no store is conditional */
        const float v = row[i], b = best[i];
        const int32_t take = -(int32_t)(v > b);
        best[i] = v > b ? v : b;
        index[i] = (index[i] & ~take) | (c & take);
        nan_seen |= v != v;
    }
    return nan_seen;
}

MUSHIN_ISA_VARIANTS(max_step_f32,
                    (float *restrict best, int32_t *restrict index, const float *restrict row,
                     int64_t n, int32_t c),
                    (best, index, row, n, c))

static void
max_step_f32_nan(float *restrict best, int32_t *restrict index, const float *restrict row,
                 int64_t n, int32_t c)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        const float v = row[i], b = best[i];
        const int take = TAKES_OVER(v, b);
        best[i] = take ? v : b;
        index[i] = take ? c : index[i];
    }
}

static void
max_step_f64(double *restrict best, int32_t *restrict index, const double *restrict row,
             int64_t n, int32_t c)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        const double v = row[i], b = best[i];
        const int take = TAKES_OVER(v, b);
        best[i] = take ? v : b;
        index[i] = take ? c : index[i];
    }
}

/*
 * Contiguous class rows (pixel stride == itemsize): all classes of LANES
 * pixels at a time, the running maxima kept in registers, so every class
 * row is read as one forward stream the hardware prefetcher can follow.
 * The fast step as in max_step_f32 -- a maximum is replaced only by a
 * larger value (MAXPS keeps its second operand, the running maximum, when
 * either is NaN) -- and the return value says whether a NaN was seen, so
 * that the caller can redo the block exactly.  A class index only grows,
 * so "take c" is max(index, c & mask).  Handles n - n % LANES pixels.
 * AVX2 and AVX-512 only (x86-64 with GCC or Clang); baseline SSE2 and
 * other CPUs use the row loop below, which vectorises as it is.
 */
#ifdef MUSHIN_ISA_DISPATCH
#include <immintrin.h>

#define HAVE_LANES 1
#define LANES 16

MUSHIN_TARGET_AVX2 static inline __m256
avx2_load_f32(const char *p)
{
    return _mm256_loadu_ps((const float *)p);
}

MUSHIN_TARGET_AVX2 static inline __m256
avx2_load_bf16(const char *p)
{
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

MUSHIN_TARGET_AVX2 static inline __m256
avx2_load_f16(const char *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); /* exact */
}

MUSHIN_TARGET_AVX512 static inline __m512
avx512_load_f32(const char *p)
{
    return _mm512_loadu_ps((const float *)p);
}

MUSHIN_TARGET_AVX512 static inline __m512
avx512_load_bf16(const char *p)
{
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

MUSHIN_TARGET_AVX512 static inline __m512
avx512_load_f16(const char *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); /* exact */
}

/* AVX2: two vectors of eight pixels */
#define ARGMAX_LANES_AVX2(NAME, LOAD, SIZE)                                            \
    MUSHIN_TARGET_AVX2 static int                                                      \
    NAME(const char *base, int64_t cs, int64_t num_classes, int64_t n, int32_t *index) \
    {                                                                                  \
        const __m256i one = _mm256_set1_epi32(1);                                      \
        __m256 nan_seen = _mm256_setzero_ps();                                         \
        int64_t i, c;                                                                  \
        for (i = 0; i + LANES <= n; i += LANES) {                                      \
            const char *r = base + i * (SIZE);                                         \
            __m256 best0 = LOAD(r), best1 = LOAD(r + 8 * (SIZE));                      \
            __m256i k0 = _mm256_setzero_si256(), k1 = _mm256_setzero_si256();          \
            __m256i cv = _mm256_setzero_si256();                                       \
            for (c = 1; c < num_classes; c++) {                                        \
                __m256 v0, v1;                                                         \
                __m256i take0, take1;                                                  \
                r += cs;                                                               \
                cv = _mm256_add_epi32(cv, one);                                        \
                v0 = LOAD(r);                                                          \
                v1 = LOAD(r + 8 * (SIZE));                                             \
                take0 = _mm256_castps_si256(_mm256_cmp_ps(v0, best0, _CMP_GT_OQ));     \
                take1 = _mm256_castps_si256(_mm256_cmp_ps(v1, best1, _CMP_GT_OQ));     \
                best0 = _mm256_max_ps(v0, best0);                                      \
                best1 = _mm256_max_ps(v1, best1);                                      \
                k0 = _mm256_max_epi32(k0, _mm256_and_si256(cv, take0));                \
                k1 = _mm256_max_epi32(k1, _mm256_and_si256(cv, take1));                \
                nan_seen = _mm256_or_ps(nan_seen, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q)); \
            }                                                                          \
            _mm256_storeu_si256((__m256i *)(index + i), k0);                           \
            _mm256_storeu_si256((__m256i *)(index + i + 8), k1);                       \
        }                                                                              \
        return _mm256_movemask_ps(nan_seen) != 0;                                      \
    }

/* AVX-512: one vector of sixteen pixels, the takes in a mask register */
#define ARGMAX_LANES_AVX512(NAME, LOAD, SIZE)                                          \
    MUSHIN_TARGET_AVX512 static int                                                    \
    NAME(const char *base, int64_t cs, int64_t num_classes, int64_t n, int32_t *index) \
    {                                                                                  \
        __mmask16 nan_seen = 0;                                                        \
        int64_t i, c;                                                                  \
        for (i = 0; i + LANES <= n; i += LANES) {                                      \
            const char *r = base + i * (SIZE);                                         \
            __m512 best = LOAD(r);                                                     \
            __m512i k = _mm512_setzero_si512();                                        \
            for (c = 1; c < num_classes; c++) {                                        \
                __m512 v;                                                              \
                __mmask16 take;                                                        \
                r += cs;                                                               \
                v = LOAD(r);                                                           \
                take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);                        \
                best = _mm512_max_ps(v, best);                                         \
                k = _mm512_mask_set1_epi32(k, take, (int)c);                           \
                nan_seen |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);                    \
            }                                                                          \
            _mm512_storeu_si512((void *)(index + i), k);                               \
        }                                                                              \
        return nan_seen != 0;                                                          \
    }

ARGMAX_LANES_AVX2(argmax_lanes_f32_avx2, avx2_load_f32, 4)
ARGMAX_LANES_AVX2(argmax_lanes_bf16_avx2, avx2_load_bf16, 2)
ARGMAX_LANES_AVX2(argmax_lanes_f16_avx2, avx2_load_f16, 2)
ARGMAX_LANES_AVX512(argmax_lanes_f32_avx512, avx512_load_f32, 4)
ARGMAX_LANES_AVX512(argmax_lanes_bf16_avx512, avx512_load_bf16, 2)
ARGMAX_LANES_AVX512(argmax_lanes_f16_avx512, avx512_load_f16, 2)

/* The lanes loop for this type at the level in use (AVX2 or AVX-512). */
static int
argmax_lanes(const char *base, int64_t cs, mushin_ftype type, int64_t num_classes, int64_t n,
             int32_t *index)
{
    const int avx512 = mushin_isa_level() >= MUSHIN_ISA_AVX512;
    switch (type) {
    case MUSHIN_FLOAT16:
        return avx512 ? argmax_lanes_f16_avx512(base, cs, num_classes, n, index)
                      : argmax_lanes_f16_avx2(base, cs, num_classes, n, index);
    case MUSHIN_BFLOAT16:
        return avx512 ? argmax_lanes_bf16_avx512(base, cs, num_classes, n, index)
                      : argmax_lanes_bf16_avx2(base, cs, num_classes, n, index);
    default:
        return avx512 ? argmax_lanes_f32_avx512(base, cs, num_classes, n, index)
                      : argmax_lanes_f32_avx2(base, cs, num_classes, n, index);
    }
}

/*
 * Classes inner (channels-last): SIMD over the classes of one pixel.  The
 * argmax of a pixel without NaN is the first index whose value equals the
 * maximum M (a value replaces the running maximum only when it is larger,
 * so the one kept is the first of the largest; -0.0 == 0.0, so they tie as
 * they should).  So each pixel takes one vector maximum over its classes, a
 * horizontal maximum M, and the lowest set bit of "equals M": no
 * order-dependent scan, and the answer of the exact rule.  A pixel whose
 * vector holds a NaN (one unordered compare says so) is redone by the
 * exact scalar rule, argmax_pixel_exact.
 *
 * Up to 64 classes the compare masks of all chunks are shifted to their
 * offsets and OR-ed into one word, whose lowest bit is the answer without
 * a branch per chunk.  Two loop shapes:
 *   - 16 lanes (AVX-512, more than 16 classes): chunks at 0, 16, 32, ...,
 *     the last, partial one by a masked load padded with -inf (a pad lane
 *     can only tie with M after a real lane did, so it never wins);
 *   - 8 lanes (AVX2; AVX-512 up to 16 classes, where 16 lanes would mostly
 *     be padding and cost one more level of horizontal maximum): a vector
 *     of C >= 8 classes ends with a full chunk at C - 8, which may overlap
 *     the one before (that changes neither M nor the first index), so
 *     nothing past the pixel's own classes is read; C < 8 classes by a
 *     masked load (AVX2 has none for 16-bit types, which then take the
 *     scalar loop).
 * Nothing here needs aligned data: every load is unaligned.
 */
static int32_t
argmax_pixel_exact(const char *px, mushin_ftype type, int64_t num_classes)
{
    const int64_t size = (int64_t)mushin_float_itemsize(type);
    float b = mushin_load_float32(px, type);
    int32_t k = 0;
    int64_t c;
    for (c = 1; c < num_classes; c++) {
        const float v = mushin_load_float32(px + c * size, type);
        const int take = TAKES_OVER(v, b);
        b = take ? v : b;
        k = take ? (int32_t)c : k;
    }
    return k;
}

static inline int32_t
lowest_bit(uint64_t word)
{
    return (int32_t)mushin_ctz64(word);
}

/* -inf as float16 / bfloat16 bits: the padding of short vectors (AVX2) */
#define HALF_NEG_INF 0xfc00u
#define BF16_NEG_INF 0xff80u

MUSHIN_TARGET_AVX512 static inline __m512
avx512_hmax(__m512 m)
{
    /* every lane ends up holding the maximum of all sixteen */
    m = _mm512_max_ps(m, _mm512_shuffle_f32x4(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm512_max_ps(m, _mm512_shuffle_f32x4(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm512_max_ps(m, _mm512_permute_ps(m, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_max_ps(m, _mm512_permute_ps(m, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* lanes in k loaded, the others -inf */
MUSHIN_TARGET_AVX512 static inline __m512
avx512_loadk_f32(const char *p, __mmask16 k)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, p);
}

MUSHIN_TARGET_AVX512 static inline __m512
avx512_loadk_f16(const char *p, __mmask16 k)
{
    return _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), k,
                              _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p)));
}

MUSHIN_TARGET_AVX512 static inline __m512
avx512_loadk_bf16(const char *p, __mmask16 k)
{
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));
    return _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), k,
                              _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
}

#define EQ_MASK512(v, m) ((uint64_t)_mm512_cmp_ps_mask((v), (m), _CMP_EQ_OQ))

#define ARGMAX_INNER_AVX512(NAME, LOAD, LOADK, SIZE, TYPE)                             \
    MUSHIN_TARGET_AVX512 static void                                                   \
    NAME(const char *base, int64_t ps, int64_t C, int64_t n, int32_t *index)           \
    {                                                                                  \
        const int64_t full = C - C % 16; /* classes in full chunks */                 \
        const __mmask16 tail = (__mmask16)((1u << (C % 16)) - 1u);                     \
        int64_t i, o;                                                                  \
        if (C <= 32) { /* C > 16: two chunks */                                        \
            const __mmask16 valid1 = C == 32 ? (__mmask16)0xffff : tail;               \
            for (i = 0; i < n; i++) {                                                  \
                const char *px = base + i * ps;                                        \
                const __m512 v0 = LOAD(px), v1 = LOADK(px + 16 * (SIZE), valid1);      \
                __m512 m;                                                              \
                if (_mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q)) {                        \
                    index[i] = argmax_pixel_exact(px, TYPE, C);                        \
                    continue;                                                          \
                }                                                                      \
                m = avx512_hmax(_mm512_max_ps(v0, v1));                                \
                index[i] = lowest_bit(EQ_MASK512(v0, m) | EQ_MASK512(v1, m) << 16);    \
            }                                                                          \
        }                                                                              \
        else {                                                                         \
            for (i = 0; i < n; i++) {                                                  \
                const char *px = base + i * ps;                                        \
                __m512 m = LOAD(px), v;                                                \
                __mmask16 nan = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);                \
                for (o = 16; o < full; o += 16) {                                      \
                    v = LOAD(px + o * (SIZE));                                         \
                    m = _mm512_max_ps(m, v);                                           \
                    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);                     \
                }                                                                      \
                if (tail) {                                                            \
                    v = LOADK(px + full * (SIZE), tail);                               \
                    m = _mm512_max_ps(m, v);                                           \
                    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);                     \
                }                                                                      \
                if (nan) {                                                             \
                    index[i] = argmax_pixel_exact(px, TYPE, C);                        \
                    continue;                                                          \
                }                                                                      \
                m = avx512_hmax(m);                                                    \
                if (C <= 64) {                                                         \
                    /* every chunk's mask at its offset: one word, no branch */        \
                    uint64_t eq = tail ? EQ_MASK512(LOADK(px + full * (SIZE), tail), m) << full \
                                       : 0;                                            \
                    for (o = 0; o < full; o += 16) {                                   \
                        eq |= EQ_MASK512(LOAD(px + o * (SIZE)), m) << o;               \
                    }                                                                  \
                    index[i] = lowest_bit(eq);                                         \
                    continue;                                                          \
                }                                                                      \
                for (o = 0;; o += 16) { /* the first chunk holding M */                \
                    const uint64_t eq = o < full ? EQ_MASK512(LOAD(px + o * (SIZE)), m) \
                                                 : EQ_MASK512(LOADK(px + o * (SIZE), tail), m); \
                    if (eq) {                                                          \
                        index[i] = (int32_t)(o + lowest_bit(eq));                      \
                        break;                                                         \
                    }                                                                  \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }

ARGMAX_INNER_AVX512(argmax_vec_f32_avx512, avx512_load_f32, avx512_loadk_f32, 4, MUSHIN_FLOAT32)
ARGMAX_INNER_AVX512(argmax_vec_f16_avx512, avx512_load_f16, avx512_loadk_f16, 2, MUSHIN_FLOAT16)
ARGMAX_INNER_AVX512(argmax_vec_bf16_avx512, avx512_load_bf16, avx512_loadk_bf16, 2,
                    MUSHIN_BFLOAT16)

MUSHIN_TARGET_AVX2 static inline __m256
avx2_hmax(__m256 m)
{
    m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
    m = _mm256_max_ps(m, _mm256_permute_ps(m, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_max_ps(m, _mm256_permute_ps(m, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* A vector of C < 8 classes, padded with -inf. */
MUSHIN_TARGET_AVX2 static inline __m256
avx2_load_short_f32(const char *p, int64_t C)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)C), lane);
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps((const float *)p, valid),
                            _mm256_castsi256_ps(valid));
}

/* AVX-512VL: a vector of C < 8 classes of any type by a masked load */
MUSHIN_TARGET_AVX512 static inline __m256
avx512vl_load_short_f32(const char *p, int64_t C)
{
    return _mm256_mask_loadu_ps(_mm256_set1_ps(-INFINITY), (__mmask8)((1u << C) - 1u), p);
}

MUSHIN_TARGET_AVX512 static inline __m256
avx512vl_load_short_f16(const char *p, int64_t C)
{
    const __mmask8 k = (__mmask8)((1u << C) - 1u);
    return _mm256_mask_mov_ps(_mm256_set1_ps(-INFINITY), k,
                              _mm256_cvtph_ps(_mm_maskz_loadu_epi16(k, p)));
}

MUSHIN_TARGET_AVX512 static inline __m256
avx512vl_load_short_bf16(const char *p, int64_t C)
{
    const __mmask8 k = (__mmask8)((1u << C) - 1u);
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(k, p));
    return _mm256_mask_mov_ps(_mm256_set1_ps(-INFINITY), k,
                              _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
}

/* never called: argmax_inner_vector keeps short 16-bit vectors off AVX2 */
#define NO_SHORT_LOAD(p, C) ((void)(p), (void)(C), _mm256_set1_ps(0.0f))

#define EQ_MASK256(v, m) ((uint64_t)_mm256_movemask_ps(_mm256_cmp_ps((v), (m), _CMP_EQ_OQ)))
#define ANY_NAN256(a, b) _mm256_movemask_ps(_mm256_cmp_ps((a), (b), _CMP_UNORD_Q))

#define ARGMAX_INNER_AVX2(NAME, TARGET, LOAD, LOAD_SHORT, SIZE, TYPE)                  \
    TARGET static void                                                                 \
    NAME(const char *base, int64_t ps, int64_t C, int64_t n, int32_t *index)           \
    {                                                                                  \
        const int64_t last = C - 8; /* offset of the last full chunk */               \
        int64_t i, o;                                                                  \
        if (C < 8) {                                                                   \
            for (i = 0; i < n; i++) {                                                  \
                const char *px = base + i * ps;                                        \
                const __m256 v = LOAD_SHORT(px, C);                                    \
                if (ANY_NAN256(v, v)) {                                                \
                    index[i] = argmax_pixel_exact(px, TYPE, C);                        \
                    continue;                                                          \
                }                                                                      \
                index[i] = lowest_bit(EQ_MASK256(v, avx2_hmax(v)));                    \
            }                                                                          \
        }                                                                              \
        else if (C <= 16) {                                                            \
            for (i = 0; i < n; i++) {                                                  \
                const char *px = base + i * ps;                                        \
                const __m256 v0 = LOAD(px), v1 = LOAD(px + last * (SIZE));             \
                __m256 m;                                                              \
                if (ANY_NAN256(v0, v1)) {                                              \
                    index[i] = argmax_pixel_exact(px, TYPE, C);                        \
                    continue;                                                          \
                }                                                                      \
                m = avx2_hmax(_mm256_max_ps(v0, v1));                                  \
                index[i] = lowest_bit(EQ_MASK256(v0, m) | EQ_MASK256(v1, m) << last);  \
            }                                                                          \
        }                                                                              \
        else {                                                                         \
            for (i = 0; i < n; i++) {                                                  \
                const char *px = base + i * ps;                                        \
                __m256 m = LOAD(px + last * (SIZE)), v;                                \
                int nan = ANY_NAN256(m, m);                                            \
                for (o = 0; o < last; o += 8) {                                        \
                    v = LOAD(px + o * (SIZE));                                         \
                    m = _mm256_max_ps(m, v);                                           \
                    nan |= ANY_NAN256(v, v);                                           \
                }                                                                      \
                if (nan) {                                                             \
                    index[i] = argmax_pixel_exact(px, TYPE, C);                        \
                    continue;                                                          \
                }                                                                      \
                m = avx2_hmax(m);                                                      \
                if (C <= 64) {                                                         \
                    uint64_t eq = EQ_MASK256(LOAD(px + last * (SIZE)), m) << last;     \
                    for (o = 0; o < last; o += 8) {                                    \
                        eq |= EQ_MASK256(LOAD(px + o * (SIZE)), m) << o;               \
                    }                                                                  \
                    index[i] = lowest_bit(eq);                                         \
                    continue;                                                          \
                }                                                                      \
                for (o = 0;; o += 8) { /* the first chunk holding M */                 \
                    const int64_t at = o < last ? o : last;                            \
                    const uint64_t eq = EQ_MASK256(LOAD(px + at * (SIZE)), m);         \
                    if (eq) {                                                          \
                        index[i] = (int32_t)(at + lowest_bit(eq));                     \
                        break;                                                         \
                    }                                                                  \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }

ARGMAX_INNER_AVX2(argmax_vec_f32_avx2, MUSHIN_TARGET_AVX2, avx2_load_f32, avx2_load_short_f32, 4,
                  MUSHIN_FLOAT32)
/* 16-bit types below 8 classes: AVX2 has no 16-bit masked load, so those
 * take the scalar loop; unreachable here (a null loader) */
ARGMAX_INNER_AVX2(argmax_vec_f16_avx2, MUSHIN_TARGET_AVX2, avx2_load_f16, NO_SHORT_LOAD, 2,
                  MUSHIN_FLOAT16)
ARGMAX_INNER_AVX2(argmax_vec_bf16_avx2, MUSHIN_TARGET_AVX2, avx2_load_bf16, NO_SHORT_LOAD, 2,
                  MUSHIN_BFLOAT16)
/* AVX-512 up to 16 classes: the same 8-lane loops, short vectors by a
 * masked load */
ARGMAX_INNER_AVX2(argmax_vec_f32_avx512vl, MUSHIN_TARGET_AVX512, avx2_load_f32,
                  avx512vl_load_short_f32, 4, MUSHIN_FLOAT32)
ARGMAX_INNER_AVX2(argmax_vec_f16_avx512vl, MUSHIN_TARGET_AVX512, avx2_load_f16,
                  avx512vl_load_short_f16, 2, MUSHIN_FLOAT16)
ARGMAX_INNER_AVX2(argmax_vec_bf16_avx512vl, MUSHIN_TARGET_AVX512, avx2_load_bf16,
                  avx512vl_load_short_bf16, 2, MUSHIN_BFLOAT16)

/* The classes-inner loops for this type at the level in use; 0 if there
 * are none (float64, or below AVX2). */
static int
argmax_inner_vector(const char *base, int64_t ps, mushin_ftype type, int64_t C, int64_t n,
                    int32_t *index)
{
    const int level = mushin_isa_level();
    if (level < MUSHIN_ISA_AVX2 || type == MUSHIN_FLOAT64 ||
        (level == MUSHIN_ISA_AVX2 && type != MUSHIN_FLOAT32 && C < 8)) {
        return 0;
    }
    /* one short vector per pixel: AVX2's 8 lanes waste less than 16 and
     * take one level less of horizontal maximum, so AVX-512 starts above 16 */
#define ARGMAX_DISPATCH(T)                                  \
    if (level >= MUSHIN_ISA_AVX512) {                       \
        if (C > 16) {                                       \
            argmax_vec_##T##_avx512(base, ps, C, n, index); \
        }                                                   \
        else {                                              \
            argmax_vec_##T##_avx512vl(base, ps, C, n, index); \
        }                                                   \
    }                                                       \
    else {                                                  \
        argmax_vec_##T##_avx2(base, ps, C, n, index);       \
    }
    switch (type) {
    case MUSHIN_FLOAT16: ARGMAX_DISPATCH(f16) break;
    case MUSHIN_BFLOAT16: ARGMAX_DISPATCH(bf16) break;
    default: ARGMAX_DISPATCH(f32) break;
    }
#undef ARGMAX_DISPATCH
    return 1;
}
#endif

/* Classes outer: pixel i of class c is at base + i * ps + c * cs. */
void
mushin_argmax_classes_outer(const char *base, int64_t ps, int64_t cs, mushin_ftype type,
                            int64_t num_classes, int64_t n, int32_t *index,
                            mushin_argmax_scratch *s)
{
    int64_t i, c;
    if (type == MUSHIN_FLOAT64) {
        const double *row = load_row_f64(base, ps, n, s->row64);
        for (i = 0; i < n; i++) {
            s->best64[i] = row[i];
            index[i] = 0;
        }
        for (c = 1; c < num_classes; c++) {
            row = load_row_f64(base + c * cs, ps, n, s->row64);
            max_step_f64(s->best64, index, row, n, (int32_t)c);
        }
        return;
    }
    {
        const float *row;
        int nan_seen = 0;
#ifdef HAVE_LANES
        if (n >= LANES && ps == (int64_t)mushin_float_itemsize(type) &&
            mushin_isa_level() >= MUSHIN_ISA_AVX2) {
            const int64_t done = n - n % LANES;
            nan_seen = argmax_lanes(base, cs, type, num_classes, n, index);
            if (!nan_seen) {
                if (done < n) {
                    /* the last n % LANES pixels, by rows */
                    mushin_argmax_classes_outer(base + done * ps, ps, cs, type, num_classes,
                                                n - done, index + done, s);
                }
                return;
            }
        }
#endif
        if (!nan_seen) {
            row = load_row_f32(base, ps, type, n, s->row32);
            for (i = 0; i < n; i++) {
                s->best32[i] = row[i];
                index[i] = 0;
            }
            for (c = 1; c < num_classes && !nan_seen; c++) {
                row = load_row_f32(base + c * cs, ps, type, n, s->row32);
                nan_seen = max_step_f32(s->best32, index, row, n, (int32_t)c);
            }
            if (!nan_seen) {
                return;
            }
        }
        /* a NaN in a row after the first: redo the block with the exact step */
        row = load_row_f32(base, ps, type, n, s->row32);
        for (i = 0; i < n; i++) {
            s->best32[i] = row[i];
            index[i] = 0;
        }
        for (c = 1; c < num_classes; c++) {
            row = load_row_f32(base + c * cs, ps, type, n, s->row32);
            max_step_f32_nan(s->best32, index, row, n, (int32_t)c);
        }
    }
}

/*
 * Classes inner, float32: four pixels' class vectors scanned side by side,
 * so four independent compare chains overlap.  The fast step again; returns
 * nonzero if a NaN was seen.
 */
MUSHIN_BODY int
argmax_inner_f32_body(const char *base, int64_t ps, int64_t num_classes, int64_t n,
                      int32_t *index)
{
    int32_t nan_seen = 0;
    int64_t i, c;
    for (i = 0; i + 4 <= n; i += 4) {
        const float *v0 = (const float *)(base + i * ps);
        const float *v1 = (const float *)(base + (i + 1) * ps);
        const float *v2 = (const float *)(base + (i + 2) * ps);
        const float *v3 = (const float *)(base + (i + 3) * ps);
        float b0 = v0[0], b1 = v1[0], b2 = v2[0], b3 = v3[0];
        int32_t k0 = 0, k1 = 0, k2 = 0, k3 = 0;
        for (c = 1; c < num_classes; c++) {
            const float x0 = v0[c], x1 = v1[c], x2 = v2[c], x3 = v3[c];
            k0 = x0 > b0 ? (int32_t)c : k0;
            k1 = x1 > b1 ? (int32_t)c : k1;
            k2 = x2 > b2 ? (int32_t)c : k2;
            k3 = x3 > b3 ? (int32_t)c : k3;
            b0 = x0 > b0 ? x0 : b0;
            b1 = x1 > b1 ? x1 : b1;
            b2 = x2 > b2 ? x2 : b2;
            b3 = x3 > b3 ? x3 : b3;
            nan_seen |= (x0 != x0) | (x1 != x1) | (x2 != x2) | (x3 != x3);
        }
        index[i] = k0;
        index[i + 1] = k1;
        index[i + 2] = k2;
        index[i + 3] = k3;
    }
    for (; i < n; i++) {
        const float *v = (const float *)(base + i * ps);
        float b = v[0];
        int32_t k = 0;
        for (c = 1; c < num_classes; c++) {
            k = v[c] > b ? (int32_t)c : k;
            b = v[c] > b ? v[c] : b;
            nan_seen |= v[c] != v[c];
        }
        index[i] = k;
    }
    return nan_seen;
}

MUSHIN_ISA_VARIANTS(argmax_inner_f32,
                    (const char *base, int64_t ps, int64_t num_classes, int64_t n,
                     int32_t *index),
                    (base, ps, num_classes, n, index))

/* Classes inner: each pixel's classes are contiguous (cs == itemsize). */
void
mushin_argmax_classes_inner(const char *base, int64_t ps, mushin_ftype type,
                            int64_t num_classes, int64_t n, int32_t *index)
{
    int64_t i, c;
#ifdef HAVE_LANES
    if (argmax_inner_vector(base, ps, type, num_classes, n, index)) {
        return;
    }
#endif
    if (type == MUSHIN_FLOAT32 && ps % 4 == 0 && (uintptr_t)base % 4 == 0 &&
        !argmax_inner_f32(base, ps, num_classes, n, index)) {
        return;
    }
    if (type == MUSHIN_FLOAT32 && ps % 4 == 0 && (uintptr_t)base % 4 == 0) {
        /* a NaN: the block again, exactly */
        for (i = 0; i < n; i++) {
            const float *v = (const float *)(base + i * ps);
            float b = v[0];
            int32_t k = 0;
            for (c = 1; c < num_classes; c++) {
                const int take = TAKES_OVER(v[c], b);
                b = take ? v[c] : b;
                k = take ? (int32_t)c : k;
            }
            index[i] = k;
        }
        return;
    }
    if (type == MUSHIN_FLOAT64) {
        for (i = 0; i < n; i++) {
            const char *px = base + i * ps;
            double b, v;
            int32_t k = 0;
            memcpy(&b, px, sizeof(b));
            for (c = 1; c < num_classes; c++) {
                int take;
                memcpy(&v, px + c * 8, sizeof(v));
                take = TAKES_OVER(v, b);
                b = take ? v : b;
                k = take ? (int32_t)c : k;
            }
            index[i] = k;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        const char *px = base + i * ps;
        const int64_t size = (int64_t)mushin_float_itemsize(type);
        float b = mushin_load_float32(px, type);
        int32_t k = 0;
        for (c = 1; c < num_classes; c++) {
            const float v = mushin_load_float32(px + c * size, type);
            const int take = TAKES_OVER(v, b);
            b = take ? v : b;
            k = take ? (int32_t)c : k;
        }
        index[i] = k;
    }
}

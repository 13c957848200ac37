/*
 * fuzz_confusion.c -- libFuzzer harness for the counting kernels:
 * mushin_confusion_count{,_threads}, mushin_confusion_validate,
 * mushin_confusion_count_logits, mushin_confusion_validate_target, and
 * the checked merge mushin_counts_add_checked.
 *
 * Each input picks a kernel, an instruction-set cap, a thread count, the
 * class count, ignore_index, the element types, a shape and, per array, a
 * memory layout (dimension order, gaps, negative and zero strides, a
 * misaligned start).  The result -- status, every field of
 * mushin_bad_values and, on success, the matrix -- must equal a naive
 * reference below that walks the logical index space in C order and reads
 * each element with its own address arithmetic.  Arrays are allocated to
 * their exact extent so that AddressSanitizer sees any read outside a view.
 *
 * A "large" input repeats its bytes over 2^19 positions, because the kernels
 * only start threads for MUSHIN_MIN_WORK_PER_THREAD units of work each.
 */
#include "../kernels/mushin_kernels.h"
#include "fuzz_common.h"

#include <math.h>
#include <stdlib.h>

#define MAX_DIMS 5

static const int64_t extreme_values[8] = {
    INT64_MIN, INT64_MAX, (int64_t)1 << 31, 255, 65535, -129, -((int64_t)1 << 32), 128,
};

/* ------------------------------------------------------------ layouts -- */

typedef struct {
    char *alloc; /* exactly the bytes the view can reach */
    char *base;  /* element (0, ..., 0) */
    int64_t strides[MAX_DIMS];
} layout;

/* Strides for `shape` in one of several memory orders, some dimensions
 * reversed or broadcast (stride 0), with gaps between elements and rows. */
static int
make_layout(fuzz_reader *r, int ndim, const int64_t *shape, int64_t itemsize, int large,
            layout *out)
{
    int perm[MAX_DIMS];
    int64_t running, lo = 0, hi = 0;
    size_t bytes;
    const uint8_t order = fuzz_u8(r), gaps = fuzz_u8(r), signs = fuzz_u8(r),
                  zeros = fuzz_u8(r), misalign = fuzz_u8(r);
    int d, i;

    for (d = 0; d < ndim; d++) {
        perm[d] = ndim - 1 - d; /* innermost first: C order */
    }
    if (order % 4 == 1) {
        for (d = 0; d < ndim; d++) perm[d] = d; /* Fortran order */
    }
    else if (order % 4 == 2) {
        for (d = ndim - 1; d > 0; d--) {
            const int j = (int)fuzz_below(r, (uint32_t)d + 1), t = perm[d];
            perm[d] = perm[j];
            perm[j] = t;
        }
    }
    /* large inputs stay dense so they fit in memory */
    running = itemsize * (large ? 1 : 1 + (gaps & 3) % 3);
    for (i = 0; i < ndim; i++) {
        d = perm[i];
        out->strides[d] = running;
        running *= (shape[d] > 0 ? shape[d] : 1) + (large ? 0 : (gaps >> (2 + i)) & 1);
    }
    for (d = 0; d < ndim; d++) {
        if (!large && (zeros >> d) & 1 && (zeros & 0x80)) {
            out->strides[d] = 0;
        }
        if ((signs >> d) & 1) {
            out->strides[d] = -out->strides[d];
        }
    }
    for (d = 0; d < ndim; d++) {
        const int64_t reach = shape[d] > 0 ? (shape[d] - 1) * out->strides[d] : 0;
        if (reach > 0) hi += reach; else lo += reach;
    }
    bytes = (size_t)(hi - lo + itemsize + misalign % 8);
    out->alloc = (char *)malloc(bytes);
    if (out->alloc == NULL) {
        return 0;
    }
    memset(out->alloc, 0xA5, bytes);
    out->base = out->alloc + misalign % 8 - lo;
    return 1;
}

static int64_t
count_positions(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    int d;
    for (d = 0; d < ndim; d++) {
        n *= shape[d];
    }
    return n;
}

/* The byte offset of every position in C order, or NULL (out of memory).
 * Walked incrementally: large inputs have 2^19 positions. */
static int64_t *
flat_offsets(int ndim, const int64_t *shape, const int64_t *strides)
{
    const int64_t n = count_positions(ndim, shape);
    int64_t index[MAX_DIMS] = {0}, off = 0, pos;
    int64_t *out = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    int d;
    if (out == NULL) return NULL;
    for (pos = 0; pos < n; pos++) {
        out[pos] = off;
        for (d = ndim - 1; d >= 0; d--) {
            off += strides[d];
            if (++index[d] < shape[d]) break;
            off -= index[d] * strides[d];
            index[d] = 0;
        }
    }
    return out;
}

/* ------------------------------------------------------ element values -- */

/* The value bytes repeat over the positions; mixing in the lap number
 * keeps large inputs from being one short period. */
typedef struct {
    const uint8_t *bytes;
    size_t n;
} value_source;

static uint8_t
value_byte(const value_source *src, int64_t pos, unsigned salt)
{
    if (src->n == 0) {
        return (uint8_t)(pos * 37 + salt);
    }
    return (uint8_t)(src->bytes[(size_t)pos % src->n] ^
                     (uint8_t)(((uint64_t)pos / src->n) * 131u + salt));
}

/* Mostly valid classes, some ignore_index, some just out of range. */
static int64_t
class_value(uint8_t b, int64_t num_classes, int64_t ignore_index, int clean)
{
    if (b < 208 || (clean && b >= 232)) return b % num_classes;
    if (b < 232) return ignore_index;
    if (b < 240) return num_classes;
    if (b < 248) return -1;
    return extreme_values[b & 7];
}

static void
fill_ints(const layout *L, const int64_t *offsets, int64_t n, mushin_itype type,
          const value_source *src, unsigned salt, int64_t num_classes, int64_t ignore_index,
          int clean)
{
    int64_t pos;
    for (pos = 0; pos < n; pos++) {
        fuzz_store_int(L->base + offsets[pos], type,
                  class_value(value_byte(src, pos, salt), num_classes, ignore_index, clean));
    }
}

/* ---------------------------------------------------------- float values -- */

/* Ties, signed zeros, infinities, NaNs (quiet, signalling, negative),
 * subnormals and the extremes of each type. */
static const uint16_t half_table[16] = {
    0x0000, 0x8000, 0x3c00, 0xbc00, 0x4000, 0x3800, 0x7c00, 0xfc00,
    0x7e00, 0xfe00, 0x0001, 0x8001, 0x03ff, 0x7bff, 0xfbff, 0x7c01,
};
static const uint16_t bfloat_table[16] = {
    0x0000, 0x8000, 0x3f80, 0xbf80, 0x4000, 0x3f00, 0x7f80, 0xff80,
    0x7fc0, 0xffc0, 0x0001, 0x8001, 0x007f, 0x7f7f, 0xff7f, 0x7f81,
};

static double
double_table(int i)
{
    switch (i & 15) {
    case 0: return 0.0;
    case 1: return -0.0;
    case 2: return 1.0;
    case 3: return -1.0;
    case 4: return 2.0;
    case 5: return 0.5;
    case 6: return INFINITY;
    case 7: return -INFINITY;
    case 8: return NAN;
    case 9: return -NAN;
    case 10: return 1e-45;   /* float32's smallest subnormal */
    case 11: return -4.9e-324;
    case 12: return 3.4028234663852886e38;
    case 13: return -1.7976931348623157e308;
    case 14: return 1.0 + 0x1p-52;
    default: return 1.0 + 0x1p-23;
    }
}

static void
store_float(char *p, mushin_ftype type, uint8_t b, uint8_t b2)
{
    /* b < 128: a special value; else a small integer (many ties) or, for
     * b >= 240, raw bits */
    const int small = (int)(b - 128) / 8 - 8;
    switch (type) {
    case MUSHIN_FLOAT16: {
        uint16_t h = b < 128 ? half_table[b & 15]
                   : b >= 240 ? (uint16_t)(b2 << 8 | b)
                              : (uint16_t)(small == 0 ? 0 : 0);
        if (b >= 128 && b < 240) {
            /* small integers: exact in binary16 */
            const int m = small < 0 ? -small : small;
            int e = 0;
            while ((1 << (e + 1)) <= m) e++;
            h = m == 0 ? 0 : (uint16_t)((e + 15) << 10 | ((m << (10 - e)) & 1023));
            if (small < 0) h |= 0x8000;
        }
        memcpy(p, &h, 2);
        break;
    }
    case MUSHIN_BFLOAT16: {
        uint16_t h;
        if (b < 128) {
            h = bfloat_table[b & 15];
        }
        else if (b >= 240) {
            h = (uint16_t)(b2 << 8 | b);
        }
        else {
            const float f = (float)small;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            h = (uint16_t)(bits >> 16);
        }
        memcpy(p, &h, 2);
        break;
    }
    case MUSHIN_FLOAT32: {
        float f = b < 128 ? (float)double_table(b) : (float)small;
        if (b >= 240) {
            const uint32_t bits = (uint32_t)b2 << 24 | (uint32_t)b << 16 | b2;
            memcpy(&f, &bits, 4);
        }
        memcpy(p, &f, 4);
        break;
    }
    default: {
        double d = b < 128 ? double_table(b) : (double)small;
        if (b >= 240) {
            const uint64_t bits = (uint64_t)b2 << 56 | (uint64_t)b << 48 | b2;
            memcpy(&d, &bits, 8);
        }
        memcpy(p, &d, 8);
        break;
    }
    }
}

/* ------------------------------------------------------- index kernels -- */

static void
note_bad(int64_t *nbad, int64_t *first, int64_t *first_pos, int64_t value, int64_t pos)
{
    if ((*nbad)++ == 0) {
        *first = value;
        *first_pos = pos;
    }
}

static int
same_bad(const mushin_bad_values *a, const mushin_bad_values *b)
{
    if (a->preds_bad != b->preds_bad || a->target_bad != b->target_bad) return 0;
    if (a->preds_bad && (a->preds_first != b->preds_first ||
                         a->preds_first_pos != b->preds_first_pos)) return 0;
    if (a->target_bad && (a->target_first != b->target_first ||
                          a->target_first_pos != b->target_first_pos)) return 0;
    return 1;
}

/* The documented rules, one position at a time. */
static void
reference_count(int64_t *counts, int64_t C, int has_ignore, int64_t ignore, int64_t n,
                const layout *P, const int64_t *poff, mushin_itype ptype, const layout *T,
                const int64_t *toff, mushin_itype ttype, mushin_bad_values *bad)
{
    int64_t pos;
    memset(bad, 0, sizeof(*bad));
    for (pos = 0; pos < n; pos++) {
        const int64_t p = fuzz_read_int(P->base + poff[pos], ptype);
        const int64_t t = fuzz_read_int(T->base + toff[pos], ttype);
        const int p_ok = p >= 0 && p < C, t_ok = t >= 0 && t < C;
        if (has_ignore && t == ignore) {
            if (!p_ok && p != ignore) {
                note_bad(&bad->preds_bad, &bad->preds_first, &bad->preds_first_pos, p, pos);
            }
        }
        else {
            if (!t_ok) note_bad(&bad->target_bad, &bad->target_first, &bad->target_first_pos, t, pos);
            if (!p_ok) note_bad(&bad->preds_bad, &bad->preds_first, &bad->preds_first_pos, p, pos);
            if (p_ok && t_ok) counts[t * C + p]++;
        }
    }
}

typedef struct {
    int64_t num_classes;
    int has_ignore;
    int64_t ignore_index;
    int num_threads;
    int large;
    int clean;
} fuzz_params;

static void
read_params(fuzz_reader *r, fuzz_params *fp)
{
    const uint8_t c = fuzz_u8(r), ign = fuzz_u8(r), flags = fuzz_u8(r), size_class = fuzz_u8(r);
    mushin_set_isa_cap((int)(flags % 3));
    fp->num_threads = 1 + (flags >> 2) % 8;
    fp->clean = (flags & 0x20) != 0;
    /* one magic value: large inputs cost milliseconds, so the fuzzer should
     * spend most of its time on small ones */
    fp->large = size_class == 0x4c;
    /* mostly few classes (private matrices with sub-histograms); some past
     * MUSHIN_SUBHIST_MAX_BINS and some large enough to count directly */
    fp->num_classes = c < 200 ? 1 + c % 40 : c < 240 ? 33 + (c - 200) * 3 : 150 + (c - 240) * 40;
    if (fp->large && fp->num_classes > 16) fp->num_classes = 1 + fp->num_classes % 16;
    fp->has_ignore = ign >= 64;
    switch (ign % 4) {
    case 0: fp->ignore_index = ign % fp->num_classes; break; /* inside the range */
    case 1: fp->ignore_index = 255; break;
    case 2: fp->ignore_index = -1 - (ign >> 4); break;
    default: fp->ignore_index = extreme_values[(ign >> 2) & 7]; break;
    }
}

/* ndim dimensions, at most ~2^15 positions. */
static void
read_shape(fuzz_reader *r, int ndim, int64_t *shape)
{
    int64_t total = 1;
    int d;
    for (d = 0; d < ndim; d++) {
        const uint8_t e = fuzz_u8(r);
        shape[d] = e < 200 ? e % 7 : (int64_t)(e - 200) * 37 + 1;
        if (total * (shape[d] > 0 ? shape[d] : 1) > ((int64_t)1 << 15)) shape[d] = 1;
        total *= shape[d] > 0 ? shape[d] : 1;
    }
}

/* Every extent positive and the leading one raised so that there are at
 * least `positions` positions. */
static void
enlarge_shape(int ndim, int64_t *shape, int64_t positions)
{
    int d;
    if (ndim == 0) return;
    for (d = 0; d < ndim; d++) {
        if (shape[d] == 0) shape[d] = 1;
    }
    shape[0] *= positions / count_positions(ndim, shape) + 1;
}

static void
fuzz_index(fuzz_reader *r, const fuzz_params *fp)
{
    const int64_t C = fp->num_classes;
    const uint8_t types = fuzz_u8(r), entry = fuzz_u8(r);
    const mushin_itype ptype = (mushin_itype)(types % 7), ttype = (mushin_itype)((types >> 4) % 7);
    const int ndim = fp->large ? 1 + fuzz_u8(r) % 2 : fuzz_u8(r) % MAX_DIMS;
    int64_t shape[MAX_DIMS], n;
    layout P = {0}, T = {0};
    value_source src;
    mushin_bad_values bad, want_bad, valid_bad;
    mushin_index_view pv, tv;
    int64_t *counts = NULL, *want = NULL, *poff = NULL, *toff = NULL;
    int status, i;

    read_shape(r, ndim, shape);
    if (fp->large) {
        /* two threads need 2 * MUSHIN_MIN_WORK_PER_THREAD positions */
        enlarge_shape(ndim, shape, 2 * MUSHIN_MIN_WORK_PER_THREAD);
    }
    n = count_positions(ndim, shape);
    if (!make_layout(r, ndim, shape, (int64_t)fuzz_int_size(ptype), fp->large, &P) ||
        !make_layout(r, ndim, shape, (int64_t)fuzz_int_size(ttype), fp->large, &T)) {
        goto done;
    }
    poff = flat_offsets(ndim, shape, P.strides);
    toff = flat_offsets(ndim, shape, T.strides);
    counts = (int64_t *)malloc((size_t)(C * C) * sizeof(int64_t));
    want = (int64_t *)malloc((size_t)(C * C) * sizeof(int64_t));
    if (poff == NULL || toff == NULL || counts == NULL || want == NULL) goto done;
    src.bytes = r->data;
    src.n = r->size;
    fill_ints(&P, poff, n, ptype, &src, 0x11, C, fp->ignore_index, fp->clean);
    fill_ints(&T, toff, n, ttype, &src, 0x5c, C, fp->ignore_index, fp->clean);

    /* a running matrix: the kernel adds to it */
    for (i = 0; i < C * C; i++) counts[i] = want[i] = (i * 7) % 5;
    reference_count(want, C, fp->has_ignore, fp->ignore_index, n, &P, poff, ptype, &T, toff,
                    ttype, &want_bad);

    pv.data = P.base; pv.type = ptype; pv.strides = P.strides;
    tv.data = T.base; tv.type = ttype; tv.strides = T.strides;
    if (entry & 1) {
        status = mushin_confusion_count_threads(counts, C, fp->has_ignore, fp->ignore_index,
                                                ndim, shape, pv, tv, fp->num_threads, &bad);
    }
    else {
        status = mushin_confusion_count(counts, C, fp->has_ignore, fp->ignore_index, ndim,
                                        shape, pv, tv, &bad);
    }
    FUZZ_CHECK(status == MUSHIN_OK || status == MUSHIN_EBADVALUE);
    FUZZ_CHECK((status == MUSHIN_EBADVALUE) == (want_bad.preds_bad || want_bad.target_bad));
    FUZZ_CHECK(same_bad(&bad, &want_bad));
    if (status == MUSHIN_OK) {
        FUZZ_CHECK(memcmp(counts, want, (size_t)(C * C) * sizeof(int64_t)) == 0);
    }
    status = mushin_confusion_validate(C, fp->has_ignore, fp->ignore_index, ndim, shape, pv,
                                       tv, &valid_bad);
    FUZZ_CHECK((status == MUSHIN_EBADVALUE) == (want_bad.preds_bad || want_bad.target_bad));
    FUZZ_CHECK(same_bad(&valid_bad, &want_bad));

done:
    free(P.alloc);
    free(T.alloc);
    free(poff);
    free(toff);
    free(counts);
    free(want);
}

/* ------------------------------------------------------ fused logits -- */

static void
fuzz_logits(fuzz_reader *r, const fuzz_params *fp)
{
    const int64_t C = fp->num_classes;
    const uint8_t types = fuzz_u8(r), dims = fuzz_u8(r);
    const mushin_ftype ltype = (mushin_ftype)(types % 4);
    const mushin_itype ttype = (mushin_itype)((types >> 4) % 7);
    const int ndim = 1 + dims % 4, class_dim = (dims >> 2) % ndim;
    int64_t shape[MAX_DIMS], pshape[MAX_DIMS], pstrides[MAX_DIMS], npix, d, k, pos, c;
    layout L = {0}, T = {0};
    value_source src;
    mushin_bad_values bad, want_bad, valid_bad;
    mushin_float_view lv;
    mushin_index_view tv;
    int64_t *counts = NULL, *want = NULL, *loff = NULL, *toff = NULL;
    int status, i;

    /* the pixel shape first, then the class dimension put in */
    read_shape(r, ndim - 1, pshape);
    if (fp->large) {
        /* two threads need 2 * MUSHIN_MIN_WORK_PER_THREAD logits */
        enlarge_shape(ndim - 1, pshape, 2 * MUSHIN_MIN_WORK_PER_THREAD / C);
    }
    for (d = 0, k = 0; d < ndim; d++) {
        shape[d] = d == class_dim ? C : pshape[k++];
    }
    npix = count_positions(ndim - 1, pshape);
    if (npix * C > ((int64_t)1 << 21)) goto done;
    if (!make_layout(r, ndim, shape, (int64_t)fuzz_float_size(ltype), fp->large, &L) ||
        !make_layout(r, ndim - 1, pshape, (int64_t)fuzz_int_size(ttype), fp->large, &T)) {
        goto done;
    }
    for (d = 0, k = 0; d < ndim; d++) {
        if (d != class_dim) pstrides[k++] = L.strides[d];
    }
    /* logits of class 0 of every pixel; class c is c * class stride away */
    loff = flat_offsets(ndim - 1, pshape, pstrides);
    toff = flat_offsets(ndim - 1, pshape, T.strides);
    counts = (int64_t *)malloc((size_t)(C * C) * sizeof(int64_t));
    want = (int64_t *)malloc((size_t)(C * C) * sizeof(int64_t));
    if (loff == NULL || toff == NULL || counts == NULL || want == NULL) goto done;
    src.bytes = r->data;
    src.n = r->size;
    fill_ints(&T, toff, npix, ttype, &src, 0x5c, C, fp->ignore_index, fp->clean);
    for (pos = 0; pos < npix; pos++) {
        for (c = 0; c < C; c++) {
            store_float(L.base + loff[pos] + c * L.strides[class_dim], ltype,
                        value_byte(&src, pos * C + c, 0x33), value_byte(&src, pos * C + c, 0x9e));
        }
    }

    for (i = 0; i < C * C; i++) counts[i] = want[i] = (i * 3) % 7;
    memset(&want_bad, 0, sizeof(want_bad));
    for (pos = 0; pos < npix; pos++) {
        const int64_t t = fuzz_read_int(T.base + toff[pos], ttype);
        if (fp->has_ignore && t == fp->ignore_index) continue;
        if (t < 0 || t >= C) {
            note_bad(&want_bad.target_bad, &want_bad.target_first, &want_bad.target_first_pos,
                     t, pos);
            continue;
        }
        {
            /* torch.argmax: the first maximum, NaN above everything (the
             * first NaN wins), -0.0 equal to 0.0 */
            double best = 0.0;
            int64_t arg = 0;
            for (c = 0; c < C; c++) {
                const double v = fuzz_read_float(L.base + loff[pos] + c * L.strides[class_dim], ltype);
                if (c == 0 || (!isnan(best) && (isnan(v) || v > best))) {
                    best = v;
                    arg = c;
                }
            }
            want[t * C + arg]++;
        }
    }

    lv.data = L.base; lv.type = ltype; lv.strides = L.strides;
    tv.data = T.base; tv.type = ttype; tv.strides = T.strides;
    status = mushin_confusion_count_logits(counts, C, fp->has_ignore, fp->ignore_index, ndim,
                                           shape, class_dim, lv, tv, fp->num_threads, &bad);
    FUZZ_CHECK(status == MUSHIN_OK || status == MUSHIN_EBADVALUE);
    FUZZ_CHECK((status == MUSHIN_EBADVALUE) == (want_bad.target_bad != 0));
    FUZZ_CHECK(same_bad(&bad, &want_bad));
    if (status == MUSHIN_OK) {
        FUZZ_CHECK(memcmp(counts, want, (size_t)(C * C) * sizeof(int64_t)) == 0);
    }
    status = mushin_confusion_validate_target(C, fp->has_ignore, fp->ignore_index, ndim - 1,
                                              pshape, tv, &valid_bad);
    FUZZ_CHECK((status == MUSHIN_EBADVALUE) == (want_bad.target_bad != 0));
    FUZZ_CHECK(same_bad(&valid_bad, &want_bad));

done:
    free(L.alloc);
    free(T.alloc);
    free(loff);
    free(toff);
    free(counts);
    free(want);
}

/* ------------------------------------------------------ checked merge -- */

/* A count: small, near a power of two up to 2^62, or the extremes. */
static int64_t
merge_value(fuzz_reader *r)
{
    const uint8_t b = fuzz_u8(r);
    if (b < 128) return b;
    if (b < 224) return ((int64_t)1 << (b % 63)) - (int64_t)fuzz_u8(r);
    if (b < 240) return INT64_MAX - (int64_t)fuzz_u8(r);
    return b < 248 ? -1 - (int64_t)fuzz_u8(r) : INT64_MIN;
}

/* mushin_counts_add_checked: all or nothing, the first negative addend
 * named, an overflowing cell named or else the overflowing total. */
static void
fuzz_merge(fuzz_reader *r)
{
    int64_t counts[64] = {0}, add[64] = {0}, before[64], total = 0, sum, where, want_where = -1, i;
    int64_t merged_total = -1;
    const int64_t n = fuzz_u8(r) % 65;
    int want = MUSHIN_OK, status;
    for (i = 0; i < n; i++) {
        int64_t v = merge_value(r);
        /* the precondition: non-negative counts with a total in int64 */
        if (v < 0 || mushin_add_overflow_i64(total, v, &sum)) v = 0;
        counts[i] = v;
        total += v;
    }
    for (i = 0; i < n; i++) add[i] = merge_value(r);
    memcpy(before, counts, sizeof(counts));
    for (i = 0; i < n && want == MUSHIN_OK; i++) {
        if (add[i] < 0) {
            want = MUSHIN_EBADVALUE;
            want_where = i;
        }
    }
    total = 0;
    for (i = 0; i < n && want == MUSHIN_OK; i++) {
        if (mushin_add_overflow_i64(counts[i], add[i], &sum)) {
            want = MUSHIN_EOVERFLOW;
            want_where = i;
        }
        else if (mushin_add_overflow_i64(total, sum, &total)) {
            want = MUSHIN_EOVERFLOW;
        }
    }
    status = mushin_counts_add_checked(counts, add, n, &where, &merged_total);
    FUZZ_CHECK(status == want);
    if (status != MUSHIN_OK) {
        FUZZ_CHECK(where == want_where);
        FUZZ_CHECK(memcmp(counts, before, sizeof(counts)) == 0);
        return;
    }
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(counts[i] == before[i] + add[i] && counts[i] >= 0);
    }
    FUZZ_CHECK(merged_total == total);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    fuzz_params fp;
    const uint8_t kernel = fuzz_u8(&r);
    if ((kernel & 0x0e) == 0x0e) {
        fuzz_merge(&r);
        return 0;
    }
    read_params(&r, &fp);
    if (kernel & 1) {
        fuzz_logits(&r, &fp);
    }
    else {
        fuzz_index(&r, &fp);
    }
    return 0;
}

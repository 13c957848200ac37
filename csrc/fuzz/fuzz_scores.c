/*
 * fuzz_scores.c -- libFuzzer harness for the probability kernels of
 * csrc/kernels/scores.h: the batch check, the calibration (ECE) slots and the
 * AUROC score store.
 *
 * One input is a batch of rows x classes probabilities (any float type,
 * any row and class strides, zero and negative ones included) with integer
 * labels.  Checked against naive references written here:
 *   - mushin_scores_check reports what a row-by-row scan finds;
 *   - each calibration slot's count, correct rows and exact fixed-point
 *     confidence sum equal a row-by-row reference (own 256-bit arithmetic);
 *     the state is the same, bit for bit, when the rows come permuted and
 *     split into batches; the ECE lies in [0, 1] and equals the reference
 *     to double precision;
 *   - per-class AUROC equals the O(n^2) Mann-Whitney pair count (ties half,
 *     0 without positives or negatives) and is the same, bit for bit, for
 *     permuted, split batches and for a copy of the store; the macro value
 *     is their mean;
 *   - a batch with a bad label is refused by append with the store as it
 *     was.
 */
#include "../kernels/scores.h"
#include "fuzz_common.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define MAX_ROWS 300
#define MAX_CLASSES 12
#define MAX_BINS 20
#define MAX_BATCHES 6

/* ------------------------------------------------------- element access -- */

/* Dyadic values exact in every type: ties across classes and rows, and
 * confidences on bin boundaries. */
static const double dyadic[8] = {0.0, 1.0, 0.5, 0.25, 0.75, 0.125, 0.0625, 0.375};
static const uint16_t dyadic_half[8] = {0x0000, 0x3c00, 0x3800, 0x3400,
                                        0x3a00, 0x3000, 0x2c00, 0x3600};
static const uint16_t dyadic_bfloat[8] = {0x0000, 0x3f80, 0x3f00, 0x3e80,
                                          0x3f40, 0x3e00, 0x3d80, 0x3ec0};

/* A probability: a dyadic value, any value of the type in [0, 1] (every
 * bit pattern up to that of 1.0), or rarely NaN / negative / above 1. */
static void
store_prob(char *p, mushin_ftype type, fuzz_reader *r, int allow_bad)
{
    const uint8_t b = fuzz_u8(r);
    const int k = b & 7;
    if (allow_bad && b >= 250) {
        const double bad = b == 250 ? NAN : b == 251 ? -0.5 : b == 252 ? 1.5
                         : b == 253 ? INFINITY : b == 254 ? -0.0 : 1.0;
        /* -0.0 and 1.0 are in range: they must pass */
        switch (type) {
        case MUSHIN_FLOAT16: {
            const uint16_t h = b == 250 ? 0x7e00 : b == 251 ? 0xb800 : b == 252 ? 0x3e00
                             : b == 253 ? 0x7c00 : b == 254 ? 0x8000 : 0x3c00;
            memcpy(p, &h, 2);
            return;
        }
        case MUSHIN_BFLOAT16: {
            const uint16_t h = b == 250 ? 0x7fc0 : b == 251 ? 0xbf00 : b == 252 ? 0x3fc0
                             : b == 253 ? 0x7f80 : b == 254 ? 0x8000 : 0x3f80;
            memcpy(p, &h, 2);
            return;
        }
        case MUSHIN_FLOAT32: {
            const float f = (float)bad;
            memcpy(p, &f, 4);
            return;
        }
        default:
            memcpy(p, &bad, 8);
            return;
        }
    }
    switch (type) {
    case MUSHIN_FLOAT16: {
        const uint16_t h = b < 128 ? dyadic_half[k] : (uint16_t)(fuzz_u16(r) % 0x3c01);
        memcpy(p, &h, 2);
        break;
    }
    case MUSHIN_BFLOAT16: {
        const uint16_t h = b < 128 ? dyadic_bfloat[k] : (uint16_t)(fuzz_u16(r) % 0x3f81);
        memcpy(p, &h, 2);
        break;
    }
    case MUSHIN_FLOAT32: {
        float f = (float)dyadic[k];
        if (b >= 128) {
            const uint32_t high = fuzz_u16(r);
            const uint32_t bits = ((high << 16) | fuzz_u16(r)) % 0x3f800001u;
            memcpy(&f, &bits, 4);
        }
        memcpy(p, &f, 4);
        break;
    }
    default: {
        double d = dyadic[k];
        if (b >= 128) {
            const uint64_t bits = fuzz_u64(r) % 0x3ff0000000000001ull;
            memcpy(&d, &bits, 8);
        }
        memcpy(p, &d, 8);
        break;
    }
    }
}

/* ------------------------------------------------------------ batches -- */

/* A (rows, classes) matrix and its labels, each in its own allocation of
 * exactly the bytes its strides reach. */
typedef struct {
    int64_t rows;
    char *prob_alloc, *label_alloc;
    mushin_prob_view probs;
    mushin_label_view labels;
} batch;

static void
batch_free(batch *b)
{
    free(b->prob_alloc);
    free(b->label_alloc);
    memset(b, 0, sizeof(*b));
}

/* Room for rows x classes with the given element strides (in items, maybe
 * negative or zero); returns 0 when out of memory. */
static int
batch_alloc(batch *b, int64_t rows, int64_t C, mushin_ftype ft, mushin_itype it,
            int64_t row_items, int64_t class_items, int64_t label_items, int misalign)
{
    const int64_t fs = (int64_t)fuzz_float_size(ft), ls = (int64_t)fuzz_int_size(it);
    const int64_t rs = row_items * fs, cs = class_items * fs, lst = label_items * ls;
    const int64_t r_reach = rows > 0 ? (rows - 1) * rs : 0, c_reach = (C - 1) * cs;
    const int64_t lo = (r_reach < 0 ? r_reach : 0) + (c_reach < 0 ? c_reach : 0);
    const int64_t hi = (r_reach > 0 ? r_reach : 0) + (c_reach > 0 ? c_reach : 0);
    const int64_t l_reach = rows > 0 ? (rows - 1) * lst : 0;
    const int64_t llo = l_reach < 0 ? l_reach : 0, lhi = l_reach > 0 ? l_reach : 0;
    memset(b, 0, sizeof(*b));
    b->rows = rows;
    b->prob_alloc = (char *)malloc((size_t)(hi - lo + fs + misalign));
    b->label_alloc = (char *)malloc((size_t)(lhi - llo + ls + misalign));
    if (b->prob_alloc == NULL || b->label_alloc == NULL) {
        batch_free(b);
        return 0;
    }
    b->probs.data = b->prob_alloc + misalign - lo;
    b->probs.type = ft;
    b->probs.row_stride = rs;
    b->probs.class_stride = cs;
    b->labels.data = b->label_alloc + misalign - llo;
    b->labels.type = it;
    b->labels.stride = lst;
    return 1;
}

static char *
prob_at(const batch *b, int64_t r, int64_t c)
{
    return (char *)b->probs.data + r * b->probs.row_stride + c * b->probs.class_stride;
}

static char *
label_at(const batch *b, int64_t r)
{
    return (char *)b->labels.data + r * b->labels.stride;
}

/* Rows [first, first + n) of `src` as a dense batch in `order`. */
static int
batch_copy_rows(batch *dst, const batch *src, int64_t C, const int64_t *order, int64_t first,
                int64_t n)
{
    const size_t fs = fuzz_float_size(src->probs.type), ls = fuzz_int_size(src->labels.type);
    int64_t i, c;
    if (!batch_alloc(dst, n, C, src->probs.type, src->labels.type, C, 1, 1, 0)) return 0;
    for (i = 0; i < n; i++) {
        for (c = 0; c < C; c++) {
            memcpy(prob_at(dst, i, c), prob_at(src, order[first + i], c), fs);
        }
        memcpy(label_at(dst, i), label_at(src, order[first + i]), ls);
    }
    return 1;
}

/* ---------------------------------------------------- 256-bit reference -- */

/* v * 2^149 added to a little-endian 256-bit integer; v a float32 in [0, 1],
 * hence an integer number of 2^-149 units. */
static void
ref_fixed_add_float(uint64_t *limbs, float v)
{
    int e, shift, i;
    uint64_t m, carry;
    uint64_t add[MUSHIN_FIXED_LIMBS] = {0};
    if (v == 0.0f) return;
    m = (uint64_t)ldexp((double)frexpf(v, &e), 24); /* v = m 2^(e - 24) */
    shift = e - 24 + MUSHIN_FIXED_FRAC_BITS;
    if (shift < 0) {
        m >>= -shift; /* only zero bits: v is a multiple of 2^-149 */
        shift = 0;
    }
    add[shift / 64] = m << (shift % 64);
    if (shift % 64 != 0 && shift / 64 + 1 < MUSHIN_FIXED_LIMBS) {
        add[shift / 64 + 1] = m >> (64 - shift % 64);
    }
    carry = 0;
    for (i = 0; i < MUSHIN_FIXED_LIMBS; i++) {
        const uint64_t s = limbs[i] + add[i];
        const uint64_t c1 = s < add[i];
        limbs[i] = s + carry;
        carry = c1 | (limbs[i] < s);
    }
}

static long double
ref_fixed_value(const uint64_t *limbs)
{
    long double v = 0.0L;
    int i;
    for (i = MUSHIN_FIXED_LIMBS - 1; i >= 0; i--) {
        v = v * 18446744073709551616.0L + (long double)limbs[i];
    }
    return ldexpl(v, -MUSHIN_FIXED_FRAC_BITS);
}

/* ------------------------------------------------------------- checks -- */

typedef struct {
    int64_t count[MAX_BINS + 1];
    int64_t correct[MAX_BINS + 1];
    uint64_t fixed[(MAX_BINS + 1) * MUSHIN_FIXED_LIMBS];
} calibration_state;

static void
reference_calibration(const batch *b, int64_t C, int has_ignore, int64_t ignore,
                      const float *bounds, int64_t n_bins, calibration_state *s)
{
    int64_t r, c, i;
    memset(s, 0, sizeof(*s));
    for (r = 0; r < b->rows; r++) {
        const int64_t label = fuzz_read_int(label_at(b, r), b->labels.type);
        double best;
        int64_t arg = 0, slot = -1;
        float conf;
        if (has_ignore && label == ignore) continue;
        best = fuzz_read_float(prob_at(b, r, 0), b->probs.type);
        for (c = 1; c < C; c++) {
            const double v = fuzz_read_float(prob_at(b, r, c), b->probs.type);
            if (v > best) {
                best = v;
                arg = c;
            }
        }
        conf = (float)best;
        for (i = 0; i <= n_bins; i++) {
            slot += bounds[i] <= conf;
        }
        s->count[slot]++;
        s->correct[slot] += arg == label;
        ref_fixed_add_float(s->fixed + slot * MUSHIN_FIXED_LIMBS, conf);
    }
}

static void
check_calibration(const batch *whole, const batch *parts, int n_parts, int64_t C,
                  int has_ignore, int64_t ignore, int64_t n_bins)
{
    float bounds[MAX_BINS + 1];
    calibration_state want, got, split;
    long double numerator = 0.0L, reference_slack = 0.0L;
    int64_t kept = 0, i;
    double ece;
    int p;

    mushin_calibration_boundaries(n_bins, bounds);
    FUZZ_CHECK(bounds[0] == 0.0f && bounds[n_bins] == 1.0f);
    for (i = 0; i < n_bins; i++) FUZZ_CHECK(bounds[i] < bounds[i + 1]);

    reference_calibration(whole, C, has_ignore, ignore, bounds, n_bins, &want);
    memset(&got, 0, sizeof(got));
    FUZZ_CHECK(mushin_calibration_update(whole->rows, C, has_ignore, ignore, whole->probs,
                                         whole->labels, bounds, n_bins, got.count, got.fixed,
                                         got.correct) == MUSHIN_OK);
    FUZZ_CHECK(memcmp(&got, &want, sizeof(got)) == 0);

    memset(&split, 0, sizeof(split));
    for (p = 0; p < n_parts; p++) {
        FUZZ_CHECK(mushin_calibration_update(parts[p].rows, C, has_ignore, ignore,
                                             parts[p].probs, parts[p].labels, bounds, n_bins,
                                             split.count, split.fixed,
                                             split.correct) == MUSHIN_OK);
    }
    FUZZ_CHECK(memcmp(&split, &want, sizeof(split)) == 0);

    for (i = 0; i <= n_bins; i++) {
        const long double conf = ref_fixed_value(want.fixed + i * MUSHIN_FIXED_LIMBS);
        FUZZ_CHECK(conf <= (long double)want.count[i]);
        /* correctly rounded by the kernel; long double has 11 more bits */
        FUZZ_CHECK(fabsl((long double)mushin_fixed_to_double(want.fixed + i * MUSHIN_FIXED_LIMBS) -
                         conf) <= DBL_EPSILON * conf);
        numerator += fabsl((long double)want.correct[i] - conf);
        /* what the long double reference itself may be off by: conf is rounded
         * (LDBL_EPSILON relative), and correct - conf can cancel */
        reference_slack += 4 * LDBL_EPSILON * (conf + (long double)want.correct[i]);
        kept += want.count[i];
    }
    ece = mushin_calibration_error_l1(n_bins + 1, got.count, got.fixed, got.correct);
    if (kept == 0) {
        FUZZ_CHECK(isnan(ece));
        return;
    }
    FUZZ_CHECK(ece >= 0.0 && ece <= 1.0);
    /* the kernel rounds the exact numerator once; long double is close */
    FUZZ_CHECK(fabsl((long double)ece - numerator / (long double)kept) <=
               4 * DBL_EPSILON * (numerator / (long double)kept) + reference_slack / (long double)kept + 1e-300L);
}

/* AUROC of class c from every pair: ties count half. */
static double
reference_auroc(const batch *b, int has_ignore, int64_t ignore, int64_t c)
{
    int64_t r, s, pos = 0, neg = 0, twice = 0;
    for (r = 0; r < b->rows; r++) {
        const int64_t lr = fuzz_read_int(label_at(b, r), b->labels.type);
        if (has_ignore && lr == ignore) continue;
        if (lr != c) {
            neg++;
            continue;
        }
        pos++;
        for (s = 0; s < b->rows; s++) {
            const int64_t ls = fuzz_read_int(label_at(b, s), b->labels.type);
            double x, y;
            if ((has_ignore && ls == ignore) || ls == c) continue;
            x = fuzz_read_float(prob_at(b, r, c), b->probs.type);
            y = fuzz_read_float(prob_at(b, s, c), b->probs.type);
            twice += x > y ? 2 : x == y ? 1 : 0;
        }
    }
    if (pos == 0 || neg == 0) return 0.0;
    return (double)twice / (2.0 * (double)pos * (double)neg);
}

/* Append one checked batch the way the glue does: reserve, widen for
 * float64, append. */
static void
store_append(mushin_score_store *store, const batch *b, int has_ignore, int64_t ignore,
             int64_t kept)
{
    FUZZ_CHECK(mushin_score_store_reserve(store, kept) == MUSHIN_OK);
    if (b->probs.type == MUSHIN_FLOAT64) {
        FUZZ_CHECK(mushin_score_store_widen(store) == MUSHIN_OK);
    }
    FUZZ_CHECK(mushin_score_store_append(store, b->rows, has_ignore, ignore, b->probs,
                                         b->labels) == MUSHIN_OK);
}

static void
check_auroc(const batch *whole, const batch *parts, int n_parts, int64_t C, int has_ignore,
            int64_t ignore, int64_t kept, const int64_t *part_kept)
{
    mushin_score_store one, split, copy;
    double per[MAX_CLASSES], per_split[MAX_CLASSES], per_copy[MAX_CLASSES];
    double macro, macro_split, macro_copy, mean = 0.0;
    int64_t c;
    int p;

    mushin_score_store_init(&one, C);
    mushin_score_store_init(&split, C);
    mushin_score_store_init(&copy, C);
    store_append(&one, whole, has_ignore, ignore, kept);
    for (p = 0; p < n_parts; p++) {
        store_append(&split, &parts[p], has_ignore, ignore, part_kept[p]);
    }
    FUZZ_CHECK(one.rows == kept && split.rows == kept);
    FUZZ_CHECK(mushin_score_store_copy(&copy, &one) == MUSHIN_OK);
    FUZZ_CHECK(mushin_auroc(&one, per, &macro) == MUSHIN_OK);
    FUZZ_CHECK(mushin_auroc(&split, per_split, &macro_split) == MUSHIN_OK);
    FUZZ_CHECK(mushin_auroc(&copy, per_copy, &macro_copy) == MUSHIN_OK);
    if (kept == 0) {
        FUZZ_CHECK(isnan(macro));
    }
    else {
        for (c = 0; c < C; c++) {
            const double want = reference_auroc(whole, has_ignore, ignore, c);
            FUZZ_CHECK(per[c] >= 0.0 && per[c] <= 1.0);
            FUZZ_CHECK(fabs(per[c] - want) <= 2 * DBL_EPSILON * want);
            FUZZ_CHECK(per_split[c] == per[c] && per_copy[c] == per[c]);
            mean += per[c];
        }
        FUZZ_CHECK(fabs(macro - mean / (double)C) <= 4 * DBL_EPSILON);
        FUZZ_CHECK(macro_split == macro && macro_copy == macro);
    }
    mushin_score_store_clear(&one);
    mushin_score_store_clear(&split);
    mushin_score_store_clear(&copy);
}

/* A batch whose label check failed is refused whole by append. */
static void
check_refused_append(const batch *whole, int64_t C, int has_ignore, int64_t ignore)
{
    mushin_score_store store;
    mushin_score_store_init(&store, C);
    FUZZ_CHECK(mushin_score_store_reserve(&store, whole->rows) == MUSHIN_OK);
    if (whole->probs.type == MUSHIN_FLOAT64) {
        FUZZ_CHECK(mushin_score_store_widen(&store) == MUSHIN_OK);
    }
    FUZZ_CHECK(mushin_score_store_append(&store, whole->rows, has_ignore, ignore,
                                         whole->probs, whole->labels) == MUSHIN_EINVAL);
    FUZZ_CHECK(store.rows == 0);
    mushin_score_store_clear(&store);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    const uint8_t shape = fuzz_u8(&r), types = fuzz_u8(&r), layout = fuzz_u8(&r),
                  ign = fuzz_u8(&r), bins = fuzz_u8(&r), split = fuzz_u8(&r);
    const int64_t C = 1 + shape % MAX_CLASSES;
    const int64_t rows = (shape >> 4) == 15 ? fuzz_u16(&r) % (MAX_ROWS + 1) : (shape >> 4) * 3;
    const mushin_ftype ft = (mushin_ftype)(types % 4);
    const mushin_itype it = (mushin_itype)((types >> 2) % 7);
    const int has_ignore = ign >= 128;
    const int64_t ignore = (ign & 3) == 0 ? (ign >> 2) % C : (ign & 3) == 1 ? 255 : -1 - (ign & 4);
    const int64_t n_bins = 1 + bins % MAX_BINS;
    const int allow_bad = (types & 0xc0) == 0xc0;
    /* strides in items: row-major, column-major, padded, reversed, broadcast */
    const int64_t pad = 1 + (layout & 1);
    int64_t row_items = C * pad, class_items = pad, label_items = 1 + ((layout >> 1) & 1);
    int64_t order[MAX_ROWS], bounds[MAX_BATCHES + 1], part_kept[MAX_BATCHES], i, c;
    batch whole, parts[MAX_BATCHES];
    mushin_score_check check, want_check;
    int n_parts = 1 + split % MAX_BATCHES, p, status;

    switch ((layout >> 2) & 7) {
    case 1: row_items = 1; class_items = rows > 0 ? rows : 1; break; /* column-major */
    case 2: row_items = -row_items; break;
    case 3: class_items = -class_items; break;
    case 4: row_items = 0; break; /* every row the same */
    case 5: class_items = 0; break; /* every class the same: all ties */
    case 6: label_items = -label_items; break;
    default: break;
    }
    memset(parts, 0, sizeof(parts));
    if (!batch_alloc(&whole, rows, C, ft, it, row_items, class_items, label_items,
                     (layout >> 5) & 7)) {
        return 0;
    }
    for (i = 0; i < rows; i++) {
        const uint8_t b = fuzz_u8(&r);
        const int64_t label = b < 200 ? b % C : b < 230 ? ignore : b < 243 ? C : -1;
        fuzz_store_int(label_at(&whole, i), it, allow_bad || b < 230 ? label : b % C);
        for (c = 0; c < C; c++) {
            store_prob(prob_at(&whole, i, c), ft, &r, allow_bad);
        }
    }

    /* the batch check against a scan of the rows */
    memset(&want_check, 0, sizeof(want_check));
    for (i = 0; i < rows; i++) {
        const int64_t label = fuzz_read_int(label_at(&whole, i), it);
        if (has_ignore && label == ignore) continue;
        want_check.kept++;
        if (label < 0 || label >= C) {
            if (want_check.labels_bad++ == 0) {
                want_check.labels_first = label;
                want_check.labels_first_row = i;
            }
        }
        for (c = 0; c < C; c++) {
            const double v = fuzz_read_float(prob_at(&whole, i, c), ft);
            if (!(v >= 0.0 && v <= 1.0) && want_check.probs_bad++ == 0) {
                want_check.probs_first = v;
                want_check.probs_first_row = i;
                want_check.probs_first_class = c;
            }
        }
    }
    status = mushin_scores_check(rows, C, has_ignore, ignore, whole.probs, whole.labels, &check);
    FUZZ_CHECK(status == ((want_check.labels_bad || want_check.probs_bad) ? MUSHIN_EBADVALUE
                                                                           : MUSHIN_OK));
    FUZZ_CHECK(check.kept == want_check.kept && check.labels_bad == want_check.labels_bad &&
               check.probs_bad == want_check.probs_bad);
    if (check.labels_bad) {
        FUZZ_CHECK(check.labels_first == want_check.labels_first &&
                   check.labels_first_row == want_check.labels_first_row);
    }
    if (check.probs_bad) {
        FUZZ_CHECK(check.probs_first_row == want_check.probs_first_row &&
                   check.probs_first_class == want_check.probs_first_class &&
                   (check.probs_first == want_check.probs_first ||
                    (isnan(check.probs_first) && isnan(want_check.probs_first))));
    }
    if (status != MUSHIN_OK) {
        if (check.labels_bad && !check.probs_bad) {
            check_refused_append(&whole, C, has_ignore, ignore);
        }
        batch_free(&whole);
        return 0;
    }

    /* the same rows permuted (a fuzzed shuffle) and split into batches */
    for (i = 0; i < rows; i++) order[i] = i;
    for (i = rows - 1; i > 0; i--) {
        const int64_t j = fuzz_u16(&r) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    bounds[0] = 0;
    bounds[n_parts] = rows;
    for (p = 1; p < n_parts; p++) {
        const int64_t cut = rows > 0 ? fuzz_u16(&r) % (rows + 1) : 0;
        bounds[p] = cut < bounds[p - 1] ? bounds[p - 1] : cut;
    }
    for (p = 0; p < n_parts; p++) {
        int64_t k;
        if (!batch_copy_rows(&parts[p], &whole, C, order, bounds[p], bounds[p + 1] - bounds[p])) {
            goto done;
        }
        part_kept[p] = 0;
        for (k = 0; k < parts[p].rows; k++) {
            const int64_t label = fuzz_read_int(label_at(&parts[p], k), it);
            part_kept[p] += !(has_ignore && label == ignore);
        }
    }
    check_calibration(&whole, parts, n_parts, C, has_ignore, ignore, n_bins);
    check_auroc(&whole, parts, n_parts, C, has_ignore, ignore, check.kept, part_kept);

done:
    for (p = 0; p < n_parts; p++) batch_free(&parts[p]);
    batch_free(&whole);
    return 0;
}

/*
 * scores.c -- calibration bins (ECE) and kept scores (exact AUROC).
 *
 * The ECE state is O(n_bins): per confidence slot a row count, a confidence
 * sum and a correct-prediction sum, accumulated in double.  AUROC cannot be
 * streamed exactly, so every kept row's scores are stored (see scores.h for
 * the layout) and each class is ranked at the end by an LSD radix sort of
 * (score bits, is-positive) keys: probabilities are non-negative, so their
 * IEEE bit patterns already sort like the values, and equal scores end up
 * adjacent, which is all the tie rule needs.
 */
#include "scores.h"
#include "dtype_load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ loading -- */

/* element loaders: dtype_load.h */

/* Expand the body once per element type with LOAD bound to that type's loader,
 * so the per-element loops carry no type switch. */
#define DISPATCH_FTYPE(type, ...)                                                        \
    switch (type) {                                                                      \
    case MUSHIN_FLOAT16: { double (*LOAD)(const char *) = mushin_load_f16; __VA_ARGS__ } break;   \
    case MUSHIN_BFLOAT16: { double (*LOAD)(const char *) = mushin_load_bf16; __VA_ARGS__ } break; \
    case MUSHIN_FLOAT32: { double (*LOAD)(const char *) = mushin_load_f32; __VA_ARGS__ } break;   \
    case MUSHIN_FLOAT64: { double (*LOAD)(const char *) = mushin_load_f64; __VA_ARGS__ } break;   \
    }

static int
valid_ftype(mushin_ftype type)
{
    return type == MUSHIN_FLOAT16 || type == MUSHIN_BFLOAT16 ||
           type == MUSHIN_FLOAT32 || type == MUSHIN_FLOAT64;
}

/* -------------------------------------------------------------- check -- */

int
mushin_scores_check(int64_t rows, int64_t num_classes, int has_ignore,
                    int64_t ignore_index, mushin_prob_view probs,
                    mushin_label_view labels, mushin_score_check *check)
{
    int64_t r;
    if (check == NULL) {
        return MUSHIN_EINVAL;
    }
    memset(check, 0, sizeof(*check));
    if (rows < 0 || num_classes < 1 || !valid_ftype(probs.type)) {
        return MUSHIN_EINVAL;
    }
    for (r = 0; r < rows; r++) {
        const int64_t label = mushin_load_label(labels.data + r * labels.stride, labels.type);
        if (has_ignore && label == ignore_index) {
            continue;
        }
        check->kept++;
        if (label < 0 || label >= num_classes) {
            if (check->labels_bad == 0) {
                check->labels_first = label;
                check->labels_first_row = r;
            }
            check->labels_bad++;
        }
    }
    DISPATCH_FTYPE(probs.type, {
        for (r = 0; r < rows; r++) {
            const char *row = probs.data + r * probs.row_stride;
            int64_t c;
            if (has_ignore &&
                mushin_load_label(labels.data + r * labels.stride, labels.type) == ignore_index) {
                continue;
            }
            for (c = 0; c < num_classes; c++) {
                const double v = LOAD(row + c * probs.class_stride);
                if (!(v >= 0.0 && v <= 1.0)) { /* also catches NaN */
                    if (check->probs_bad == 0) {
                        check->probs_first = v;
                        check->probs_first_row = r;
                        check->probs_first_class = c;
                    }
                    check->probs_bad++;
                }
            }
        }
    })
    return (check->labels_bad || check->probs_bad) ? MUSHIN_EBADVALUE : MUSHIN_OK;
}

/* ---------------------------------------------------------------- ECE -- */

void
mushin_calibration_boundaries(int64_t n_bins, float *boundaries)
{
    int64_t i;
    for (i = 0; i <= n_bins; i++) {
        boundaries[i] = (float)((double)i / (double)n_bins);
    }
}

/* The slot torch.bucketize(confidence, boundaries, right=True) - 1 picks:
 * (number of boundaries <= confidence) - 1, found by binary search over
 * the n_bins + 1 rising boundaries (boundaries[0] == 0).  A confidence below
 * 0 or NaN (excluded by mushin_scores_check) falls in slot 0. */
static inline int64_t
calibration_slot(float confidence, const float *boundaries, int64_t n_bins)
{
    int64_t lo = 0, hi = n_bins + 1; /* first index with boundary > confidence in [lo, hi] */
    if (!(confidence >= 0.0f)) {
        return 0;
    }
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (boundaries[mid] <= confidence) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo > 0 ? lo - 1 : 0;
}

/* --------------------------------------------------- fixed-point sums -- */

int
mushin_fixed_add(uint64_t *dst, const uint64_t *src)
{
    uint64_t carry = 0;
    int i;
    for (i = 0; i < MUSHIN_FIXED_LIMBS; i++) {
        const uint64_t s = dst[i] + src[i];
        const uint64_t c1 = s < dst[i];
        dst[i] = s + carry;
        carry = c1 | (dst[i] < s);
    }
    return (int)carry;
}

/* dst -= src, for dst >= src. */
static void
fixed_sub(uint64_t *dst, const uint64_t *src)
{
    uint64_t borrow = 0;
    int i;
    for (i = 0; i < MUSHIN_FIXED_LIMBS; i++) {
        const uint64_t d = dst[i] - src[i];
        const uint64_t b1 = dst[i] < src[i];
        const uint64_t r = d - borrow;
        borrow = b1 | (d < borrow);
        dst[i] = r;
    }
}

int
mushin_fixed_cmp(const uint64_t *a, const uint64_t *b)
{
    int i;
    for (i = MUSHIN_FIXED_LIMBS - 1; i >= 0; i--) {
        if (a[i] != b[i]) {
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return 0;
}

/* limbs = value << shift, for value < 2^64 and shift + 64 <= 256. */
static void
fixed_shifted(uint64_t *limbs, uint64_t value, int shift)
{
    const int word = shift / 64, bit = shift % 64;
    memset(limbs, 0, MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
    limbs[word] = value << bit;
    if (bit != 0 && word + 1 < MUSHIN_FIXED_LIMBS) {
        limbs[word + 1] = value >> (64 - bit);
    }
}

void
mushin_fixed_add_float(uint64_t *limbs, float value)
{
    uint32_t bits;
    uint64_t add[MUSHIN_FIXED_LIMBS];
    uint32_t mantissa, exponent;
    memcpy(&bits, &value, sizeof bits);
    exponent = (bits >> 23) & 0xffu;
    mantissa = bits & 0x7fffffu;
    if (exponent != 0) {
        mantissa |= 0x800000u; /* the implicit leading 1 */
    }
    /* value = mantissa * 2^(max(exponent, 1) - 150) = mantissa << (max(exponent, 1) - 1)
     * units of 2^-149; a value in [0, 1] has exponent <= 127 */
    fixed_shifted(add, mantissa, exponent == 0 ? 0 : (int)exponent - 1);
    (void)mushin_fixed_add(limbs, add);
}

double
mushin_fixed_to_double(const uint64_t *limbs)
{
    int top = MUSHIN_FIXED_LIMBS - 1, lead, shift, i;
    uint64_t head, sticky = 0;
    while (top >= 0 && limbs[top] == 0) {
        top--;
    }
    if (top < 0) {
        return 0.0;
    }
    lead = 63;
    while (!((limbs[top] >> lead) & 1u)) {
        lead--;
    }
    /* the 64 bits from the leading one down; everything below folds into
     * the lowest bit ("round to odd"), so the one rounding of the uint64 to
     * double below is the correct rounding of the whole number */
    shift = top * 64 + lead - 63; /* value ~ head * 2^shift */
    if (shift <= 0) {
        return ldexp((double)limbs[0], -MUSHIN_FIXED_FRAC_BITS);
    }
    {
        const int word = shift / 64, bit = shift % 64;
        head = limbs[word] >> bit;
        if (bit != 0 && word + 1 < MUSHIN_FIXED_LIMBS) {
            head |= limbs[word + 1] << (64 - bit);
        }
        if (bit != 0) {
            sticky |= limbs[word] & ((UINT64_C(1) << bit) - 1u);
        }
        for (i = 0; i < word; i++) {
            sticky |= limbs[i];
        }
    }
    if (sticky) {
        head |= 1u;
    }
    return ldexp((double)head, shift - MUSHIN_FIXED_FRAC_BITS);
}

int
mushin_calibration_update(int64_t rows, int64_t num_classes, int has_ignore,
                          int64_t ignore_index, mushin_prob_view probs,
                          mushin_label_view labels, const float *boundaries,
                          int64_t n_bins, int64_t *count,
                          uint64_t *confidence_fixed, int64_t *correct)
{
    int64_t r;
    if (rows < 0 || num_classes < 1 || n_bins < 1 || boundaries == NULL ||
        count == NULL || confidence_fixed == NULL || correct == NULL ||
        !valid_ftype(probs.type)) {
        return MUSHIN_EINVAL;
    }
    DISPATCH_FTYPE(probs.type, {
        for (r = 0; r < rows; r++) {
            const char *row = probs.data + r * probs.row_stride;
            const int64_t label = mushin_load_label(labels.data + r * labels.stride, labels.type);
            double best;
            int64_t best_class = 0, c, slot;
            float confidence;
            if (has_ignore && label == ignore_index) {
                continue;
            }
            best = LOAD(row);
            for (c = 1; c < num_classes; c++) {
                const double v = LOAD(row + c * probs.class_stride);
                if (v > best) { /* strict: the first maximum wins, as in torch.max */
                    best = v;
                    best_class = c;
                }
            }
            confidence = (float)best;
            slot = calibration_slot(confidence, boundaries, n_bins);
            count[slot]++;
            mushin_fixed_add_float(confidence_fixed + slot * MUSHIN_FIXED_LIMBS, confidence);
            correct[slot] += best_class == label;
        }
    })
    return MUSHIN_OK;
}

double
mushin_calibration_error_l1(int64_t n_slots, const int64_t *count,
                            const uint64_t *confidence_fixed, const int64_t *correct)
{
    /* sum_b |acc_b / n_b - conf_b / n_b| * n_b / n = sum_b |acc_b - conf_b| / n,
     * with acc_b = correct_b << 149 units: every term and the sum are exact */
    uint64_t numerator[MUSHIN_FIXED_LIMBS] = {0};
    int64_t b, total = 0;
    for (b = 0; b < n_slots; b++) {
        uint64_t acc[MUSHIN_FIXED_LIMBS], diff[MUSHIN_FIXED_LIMBS];
        const uint64_t *conf = confidence_fixed + b * MUSHIN_FIXED_LIMBS;
        total += count[b];
        fixed_shifted(acc, (uint64_t)correct[b], MUSHIN_FIXED_FRAC_BITS);
        if (mushin_fixed_cmp(acc, conf) >= 0) {
            memcpy(diff, acc, sizeof diff);
            fixed_sub(diff, conf);
        }
        else {
            memcpy(diff, conf, sizeof diff);
            fixed_sub(diff, acc);
        }
        (void)mushin_fixed_add(numerator, diff);
    }
    return total ? mushin_fixed_to_double(numerator) / (double)total : NAN;
}

/* ---------------------------------------------------------- the store -- */

/* About 1 MiB of float32 scores per block. */
#define BLOCK_SCORES (1 << 18)
#define MIN_BLOCK_ROWS 64

static size_t
score_size(const mushin_score_store *s)
{
    return s->wide ? sizeof(double) : sizeof(float);
}

static size_t
block_bytes(const mushin_score_store *s, int wide)
{
    const size_t elem = wide ? sizeof(double) : sizeof(float);
    return (size_t)s->block_rows * ((size_t)s->num_classes * elem + sizeof(int32_t));
}

static int32_t *
block_labels(const mushin_score_store *s, char *block)
{
    return (int32_t *)(block + (size_t)s->num_classes * (size_t)s->block_rows * score_size(s));
}

/* Rows filled in block b. */
static int64_t
block_fill(const mushin_score_store *s, int64_t b)
{
    const int64_t left = s->rows - b * s->block_rows;
    return left <= 0 ? 0 : (left < s->block_rows ? left : s->block_rows);
}

void
mushin_score_store_init(mushin_score_store *store, int64_t num_classes)
{
    memset(store, 0, sizeof(*store));
    store->num_classes = num_classes;
    store->block_rows = BLOCK_SCORES / (num_classes > 0 ? num_classes : 1);
    if (store->block_rows < MIN_BLOCK_ROWS) {
        store->block_rows = MIN_BLOCK_ROWS;
    }
}

int
mushin_score_store_reserve(mushin_score_store *store, int64_t more)
{
    int64_t need, first_new, b;
    if (more < 0 || store->num_classes < 1) {
        return MUSHIN_EINVAL;
    }
    need = (store->rows + more + store->block_rows - 1) / store->block_rows;
    if (need <= store->n_blocks) {
        return MUSHIN_OK;
    }
    if (need > store->cap_blocks) {
        int64_t cap = store->cap_blocks * 2;
        char **grown;
        if (cap < need) {
            cap = need;
        }
        grown = (char **)realloc(store->blocks, (size_t)cap * sizeof(char *));
        if (grown == NULL) {
            return MUSHIN_ENOMEM;
        }
        store->blocks = grown;
        store->cap_blocks = cap;
    }
    first_new = store->n_blocks;
    for (b = first_new; b < need; b++) {
        store->blocks[b] = (char *)malloc(block_bytes(store, store->wide));
        if (store->blocks[b] == NULL) {
            while (b-- > first_new) {
                free(store->blocks[b]);
            }
            return MUSHIN_ENOMEM;
        }
    }
    store->n_blocks = need;
    return MUSHIN_OK;
}

int
mushin_score_store_widen(mushin_score_store *store)
{
    const int64_t C = store->num_classes, R = store->block_rows;
    char **wide_blocks;
    int64_t b;
    if (store->wide) {
        return MUSHIN_OK;
    }
    if (store->n_blocks == 0) {
        store->wide = 1;
        return MUSHIN_OK;
    }
    wide_blocks = (char **)calloc((size_t)store->n_blocks, sizeof(char *));
    if (wide_blocks == NULL) {
        return MUSHIN_ENOMEM;
    }
    for (b = 0; b < store->n_blocks; b++) {
        wide_blocks[b] = (char *)malloc(block_bytes(store, 1));
        if (wide_blocks[b] == NULL) {
            while (b-- > 0) {
                free(wide_blocks[b]);
            }
            free(wide_blocks);
            return MUSHIN_ENOMEM;
        }
    }
    for (b = 0; b < store->n_blocks; b++) {
        const int64_t fill = block_fill(store, b);
        const float *src = (const float *)store->blocks[b];
        double *dst = (double *)wide_blocks[b];
        int64_t c, i;
        for (c = 0; c < C; c++) {
            for (i = 0; i < fill; i++) {
                dst[c * R + i] = (double)src[c * R + i];
            }
        }
        memcpy(wide_blocks[b] + (size_t)C * (size_t)R * sizeof(double),
               block_labels(store, store->blocks[b]), (size_t)fill * sizeof(int32_t));
        free(store->blocks[b]);
        store->blocks[b] = wide_blocks[b];
    }
    free(wide_blocks);
    store->wide = 1;
    return MUSHIN_OK;
}

#define TILE_ROWS 64

int
mushin_score_store_append(mushin_score_store *store, int64_t rows,
                          int has_ignore, int64_t ignore_index,
                          mushin_prob_view probs, mushin_label_view labels)
{
    const int64_t C = store->num_classes, R = store->block_rows;
    int64_t kept = 0, r, out;
    int64_t tile_row[TILE_ROWS];
    int32_t tile_label[TILE_ROWS];

    if (rows < 0 || C < 1 || !valid_ftype(probs.type)) {
        return MUSHIN_EINVAL;
    }
    for (r = 0; r < rows; r++) {
        const int64_t label = mushin_load_label(labels.data + r * labels.stride, labels.type);
        if (has_ignore && label == ignore_index) {
            continue;
        }
        if (label < 0 || label >= C) {
            return MUSHIN_EINVAL; /* not checked first */
        }
        kept++;
    }
    if (kept == 0) {
        return MUSHIN_OK;
    }
    if (store->rows + kept > store->n_blocks * R ||
        (probs.type == MUSHIN_FLOAT64 && !store->wide)) {
        return MUSHIN_EINVAL; /* not reserved or widened first */
    }

    /* Transpose tiles of kept rows into the class-major blocks; a tile never
     * crosses a block boundary. */
    out = store->rows;
    r = 0;
    while (r < rows) {
        const int64_t room = R - out % R;
        const int64_t limit = room < TILE_ROWS ? room : TILE_ROWS;
        char *block;
        int64_t m = 0, offset, c, j;
        while (r < rows && m < limit) {
            const int64_t label = mushin_load_label(labels.data + r * labels.stride, labels.type);
            if (!(has_ignore && label == ignore_index)) {
                tile_row[m] = r;
                tile_label[m] = (int32_t)label;
                m++;
            }
            r++;
        }
        if (m == 0) {
            break;
        }
        block = store->blocks[out / R];
        offset = out % R;
        memcpy(block_labels(store, block) + offset, tile_label, (size_t)m * sizeof(int32_t));
        DISPATCH_FTYPE(probs.type, {
            for (c = 0; c < C; c++) {
                const char *col = probs.data + c * probs.class_stride;
                if (store->wide) {
                    double *dst = (double *)block + c * R + offset;
                    for (j = 0; j < m; j++) {
                        dst[j] = LOAD(col + tile_row[j] * probs.row_stride);
                    }
                }
                else {
                    float *dst = (float *)block + c * R + offset;
                    for (j = 0; j < m; j++) {
                        dst[j] = (float)LOAD(col + tile_row[j] * probs.row_stride);
                    }
                }
            }
        })
        out += m;
    }
    store->rows = out;
    return MUSHIN_OK;
}

void
mushin_score_store_export(const mushin_score_store *store, void *scores, int32_t *labels)
{
    const int64_t C = store->num_classes, R = store->block_rows;
    int64_t r, c;
    for (r = 0; r < store->rows; r++) {
        char *block = store->blocks[r / R];
        const int64_t offset = r % R;
        labels[r] = block_labels(store, block)[offset];
        for (c = 0; c < C; c++) {
            if (store->wide) {
                ((double *)scores)[r * C + c] = ((const double *)block)[c * R + offset];
            }
            else {
                ((float *)scores)[r * C + c] = ((const float *)block)[c * R + offset];
            }
        }
    }
}

int
mushin_score_store_copy(mushin_score_store *dst, const mushin_score_store *src)
{
    int64_t b, used;
    int status;
    mushin_score_store_init(dst, src->num_classes);
    dst->wide = src->wide;
    status = mushin_score_store_reserve(dst, src->rows);
    if (status != MUSHIN_OK) {
        mushin_score_store_clear(dst);
        return status;
    }
    used = (src->rows + src->block_rows - 1) / src->block_rows;
    for (b = 0; b < used; b++) {
        memcpy(dst->blocks[b], src->blocks[b], block_bytes(src, src->wide));
    }
    dst->rows = src->rows;
    return MUSHIN_OK;
}

void
mushin_score_store_clear(mushin_score_store *store)
{
    int64_t b;
    for (b = 0; b < store->n_blocks; b++) {
        free(store->blocks[b]);
    }
    free(store->blocks);
    store->blocks = NULL;
    store->n_blocks = 0;
    store->cap_blocks = 0;
    store->rows = 0;
    store->wide = 0;
}

int64_t
mushin_score_store_nbytes(const mushin_score_store *store)
{
    return store->n_blocks * (int64_t)block_bytes(store, store->wide);
}

/* -------------------------------------------------------------- AUROC -- */

#define RADIX_BITS 11
#define RADIX_SIZE (1 << RADIX_BITS)
#define RADIX_MASK (RADIX_SIZE - 1)

/*
 * LSD radix sort of n keys whose set bits all lie below `key_bits`; `tmp`
 * holds n more.  `hist` is scratch for ceil(key_bits / 11) * 2048 counts.
 * Returns whichever of keys/tmp holds the sorted result.  Passes whose digit
 * is the same for every key are skipped (probabilities share most exponent
 * bits).
 */
#define DEFINE_RADIX_SORT(NAME, KEY)                                          \
    static KEY *NAME(KEY *keys, KEY *tmp, int64_t n, int key_bits,            \
                     int64_t *hist)                                           \
    {                                                                         \
        const int passes = (key_bits + RADIX_BITS - 1) / RADIX_BITS;          \
        KEY *src = keys, *dst = tmp;                                          \
        int64_t i;                                                            \
        int p;                                                                \
        memset(hist, 0, (size_t)passes * RADIX_SIZE * sizeof(int64_t));      \
        for (i = 0; i < n; i++) {                                             \
            const KEY k = keys[i];                                            \
            for (p = 0; p < passes; p++) {                                    \
                hist[p * RADIX_SIZE + ((k >> (p * RADIX_BITS)) & RADIX_MASK)]++; \
            }                                                                 \
        }                                                                     \
        for (p = 0; p < passes && n > 0; p++) {                               \
            int64_t *h = hist + p * RADIX_SIZE, sum = 0;                      \
            const int shift = p * RADIX_BITS;                                 \
            int d;                                                            \
            KEY *swap;                                                        \
            if (h[(src[0] >> shift) & RADIX_MASK] == n) {                     \
                continue;                                                     \
            }                                                                 \
            for (d = 0; d < RADIX_SIZE; d++) {                                \
                const int64_t c = h[d];                                       \
                h[d] = sum;                                                   \
                sum += c;                                                     \
            }                                                                 \
            for (i = 0; i < n; i++) {                                         \
                dst[h[(src[i] >> shift) & RADIX_MASK]++] = src[i];            \
            }                                                                 \
            swap = src;                                                       \
            src = dst;                                                        \
            dst = swap;                                                       \
        }                                                                     \
        return src;                                                           \
    }

DEFINE_RADIX_SORT(radix_sort_u32, uint32_t)
DEFINE_RADIX_SORT(radix_sort_u64, uint64_t)

/* Twice the Mann-Whitney U of the positives over sorted (score, positive)
 * keys: each positive counts the negatives below it, plus half of the
 * negatives tied with it. */
#define DEFINE_TWICE_U(NAME, KEY)                                             \
    static uint64_t NAME(const KEY *sorted, int64_t n)                        \
    {                                                                         \
        uint64_t twice_u = 0, neg_below = 0;                                  \
        int64_t i = 0;                                                        \
        while (i < n) {                                                       \
            const KEY score = sorted[i] >> 1;                                 \
            uint64_t pos = 0, neg = 0;                                        \
            while (i < n && (sorted[i] >> 1) == score) {                      \
                if (sorted[i] & 1) {                                          \
                    pos++;                                                    \
                }                                                             \
                else {                                                        \
                    neg++;                                                    \
                }                                                             \
                i++;                                                          \
            }                                                                 \
            twice_u += pos * (2 * neg_below + neg);                           \
            neg_below += neg;                                                 \
        }                                                                     \
        return twice_u;                                                       \
    }

DEFINE_TWICE_U(twice_u_u32, uint32_t)
DEFINE_TWICE_U(twice_u_u64, uint64_t)

int
mushin_auroc(const mushin_score_store *store, double *per_class, double *macro)
{
    const int64_t C = store->num_classes, R = store->block_rows, n = store->rows;
    const size_t key_size = store->wide ? sizeof(uint64_t) : sizeof(uint32_t);
    const int key_bits = store->wide ? 64 : 32;
    int64_t *positives = NULL, *hist = NULL;
    void *keys = NULL, *tmp = NULL;
    int64_t b, c, i;
    double sum = 0.0;
    int status = MUSHIN_OK;

    if (C < 1 || per_class == NULL || macro == NULL) {
        return MUSHIN_EINVAL;
    }
    if (n == 0) {
        for (c = 0; c < C; c++) {
            per_class[c] = NAN;
        }
        *macro = NAN;
        return MUSHIN_OK;
    }
    positives = (int64_t *)calloc((size_t)C, sizeof(int64_t));
    hist = (int64_t *)malloc((size_t)((key_bits + RADIX_BITS - 1) / RADIX_BITS) *
                             RADIX_SIZE * sizeof(int64_t));
    keys = malloc((size_t)n * key_size);
    tmp = malloc((size_t)n * key_size);
    if (positives == NULL || hist == NULL || keys == NULL || tmp == NULL) {
        status = MUSHIN_ENOMEM;
        goto done;
    }
    for (b = 0; b < store->n_blocks; b++) {
        const int32_t *labels = block_labels(store, store->blocks[b]);
        const int64_t fill = block_fill(store, b);
        for (i = 0; i < fill; i++) {
            positives[labels[i]]++;
        }
    }
    for (c = 0; c < C; c++) {
        const int64_t pos = positives[c], neg = n - pos;
        uint64_t twice_u;
        int64_t k = 0;
        if (pos == 0 || neg == 0) {
            /* torchmetrics' ROC is flat (tpr or fpr all zero): area 0 */
            per_class[c] = 0.0;
            continue;
        }
        for (b = 0; b < store->n_blocks; b++) {
            const char *block = store->blocks[b];
            const int32_t *labels = block_labels(store, store->blocks[b]);
            const int64_t fill = block_fill(store, b);
            if (store->wide) {
                const uint64_t *bits = (const uint64_t *)block + c * R;
                uint64_t *out = (uint64_t *)keys + k;
                for (i = 0; i < fill; i++) {
                    /* -0.0 ranks with +0.0: drop the sign bit (scores are >= 0) */
                    const uint64_t v = bits[i] & ~((uint64_t)1 << 63);
                    out[i] = (v << 1) | (uint64_t)(labels[i] == c);
                }
            }
            else {
                const uint32_t *bits = (const uint32_t *)block + c * R;
                uint32_t *out = (uint32_t *)keys + k;
                for (i = 0; i < fill; i++) {
                    const uint32_t v = bits[i] & ~((uint32_t)1 << 31);
                    out[i] = (v << 1) | (uint32_t)(labels[i] == c);
                }
            }
            k += fill;
        }
        if (store->wide) {
            twice_u = twice_u_u64(
                radix_sort_u64((uint64_t *)keys, (uint64_t *)tmp, n, key_bits, hist), n);
        }
        else {
            twice_u = twice_u_u32(
                radix_sort_u32((uint32_t *)keys, (uint32_t *)tmp, n, key_bits, hist), n);
        }
        per_class[c] = (double)twice_u / (2.0 * (double)pos * (double)neg);
    }
    for (c = 0; c < C; c++) {
        sum += per_class[c];
    }
    *macro = sum / (double)C;
done:
    free(positives);
    free(hist);
    free(keys);
    free(tmp);
    return status;
}

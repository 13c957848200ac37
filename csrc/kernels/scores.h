/*
 * scores.h -- plain-C kernels for the probability metrics of classification:
 * the expected calibration error (ECE) over fixed confidence bins, and the
 * exact one-vs-rest AUROC from kept scores.
 *
 * Like the rest of csrc/ this includes no Python header: inputs are raw
 * memory described by pointers and byte strides, failures are the status
 * codes of mushin_kernels.h, and a kernel that fails leaves its state as it
 * was.  csrc/glue/calibration_state.c and roc_state.c validate arguments with the GIL
 * held and call these routines with the GIL released.
 *
 * Semantics follow torchmetrics 1.9 (MulticlassCalibrationError with
 * norm="l1", MulticlassAUROC with average="macro", thresholds=None):
 *
 *  - Rows whose label equals ignore_index are dropped before anything else.
 *  - ECE: the confidence of a row is its largest probability rounded to
 *    float32, its prediction the first class holding that maximum.  Given
 *    n_bins + 1 float32 boundaries rising from 0 to 1 (torchmetrics uses
 *    torch.linspace(0, 1, n_bins + 1)), a row goes to slot (number of
 *    boundaries <= confidence) - 1, as torch.bucketize(right=True) - 1 does;
 *    a confidence of exactly 1 lands in an extra slot n_bins, so there are
 *    n_bins + 1 slots.
 *    ECE = sum over slots |correct rows - confidence sum| / rows, with the
 *    confidence sums kept exactly in fixed point (see below).
 *  - AUROC of class c: the trapezoid over the exact ROC curve of scores[:, c]
 *    against (label == c), i.e. the Mann-Whitney statistic with ties counted
 *    half.  A class without positives or without negatives scores 0 (its ROC
 *    curve is flat in torchmetrics), and the macro average is the plain mean
 *    over every class.
 */
#ifndef MUSHIN_SCORES_H
#define MUSHIN_SCORES_H

#include "mushin_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The probability kernels read the floating-point element types of
 * mushin_ftype (mushin_kernels.h). */

/* A (rows, classes) strided matrix of probabilities; `data` includes any
 * byte offset, strides are in bytes and may be zero or negative. */
typedef struct {
    const char *data;
    mushin_ftype type;
    int64_t row_stride;
    int64_t class_stride;
} mushin_prob_view;

/* A strided vector of integer labels. */
typedef struct {
    const char *data;
    mushin_itype type;
    int64_t stride; /* bytes */
} mushin_label_view;

/* What mushin_scores_check found. */
typedef struct {
    int64_t kept;              /* rows whose label is not ignore_index */
    int64_t labels_bad;        /* labels outside [0, C) that are not ignored */
    int64_t labels_first;      /* the first such label ... */
    int64_t labels_first_row;  /* ... and its row */
    int64_t probs_bad;         /* NaN or values outside [0, 1] in kept rows */
    double probs_first;        /* the first such value ... */
    int64_t probs_first_row;   /* ... its row ... */
    int64_t probs_first_class; /* ... and its class */
} mushin_score_check;

/*
 * Check one batch of `rows` samples: every label must lie in [0, C) or equal
 * ignore_index (when has_ignore), and every probability of a kept row must
 * lie in [0, 1] (NaN is bad).  Returns MUSHIN_OK or MUSHIN_EBADVALUE and
 * fills `check`; never writes anything else.
 */
int mushin_scores_check(int64_t rows, int64_t num_classes, int has_ignore,
                        int64_t ignore_index, mushin_prob_view probs,
                        mushin_label_view labels, mushin_score_check *check);

/* ------------------------------------------------------------- ECE ---- */

/*
 * n_bins equal-width bins: boundary i is i / n_bins rounded to float32.
 * torch.linspace(0, 1, n_bins + 1) may differ from this by one ulp at some
 * boundaries (its vectorised CPU path counts down from 1 in parts, depending
 * on the vector width), so callers that must bin exactly like torch pass
 * torch's own boundaries instead.
 */
void mushin_calibration_boundaries(int64_t n_bins, float *boundaries);

/*
 * Exact confidence sums.  A confidence is a float32 in [0, 1], i.e. an
 * integer multiple of 2^-149 (the smallest float32 subnormal) below 2^149
 * units, so a slot's sum over up to 2^63 rows is an integer below 2^212 in
 * those units: four 64-bit limbs, least significant first.  Integer sums do
 * not depend on the order of the rows, so the state -- and the ECE computed
 * from it -- is bit-identical for any batch split, thread count, rank count
 * or instruction set.
 */
#define MUSHIN_FIXED_LIMBS 4
#define MUSHIN_FIXED_FRAC_BITS 149

/* dst += src (both MUSHIN_FIXED_LIMBS limbs); returns 1 on a carry out of
 * the top limb (dst then holds the sum modulo 2^256), else 0. */
int mushin_fixed_add(uint64_t *dst, const uint64_t *src);

/* Compare two fixed values: -1, 0 or 1. */
int mushin_fixed_cmp(const uint64_t *a, const uint64_t *b);

/* The value of a fixed number (units of 2^-149), correctly rounded to the
 * nearest double (ties to even). */
double mushin_fixed_to_double(const uint64_t *limbs);

/* Add a float32 confidence in [0, 1] (not NaN) to a fixed sum. */
void mushin_fixed_add_float(uint64_t *limbs, float value);

/*
 * Add one checked batch to the n_bins + 1 slots of `count`,
 * `confidence_fixed` (MUSHIN_FIXED_LIMBS limbs per slot) and `correct`
 * (rows whose top-1 prediction equals the label).  The batch must have
 * passed mushin_scores_check; MUSHIN_EINVAL (nothing written) for bad
 * arguments.
 */
int mushin_calibration_update(int64_t rows, int64_t num_classes,
                              int has_ignore, int64_t ignore_index,
                              mushin_prob_view probs, mushin_label_view labels,
                              const float *boundaries, int64_t n_bins,
                              int64_t *count, uint64_t *confidence_fixed,
                              int64_t *correct);

/*
 * L1 calibration error of the slots: sum over slots |correct - confidence
 * sum| / rows, with the numerator summed exactly and rounded once; NaN
 * when every slot is empty.  Slots must be consistent (count >= 0, correct
 * in [0, count], confidence sum at most count), which update and the
 * glue's merge() guarantee.
 */
double mushin_calibration_error_l1(int64_t n_slots, const int64_t *count,
                                   const uint64_t *confidence_fixed,
                                   const int64_t *correct);

/* ----------------------------------------------------------- AUROC ---- */

/*
 * Every kept row's scores and label, class-major in fixed-size blocks so a
 * class's scores are read sequentially and growth never copies what is
 * already stored.  Scores are kept as float32 until a float64 batch arrives;
 * the store is then widened once to float64 (an exact conversion).
 * Memory: rows * (C * 4 + 4) bytes (8 per score once widened), plus at most
 * one partly filled block.
 */
typedef struct {
    int64_t num_classes;
    int64_t rows;        /* rows stored */
    int64_t block_rows;  /* rows per block */
    int64_t n_blocks;    /* blocks allocated */
    int64_t cap_blocks;  /* slots in `blocks` */
    int wide;            /* 0: float32 scores, 1: float64 */
    char **blocks;       /* [C][block_rows] scores, then [block_rows] int32 labels */
} mushin_score_store;

/* An empty store; allocates nothing. */
void mushin_score_store_init(mushin_score_store *store, int64_t num_classes);

/* Make room for `more` rows (all or nothing: MUSHIN_ENOMEM leaves the store
 * as it was). */
int mushin_score_store_reserve(mushin_score_store *store, int64_t more);

/* Switch to float64 scores, converting what is stored (all or nothing). */
int mushin_score_store_widen(mushin_score_store *store);

/*
 * Append the kept rows (label != ignore_index) of one checked batch.  The
 * caller has reserved room for them and widened the store for float64
 * input; otherwise, or for a label outside [0, C), MUSHIN_EINVAL is returned
 * before anything is written.
 */
int mushin_score_store_append(mushin_score_store *store, int64_t rows,
                              int has_ignore, int64_t ignore_index,
                              mushin_prob_view probs, mushin_label_view labels);

/* Deep copy of `src` into an initialised, empty `dst` (all or nothing). */
int mushin_score_store_copy(mushin_score_store *dst,
                            const mushin_score_store *src);

/* Copy the stored rows out, in the order they were kept: `scores` gets
 * rows x C values row-major, float32 or (when the store is wide) float64;
 * `labels` gets the rows' int32 labels.  Reads only. */
void mushin_score_store_export(const mushin_score_store *store, void *scores,
                               int32_t *labels);

/* Forget every row and free the blocks. */
void mushin_score_store_clear(mushin_score_store *store);

/* Bytes held by the blocks. */
int64_t mushin_score_store_nbytes(const mushin_score_store *store);

/*
 * Exact one-vs-rest AUROC of every class into per_class[C] and their mean
 * into *macro.  With no rows both are NaN.  Needs rows * 2 keys of scratch
 * (4 bytes each, 8 when wide); MUSHIN_ENOMEM if it cannot be had.
 */
int mushin_auroc(const mushin_score_store *store, double *per_class,
                 double *macro);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_SCORES_H */

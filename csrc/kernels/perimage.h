/*
 * perimage.h -- per-image, per-class true positives, false positives and
 * false negatives of a segmentation batch, and the two-level (seeds x
 * images) bootstrap that recomputes dataset-level metrics from them.
 *
 * Plain C: no Python header, inputs are raw memory with byte strides,
 * failures are the status codes of mushin_kernels.h.  The glue
 * (csrc/glue/perimage_state.c) validates arguments with the GIL held and
 * calls these with the GIL released.
 *
 * Counts are laid out [image][class][3] with the three entries
 * MUSHIN_PI_TP, MUSHIN_PI_FP, MUSHIN_PI_FN.  Summed over images they give
 * the diagonal (TP), column sums minus diagonal (FP) and row sums minus
 * diagonal (FN) of the confusion matrix mushin_confusion_count builds from
 * the same batch, under the same ignore_index and bad-value rules.
 */
#ifndef MUSHIN_PERIMAGE_H
#define MUSHIN_PERIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mushin_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MUSHIN_PI_TP = 0, MUSHIN_PI_FP = 1, MUSHIN_PI_FN = 2 };

/*
 * Count one batch: dimension 0 of `shape` (ndim >= 1) indexes images, the
 * others are pixels.  `out` holds shape[0] x num_classes x 3 int64 counts
 * and is overwritten (zeroed first).  Same rules as mushin_confusion_count:
 * positions whose target is ignore_index are skipped; any other value outside
 * [0, num_classes) gives MUSHIN_EBADVALUE with `bad` filled exactly as
 * mushin_confusion_validate fills it (and `out` unspecified).  Returns
 * MUSHIN_OK, MUSHIN_EBADVALUE, MUSHIN_EINVAL or MUSHIN_ENOMEM.
 */
int mushin_perimage_count(int64_t *out, int64_t num_classes, int has_ignore,
                          int64_t ignore_index, int ndim, const int64_t *shape,
                          mushin_index_view preds, mushin_index_view target,
                          mushin_bad_values *bad);

/*
 * The fused path: per-image counts of the argmax of `logits` over
 * `class_dim` (as mushin_confusion_count_logits takes it: first maximum
 * wins, NaN largest), with dimension 0 indexing images (so class_dim >= 1;
 * `target` has the logits' shape without class_dim).  `out` (shape[0] x
 * num_classes x 3) is overwritten; `batch_counts` (num_classes^2, zeroed by
 * the caller) receives the batch's confusion matrix, so that one pass over
 * the logits serves both.  num_classes at most MUSHIN_PI_MAX_FUSED_CLASSES
 * (a per-image matrix is kept).  Bad targets as mushin_confusion_validate_target
 * reports them for the whole batch.
 */
#define MUSHIN_PI_MAX_FUSED_CLASSES 4096
int mushin_perimage_count_logits(int64_t *out, int64_t *batch_counts,
                                 int64_t num_classes, int has_ignore,
                                 int64_t ignore_index, int ndim,
                                 const int64_t *shape, int class_dim,
                                 mushin_float_view logits,
                                 mushin_index_view target,
                                 mushin_bad_values *bad);

/* Dataset-level metrics the bootstrap recomputes from summed counts. */
typedef enum {
    MUSHIN_METRIC_MIOU = 0,   /* MulticlassJaccardIndex(average="macro") */
    MUSHIN_METRIC_DICE,       /* MulticlassF1Score(average="macro") */
    MUSHIN_METRIC_PIXEL_ACC,  /* MulticlassAccuracy(average="micro") */
    MUSHIN_METRIC_PRECISION,  /* MulticlassPrecision(average="macro") */
    MUSHIN_METRIC_RECALL      /* MulticlassRecall(average="macro") */
} mushin_count_metric;

/*
 * One metric of each of `rows` count tables [class][3] (tp, fp, fn, stride 3
 * between classes, as laid out above) into out[row], with torchmetrics'
 * conventions: a class with tp + fp + fn == 0 is left out of a macro mean;
 * for the Jaccard index so is `excluded_class` (an ignore_index that is a
 * class; -1 for none), and no class left gives NaN; the other macro means
 * and pixel accuracy give 0 when nothing was counted.  Every sum is taken
 * in the order of the NumPy formula (the class scores, 0 for a class left
 * out, pairwise as numpy.sum adds them); the bootstrap uses the same rules.
 * MUSHIN_OK; MUSHIN_EBADVALUE if a count is negative, NaN or infinite;
 * MUSHIN_EINVAL (metric, num_classes < 1, rows < 0); MUSHIN_ENOMEM.
 */
int mushin_count_metric_rows(const double *counts, int64_t rows, int64_t num_classes,
                             mushin_count_metric metric, int64_t excluded_class,
                             double *out);

/*
 * The indices resample `resample` of generator `seed` draws (stream
 * `resample` of csrc/kernels/rng_internal.h), in the order the bootstrap
 * draws them: first, if resample_images, num_images image indices in
 * [0, num_images) into `images`; then, if resample_seeds, for each method m
 * in order seeds_per_method[m] seed indices in [0, seeds_per_method[m])
 * into `seeds` (method after method).
 */
void mushin_bootstrap_draw(uint64_t seed, uint64_t resample,
                           int64_t num_images, int64_t num_methods,
                           const int64_t *seeds_per_method,
                           int resample_images, int resample_seeds,
                           int64_t *images, int64_t *seeds);

/*
 * The two-level bootstrap.  `counts` holds num_models x num_images x
 * num_classes x 3 counts (int64, none negative), the models of method 0
 * first (seeds_per_method[0] of them), then method 1, ...  For resample b
 * (b = 0 .. num_resamples - 1) with the indices of mushin_bootstrap_draw:
 * every model's counts are summed over the drawn images (each image as
 * often as it was drawn; all of them once without resample_images), the
 * metric is computed from each model's sums, and out[b * num_methods + m]
 * is the mean of that metric over the drawn seeds of method m (all of its
 * seeds once without resample_seeds), added in draw order.
 *
 * Resamples are split over up to num_threads threads; each resample uses
 * its own stream, so `out` does not depend on num_threads.  Returns
 * MUSHIN_OK, MUSHIN_EINVAL (bad sizes, a negative count),
 * MUSHIN_EOVERFLOW (a weighted sum past int64) or MUSHIN_ENOMEM.
 */
int mushin_bootstrap_counts(const int64_t *counts, int64_t num_methods,
                            const int64_t *seeds_per_method,
                            int64_t num_images, int64_t num_classes,
                            mushin_count_metric metric, int64_t excluded_class,
                            int resample_images, int resample_seeds,
                            uint64_t seed, int64_t num_resamples,
                            int num_threads, double *out);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_PERIMAGE_H */

/*
 * argmax_internal.h -- the argmax over the class dimension of one block of
 * float logits (argmax.c), which the fused counting path (logits.c) runs
 * block by block.  torch.argmax's rule: the first maximum wins ties, NaN
 * counts as the largest value and the first NaN wins.
 */
#ifndef MUSHIN_ARGMAX_INTERNAL_H
#define MUSHIN_ARGMAX_INTERNAL_H

#include "confusion_internal.h"

#include <stddef.h>

/* Bytes per element of a float type. */
static inline size_t
mushin_float_itemsize(mushin_ftype type)
{
    switch (type) {
    case MUSHIN_FLOAT16: case MUSHIN_BFLOAT16: return 2;
    case MUSHIN_FLOAT32: return 4;
    case MUSHIN_FLOAT64: return 8;
    }
    return 0;
}

/* Rows of one block, gathered and converted (12 KiB: fits any thread's stack). */
typedef struct {
    float best32[MUSHIN_BLOCK];
    float row32[MUSHIN_BLOCK];
    double best64[MUSHIN_BLOCK];
    double row64[MUSHIN_BLOCK];
} mushin_argmax_scratch;

/* Classes outer: pixel i of class c is at base + i * ps + c * cs; the
 * class of each of the n pixels into index[i]. */
void mushin_argmax_classes_outer(const char *base, int64_t ps, int64_t cs, mushin_ftype type,
                                 int64_t num_classes, int64_t n, int32_t *index,
                                 mushin_argmax_scratch *s);

/* Classes inner: each pixel's classes are contiguous (cs == itemsize). */
void mushin_argmax_classes_inner(const char *base, int64_t ps, mushin_ftype type,
                                 int64_t num_classes, int64_t n, int32_t *index);

#endif /* MUSHIN_ARGMAX_INTERNAL_H */

/*
 * perimage_internal.h -- what perimage.c (counting) and bootstrap.c (the
 * metrics of the counts and the bootstrap over them) share: how their hot
 * loops are compiled for each instruction-set level.
 */
#ifndef MUSHIN_PERIMAGE_INTERNAL_H
#define MUSHIN_PERIMAGE_INTERNAL_H

#include "portable_internal.h"

/* The hot loops are compiled for baseline x86-64, AVX2 and AVX-512 and
 * picked by mushin_isa_level() (0, 1, 2), so the default build runs
 * anywhere; counts are integers, so every level gives the same bits. */
#if defined(MUSHIN_GNUC) && defined(MUSHIN_X86_64)
#define PI_DISPATCH 1
#define PI_BODY MUSHIN_ALWAYS_INLINE
#define PI_TARGET_AVX2 MUSHIN_TARGET_AVX2
#define PI_TARGET_AVX512 MUSHIN_TARGET_AVX512
#else
#define PI_BODY static inline
#endif

#endif /* MUSHIN_PERIMAGE_INTERNAL_H */

/*
 * ctest.h -- the check counter shared by the C-only tests in csrc/tests/.
 *
 * CHECK counts a passed or failed condition and prints the failed ones; a
 * test's main ends with `return ctest_summary();`, which prints "N passed,
 * M failed" (the line `make portability` shows) and is non-zero on any
 * failure.  ctest_isa_cap reads the MUSHIN_ISA level a test run is capped
 * at, and ctest_each_isa runs a set of tests at every level below it.
 */
#ifndef MUSHIN_CTEST_H
#define MUSHIN_CTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"

static int passed, failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        }                                                                  \
        else {                                                             \
            failed++;                                                      \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                  \
    } while (0)

/* Print "N passed, M failed"; the test's exit status (1 on any failure). */
static inline int
ctest_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* MUSHIN_ISA=baseline|avx2|avx512 caps the levels tested, as it caps the
 * Python module, so `make ckernels` can run once per level: the level for
 * mushin_set_isa_cap (0, 1, 2; unset or empty: 2).  Any other value stops
 * the test with exit status 2. */
static inline int
ctest_isa_cap(void)
{
    const char *value = getenv("MUSHIN_ISA");
    if (value == NULL || value[0] == '\0' || strcmp(value, "avx512") == 0) return 2;
    if (strcmp(value, "avx2") == 0) return 1;
    if (strcmp(value, "baseline") == 0) return 0;
    fprintf(stderr, "MUSHIN_ISA=%s is not baseline, avx2 or avx512\n", value);
    exit(2);
}

/* Run tests() once at every instruction-set level from `top` down that
 * this CPU has (each must count the same), then restore `top`. */
static inline void
ctest_each_isa(int top, void (*tests)(void))
{
    int cap;
    for (cap = top; cap >= 0; cap--) {
        if (mushin_set_isa_cap(cap) == cap) {
            tests();
        }
    }
    mushin_set_isa_cap(top);
}

#endif /* MUSHIN_CTEST_H */

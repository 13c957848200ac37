/*
 * ctest.h -- the check counter shared by the C-only tests in csrc/tests/.
 *
 * CHECK counts a passed or failed condition and prints the failed ones; a
 * test's main prints "N passed, M failed" and returns non-zero on any
 * failure.
 */
#ifndef MUSHIN_CTEST_H
#define MUSHIN_CTEST_H

#include <stdio.h>

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

#endif /* MUSHIN_CTEST_H */

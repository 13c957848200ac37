/*
 * test_retrieval.c -- C-only tests of csrc/kernels/retrieval.c, every entry
 * point, no Python.  Build and run (from the repository root):
 *
 *   cc -O2 -Wall -Wextra -std=c11 -Icsrc csrc/tests/test_retrieval.c \
 *      csrc/kernels/retrieval.c -lm -o csrc/tests/test_retrieval && \
 *   ./csrc/tests/test_retrieval
 *
 * Prints one line per failure and closes with "N passed, M failed"; exits
 * non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/retrieval.h"

#include "ctest.h"

static mushin_rt_view
view(const void *data, int type, int64_t stride)
{
    mushin_rt_view v = {(const char *)data, type, stride};
    return v;
}

static int
append(mushin_retrieval_groups *g, int64_t n, const double *p, const double *t,
       const int64_t *q, mushin_retrieval_bad *bad)
{
    return mushin_retrieval_append(g, n, view(q, MUSHIN_RT_INT64, 8),
                                   view(p, MUSHIN_RT_FLOAT64, 8),
                                   view(t, MUSHIN_RT_FLOAT64, 8), bad);
}

static int
near(double a, double b)
{
    return fabs(a - b) <= 1e-15;
}

static void
test_known_values(void)
{
    /* query 0: scores .5 (rel) .2; query 1: .9 .1 (rel) */
    const double p[4] = {0.5, 0.2, 0.9, 0.1}, t[4] = {1, 0, 0, 1};
    const int64_t q[4] = {0, 0, 1, 1};
    mushin_retrieval_groups g;
    mushin_retrieval_metrics m;
    mushin_retrieval_bad bad;
    mushin_retrieval_init(&g, 0);
    CHECK(mushin_retrieval_compute(&g, 0, &m) == MUSHIN_OK && isnan(m.map) && m.queries == 0);
    CHECK(append(&g, 4, p, t, q, &bad) == MUSHIN_OK && g.n == 4);
    CHECK(mushin_retrieval_compute(&g, 0, &m) == MUSHIN_OK);
    CHECK(m.queries == 2);
    CHECK(near(m.map, 0.75) && near(m.mrr, 0.75));
    CHECK(near(m.precision, 0.5) && near(m.recall, 1.0));
    CHECK(near(m.ndcg, (1.0 + 1.0 / log2(3.0)) / 2.0));
    /* top_k = 1: query 1 finds nothing */
    CHECK(mushin_retrieval_compute(&g, 1, &m) == MUSHIN_OK);
    CHECK(near(m.map, 0.5) && near(m.mrr, 0.5) && near(m.precision, 0.5) && near(m.recall, 0.5));
    CHECK(near(m.ndcg, 0.5));
    CHECK(mushin_retrieval_compute(&g, -1, &m) == MUSHIN_EINVAL);
    /* top_k beyond the query size: precision divides by k */
    CHECK(mushin_retrieval_compute(&g, 4, &m) == MUSHIN_OK && near(m.precision, 0.25));
    mushin_retrieval_clear(&g);
    CHECK(g.n == 0 && g.index == NULL && g.graded == 0);
}

static void
test_torchmetrics_rules(void)
{
    /* empty query scores 0; non-positive scores are not retrieved; ties are
     * ranked non-relevant first */
    const double p[6] = {0.9, 0.1, -0.5, 0.3, 0.3, 0.0};
    const double t[6] = {0, 0, 1, 1, 0, 1};
    const int64_t q[6] = {4, 4, 2, 9, 9, 2};
    mushin_retrieval_groups g;
    mushin_retrieval_metrics m;
    mushin_retrieval_bad bad;
    mushin_retrieval_init(&g, 0);
    CHECK(append(&g, 6, p, t, q, &bad) == MUSHIN_OK);
    CHECK(mushin_retrieval_compute(&g, 0, &m) == MUSHIN_OK && m.queries == 3);
    /* query 2: both relevant but scores <= 0 -> map/mrr/precision/recall 0,
     * ndcg 1 (ideal order); query 4: empty -> 0; query 9: tie, relevant
     * second -> ap 1/2, rr 1/2, precision 1/2, recall 1, ndcg averaged */
    CHECK(near(m.map, 0.5 / 3));
    CHECK(near(m.mrr, 0.5 / 3));
    CHECK(near(m.precision, 0.5 / 3));
    CHECK(near(m.recall, 1.0 / 3));
    CHECK(near(m.ndcg, (1.0 + 0.5 * (1.0 + 1.0 / log2(3.0))) / 3));
    mushin_retrieval_clear(&g);
}

static void
test_bad_values_leave_state(void)
{
    const double p[2] = {0.5, 0.2}, t[2] = {1, 0};
    const int64_t q[2] = {0, 1}, neg[2] = {0, -4};
    const double nanp[2] = {0.5, NAN}, big[2] = {1e300, 0.1}, graded[2] = {1, 2.5};
    mushin_retrieval_groups g;
    mushin_retrieval_bad bad;
    mushin_retrieval_init(&g, 0);
    CHECK(append(&g, 2, p, t, q, &bad) == MUSHIN_OK);
    CHECK(append(&g, 2, p, t, neg, &bad) == MUSHIN_EBADVALUE);
    CHECK(bad.which == 0 && bad.first == -4.0 && bad.first_pos == 1 && bad.count == 1);
    CHECK(append(&g, 2, nanp, t, q, &bad) == MUSHIN_EBADVALUE && bad.which == 1);
    CHECK(append(&g, 2, big, t, q, &bad) == MUSHIN_EBADVALUE && bad.which == 1 && bad.first_pos == 0);
    CHECK(append(&g, 2, p, graded, q, &bad) == MUSHIN_EBADVALUE && bad.which == 2 && bad.first == 2.5);
    CHECK(mushin_retrieval_append(&g, 2, view(p, MUSHIN_RT_FLOAT64, 8), view(p, MUSHIN_RT_FLOAT64, 8),
                                  view(t, MUSHIN_RT_FLOAT64, 8), &bad) == MUSHIN_EINVAL);
    CHECK(mushin_retrieval_append(&g, 2, view(q, MUSHIN_RT_INT64, 8), view(q, MUSHIN_RT_INT64, 8),
                                  view(t, MUSHIN_RT_FLOAT64, 8), &bad) == MUSHIN_EINVAL);
    CHECK(g.n == 2 && g.index[1] == 1 && g.preds[0] == 0.5f);
    mushin_retrieval_clear(&g);
    /* graded accepts 2.5 and merges into graded only */
    {
        mushin_retrieval_groups h, b;
        mushin_retrieval_init(&h, 1);
        mushin_retrieval_init(&b, 0);
        CHECK(append(&h, 2, p, graded, q, &bad) == MUSHIN_OK);
        CHECK(mushin_retrieval_merge(&b, &h) == MUSHIN_EINVAL && b.n == 0);
        CHECK(mushin_retrieval_merge(&h, &h) == MUSHIN_EINVAL && h.n == 2);
        mushin_retrieval_clear(&h);
        mushin_retrieval_clear(&b);
    }
}

static void
test_other_dtypes(void)
{
    const float p[3] = {0.2f, 0.7f, 0.4f};
    const uint8_t t[3] = {1, 0, 1};
    const int32_t q[3] = {3, 3, 3};
    const double pd[3] = {0.2, 0.7, 0.4}, td[3] = {1, 0, 1};
    const int64_t qd[3] = {3, 3, 3};
    mushin_retrieval_groups a, b;
    mushin_retrieval_metrics x, y;
    mushin_retrieval_bad bad;
    mushin_retrieval_init(&a, 0);
    mushin_retrieval_init(&b, 0);
    CHECK(mushin_retrieval_append(&a, 3, view(q, MUSHIN_RT_INT32, 4), view(p, MUSHIN_RT_FLOAT32, 4),
                                  view(t, MUSHIN_RT_UINT8, 1), &bad) == MUSHIN_OK);
    CHECK(append(&b, 3, pd, td, qd, &bad) == MUSHIN_OK);
    CHECK(mushin_retrieval_compute(&a, 0, &x) == MUSHIN_OK);
    CHECK(mushin_retrieval_compute(&b, 0, &y) == MUSHIN_OK);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    mushin_retrieval_clear(&a);
    mushin_retrieval_clear(&b);
}

static void
test_merge_order_is_bit_identical(void)
{
    enum { N = 300 };
    double p[N], t[N];
    int64_t q[N];
    mushin_retrieval_groups whole, a, b, c;
    mushin_retrieval_metrics x, y;
    mushin_retrieval_bad bad;
    int i;
    srand(11);
    for (i = 0; i < N; i++) {
        p[i] = (double)(rand() % 9) / 4 - 0.5; /* many ties, some <= 0 */
        t[i] = rand() % 3 == 0;
        q[i] = rand() % 17;
    }
    mushin_retrieval_init(&whole, 0);
    mushin_retrieval_init(&a, 0);
    mushin_retrieval_init(&b, 0);
    mushin_retrieval_init(&c, 0);
    CHECK(append(&whole, N, p, t, q, &bad) == MUSHIN_OK);
    CHECK(append(&a, 120, p, t, q, &bad) == MUSHIN_OK);
    CHECK(append(&b, 80, p + 120, t + 120, q + 120, &bad) == MUSHIN_OK);
    CHECK(append(&c, N - 200, p + 200, t + 200, q + 200, &bad) == MUSHIN_OK);
    CHECK(mushin_retrieval_merge(&c, &a) == MUSHIN_OK);
    CHECK(mushin_retrieval_merge(&c, &b) == MUSHIN_OK);
    CHECK(c.n == N);
    CHECK(mushin_retrieval_compute(&whole, 5, &x) == MUSHIN_OK);
    CHECK(mushin_retrieval_compute(&c, 5, &y) == MUSHIN_OK);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    CHECK(mushin_retrieval_compute(&whole, 0, &x) == MUSHIN_OK);
    CHECK(mushin_retrieval_compute(&c, 0, &y) == MUSHIN_OK);
    CHECK(memcmp(&x, &y, sizeof x) == 0 && x.queries == 17);
    mushin_retrieval_clear(&whole);
    mushin_retrieval_clear(&a);
    mushin_retrieval_clear(&b);
    mushin_retrieval_clear(&c);
}

int
main(void)
{
    test_known_values();
    test_torchmetrics_rules();
    test_bad_values_leave_state();
    test_other_dtypes();
    test_merge_order_is_bit_identical();
    return ctest_summary();
}

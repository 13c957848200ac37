/*
 * test_dtype_load.c -- the label loaders of dtype_load.h, which every
 * counting kernel (confusion.c, logits.c, perimage.c) reads its integer
 * views through: each element type widened to int64 with its sign, strided
 * and misaligned views, and a contiguous aligned int64 view read in place.
 */
#include <stdint.h>
#include <string.h>

#include "ctest.h"
#include "dtype_load.h"

/* The extremes of each type and a small value, as the literals they are. */
static void
test_every_type_widens_with_its_sign(void)
{
    const int8_t i8[3] = {INT8_MIN, -1, INT8_MAX};
    const int16_t i16[3] = {INT16_MIN, -1, INT16_MAX};
    const int32_t i32[3] = {INT32_MIN, -1, INT32_MAX};
    const int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    const uint8_t u8[3] = {0, 1, UINT8_MAX};
    const uint16_t u16[3] = {0, 1, UINT16_MAX};
    const uint32_t u32[3] = {0, 1, UINT32_MAX};
    int64_t out[3];

    mushin_load_labels(out, (const char *)i8, 1, 3, MUSHIN_INT8);
    CHECK(out[0] == -128 && out[1] == -1 && out[2] == 127);
    mushin_load_labels(out, (const char *)i16, 2, 3, MUSHIN_INT16);
    CHECK(out[0] == -32768 && out[1] == -1 && out[2] == 32767);
    mushin_load_labels(out, (const char *)i32, 4, 3, MUSHIN_INT32);
    CHECK(out[0] == -2147483647 - 1 && out[1] == -1 && out[2] == 2147483647);
    mushin_load_labels(out, (const char *)i64, 8, 3, MUSHIN_INT64);
    CHECK(out[0] == INT64_MIN && out[1] == -1 && out[2] == INT64_MAX);
    mushin_load_labels(out, (const char *)u8, 1, 3, MUSHIN_UINT8);
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 255);
    mushin_load_labels(out, (const char *)u16, 2, 3, MUSHIN_UINT16);
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 65535);
    mushin_load_labels(out, (const char *)u32, 4, 3, MUSHIN_UINT32);
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 4294967295LL);
}

/* Every third int16 of a buffer that starts one byte off alignment. */
static void
test_strided_misaligned_view(void)
{
    char raw[1 + 9 * sizeof(int16_t)];
    int64_t out[3];
    int16_t v;
    int k;
    memset(raw, 0, sizeof(raw));
    for (k = 0; k < 9; k++) {
        v = (int16_t)(k * 1000 - 4000);
        memcpy(raw + 1 + k * 2, &v, 2);
    }
    mushin_load_labels(out, raw + 1, 6, 3, MUSHIN_INT16);
    CHECK(out[0] == -4000 && out[1] == -1000 && out[2] == 2000);
}

/* mushin_label_block reads a contiguous aligned int64 view where it lies
 * and copies anything else into the buffer, with the same values. */
static void
test_label_block_in_place_or_copied(void)
{
    int64_t data[5] = {3, -7, 0, 9, 2};
    int64_t buf[5];
    int32_t narrow[5] = {3, -7, 0, 9, 2};
    char raw[1 + sizeof(data)];
    const int64_t *got;
    int k;

    got = mushin_label_block(buf, (const char *)data, 8, 5, MUSHIN_INT64);
    CHECK(got == data);

    memset(buf, 0, sizeof(buf));
    got = mushin_label_block(buf, (const char *)data, 16, 3, MUSHIN_INT64);
    CHECK(got == buf && buf[0] == 3 && buf[1] == 0 && buf[2] == 2);

    memcpy(raw + 1, data, sizeof(data));
    memset(buf, 0, sizeof(buf));
    got = mushin_label_block(buf, raw + 1, 8, 5, MUSHIN_INT64);
    CHECK(got == buf);
    for (k = 0; k < 5; k++) {
        CHECK(buf[k] == data[k]);
    }

    memset(buf, 0, sizeof(buf));
    got = mushin_label_block(buf, (const char *)narrow, 4, 5, MUSHIN_INT32);
    CHECK(got == buf);
    for (k = 0; k < 5; k++) {
        CHECK(buf[k] == data[k]);
    }
}

int
main(void)
{
    test_every_type_widens_with_its_sign();
    test_strided_misaligned_view();
    test_label_block_in_place_or_copied();
    return ctest_summary();
}

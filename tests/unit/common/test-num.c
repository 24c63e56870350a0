/* Unit tests: checked number, size and duration parsing. */
#include "common/common.h"

#include <criterion/criterion.h>

Test (num, int64)
{
  int64_t v;
  cr_assert_eq (berth_parse_int64 ("42", &v), 0);
  cr_assert_eq (v, 42);
  cr_assert_eq (berth_parse_int64 ("-9223372036854775808", &v), 0);
  cr_assert_eq (v, INT64_MIN);
  cr_assert_eq (berth_parse_int64 ("9223372036854775808", &v), -ERANGE);
  cr_assert_eq (berth_parse_int64 ("", &v), -EINVAL);
  cr_assert_eq (berth_parse_int64 (" 1", &v), -EINVAL);
  cr_assert_eq (berth_parse_int64 ("1 ", &v), -EINVAL);
  cr_assert_eq (berth_parse_int64 ("12abc", &v), -EINVAL);
  cr_assert_eq (berth_parse_int64 (NULL, &v), -EINVAL);
}

Test (num, uint64_refuses_sign)
{
  uint64_t v;
  cr_assert_eq (berth_parse_uint64 ("-1", &v), -EINVAL);
  cr_assert_eq (berth_parse_uint64 ("+1", &v), -EINVAL);
  cr_assert_eq (berth_parse_uint64 ("18446744073709551615", &v), 0);
  cr_assert_eq (v, UINT64_MAX);
  cr_assert_eq (berth_parse_uint64 ("18446744073709551616", &v), -ERANGE);
}

Test (num, int32_and_uint32_ranges)
{
  int32_t s;
  uint32_t u;
  int i;
  cr_assert_eq (berth_parse_int32 ("2147483648", &s), -ERANGE);
  cr_assert_eq (berth_parse_int32 ("-2147483648", &s), 0);
  cr_assert_eq (s, INT32_MIN);
  cr_assert_eq (berth_parse_uint32 ("4294967296", &u), -ERANGE);
  cr_assert_eq (berth_parse_uint32 ("4294967295", &u), 0);
  cr_assert_eq (berth_parse_int ("-17", &i), 0);
  cr_assert_eq (i, -17);
}

Test (num, mode)
{
  mode_t m;
  cr_assert_eq (berth_parse_mode ("0755", &m), 0);
  cr_assert_eq (m, 0755);
  cr_assert_eq (berth_parse_mode ("1777", &m), 0);
  cr_assert_eq (m, 01777);
  cr_assert_eq (berth_parse_mode ("8", &m), -EINVAL);
  cr_assert_eq (berth_parse_mode ("17777", &m), -ERANGE);
}

Test (num, size)
{
  uint64_t v;
  cr_assert_eq (berth_parse_size ("4096", &v), 0);
  cr_assert_eq (v, 4096);
  cr_assert_eq (berth_parse_size ("64k", &v), 0);
  cr_assert_eq (v, 65536);
  cr_assert_eq (berth_parse_size ("512MiB", &v), 0);
  cr_assert_eq (v, 512ull << 20);
  cr_assert_eq (berth_parse_size ("2G", &v), 0);
  cr_assert_eq (v, 2ull << 30);
  cr_assert_eq (berth_parse_size ("max", &v), -EINVAL);
  cr_assert_eq (berth_parse_size ("1x", &v), -EINVAL);
  cr_assert_eq (berth_parse_size ("99999999999999T", &v), -ERANGE);
}

Test (num, duration)
{
  uint64_t v;
  cr_assert_eq (berth_parse_duration_ns ("30", &v), 0);
  cr_assert_eq (v, 30000000000ull);
  cr_assert_eq (berth_parse_duration_ns ("250ms", &v), 0);
  cr_assert_eq (v, 250000000ull);
  cr_assert_eq (berth_parse_duration_ns ("2m", &v), 0);
  cr_assert_eq (v, 120000000000ull);
  cr_assert_eq (berth_parse_duration_ns ("1h", &v), 0);
  cr_assert_eq (berth_parse_duration_ns ("5d", &v), -EINVAL);
  cr_assert_eq (berth_parse_duration_ns ("-5s", &v), -EINVAL);
}

Test (num, boolean)
{
  bool b;
  cr_assert_eq (berth_parse_bool ("true", &b), 0);
  cr_assert (b);
  cr_assert_eq (berth_parse_bool ("OFF", &b), 0);
  cr_assert (!b);
  cr_assert_eq (berth_parse_bool ("maybe", &b), -EINVAL);
}

/* Unit tests: checked number, size and duration parsing. */
#include "common/common.h"

#include <criterion/criterion.h>
#include <time.h>

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

/* berth_format_rfc3339 computes the calendar itself (no gmtime_r in the static shim):
 * it must agree with the C library over leap years, century rules and era edges. */
Test (num, rfc3339_agrees_with_gmtime)
{
  static const uint64_t fixed[] = { 0,          951782400,  951868799,  951868800,   4107542399,
                                    4107542400, 1709164800, 1735689599, 13569465600, 18000000000 };
  char buf[BERTH_RFC3339_LEN], want[128];
  uint64_t x = 88172645463325252ull;

  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 20000; i++)
    {
      uint64_t secs, ns;
      time_t t;
      struct tm tm;
      if (i < sizeof fixed / sizeof fixed[0])
        secs = fixed[i], ns = 123456789;
      else
        {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          secs = x % 18000000001ull; /* what a uint64_t of nanoseconds holds: up to 2540 */
          ns = x % 1000000000ull;
        }
      t = (time_t)secs;
      cr_assert_not_null (gmtime_r (&t, &tm));
      snprintf (want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (unsigned long long)ns);
      berth_format_rfc3339 (secs * 1000000000ull + ns, buf, sizeof buf);
      cr_assert_str_eq (buf, want, "for %llu s", (unsigned long long)secs);
    }
}

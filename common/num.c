/* Checked number parsing: whole-string, overflow-checked, no locale or sign surprises.
 * Every number berth reads from a file, a flag or the environment goes through here. */
#include "common.h"

#include <ctype.h>
#include <limits.h>
#include <strings.h>

int
berth_parse_int64 (const char *s, int64_t *ret)
{
  char *end;
  long long v;

  if (s == NULL || *s == '\0' || isspace ((unsigned char) *s))
    return -EINVAL;
  errno = 0;
  v = strtoll (s, &end, 10);
  if (*end != '\0')
    return -EINVAL;
  if (errno == ERANGE)
    return -ERANGE;
  *ret = v;
  return 0;
}

int
berth_parse_uint64 (const char *s, uint64_t *ret)
{
  char *end;
  unsigned long long v;

  /* strtoull accepts "-1" and wraps it to ULLONG_MAX: refuse any sign. */
  if (s == NULL || !isdigit ((unsigned char) *s))
    return -EINVAL;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (*end != '\0')
    return -EINVAL;
  if (errno == ERANGE)
    return -ERANGE;
  *ret = v;
  return 0;
}

int
berth_parse_int32 (const char *s, int32_t *ret)
{
  int64_t v;
  int r = berth_parse_int64 (s, &v);
  if (r < 0)
    return r;
  if (v < INT32_MIN || v > INT32_MAX)
    return -ERANGE;
  *ret = (int32_t) v;
  return 0;
}

int
berth_parse_uint32 (const char *s, uint32_t *ret)
{
  uint64_t v;
  int r = berth_parse_uint64 (s, &v);
  if (r < 0)
    return r;
  if (v > UINT32_MAX)
    return -ERANGE;
  *ret = (uint32_t) v;
  return 0;
}

int
berth_parse_int (const char *s, int *ret)
{
  int32_t v;
  int r = berth_parse_int32 (s, &v);
  if (r == 0)
    *ret = v;
  return r;
}

int
berth_parse_mode (const char *s, mode_t *ret)
{
  char *end;
  unsigned long v;

  if (s == NULL || *s < '0' || *s > '7')
    return -EINVAL;
  errno = 0;
  v = strtoul (s, &end, 8);
  if (*end != '\0' || errno != 0)
    return -EINVAL;
  if (v > 07777)
    return -ERANGE;
  *ret = (mode_t) v;
  return 0;
}

/* Splits "123abc" into the number and its suffix. */
static int
split_number (const char *s, uint64_t *num, const char **suffix)
{
  char digits[32];
  size_t n = 0;

  if (s == NULL || !isdigit ((unsigned char) *s))
    return -EINVAL;
  while (isdigit ((unsigned char) s[n]))
    {
      if (n + 1 >= sizeof digits)
        return -ERANGE;
      digits[n] = s[n];
      n++;
    }
  digits[n] = '\0';
  *suffix = s + n;
  return berth_parse_uint64 (digits, num);
}

int
berth_parse_size (const char *s, uint64_t *ret)
{
  static const struct
  {
    const char *suffix;
    unsigned shift;
  } units[] = {
    { "", 0 },    { "b", 0 },   { "k", 10 },   { "kb", 10 }, { "kib", 10 }, { "m", 20 },
    { "mb", 20 }, { "mib", 20 }, { "g", 30 },  { "gb", 30 }, { "gib", 30 }, { "t", 40 },
    { "tb", 40 }, { "tib", 40 },
  };
  const char *suffix;
  uint64_t v;
  int r = split_number (s, &v, &suffix);
  if (r < 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE (units); i++)
    if (strcasecmp (suffix, units[i].suffix) == 0)
      {
        if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
          return -ERANGE;
        *ret = v << units[i].shift;
        return 0;
      }
  return -EINVAL;
}

int
berth_parse_duration_ns (const char *s, uint64_t *ret)
{
  static const struct
  {
    const char *suffix;
    uint64_t ns;
  } units[] = {
    { "", 1000000000ull },  { "s", 1000000000ull },     { "ms", 1000000ull },
    { "us", 1000ull },      { "ns", 1ull },             { "m", 60ull * 1000000000ull },
    { "min", 60ull * 1000000000ull }, { "h", 3600ull * 1000000000ull },
  };
  const char *suffix;
  uint64_t v;
  int r = split_number (s, &v, &suffix);
  if (r < 0)
    return r;
  for (size_t i = 0; i < ARRAY_SIZE (units); i++)
    if (strcmp (suffix, units[i].suffix) == 0)
      {
        if (v > UINT64_MAX / units[i].ns)
          return -ERANGE;
        *ret = v * units[i].ns;
        return 0;
      }
  return -EINVAL;
}

int
berth_parse_bool (const char *s, bool *ret)
{
  static const char *const yes[] = { "1", "true", "yes", "on" };
  static const char *const no[] = { "0", "false", "no", "off" };
  if (s == NULL)
    return -EINVAL;
  for (size_t i = 0; i < ARRAY_SIZE (yes); i++)
    {
      if (strcasecmp (s, yes[i]) == 0)
        {
          *ret = true;
          return 0;
        }
      if (strcasecmp (s, no[i]) == 0)
        {
          *ret = false;
          return 0;
        }
    }
  return -EINVAL;
}

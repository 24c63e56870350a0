/* Allocation that aborts on exhaustion, cleanup helpers for the cleanup attribute, string
 * vectors and clocks. */
#include "common.h"

#include <dirent.h>
#include <time.h>

static void __attribute__ ((noreturn)) oom (void)
{
  static const char msg[] = "berth: out of memory\n";
  ssize_t r BERTH_UNUSED = write (2, msg, sizeof msg - 1);
  abort ();
}

void *
xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (UNLIKELY (p == NULL))
    oom ();
  return p;
}

void *
xzalloc (size_t size)
{
  void *p = calloc (1, size ? size : 1);
  if (UNLIKELY (p == NULL))
    oom ();
  return p;
}

void *
xrealloc (void *p, size_t size)
{
  void *n = realloc (p, size ? size : 1);
  if (UNLIKELY (n == NULL))
    oom ();
  return n;
}

char *
xstrdup (const char *s)
{
  char *r;
  if (s == NULL)
    return NULL;
  r = strdup (s);
  if (UNLIKELY (r == NULL))
    oom ();
  return r;
}

char *
xstrndup (const char *s, size_t n)
{
  char *r = strndup (s, n);
  if (UNLIKELY (r == NULL))
    oom ();
  return r;
}

void *
xmemdup (const void *p, size_t n)
{
  void *r = xmalloc (n);
  memcpy (r, p, n);
  return r;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *r;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&r, fmt, ap);
  va_end (ap);
  if (UNLIKELY (n < 0))
    oom ();
  return r;
}

void
cleanup_freep (void *p)
{
  void **pp = (void **)p;
  free (*pp);
  *pp = NULL;
}

void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
  *fd = -1;
}

void
cleanup_fclosep (FILE **f)
{
  if (*f)
    fclose (*f);
  *f = NULL;
}

void
cleanup_json_putp (json_object **o)
{
  if (*o)
    json_object_put (*o);
  *o = NULL;
}

void
cleanup_strvp (char ***v)
{
  strv_free (*v);
  *v = NULL;
}

void
cleanup_closedirp (void *d)
{
  DIR **dp = (DIR **)d;
  if (*dp)
    closedir (*dp);
  *dp = NULL;
}

size_t
strv_len (char *const *v)
{
  size_t n = 0;
  if (v)
    while (v[n])
      n++;
  return n;
}

void
strv_free (char **v)
{
  if (v == NULL)
    return;
  for (char **p = v; *p; p++)
    free (*p);
  free (v);
}

char **
strv_dup (char *const *v)
{
  size_t n = strv_len (v);
  char **r = xmalloc ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  r[n] = NULL;
  return r;
}

void
strv_append (char ***v, const char *s)
{
  size_t n = strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof (char *));
  (*v)[n] = xstrdup (s);
  (*v)[n + 1] = NULL;
}

bool
strv_contains (char *const *v, const char *s)
{
  if (v == NULL)
    return false;
  for (; *v; v++)
    if (strcmp (*v, s) == 0)
      return true;
  return false;
}

bool
str_has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

bool
str_has_suffix (const char *s, const char *suffix)
{
  size_t ls = strlen (s), lx = strlen (suffix);
  return ls >= lx && memcmp (s + ls - lx, suffix, lx) == 0;
}

char *
berth_name_escape (const char *s)
{
  size_t len = strlen (s);
  char *out = xmalloc (len * 3 + 4), *p = out;

  if (len == 0)
    {
      strcpy (out, "%00");
      return out;
    }
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char)s[i];
      bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '-' || c == '_' || (c == '.' && i > 0);
      if (keep)
        *p++ = (char)c;
      else
        p += sprintf (p, "%%%02X", c);
    }
  *p = '\0';
  return out;
}

static uint64_t
clock_ns (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
berth_now_ns (void)
{
  return clock_ns (CLOCK_MONOTONIC);
}

uint64_t
berth_realtime_ns (void)
{
  return clock_ns (CLOCK_REALTIME);
}

/* UTC calendar date of a day count since 1970-01-01 (proleptic Gregorian, eras of 400
 * years). Done here rather than with gmtime_r + strftime: those pull glibc's time zone,
 * locale and sscanf code into the static berth-shim, about 80 KiB of text that counts in
 * every shim's RSS. */
static void
civil_from_days (int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  *ret_d = doy - (153 * mp + 2) / 5 + 1;
  *ret_m = m;
  *ret_y = (int64_t)yoe + era * 400 + (m <= 2);
}

char *
berth_format_rfc3339 (uint64_t realtime_ns, char *buf, size_t len)
{
  uint64_t secs = realtime_ns / 1000000000ull;
  unsigned sod = (unsigned)(secs % 86400);
  unsigned month, day;
  int64_t year;

  civil_from_days ((int64_t)(secs / 86400), &year, &month, &day);
  snprintf (buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u.%09lluZ", (long long)year, month, day,
            sod / 3600, sod / 60 % 60, sod % 60, (unsigned long long)(realtime_ns % 1000000000ull));
  return buf;
}

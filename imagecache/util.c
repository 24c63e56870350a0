/* Small helpers of the image cache: coded errors, base64 (OpenSSL), sizes for messages,
 * sanitising a server's text before it goes into an error, lease id checks. */
#include "internal.h"

#include <ctype.h>
#include <openssl/evp.h>

int
ic_err_code (berth_err *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  berth_err_setv (err, 0, fmt, ap);
  va_end (ap);
  if (err && *err)
    (*err)->code = code;
  return code > 0 ? -code : -EINVAL;
}

int
ic_base64_decode (const char *in, char **ret, size_t *ret_len)
{
  size_t n = strlen (in), pad = 0;
  cleanup_free char *out = NULL;
  int r;

  if (n == 0 || n % 4 != 0 || n > (1u << 20))
    return -EINVAL;
  if (in[n - 1] == '=')
    pad++;
  if (n > 1 && in[n - 2] == '=')
    pad++;
  out = xmalloc (n / 4 * 3 + 1);
  r = EVP_DecodeBlock ((unsigned char *)out, (const unsigned char *)in, (int)n);
  if (r < 0 || (size_t)r < pad)
    return -EINVAL;
  out[(size_t)r - pad] = '\0';
  *ret_len = (size_t)r - pad;
  *ret = steal_pointer (&out);
  return 0;
}

char *
ic_base64_encode (const void *data, size_t len)
{
  char *out = xmalloc ((len + 2) / 3 * 4 + 1);
  EVP_EncodeBlock ((unsigned char *)out, data, (int)len);
  return out;
}

char *
ic_format_size (uint64_t b)
{
  if (b < 1000)
    return xasprintf ("%" PRIu64 " B", b);
  if (b < 1000 * 1000)
    return xasprintf ("%.1f kB", (double)b / 1e3);
  if (b < 1000ull * 1000 * 1000)
    return xasprintf ("%.1f MB", (double)b / 1e6);
  return xasprintf ("%.2f GB", (double)b / 1e9);
}

char *
ic_sanitize (const char *s, size_t len, size_t max)
{
  char *out;
  size_t o = 0;
  bool cut = len > max;
  if (cut)
    len = max;
  out = xmalloc (len + 4);
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if (c == '\n' || c == '\r' || c == '\t')
        c = ' ';
      out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
  while (o > 0 && out[o - 1] == ' ')
    o--;
  if (cut)
    {
      memcpy (out + o, "...", 3);
      o += 3;
    }
  out[o] = '\0';
  return out;
}

int
ic_lease_id_validate (const char *id, berth_err *err)
{
  size_t n = id ? strlen (id) : 0;
  if (n == 0 || n > 128 || !isalnum ((unsigned char)id[0]))
    return berth_err_set (err, 0, "lease id `%s`: want [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}",
                          id ? id : "");
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)id[i]) && !strchr ("_.:-", id[i]))
      return berth_err_set (err, 0, "lease id `%s`: want [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", id);
  return 0;
}

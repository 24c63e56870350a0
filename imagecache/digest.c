/* Content digests: OpenSSL's SHA-256 (SHA-NI/AVX2 code paths, about 3x a portable C
 * implementation on this hardware), and the "sha256:<hex>" strings that name blobs. */
#include "internal.h"

#include <openssl/evp.h>

void
ic_sha256_init (struct ic_sha256 *h)
{
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort (); /* only fails on allocation */
}

void
ic_sha256_update (struct ic_sha256 *h, const void *data, size_t len)
{
  if (len > 0 && EVP_DigestUpdate (h->ctx, data, len) != 1)
    abort ();
}

void
ic_sha256_final (struct ic_sha256 *h, char out[IC_DIGEST_BUF])
{
  unsigned char md[32];
  unsigned int n = 0;
  static const char hex[] = "0123456789abcdef";

  if (EVP_DigestFinal_ex (h->ctx, md, &n) != 1 || n != 32)
    abort ();
  memcpy (out, "sha256:", 7);
  for (unsigned i = 0; i < 32; i++)
    {
      out[7 + 2 * i] = hex[md[i] >> 4];
      out[8 + 2 * i] = hex[md[i] & 15];
    }
  out[IC_DIGEST_LEN] = '\0';
  /* ready for another stream */
  if (EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort ();
}

void
ic_sha256_reset (struct ic_sha256 *h)
{
  if (EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort ();
}

void
ic_sha256_clear (struct ic_sha256 *h)
{
  EVP_MD_CTX_free (h->ctx);
  h->ctx = NULL;
}

void
ic_sha256_buf (const void *data, size_t len, char out[IC_DIGEST_BUF])
{
  struct ic_sha256 h;
  ic_sha256_init (&h);
  ic_sha256_update (&h, data, len);
  ic_sha256_final (&h, out);
  ic_sha256_clear (&h);
}

int
ic_digest_validate (const char *d, berth_err *err)
{
  if (d == NULL)
    return berth_err_set (err, 0, "missing digest");
  if (!str_has_prefix (d, "sha256:"))
    return berth_err_set (err, 0, "digest `%.80s`: unsupported algorithm (only sha256)", d);
  if (strlen (d) != IC_DIGEST_LEN)
    return berth_err_set (err, 0, "digest `%.80s`: want 64 hex digits", d);
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return berth_err_set (err, 0, "digest `%.80s`: not lowercase hex", d);
  return 0;
}

const char *
ic_digest_hex (const char *d)
{
  return d + 7;
}

/* ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
void
ic_chain_id_next (const char *parent_chain, const char *diff_id, char out[IC_DIGEST_BUF])
{
  if (parent_chain == NULL)
    {
      memcpy (out, diff_id, IC_DIGEST_BUF);
      out[IC_DIGEST_LEN] = '\0';
      return;
    }
  cleanup_free char *s = xasprintf ("%s %s", parent_chain, diff_id);
  ic_sha256_buf (s, strlen (s), out);
}

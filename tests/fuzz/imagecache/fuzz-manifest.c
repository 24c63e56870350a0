/* libFuzzer target: everything the image cache parses from a registry or an archive before
 * a byte is unpacked: documents (kind, index, manifest, image config), platform choice,
 * registry credentials (config.json), WWW-Authenticate challenges, registry error bodies and
 * references. */
#include "imagecache/internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  berth_err err = NULL;
  enum ic_doc_kind kind;
  struct ic_index idx = { 0 };
  struct ic_manifest man = { 0 };
  struct imagecache_image_config cfg = { 0 };
  struct ic_creds creds = { 0 };
  struct ic_platform plat = { 0 };

  (void)ic_document_kind (text, size, "application/vnd.oci.image.index.v1+json", &kind, &err);
  berth_err_free (&err);
  if (ic_index_parse (text, size, &idx, &err) == 0)
    {
      size_t i;
      if (ic_platform_parse ("linux/arm64", &plat, &err) == 0)
        (void)ic_index_select (&idx, &plat, &i, &err);
      ic_platform_clear (&plat);
      ic_index_clear (&idx);
    }
  berth_err_free (&err);
  if (ic_manifest_parse (text, size, &man, &err) == 0)
    {
      enum ic_compression c;
      for (size_t i = 0; i < man.n_layers; i++)
        (void)ic_layer_compression (man.layers[i].media_type, &c);
      ic_manifest_clear (&man);
    }
  berth_err_free (&err);
  if (imagecache_image_config_parse (text, size, &cfg, &err) == 0)
    {
      struct ic_record rec = { 0 };
      struct ic_manifest empty = { 0 };
      (void)ic_record_fill (
          &rec, "docker.io/library/x:1",
          "sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "sha256:0000000000000000000000000000000000000000000000000000000000000000", &empty, &cfg,
          &err);
      ic_record_clear (&rec);
      imagecache_image_config_clear (&cfg);
    }
  berth_err_free (&err);
  if (ic_creds_parse (text, size, "config.json", &creds, &err) == 0)
    ic_creds_free (&creds);
  berth_err_free (&err);
  /* an error body from a registry or a token server, turned into the message users read */
  {
    struct ic_response resp = { .status = 404, .body = (char *)text, .body_len = size };
    free (ic_registry_error_text (&resp));
  }

  /* the same bytes as a header value and as a reference (NUL-terminated copies) */
  if (size < 8192)
    {
      char *s = xstrndup (text, size);
      struct ic_auth_challenge ch = { 0 };
      struct imagecache_ref ref = { 0 };
      if (ic_auth_parse_challenge (s, &ch) == 0)
        ic_auth_challenge_clear (&ch);
      if (imagecache_ref_parse (s, &ref, &err) == 0)
        {
          char *f = ic_ref_familiar (ref.name);
          free (f);
          imagecache_ref_clear (&ref);
        }
      berth_err_free (&err);
      if (ic_platform_parse (s, &plat, &err) == 0)
        ic_platform_clear (&plat);
      berth_err_free (&err);
      free (s);
    }
  return 0;
}

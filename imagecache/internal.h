/* imagecache internals shared by the module's files (and its unit tests and fuzz targets,
 * which link the static library). Not for other modules: they use imagecache.h. */
#ifndef BERTH_IMAGECACHE_INTERNAL_H
#define BERTH_IMAGECACHE_INTERNAL_H

#include "imagecache.h"

#include <pthread.h>
#include <stdatomic.h>

/* ------------------------------------------------------------------ limits */

#define IC_MAX_MANIFEST_SIZE (4u << 20)  /* containerd's limit for manifests and indexes */
#define IC_MAX_CONFIG_SIZE   (16u << 20) /* image configs carry history; keep it bounded */
#define IC_MAX_INDEX_ENTRIES 4096
#define IC_MAX_LAYERS        500 /* overlayfs OVL_MAX_STACK */
#define IC_MAX_ERROR_BODY    8192

/* ------------------------------------------------------------------ media types */

#define IC_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IC_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IC_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IC_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IC_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IC_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IC_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define IC_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"

enum ic_compression
{
  IC_COMPRESSION_NONE = 0,
  IC_COMPRESSION_GZIP,
  IC_COMPRESSION_ZSTD,
};

bool ic_media_type_is_index (const char *mt);
bool ic_media_type_is_manifest (const char *mt);
/* -EINVAL for a media type that is not a layer berth can unpack. */
int ic_layer_compression (const char *mt, enum ic_compression *ret);

/* ------------------------------------------------------------------ errors */

/* Like berth_err_set with code 0 (no strerror appended) but keeping code as the error's
 * errno, so callers can tell "not found" (ENOENT) from "refused" (EACCES). */
int ic_err_code (berth_err *err, int code, const char *fmt, ...) BERTH_PRINTF (3, 4);

/* ------------------------------------------------------------------ digests */

#define IC_DIGEST_LEN 71 /* "sha256:" + 64 */
#define IC_DIGEST_BUF 72

struct ic_sha256
{
  void *ctx; /* EVP_MD_CTX */
};

void ic_sha256_init (struct ic_sha256 *h);
void ic_sha256_update (struct ic_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" and resets h for a new stream. */
void ic_sha256_final (struct ic_sha256 *h, char out[IC_DIGEST_BUF]);
void ic_sha256_reset (struct ic_sha256 *h);
void ic_sha256_clear (struct ic_sha256 *h);
void ic_sha256_buf (const void *data, size_t len, char out[IC_DIGEST_BUF]);
int ic_digest_validate (const char *d, berth_err *err);
const char *ic_digest_hex (const char *d);
void ic_chain_id_next (const char *parent_chain, const char *diff_id, char out[IC_DIGEST_BUF]);

/* ------------------------------------------------------------------ references */

char *ic_ref_familiar (const char *name);

/* ------------------------------------------------------------------ documents */

struct ic_descriptor
{
  char *media_type;
  char *digest;
  uint64_t size;
  char **urls;
  char *os, *architecture, *variant; /* platform, in an index */
  char *ref_name;                    /* annotation org.opencontainers.image.ref.name */
  char *image_name;                  /* annotation io.containerd.image.name */
};

struct ic_index
{
  size_t n;
  struct ic_descriptor *manifests;
};

struct ic_manifest
{
  struct ic_descriptor config;
  size_t n_layers;
  struct ic_descriptor *layers;
};

enum ic_doc_kind
{
  IC_DOC_INDEX,
  IC_DOC_MANIFEST,
};

void ic_descriptor_clear (struct ic_descriptor *d);
int ic_descriptor_parse (json_object *obj, const char *path, struct ic_descriptor *ret,
                         berth_err *err);
int ic_document_kind (const char *body, size_t len, const char *content_type, enum ic_doc_kind *ret,
                      berth_err *err);
int ic_index_parse (const char *body, size_t len, struct ic_index *ret, berth_err *err);
void ic_index_clear (struct ic_index *idx);
int ic_manifest_parse (const char *body, size_t len, struct ic_manifest *ret, berth_err *err);
void ic_manifest_clear (struct ic_manifest *m);

struct ic_platform
{
  char *os, *architecture, *variant;
};

int ic_platform_parse (const char *s, struct ic_platform *ret, berth_err *err);
int ic_platform_host (struct ic_platform *ret, berth_err *err);
void ic_platform_clear (struct ic_platform *p);
char *ic_platform_string (const char *os, const char *arch, const char *variant);
/* The best manifest of idx for want; ENOENT listing the platforms the index has. */
int ic_index_select (const struct ic_index *idx, const struct ic_platform *want, size_t *ret,
                     berth_err *err);

int ic_strcmp_p (const void *a, const void *b);

/* ------------------------------------------------------------------ config, credentials */

void ic_config_copy (struct imagecache_config *dst, const struct imagecache_config *src);

struct ic_cred
{
  char *host;
  char *username, *password;
  char *identity_token; /* OAuth2 refresh token (docker login to an identity provider) */
};

struct ic_creds
{
  size_t n;
  struct ic_cred *v;
};

int ic_creds_parse (const char *text, size_t len, const char *what, struct ic_creds *ret,
                    berth_err *err);
void ic_creds_free (struct ic_creds *c);
const struct ic_cred *ic_creds_find (const struct ic_creds *c, const char *registry);
char *ic_creds_key_host (const char *key);

/* ------------------------------------------------------------------ small utilities */

int ic_base64_decode (const char *in, char **ret, size_t *ret_len);
char *ic_base64_encode (const void *data, size_t len);
/* "2m3s"-style rendering for messages. */
char *ic_format_size (uint64_t bytes);
/* A printable, bounded copy of a server's text for an error message. */
char *ic_sanitize (const char *s, size_t len, size_t max);
int ic_lease_id_validate (const char *id, berth_err *err);

#endif

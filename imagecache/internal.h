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

/* ------------------------------------------------------------------ the store */

struct ic_flight
{
  char *key;
  int refs;
  bool done;
  int result; /* 0, or the leader's negative errno */
  pthread_cond_t cond;
  struct ic_flight *next;
};

struct ic_challenge; /* auth.c */
struct ic_token;

struct imagecache_store
{
  char *root;
  int rootfd, blobs_fd, ingest_fd, layers_fd, images_fd, leases_fd, locks_fd, trash_fd;
  struct imagecache_config cfg;
  struct ic_platform platform;
  struct ic_creds creds;
  char boot_id[64];
  unsigned max_unpacks;

  pthread_mutex_t mu; /* flights, auth caches, unpack slots */
  struct ic_flight *flights;
  struct ic_challenge *challenges;
  struct ic_token *tokens;
  unsigned unpacks_running;
  pthread_cond_t unpack_cond;

  void *curl_share; /* CURLSH: DNS, TLS sessions and connections shared by every transfer */
  pthread_mutex_t share_mu[8];
};

struct imagecache_cancel
{
  atomic_bool requested;
};

/* What one operation (a pull, an import, a prepare) carries through its threads. */
struct ic_ctx
{
  struct imagecache_store *store;
  struct imagecache_cancel *cancel; /* the caller's, may be NULL */
  atomic_bool failed;               /* another thread of this operation failed: stop */
  atomic_uint_fast64_t blob_bytes;
  atomic_uint blobs_fetched, blobs_cached, layers_unpacked, layers_cached, requests, retries;
  imagecache_progress_fn progress;
  void *progress_user;
  pthread_mutex_t progress_mu;
  size_t n_layers;
  /* downloads of this operation at once (max_downloads_per_pull) */
  pthread_mutex_t dl_mu;
  pthread_cond_t dl_cond;
  unsigned dl_running, dl_max;
};

void ic_ctx_init (struct ic_ctx *ctx, struct imagecache_store *store,
                  struct imagecache_cancel *cancel, imagecache_progress_fn fn, void *user);
void ic_ctx_destroy (struct ic_ctx *ctx);
bool ic_ctx_stopped (struct ic_ctx *ctx);
/* ECANCELED with the right message when stopped by the caller, or by a sibling's failure. */
int ic_ctx_stop_error (struct ic_ctx *ctx, berth_err *err);
void ic_ctx_progress (struct ic_ctx *ctx, enum imagecache_progress_kind kind, int layer,
                      const char *digest, uint64_t done, uint64_t total, bool cached,
                      const char *message);
void ic_ctx_stats (struct ic_ctx *ctx, struct imagecache_pull_stats *ret);

/* Sleeps up to ns, returning early (false) when ctx is stopped. */
bool ic_ctx_sleep (struct ic_ctx *ctx, uint64_t ns);

/* File locks under locks/: flock on a file per name, polled so a cancelled operation
 * stops waiting; a lock whose file was unlinked meanwhile (GC removes idle lock files) is
 * taken again on the new file. Returns the fd that holds it (close to release). */
#define IC_LOCK_SHARED    0
#define IC_LOCK_EXCLUSIVE 1
int ic_lock (struct imagecache_store *s, const char *name, int mode, struct ic_ctx *ctx,
             int *ret_fd, berth_err *err);
/* Without waiting: 1 taken (*ret_fd), 0 busy. */
int ic_lock_try (struct imagecache_store *s, const char *name, int mode, int *ret_fd,
                 berth_err *err);
/* One of n slots "prefix-<k>" (cross-process concurrency limit). */
int ic_slot_acquire (struct imagecache_store *s, const char *prefix, unsigned n, struct ic_ctx *ctx,
                     int *ret_fd, berth_err *err);
int ic_unpack_slot_acquire (struct imagecache_store *s, struct ic_ctx *ctx, berth_err *err);
void ic_unpack_slot_release (struct imagecache_store *s);

/* In-process single flight: 1 = leader (do the work, then ic_flight_end), 0 = another
 * thread is doing it: wait with ic_flight_wait (returns its result) then ic_flight_put. */
int ic_flight_begin (struct imagecache_store *s, const char *key, struct ic_flight **ret);
int ic_flight_wait (struct imagecache_store *s, struct ic_flight *f, struct ic_ctx *ctx);
void ic_flight_put (struct imagecache_store *s, struct ic_flight *f);
void ic_flight_end (struct imagecache_store *s, struct ic_flight *f, int result);

/* ------------------------------------------------------------------ content store */

bool ic_blob_exists (struct imagecache_store *s, const char *digest, uint64_t *ret_size);
int ic_blob_open (struct imagecache_store *s, const char *digest, berth_err *err);
/* Reads a small blob whole and checks it against its digest. */
int ic_blob_read (struct imagecache_store *s, const char *digest, size_t max, char **ret,
                  size_t *ret_len, berth_err *err);
/* Commits bytes already in memory (manifests, configs) after checking the digest. */
int ic_blob_write (struct imagecache_store *s, const char *digest, const void *data, size_t len,
                   berth_err *err);

/* A download in progress: ingest/<hex>, hashed as it is written. A concurrent reader (the
 * unpacker) follows it through ic_stream. */
struct ic_stream
{
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int fd;             /* the ingest file, then the committed blob (same inode) */
  uint64_t available; /* bytes written so far */
  uint64_t total;
  bool complete; /* verified and committed */
  int error;     /* negative errno once the download failed */
  int refs;
};

struct ic_stream *ic_stream_new (int fd, uint64_t total);
void ic_stream_put (struct ic_stream *st);
void ic_stream_advance (struct ic_stream *st, uint64_t available);
void ic_stream_finish (struct ic_stream *st, int error);

struct ic_ingest
{
  struct imagecache_store *store;
  char digest[IC_DIGEST_BUF];
  uint64_t size;   /* expected */
  uint64_t offset; /* bytes in the file and in the hash */
  int fd;
  struct ic_sha256 hash;
  struct ic_stream *stream; /* may be NULL */
  uint64_t synced;          /* writeback started up to here */
};

/* Opens ingest/<hex> for the blob (the caller holds the blob's lock), keeping a partial
 * file from an interrupted download: its bytes are hashed again and the download resumes
 * after them. */
int ic_ingest_open (struct imagecache_store *s, const char *digest, uint64_t size,
                    struct ic_ingest *ret, berth_err *err);
int ic_ingest_write (struct ic_ingest *ing, const void *data, size_t len, berth_err *err);
/* Starts over (a server that ignored Range, or bytes that were wrong). */
int ic_ingest_truncate (struct ic_ingest *ing, berth_err *err);
/* Verifies size and digest, fsyncs, renames into blobs/ and fsyncs the directory. On a
 * mismatch the partial file is deleted and nothing is committed. */
int ic_ingest_commit (struct ic_ingest *ing, berth_err *err);
/* keep: leave the partial file for a later resume (transient errors, cancel). */
void ic_ingest_close (struct ic_ingest *ing, bool keep);

/* ------------------------------------------------------------------ registry */

struct ic_registry
{
  struct imagecache_store *store;
  struct ic_ctx *ctx;
  char *registry; /* "docker.io", "127.0.0.1:17001" */
  char *repository;
  char *base;   /* "https://registry-1.docker.io" */
  char *origin; /* scheme://host[:port] of base, for the redirect rule */
  char *scope;  /* "repository:<repo>:pull" */
  bool insecure;
  const struct ic_cred *cred;
};

struct ic_response
{
  long status;
  char *content_type, *docker_digest, *location, *www_authenticate, *content_range;
  int64_t content_length;
  char *body; /* for small responses and error bodies */
  size_t body_len;
  int curl_code;
};

void ic_response_clear (struct ic_response *r);

int ic_registry_init (struct ic_registry *reg, struct imagecache_store *s, struct ic_ctx *ctx,
                      const struct imagecache_ref *ref, berth_err *err);
void ic_registry_clear (struct ic_registry *reg);
/* HEAD (head) or GET of manifests/<reference> with the Accept list. A GET's body is
 * checked against Docker-Content-Digest (and against reference when it is a digest);
 * *ret_digest is the digest of the body (GET) or the header (HEAD; NULL when absent).
 * A HEAD that fails is repeated as a GET (for the registry's message, or because HEAD
 * is not served): then *ret_body is set (when ret_body is not NULL) and checked. */
int ic_registry_manifest (struct ic_registry *reg, const char *reference, bool head,
                          char **ret_body, size_t *ret_len, char **ret_content_type,
                          char **ret_digest, berth_err *err);
/* A blob into an ingest (resuming from ing->offset), retried and resumed on 5xx, resets
 * and stalls; verified and committed. layer is for progress (-1 for none). */
int ic_registry_blob_fetch (struct ic_registry *reg, struct ic_ingest *ing, int layer,
                            berth_err *err);

/* auth.c */
struct ic_auth_challenge
{
  char *scheme; /* "bearer", "basic" */
  char *realm, *service, *scope;
};
int ic_auth_parse_challenge (const char *header, struct ic_auth_challenge *ret);
void ic_auth_challenge_clear (struct ic_auth_challenge *c);
/* The Authorization header value for a request to reg (NULL: none known yet). */
int ic_auth_header (struct ic_registry *reg, char **ret, berth_err *err);
/* After a 401: learns the challenge, fetches a token. 0 = retry the request, <0 = give up. */
int ic_auth_handle_401 (struct ic_registry *reg, const struct ic_response *resp, bool had_auth,
                        berth_err *err);
void ic_auth_cache_free (struct imagecache_store *s);

/* Low-level HTTP exchange used by the registry and token code. */
struct ic_http_request
{
  const char *url;
  const char *method; /* "GET", "HEAD", "POST" */
  const char *accept;
  const char *authorization; /* full header value or NULL */
  const char *post_body;     /* form body for POST */
  uint64_t range_start;      /* > 0: Range: bytes=N- */
  size_t max_body;           /* bytes kept in resp->body (beyond: error) */
  /* 2xx bodies go here when set (blob downloads); return <0 to abort. */
  int (*sink) (void *user, const char *data, size_t len);
  void *sink_user;
};
int ic_http_exchange (struct imagecache_store *s, struct ic_ctx *ctx,
                      const struct ic_http_request *req, struct ic_response *resp, berth_err *err);
bool ic_registry_is_insecure (struct imagecache_store *s, const char *host);
/* The registry's error text: "MANIFEST_UNKNOWN: manifest unknown" or the start of the body. */
char *ic_registry_error_text (const struct ic_response *r);
int ic_http_global_init (berth_err *err);

/* ------------------------------------------------------------------ unpack */

struct ic_source
{
  /* Reads up to len bytes; 0 at the end; negative errno (err set) on failure. */
  ssize_t (*read) (void *user, void *buf, size_t len, berth_err *err);
  void *user;
};

/* Reads a file from offset 0 to its end, or a stream as it grows. */
struct ic_file_source
{
  int fd;
  uint64_t offset;
  struct ic_stream *stream; /* NULL for a committed file */
  struct ic_ctx *ctx;
};
void ic_file_source_init (struct ic_file_source *fs, struct ic_source *src, int fd,
                          struct ic_stream *stream, struct ic_ctx *ctx);

struct ic_unpack_options
{
  uint64_t max_size;
  uint64_t max_entries; /* tar entries (files, directories, links...); 0: no bound */
  bool allow_devices;
  struct ic_ctx *ctx; /* may be NULL */
};

struct ic_unpack_result
{
  char diff_id[IC_DIGEST_BUF];
  uint64_t tar_bytes;     /* uncompressed stream */
  uint64_t unpacked_size; /* sum of regular file sizes */
  uint64_t entries;
};

/* Unpacks a (compressed) layer tar into dirfd, which must be empty. Compression is
 * recognised from the stream's magic bytes (gzip, zstd, or a plain tar). */
int ic_unpack_layer (const struct ic_source *src, int dirfd, const struct ic_unpack_options *o,
                     struct ic_unpack_result *ret, berth_err *err);

/* ------------------------------------------------------------------ layers */

bool ic_layer_exists (struct imagecache_store *s, const char *chain_id);
/* Unpacks (or waits for another unpack of) the layer chain_id from the blob digest,
 * downloading the blob first through reg when it is missing (reg NULL: offline, the blob
 * must be present). Checks the DiffID. *ret_cached: nothing to do. */
struct ic_layer_want
{
  const char *chain_id, *diff_id, *parent_chain_id;
  const char *digest; /* the blob */
  uint64_t size;
  int index; /* for progress */
};
int ic_layer_ensure (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
                     const struct ic_layer_want *w, bool *ret_cached, berth_err *err);
/* Downloads a blob (or waits for another download of it). */
int ic_blob_ensure (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
                    const char *digest, uint64_t size, int index, bool *ret_cached, berth_err *err);
int ic_layer_unpacked_size (struct imagecache_store *s, const char *chain_id, uint64_t *ret);
char *ic_layer_diff_path (struct imagecache_store *s, const char *chain_id);

/* ------------------------------------------------------------------ records */

/* Resolved content of an image, as stored in its record. */
struct ic_record
{
  char *name;
  char *digest, *manifest, *config, *platform;
  size_t n_layers;
  struct imagecache_layer *layers; /* digest, media_type, size, diff_id, chain_id */
  uint64_t size;
  uint64_t created_ns, last_used_ns;
};

void ic_record_clear (struct ic_record *r);
int ic_record_load (struct imagecache_store *s, const char *name, struct ic_record *ret,
                    berth_err *err);
int ic_record_load_file (struct imagecache_store *s, const char *file, struct ic_record *ret,
                         berth_err *err);
int ic_record_store (struct imagecache_store *s, const struct ic_record *r, berth_err *err);
int ic_record_touch (struct imagecache_store *s, const char *name, berth_err *err);
char *ic_record_file (const char *name);
/* Every record file name under images/. */
int ic_record_list_files (struct imagecache_store *s, char ***ret, berth_err *err);
int ic_image_from_record (struct imagecache_store *s, const struct ic_record *r,
                          struct imagecache_image **ret, berth_err *err);
/* From parsed manifest and config: fills a record's layers (computing chain ids). */
int ic_record_fill (struct ic_record *r, const char *name, const char *top_digest,
                    const char *manifest_digest, const struct ic_manifest *m,
                    const struct imagecache_image_config *cfg, berth_err *err);

/* ------------------------------------------------------------------ leases */

/* Content a lease pins, for GC. */
int ic_lease_roots (struct imagecache_store *s, char ***ret_digests, char ***ret_chain_ids,
                    char ***ret_manifests, char ***ret_lease_ids, berth_err *err);
/* Which lease holds manifest (NULL: none). */
char *ic_lease_holding (struct imagecache_store *s, const char *manifest_digest);

/* ------------------------------------------------------------------ gc */

/* PRUNE if the store lock is free right now; 0 without doing anything otherwise. */
int ic_gc_prune_try (struct imagecache_store *s, struct imagecache_gc_report *rep, berth_err *err);

/* ------------------------------------------------------------------ store helpers */

int ic_store_lock_shared (struct imagecache_store *s, struct ic_ctx *ctx, int *ret_fd,
                          berth_err *err);
int ic_read_boot_id (char out[64]);
int ic_curl_share_new (struct imagecache_store *s, berth_err *err);
void ic_curl_share_free (struct imagecache_store *s);
/* After a reboot the page cache of an unclean shutdown is gone: layers unpacked without
 * fsync during an earlier boot and never synced since may have lost data. They are moved
 * to trash (and unpacked again from their fsynced blobs when next needed). Runs once per
 * boot, under the store lock held exclusively. */
int ic_layers_check_boot (struct imagecache_store *s, berth_err *err);
/* Makes sure every layer of r is unpacked (from blobs; no network). */
int ic_ensure_layers_offline (struct imagecache_store *s, struct ic_ctx *ctx,
                              const struct ic_record *r, berth_err *err);

#endif

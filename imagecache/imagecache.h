/* berth image cache: the one header the agent and the CLI use to pull images from OCI
 * registries, keep them in an on-disk store shared by every process on the host (file
 * locks), and give containers an overlayfs root made of the cached layers.
 *
 * Threads: every function is blocking and may be called from any thread at the same time
 * on one store. A pull runs its own download and unpack threads; its progress callback is
 * called from those threads, one call at a time per pull. Processes: any number of
 * processes (berthd, several `berth pull`) may open the same root at once; downloads,
 * unpacks and garbage collection coordinate through lock files under the root.
 *
 * Errors follow common.h (berth_err). A registry's own error text is kept in the message
 * ("... : 404 manifest unknown: manifest unknown"), so the agent can report
 * "CannotPullContainerError: <message>". berth_err_code() is ENOENT when the image or tag
 * does not exist (registry or, with policy never, the cache), EACCES when the registry
 * refused the credentials, ECANCELED after cancellation, ENOSPC when the disk is full,
 * EBUSY when an image is in use, and 0 for invalid input. */
#ifndef BERTH_IMAGECACHE_H
#define BERTH_IMAGECACHE_H

#include "common/common.h"

/* ------------------------------------------------------------------ configuration */

struct imagecache_gc_config
{
  unsigned high_watermark; /* percent of the store's filesystem in use that starts image GC (85) */
  unsigned low_watermark;  /* percent GC frees down to (80) */
  uint64_t min_age_ns;     /* an image unused for less than this is never collected (2 min) */
};

struct imagecache_config
{
  /* Registries ("host[:port]") reached over plain HTTP; every other one needs TLS. */
  char **insecure_registries;
  char *ca_file;          /* PEM bundle for registry TLS; NULL: the system's */
  char *credentials_file; /* docker config.json with an `auths` object; NULL: anonymous only */
  char *platform;         /* "os/arch[/variant]"; NULL: this host (linux/amd64 here) */

  unsigned max_downloads_per_pull; /* blobs one pull fetches at once (3) */
  unsigned max_downloads;          /* blobs fetched at once by every process on the store (6) */
  unsigned max_unpacks;            /* layers unpacked at once in this process (0: CPU count) */
  unsigned retries;                /* attempts after a 5xx, a reset or a stall (5) */
  uint64_t stall_timeout_ns;       /* a transfer with no byte for this long is retried (30 s) */
  uint64_t connect_timeout_ns;     /* (30 s) */

  uint64_t
      max_layer_size; /* uncompressed bytes of one layer, and the sum of its file sizes (32 GiB) */
  uint64_t max_image_size; /* compressed bytes of one image's blobs (64 GiB) */
  unsigned max_layer_entries; /* tar entries in one layer: files, directories, links (2 million) */
  bool allow_devices;      /* character and block device nodes in layers (false: refused) */

  struct imagecache_gc_config gc;
};

/* Fills the defaults above. */
void imagecache_config_init (struct imagecache_config *cfg);
void imagecache_config_clear (struct imagecache_config *cfg);
/* Reads a JSON object (the agent embeds it as its "images" section; the CLI reads a file):
 *   {"insecure_registries": ["127.0.0.1:5000"], "ca_file": "...", "credentials_file": "...",
 *    "platform": "linux/amd64", "max_downloads_per_pull": 3, "max_downloads": 6,
 *    "max_unpacks": 0, "retries": 5, "stall_timeout": "30s", "connect_timeout": "30s",
 *    "max_layer_size": "32G", "max_image_size": "64G", "max_layer_entries": 2000000,
 *    "allow_devices": false,
 *    "gc": {"high_watermark": 85, "low_watermark": 80, "min_age": "2m"}}
 * over the values already in cfg. Unknown keys are errors that name the JSON path. */
int imagecache_config_parse_json (json_object *obj, const char *path, struct imagecache_config *cfg,
                                  berth_err *err);
int imagecache_config_load_file (const char *file, struct imagecache_config *cfg, berth_err *err);

/* ------------------------------------------------------------------ references */

/* A normalised image reference, Docker's rules: "busybox" is
 * docker.io/library/busybox:latest; a first component with a dot or a colon, or
 * "localhost", is a registry host. */
struct imagecache_ref
{
  char *registry;   /* "docker.io", "127.0.0.1:5000", "localhost" */
  char *repository; /* "library/busybox" */
  char *tag;        /* NULL when only a digest was given */
  char *digest;     /* "sha256:<64 hex>" or NULL */
  char *name;       /* the full normalised form: registry/repository[:tag][@digest] */
};

int imagecache_ref_parse (const char *s, struct imagecache_ref *ret, berth_err *err);
void imagecache_ref_clear (struct imagecache_ref *ref);

/* ------------------------------------------------------------------ the store */

struct imagecache_store;

/* Opens (creating when missing) the store at root: blobs/sha256/, ingest/, layers/,
 * images/, leases/, locks/. Reads the credentials file now, so a bad one fails here. The
 * config is copied. */
int imagecache_store_open (const char *root, const struct imagecache_config *cfg,
                           struct imagecache_store **ret, berth_err *err);
/* Every pull on the store must have returned. */
void imagecache_store_close (struct imagecache_store *store);
const char *imagecache_store_root (const struct imagecache_store *store);

/* Unpacked layers are written without fsync (that would cost more than the unpack) and
 * are marked "unsynced"; after an unclean reboot an unsynced layer is unpacked again from
 * its blob, which was fsynced. This flushes the store's filesystem and marks every layer
 * synced; berthd calls it when idle, GC calls it. */
int imagecache_store_sync (struct imagecache_store *store, berth_err *err);

/* ------------------------------------------------------------------ cancellation */

/* A flag another thread sets to stop a pull or an import: transfers abort within a
 * fraction of a second and the call returns ECANCELED, keeping what is already committed
 * (and the partial download, which the next pull resumes). */
struct imagecache_cancel;
struct imagecache_cancel *imagecache_cancel_new (void);
void imagecache_cancel_trigger (struct imagecache_cancel *c);
bool imagecache_cancel_requested (const struct imagecache_cancel *c);
void imagecache_cancel_free (struct imagecache_cancel *c);

/* ------------------------------------------------------------------ images */

struct imagecache_healthcheck
{
  char **test; /* ["CMD-SHELL", "..."], ["CMD", ...] or ["NONE"] */
  int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns; /* 0: not set */
  int retries;                                                         /* 0: not set */
};

/* What the agent needs from the image's config blob. A vector is NULL when the image
 * does not set it, and empty when the image sets it to [] (Docker tells those apart for
 * Entrypoint and Cmd). */
struct imagecache_image_config
{
  char *os, *architecture, *variant;
  char *user, *working_dir, *stop_signal;
  char **env; /* "KEY=value" */
  char **entrypoint;
  char **cmd;
  char **exposed_ports; /* "80/tcp" */
  char **volumes;
  char **labels;                              /* "key=value" */
  struct imagecache_healthcheck *healthcheck; /* NULL: none */
  char **diff_ids;                            /* rootfs.diff_ids: one per layer, bottom first */
};

struct imagecache_layer
{
  char *digest; /* the blob as stored in the registry (compressed) */
  char *media_type;
  uint64_t size;          /* compressed bytes */
  char *diff_id;          /* digest of the uncompressed tar */
  char *chain_id;         /* the layer store key */
  uint64_t unpacked_size; /* bytes of its files once unpacked; 0 when not unpacked */
  bool blob_present;
  bool unpacked;
};

struct imagecache_image
{
  char *name;            /* the normalised reference this record is kept under */
  char *digest;          /* what the name resolved to: an index or a manifest */
  char *manifest_digest; /* the manifest chosen for the platform */
  char *config_digest;
  char *platform; /* "linux/amd64" */
  size_t n_layers;
  struct imagecache_layer *layers; /* bottom first */
  uint64_t size;                   /* compressed bytes of config and layers */
  uint64_t unpacked_size;          /* sum of the layers' unpacked sizes */
  uint64_t created_ns;             /* CLOCK_REALTIME when the record was first written */
  uint64_t last_used_ns;           /* CLOCK_REALTIME of the last pull, prepare or lease */
  struct imagecache_image_config config;
};

void imagecache_image_free (struct imagecache_image *img);
void imagecache_image_freev (struct imagecache_image **v, size_t n);
/* The inspect view: the record, layers and config as a JSON object (caller puts it). */
json_object *imagecache_image_to_json (const struct imagecache_image *img);

/* Parses a config blob (OCI/Docker image config JSON). Pure; exposed for tests and fuzzing. */
int imagecache_image_config_parse (const char *json, size_t len,
                                   struct imagecache_image_config *ret, berth_err *err);
void imagecache_image_config_clear (struct imagecache_image_config *cfg);

/* A cached image by reference ("busybox", "host/repo:tag", "repo@sha256:...") or by an
 * image id ("sha256:<manifest digest>" or a unique hex prefix of it, 12 chars minimum).
 * Local only: ENOENT when absent. Does not change last use. */
int imagecache_image_get (struct imagecache_store *store, const char *ref,
                          struct imagecache_image **ret, berth_err *err);
/* Every record, sorted by name. */
int imagecache_image_list (struct imagecache_store *store, struct imagecache_image ***ret,
                           size_t *ret_n, berth_err *err);
/* Removes the record (a name) or every record of an image (an id), then deletes the
 * content no other record or lease uses. EBUSY, naming the lease, if a lease holds it. */
int imagecache_image_remove (struct imagecache_store *store, const char *ref, berth_err *err);

/* ------------------------------------------------------------------ pull */

enum imagecache_pull_policy
{
  IMAGECACHE_PULL_ALWAYS = 0, /* resolve the tag at the registry (a HEAD); fetch what is missing */
  IMAGECACHE_PULL_IF_NOT_PRESENT, /* a cached image is used without touching the network */
  IMAGECACHE_PULL_NEVER,          /* cache only; ENOENT when absent */
};
/* "always", "if-not-present" (also "missing", ECS's "once"), "never". */
int imagecache_pull_policy_parse (const char *s, enum imagecache_pull_policy *ret);

enum imagecache_progress_kind
{
  IMAGECACHE_PROGRESS_RESOLVED,   /* digest, n_layers, total (compressed bytes to consider) */
  IMAGECACHE_PROGRESS_BLOB_START, /* layer index, digest, total */
  IMAGECACHE_PROGRESS_BLOB_BYTES, /* layer index, digest, done, total (throttled) */
  IMAGECACHE_PROGRESS_BLOB_DONE,  /* layer index, digest; cached when it was already here */
  IMAGECACHE_PROGRESS_BLOB_RETRY, /* layer index, digest, message: why it is retried */
  IMAGECACHE_PROGRESS_LAYER_DONE, /* layer index, digest; cached when already unpacked */
  IMAGECACHE_PROGRESS_DONE,       /* digest of the manifest */
};

struct imagecache_progress
{
  enum imagecache_progress_kind kind;
  int layer; /* index in the manifest, -1 for the config and manifests */
  size_t n_layers;
  const char *digest;
  uint64_t done, total;
  bool cached;
  const char *message;
};

typedef void (*imagecache_progress_fn) (const struct imagecache_progress *p, void *user);

/* Counters of one pull, for the caller's logs and for tests (a warm pull fetches 0 blob bytes). */
struct imagecache_pull_stats
{
  uint64_t blob_bytes;      /* blob bytes received from the network (config and layers) */
  unsigned blobs_fetched;   /* blobs this pull downloaded */
  unsigned blobs_cached;    /* blobs already in the store (or fetched by a concurrent pull) */
  unsigned layers_unpacked; /* layers this pull unpacked */
  unsigned layers_cached;
  unsigned requests; /* HTTP requests sent to the registry and token server */
  unsigned retries;
};

#define IMAGECACHE_PULL_NO_UNPACK (1u << 0) /* blobs only: download and verify into the store */

struct imagecache_pull_options
{
  enum imagecache_pull_policy policy;
  unsigned flags;
  const char *platform;            /* NULL: the store's */
  imagecache_progress_fn progress; /* may be NULL */
  void *progress_user;
  struct imagecache_cancel *cancel;    /* may be NULL */
  struct imagecache_pull_stats *stats; /* out, may be NULL */
};

/* Resolves ref, downloads what the store lacks (verifying every byte), unpacks the layers
 * (unless NO_UNPACK) and writes the image record. Returns the image ready for
 * imagecache_rootfs_prepare. One download per blob and one unpack per layer however many
 * pulls want them at once, in this process or another. */
int imagecache_pull (struct imagecache_store *store, const char *ref,
                     const struct imagecache_pull_options *opts, struct imagecache_image **ret,
                     berth_err *err);

/* ------------------------------------------------------------------ leases */

/* A lease names what a task uses; GC never removes an image a lease holds, across
 * restarts of every process (leases live on disk until released). Lease ids are
 * [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}. Adding an image a lease already holds is a no-op. */
int imagecache_lease_add (struct imagecache_store *store, const char *lease_id,
                          const struct imagecache_image *img, berth_err *err);
/* Removing a lease that does not exist is not an error (berthd replays releases after a crash). */
int imagecache_lease_release (struct imagecache_store *store, const char *lease_id, berth_err *err);
/* Lease ids, sorted; berthd reconciles them with its tasks after a restart. */
int imagecache_lease_list (struct imagecache_store *store, char ***ret, berth_err *err);

/* ------------------------------------------------------------------ container rootfs */

struct imagecache_rootfs_options
{
  const char *lease_id; /* taken (imagecache_lease_add) before anything is mounted */
  const char *target;   /* mount point, created if missing */
  const char *rw_dir;   /* upper/ and work/ are created here (same filesystem for both) */
  bool read_only;       /* no upper layer: a read-only mount of the layers; rw_dir unused */
};

/* Mounts an overlay of img's layers (unpacking any that are missing from their blobs,
 * which needs no network) with a private upper/work dir, at target. Layers are passed one
 * by one to the kernel (fsconfig "lowerdir+"), so images with hundreds of layers mount;
 * on kernels before 6.8 a single mount option string is used and an image whose layer
 * list exceeds the page-size limit fails with E2BIG. Updates last use. */
int imagecache_rootfs_prepare (struct imagecache_store *store, const struct imagecache_image *img,
                               const struct imagecache_rootfs_options *opts, berth_err *err);

#define IMAGECACHE_RELEASE_KEEP_RW    (1u << 0) /* keep upper/ and work/ */
#define IMAGECACHE_RELEASE_KEEP_LEASE (1u << 1) /* keep the lease */

/* Unmounts target (if mounted), removes rw_dir's upper/ and work/ and releases the lease,
 * each step skipped when already done, so it can be repeated after a crash. */
int imagecache_rootfs_release (struct imagecache_store *store,
                               const struct imagecache_rootfs_options *opts, unsigned flags,
                               berth_err *err);

/* ------------------------------------------------------------------ garbage collection */

enum imagecache_gc_mode
{
  IMAGECACHE_GC_PRUNE = 0,  /* only content no record or lease uses, and leftovers of crashes */
  IMAGECACHE_GC_WATERMARK,  /* PRUNE, then above the high watermark remove unused images,
                               least recently used first, until below the low watermark */
  IMAGECACHE_GC_ALL_UNUSED, /* PRUNE, then remove every unused image older than min_age */
};

struct imagecache_gc_options
{
  enum imagecache_gc_mode mode;
  const struct imagecache_gc_config *gc; /* NULL: the store's */
  /* Testing: called with the step's name at each point where a kill -9 must leave a
   * consistent store: "pruned" (store lock held, unreferenced content and crash leftovers
   * removed or in trash/), "records" (an image's records removed, its content still there),
   * "swept" (that content removed or in trash/), "unlocked" (lock released, trash/ not yet
   * emptied). `berth image gc --stop-at STEP` stops there so the tests can kill it. */
  void (*step_hook) (const char *step, void *userdata);
  void *step_hook_data;
};

struct imagecache_gc_report
{
  char **images_removed; /* names */
  unsigned blobs_removed, layers_removed, leftovers_removed;
  uint64_t bytes_freed;
  unsigned disk_used_before, disk_used_after; /* percent of the filesystem */
};

void imagecache_gc_report_clear (struct imagecache_gc_report *r);
/* Never removes an image a lease holds, nor content a running pull in any process is
 * using. Interrupted at any point (kill -9), it leaves a consistent store: records are
 * removed first, unreferenced content is renamed into trash/ and deleted from there. */
int imagecache_gc (struct imagecache_store *store, const struct imagecache_gc_options *opts,
                   struct imagecache_gc_report *ret, berth_err *err);

/* Checks the store: every record's manifest, config and layer blobs present, committed
 * blobs matching their digests (full rehash when deep), every layer complete. Problems
 * are listed in *ret_problems (NULL-terminated; empty when consistent). */
int imagecache_store_check (struct imagecache_store *store, bool deep, char ***ret_problems,
                            berth_err *err);

/* ------------------------------------------------------------------ import */

struct imagecache_import_options
{
  const char *name;     /* reference to record the image under; needed when the archive has no
                           name for it; with several images in the archive, an error */
  const char *platform; /* NULL: the store's */
  unsigned flags;       /* IMAGECACHE_PULL_NO_UNPACK */
  imagecache_progress_fn progress;
  void *progress_user;
  struct imagecache_cancel *cancel;
};

/* Imports, without a network, an OCI image layout (a directory with oci-layout and
 * index.json, or a tar of one) or a docker-archive tar (`docker save`). Every blob is
 * verified against its digest. Returns the images recorded. */
int imagecache_import (struct imagecache_store *store, const char *path,
                       const struct imagecache_import_options *opts, struct imagecache_image ***ret,
                       size_t *ret_n, berth_err *err);

#endif

/* berthd's configuration: a KEY=VALUE file (/etc/berth/berthd.conf, in the style of
 * /etc/ecs/ecs.config) whose keys BERTH_<KEY> environment variables override. Typed,
 * validated values; every key and its default are listed once, in BERTH_CONFIG_KEYS below,
 * and documented in docs/configuration.md. */
#ifndef BERTH_AGENT_CONFIG_H
#define BERTH_AGENT_CONFIG_H

#include "common/common.h"
#include "berth-config.h"

#define BERTH_CONFIG_DEFAULT_PATH BERTH_SYSCONFDIR "/berth/berthd.conf"
#define BERTH_CONFIG_ENV_PREFIX   "BERTH_"
#define BERTH_CONFIG_MAX_FILE     (1024 * 1024)

/* Value types. In the file and the environment:
 *   PATH      an absolute path
 *   OPTPATH   an absolute path, or empty for "not set" (NULL in the struct)
 *   STRING    any text
 *   ENUM      one of the words in the key's argument ("a|b|c")
 *   BOOL      true/false, yes/no, on/off, 1/0
 *   UINT      a decimal integer in the key's argument's range ("MIN-MAX")
 *   SIZE      bytes: 4096, 64k, 512m, 2G (powers of 1024)
 *   DURATION  30s, 250ms, 2m, 1h (a bare number is seconds)
 *   LIST      comma-separated words; blanks around items are dropped; empty: an empty list */
enum berth_config_type
{
  BERTH_CONFIG_PATH,
  BERTH_CONFIG_OPTPATH,
  BERTH_CONFIG_STRING,
  BERTH_CONFIG_ENUM,
  BERTH_CONFIG_BOOL,
  BERTH_CONFIG_UINT,
  BERTH_CONFIG_SIZE,
  BERTH_CONFIG_DURATION,
  BERTH_CONFIG_LIST,
};

#define BERTH_CONFIG_CTYPE_PATH     char *
#define BERTH_CONFIG_CTYPE_OPTPATH  char *
#define BERTH_CONFIG_CTYPE_STRING   char *
#define BERTH_CONFIG_CTYPE_ENUM     char *
#define BERTH_CONFIG_CTYPE_BOOL     bool
#define BERTH_CONFIG_CTYPE_UINT     uint64_t
#define BERTH_CONFIG_CTYPE_SIZE     uint64_t
#define BERTH_CONFIG_CTYPE_DURATION uint64_t /* nanoseconds */
#define BERTH_CONFIG_CTYPE_LIST     char **  /* NULL-terminated, never NULL itself */

/* Every key: X(KEY, TYPE, field, "default", "argument", "what it does").
 * A part that needs a setting adds one line here (and its row in docs/configuration.md; a
 * unit test checks that every key is documented with its default). */
#define BERTH_CONFIG_KEYS(X)                                                                       \
  /* directories and sockets */                                                                    \
  X (DATA_DIR, PATH, data_dir, "/var/lib/berth", NULL,                                             \
     "state kept across reboots: tasks, images, IP leases, outbox")                                \
  X (RUN_DIR, PATH, run_dir, "/run/berth", NULL,                                                   \
     "state that ends with the boot: shim sockets, netns and rootfs mounts")                       \
  X (LOG_DIR, PATH, log_dir, "/var/log/berth", NULL,                                               \
     "container logs: LOG_DIR/<task>/<container>.log, JSON lines")                                 \
  X (API_SOCKET, PATH, api_socket, "/run/berth/berthd.sock", NULL,                                 \
     "the local API's unix socket (root only), used by the berth CLI")                             \
  X (INIT_PATH, PATH, init_path, BERTH_LIBEXECDIR "/berth-init", NULL,                             \
     "berth-init, bound into containers that set initProcessEnabled")                              \
  X (RUNTIME_PATH, PATH, runtime_path, BERTH_LIBEXECDIR "/berth-runtime", NULL,                    \
     "the OCI runtime the shims run (berth-runtime; any runtime with runc's command line works)")  \
  X (SHIM_PATH, PATH, shim_path, BERTH_LIBEXECDIR "/berth-shim", NULL,                             \
     "berth-shim, one per task")                                                                   \
  /* berthd's own log */                                                                           \
  X (LOG_LEVEL, ENUM, log_level, "info", "error|warning|info|debug", "berthd's log level")         \
  X (LOG_FORMAT, ENUM, log_format, "plain", "plain|json", "berthd's log lines: text or JSON")      \
  /* task sources */                                                                               \
  X (TASK_SOURCES, LIST, task_sources, "dir:/etc/berth/tasks.d", NULL,                             \
     "where tasks come from: dir:/PATH (task files) or http(s)://URL (a control endpoint)")        \
  X (ENDPOINT_TOKEN_FILE, OPTPATH, endpoint_token_file, "", NULL,                                  \
     "file holding the bearer token for the control endpoint, read at each connect")               \
  X (ENDPOINT_CA_FILE, OPTPATH, endpoint_ca_file, "", NULL,                                        \
     "PEM trust anchors for the endpoint's TLS (empty: the system's)")                             \
  X (ENDPOINT_CERT_FILE, OPTPATH, endpoint_cert_file, "", NULL,                                    \
     "TLS client certificate for the endpoint (empty: none)")                                      \
  X (ENDPOINT_KEY_FILE, OPTPATH, endpoint_key_file, "", NULL, "the client certificate's key")      \
  X (ENDPOINT_ALLOW_PLAIN_HTTP, BOOL, endpoint_allow_plain_http, "false", NULL,                    \
     "allow an http:// endpoint (tokens and tasks travel in clear text)")                          \
  X (ENDPOINT_MAX_RESPONSE_SIZE, SIZE, endpoint_max_response_size, "16MiB", NULL,                  \
     "endpoint responses larger than this are rejected")                                           \
  /* cgroups and resources */                                                                      \
  X (CGROUP_ROOT, STRING, cgroup_root, "", NULL,                                                   \
     "berth's cgroup root in every hierarchy: empty for berthd's own cgroup (nothing is made "    \
     "beside it), /a/b for that path, a/b for that path below berthd's own cgroup")                \
  X (RESERVED_CPU, UINT, reserved_cpu, "0", "0-4294967295",                                        \
     "CPU units (1024 per core) the resource ledger keeps back for the host")                      \
  X (RESERVED_MEMORY, SIZE, reserved_memory, "0", NULL,                                            \
     "memory the resource ledger keeps back for the host")                                         \
  /* task engine */                                                                                \
  X (CONTAINER_STOP_TIMEOUT, DURATION, container_stop_timeout, "30s", NULL,                        \
     "wait after the stop signal before SIGKILL, when stopTimeout is not set")                     \
  X (CONTAINER_START_TIMEOUT, DURATION, container_start_timeout, "3m", NULL,                       \
     "how long a container may take to start before the task fails")                               \
  X (STOPPED_TASK_RETENTION, DURATION, stopped_task_retention, "3h", NULL,                         \
     "how long a stopped task (its state, rootfs and logs) is kept before cleanup")                \
  X (CONTAINER_LOG_MAX_SIZE, SIZE, container_log_max_size, "10MiB", NULL,                          \
     "a container log file is rotated at this size (logConfiguration max-size overrides)")         \
  X (CONTAINER_LOG_MAX_FILES, UINT, container_log_max_files, "5", "1-1000",                        \
     "rotated log files kept per container, the live one included (max-file overrides)")           \
  /* host policy: what task definitions may ask for */                                             \
  X (ALLOW_PRIVILEGED, BOOL, allow_privileged, "false", NULL,                                      \
     "allow containers with privileged: true (every capability, every device, no seccomp)")        \
  X (ALLOWED_CAPABILITIES, LIST, allowed_capabilities, "", NULL,                                   \
     "capabilities beyond Docker's default 14 that linuxParameters.capabilities.add may ask for "  \
     "(NET_ADMIN,SYS_PTRACE; ALL for any)")                                                        \
  X (ALLOW_EBPF_SIDECARS, BOOL, allow_ebpf_sidecars, "false", NULL,                                \
     "allow containers marked berth.containers.<name>.ebpfSidecar (CAP_BPF, CAP_PERFMON)")         \
  X (ALLOW_HOST_NETWORK, BOOL, allow_host_network, "false", NULL,                                  \
     "allow networkMode host (the task shares the host's network stack)")                          \
  X (ALLOW_HOST_NAMESPACES, BOOL, allow_host_namespaces, "false", NULL,                            \
     "allow pidMode host and ipcMode host")                                                        \
  X (ALLOWED_HOST_PATHS, LIST, allowed_host_paths, "", NULL,                                       \
     "host directories (and what is below them) that volumes[].host.sourcePath may bind")          \
  X (ALLOWED_DEVICES, LIST, allowed_devices, "", NULL,                                             \
     "host device nodes that linuxParameters.devices may pass in")                                 \
  /* images (imagecache) */                                                                        \
  X (IMAGE_PULL_POLICY, ENUM, image_pull_policy, "if-not-present", "always|if-not-present|never",  \
     "when to pull a task's image (berth.pullPolicy overrides per task)")                          \
  X (IMAGE_CREDENTIALS_FILE, OPTPATH, image_credentials_file, "", NULL,                            \
     "docker config.json with registry credentials (empty: anonymous pulls)")                      \
  X (IMAGE_CA_FILE, OPTPATH, image_ca_file, "", NULL,                                              \
     "PEM trust anchors for registries (empty: the system's)")                                     \
  X (IMAGE_INSECURE_REGISTRIES, LIST, image_insecure_registries, "", NULL,                         \
     "registries (host[:port]) reached over plain HTTP")                                           \
  X (IMAGE_MAX_DOWNLOADS_PER_PULL, UINT, image_max_downloads_per_pull, "3", "1-64",                \
     "blobs one pull downloads at once")                                                           \
  X (IMAGE_MAX_DOWNLOADS, UINT, image_max_downloads, "6", "1-256",                                 \
     "blobs downloaded at once in all")                                                            \
  X (IMAGE_MAX_UNPACKS, UINT, image_max_unpacks, "0", "0-256",                                     \
     "layers unpacked at once (0: one per CPU)")                                                   \
  X (IMAGE_PULL_RETRIES, UINT, image_pull_retries, "5", "0-100",                                   \
     "attempts after a server error, a reset or a stall")                                          \
  X (IMAGE_STALL_TIMEOUT, DURATION, image_stall_timeout, "30s", NULL,                              \
     "a download with no byte for this long is retried")                                           \
  X (IMAGE_CONNECT_TIMEOUT, DURATION, image_connect_timeout, "30s", NULL,                          \
     "registry connection timeout")                                                                \
  X (IMAGE_MAX_LAYER_SIZE, SIZE, image_max_layer_size, "32GiB", NULL,                              \
     "largest unpacked layer accepted")                                                            \
  X (IMAGE_MAX_IMAGE_SIZE, SIZE, image_max_image_size, "64GiB", NULL,                              \
     "largest image (compressed blobs) accepted")                                                  \
  X (IMAGE_MAX_LAYER_ENTRIES, UINT, image_max_layer_entries, "2000000", "1-1000000000",           \
     "most entries (files, directories, links) in one image layer: bounds the inodes a layer uses") \
  X (IMAGE_ALLOW_DEVICES, BOOL, image_allow_devices, "false", NULL,                                \
     "accept device nodes in image layers")                                                        \
  X (IMAGE_GC_HIGH_WATERMARK, UINT, image_gc_high_watermark, "85", "1-100",                        \
     "percent of the image store's filesystem in use that starts image GC")                        \
  X (IMAGE_GC_LOW_WATERMARK, UINT, image_gc_low_watermark, "80", "0-100",                          \
     "percent image GC frees down to")                                                             \
  X (IMAGE_GC_MIN_AGE, DURATION, image_gc_min_age, "2m", NULL,                                     \
     "an image unused for less than this is never collected")                                      \
  X (IMAGE_GC_INTERVAL, DURATION, image_gc_interval, "5m", NULL,                                   \
     "how often berthd runs image GC by watermark (and syncs unpacked layers); 0 never")           \
  X (IMAGE_PLATFORM, STRING, image_platform, "", NULL,                                             \
     "os/arch[/variant] picked from multi-platform images (empty: this host's)")

#define BERTH_CONFIG_FIELD(key, type, field, def, arg, doc) BERTH_CONFIG_CTYPE_##type field;

struct berth_config
{
  BERTH_CONFIG_KEYS (BERTH_CONFIG_FIELD)
  /* Where each value came from, for `berthd --print-config`: "default", the file name with
   * its line ("/etc/berth/berthd.conf:3") or "environment". Indexed like the key table. */
  char **origins;
  /* BERTH_* variables in the environment that are not keys (likely typos: berthd warns). */
  char **unknown_env;
  /* Keys with a prefix another part owns (NET_*: netns_config_set), as "KEY=VALUE" in the
   * order read (file, then environment), each with its origin in delegated_origins. The
   * owner validates them. */
  char **delegated;
  char **delegated_origins;
};

/* Key prefixes berth_config passes through to the part that owns them. */
#define BERTH_CONFIG_DELEGATED_PREFIXES { "NET_", NULL }

struct berth_config_key
{
  const char *name; /* "DATA_DIR"; the environment variable is BERTH_DATA_DIR */
  enum berth_config_type type;
  size_t offset; /* of the field in struct berth_config */
  const char *default_value;
  const char *arg; /* ENUM: "a|b|c"; UINT: "MIN-MAX"; else NULL */
  const char *doc;
};

/* The key table, in the order of BERTH_CONFIG_KEYS. */
const struct berth_config_key *berth_config_keys (size_t *ret_n);

/* Reads path (NULL: BERTH_CONFIG_DEFAULT_PATH) and then the environment (envp, "K=V"
 * strings; NULL: the process's). A missing file is an error only when must_exist (berthd
 * runs on defaults without one). Errors name the file and line or the variable:
 *   "/etc/berth/berthd.conf:7: unknown key `DATA_DRI`"
 *   "BERTH_RESERVED_MEMORY (environment): `lots` is not a size (4096, 64k, 512m, 2G)" */
int berth_config_load (const char *path, bool must_exist, char *const *envp,
                       struct berth_config **ret, berth_err *err);
/* Same, from text in memory (what names the text in errors). For tests and fuzzing. */
int berth_config_parse (const char *text, size_t len, const char *what, char *const *envp,
                        struct berth_config **ret, berth_err *err);
void berth_config_free (struct berth_config *cfg);
void cleanup_berth_configp (struct berth_config **cfg);
#define cleanup_berth_config __attribute__ ((cleanup (cleanup_berth_configp)))

/* Fills the image cache's configuration from the IMAGE_* keys (cfg initialised with
 * imagecache_config_init first; the strings are copied). */
struct imagecache_config;
void berth_config_imagecache (const struct berth_config *cfg, struct imagecache_config *ret);

/* The value of key i as it would be written in the file ("30s" is written as "30s"). */
char *berth_config_format (const struct berth_config *cfg, size_t i);
/* The effective configuration as a file berth_config_parse reads back: for each key a
 * "# origin" comment line and a KEY=VALUE line (`berthd --print-config`). */
char *berth_config_dump (const struct berth_config *cfg);

#endif

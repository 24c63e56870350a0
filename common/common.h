/* berth common library: the one header the rest of the project includes.
 * Owns the error type, logging, checked number parsing, json-c helpers that name the
 * JSON path of a bad value, safe filesystem helpers and small allocation/cleanup utilities. */
#ifndef BERTH_COMMON_H
#define BERTH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <json-c/json.h>

/* ------------------------------------------------------------------ compiler helpers */

#define LIKELY(x) __builtin_expect (!!(x), 1)
#define UNLIKELY(x) __builtin_expect (!!(x), 0)
#define BERTH_PRINTF(a, b) __attribute__ ((format (printf, a, b)))
#define BERTH_WUR __attribute__ ((warn_unused_result))
#define BERTH_UNUSED __attribute__ ((unused))
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

/* ------------------------------------------------------------------ allocation
 * Out of memory aborts: there is no sensible recovery in a container runtime, and
 * threading ENOMEM through every caller hides the errors that matter. */

void *xmalloc (size_t size);
void *xzalloc (size_t size);
void *xrealloc (void *p, size_t size);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) BERTH_PRINTF (1, 2);
void *xmemdup (const void *p, size_t n);

/* Hand ownership over: `*out = steal_pointer (&p);` leaves p NULL for its cleanup. */
static inline void *
steal_pointer_impl (void *pp)
{
  void **p = (void **) pp;
  void *v = *p;
  *p = NULL;
  return v;
}
#define steal_pointer(pp) ((__typeof__ (*(pp))) steal_pointer_impl (pp))

static inline int
steal_fd (int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}

void cleanup_freep (void *p);
void cleanup_closep (int *fd);
void cleanup_fclosep (FILE **f);
void cleanup_json_putp (json_object **o);
void cleanup_strvp (char ***v);
void cleanup_closedirp (void *d);

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_fclose __attribute__ ((cleanup (cleanup_fclosep)))
#define cleanup_json __attribute__ ((cleanup (cleanup_json_putp)))
#define cleanup_strv __attribute__ ((cleanup (cleanup_strvp)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_closedirp)))

/* NULL-terminated string vectors. */
size_t strv_len (char *const *v);
void strv_free (char **v);
char **strv_dup (char *const *v);
/* Appends a copy of s; *v may be NULL. */
void strv_append (char ***v, const char *s);
bool strv_contains (char *const *v, const char *s);

bool str_has_prefix (const char *s, const char *prefix);
bool str_has_suffix (const char *s, const char *suffix);
/* Any string (a URL, a source name) as one file name: [A-Za-z0-9._-] are kept, every other
 * byte and a leading '.' become %XX, so distinct strings never share a name and the result
 * is never "", "." or "..". Not bounded: check NAME_MAX where it matters. */
char *berth_name_escape (const char *s);

/* ------------------------------------------------------------------ errors
 * A function that can fail takes `berth_err *err`, returns a negative value and fills
 * *err with the errno (0 when the failure is not a system error) and a message. Callers
 * add context with berth_err_wrap() or inspect berth_err_code() to fall back. */

struct berth_error
{
  int code;  /* errno value, 0 for a logical error (bad input, unsupported setting) */
  char *msg; /* context chain, most general first: "create `x`: mount proc: ..." */
};
typedef struct berth_error *berth_err;

/* Sets *err (freeing any earlier one) and returns -code, or -EINVAL when code is 0.
 * When code is non-zero, ": strerror(code)" is appended to the message. */
int berth_err_set (berth_err *err, int code, const char *fmt, ...) BERTH_PRINTF (3, 4);
int berth_err_setv (berth_err *err, int code, const char *fmt, va_list ap) BERTH_PRINTF (3, 0);
/* Prefixes context to the existing error: "ctx: old". Returns the same value as set. */
int berth_err_wrap (berth_err *err, const char *fmt, ...) BERTH_PRINTF (2, 3);
int berth_err_code (const berth_err *err);
const char *berth_err_msg (const berth_err *err);
/* The negative return value an error stands for. */
int berth_err_ret (const berth_err *err);
void berth_err_free (berth_err *err);
/* Moves src into *dst (freeing *dst first). */
void berth_err_move (berth_err *dst, berth_err *src);

#define cleanup_err __attribute__ ((cleanup (berth_err_free)))

/* ------------------------------------------------------------------ logging
 * Library code never logs: it returns errors. Programs log. */

enum berth_log_level
{
  BERTH_LOG_ERROR = 0,
  BERTH_LOG_WARNING,
  BERTH_LOG_INFO,
  BERTH_LOG_DEBUG,
};

enum berth_log_format
{
  BERTH_LOG_PLAIN = 0,
  BERTH_LOG_JSON, /* one object a line: {"level","msg","time"} as runc and crun write */
};

/* Program name for plain lines; fd defaults to 2. Takes ownership of nothing. */
void berth_log_init (const char *program, int fd, enum berth_log_format format,
                     enum berth_log_level level);
/* Opens (O_APPEND, O_CREAT) and uses a log file; returns -errno. */
int berth_log_open_file (const char *path, berth_err *err);
void berth_log_set_level (enum berth_log_level level);
enum berth_log_level berth_log_get_level (void);
void berth_log_set_format (enum berth_log_format format);
int berth_log_parse_level (const char *s, enum berth_log_level *ret);
void berth_log (enum berth_log_level level, const char *fmt, ...) BERTH_PRINTF (2, 3);
void berth_logv (enum berth_log_level level, const char *fmt, va_list ap) BERTH_PRINTF (2, 0);
/* Logs an error's message at the given level. */
void berth_log_err (enum berth_log_level level, const berth_err *err);

#define log_error(...) berth_log (BERTH_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) berth_log (BERTH_LOG_WARNING, __VA_ARGS__)
#define log_info(...) berth_log (BERTH_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
  do                                                                                               \
    {                                                                                              \
      if (UNLIKELY (berth_log_get_level () >= BERTH_LOG_DEBUG))                                    \
        berth_log (BERTH_LOG_DEBUG, __VA_ARGS__);                                                  \
    }                                                                                              \
  while (0)

/* ------------------------------------------------------------------ numbers
 * Checked parsing: the whole string must be a number, no sign surprises, no overflow.
 * Return 0, -EINVAL (not a number) or -ERANGE. */

int berth_parse_int64 (const char *s, int64_t *ret);
int berth_parse_uint64 (const char *s, uint64_t *ret);
int berth_parse_int32 (const char *s, int32_t *ret);
int berth_parse_uint32 (const char *s, uint32_t *ret);
int berth_parse_int (const char *s, int *ret);
/* Octal mode such as "0755" or "755" (at most 07777). */
int berth_parse_mode (const char *s, mode_t *ret);
/* Byte sizes: "4096", "64k", "64KiB", "512m", "2G" (powers of 1024), "max" is refused. */
int berth_parse_size (const char *s, uint64_t *ret);
/* Durations: "30s", "250ms", "2m", "1h", "100us"; a bare number is seconds. */
int berth_parse_duration_ns (const char *s, uint64_t *ret);
int berth_parse_bool (const char *s, bool *ret);

/* ------------------------------------------------------------------ time */

uint64_t berth_now_ns (void);       /* CLOCK_MONOTONIC */
uint64_t berth_realtime_ns (void);  /* CLOCK_REALTIME */
/* RFC 3339 with nanoseconds, UTC: "2026-11-28T07:35:32.123456789Z". buf >= 40 bytes. */
char *berth_format_rfc3339 (uint64_t realtime_ns, char *buf, size_t len);
#define BERTH_RFC3339_LEN 40

/* ------------------------------------------------------------------ JSON helpers
 * Getters take the JSON path of the parent object ("" for the document root, "process",
 * "mounts[3]") so that an error names exactly the value at fault:
 *   "process.rlimits[1].hard: expected an integer, got string".
 * Return 1 when the key is present, 0 when absent and optional, negative on error. */

#define BJSON_REQUIRED 1u

/* "parent.key", or "key" at the root. */
char *bjson_path_key (const char *parent, const char *key);
/* "parent[i]". */
char *bjson_path_index (const char *parent, size_t i);

/* Parses a whole document; trailing garbage and documents over max_len are errors. */
int bjson_parse (const char *text, size_t len, const char *what, json_object **ret,
                 berth_err *err);
int bjson_parse_file_at (int dirfd, const char *path, size_t max_len, json_object **ret,
                         berth_err *err);
const char *bjson_type_name (json_type t);

int bjson_get (json_object *obj, const char *path, const char *key, json_type type,
               unsigned flags, json_object **ret, berth_err *err);
int bjson_get_string (json_object *obj, const char *path, const char *key, unsigned flags,
                      const char **ret, berth_err *err);
int bjson_get_bool (json_object *obj, const char *path, const char *key, unsigned flags,
                    bool *ret, berth_err *err);
int bjson_get_int64 (json_object *obj, const char *path, const char *key, unsigned flags,
                     int64_t min, int64_t max, int64_t *ret, berth_err *err);
int bjson_get_uint64 (json_object *obj, const char *path, const char *key, unsigned flags,
                      uint64_t max, uint64_t *ret, berth_err *err);
int bjson_get_uint32 (json_object *obj, const char *path, const char *key, unsigned flags,
                      uint32_t *ret, berth_err *err);
int bjson_get_int32 (json_object *obj, const char *path, const char *key, unsigned flags,
                     int32_t *ret, berth_err *err);
/* An array of strings, as an allocated NULL-terminated vector (empty array: empty vector). */
int bjson_get_strv (json_object *obj, const char *path, const char *key, unsigned flags,
                    char ***ret, berth_err *err);
/* An object of string values, as a "key=value" vector (for annotations, env maps). */
int bjson_get_string_map (json_object *obj, const char *path, const char *key, unsigned flags,
                          char ***ret, berth_err *err);

/* Value-level checks, for array elements. path is the value's own path. */
int bjson_expect (json_object *val, const char *path, json_type type, berth_err *err);
int bjson_value_int64 (json_object *val, const char *path, int64_t min, int64_t max,
                       int64_t *ret, berth_err *err);
int bjson_value_uint64 (json_object *val, const char *path, uint64_t max, uint64_t *ret,
                        berth_err *err);

/* Every key of obj must be in known (NULL-terminated), or the error names the first
 * unknown one. Used where an unknown key could be a setting silently ignored. */
int bjson_check_keys (json_object *obj, const char *path, const char *const *known,
                      berth_err *err);

/* Serialises compactly; the returned string is owned by obj (json-c semantics). */
const char *bjson_to_string (json_object *obj);

/* ------------------------------------------------------------------ filesystem
 * Every fd is O_CLOEXEC. Paths are resolved "fd first, path second". */

/* Opens path beneath rootfd as if rootfd were "/": symlinks and ".." never leave it.
 * Uses openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) where the kernel has it, and a
 * component-by-component walk with O_NOFOLLOW otherwise. flags may include O_CREAT
 * (the last component is created inside root) and O_PATH. */
int berth_open_in_root (int rootfd, const char *path, int flags, mode_t mode, berth_err *err);
/* Same, but never uses openat2 (exposed so the fallback is tested everywhere). */
int berth_open_in_root_walk (int rootfd, const char *path, int flags, mode_t mode,
                             berth_err *err);
/* mkdir -p beneath rootfd with the same containment; returns an O_PATH|O_DIRECTORY fd
 * of the last directory (or 0 with ret_fd NULL). */
int berth_mkdir_in_root (int rootfd, const char *path, mode_t mode, int *ret_fd, berth_err *err);

/* Whole-file read; fails with EFBIG beyond max_len. *ret is NUL-terminated. */
int berth_read_fd (int fd, size_t max_len, char **ret, size_t *ret_len, berth_err *err);
int berth_read_file_at (int dirfd, const char *path, size_t max_len, char **ret,
                        size_t *ret_len, berth_err *err);
/* Writes len bytes with one write() where the kernel allows (cgroup/proc files want
 * one write per value); loops on short writes to regular files. */
int berth_write_all (int fd, const void *data, size_t len);
/* open(O_WRONLY|O_CLOEXEC[|O_TRUNC]) + one write; for proc, sys and cgroup files. */
int berth_write_file_at (int dirfd, const char *path, const void *data, size_t len,
                         berth_err *err);
/* Crash-safe replace: temp file in the same directory, fsync, rename over name, fsync
 * the directory. Readers see the old content or the new, never a mix. */
int berth_write_file_atomic_at (int dirfd, const char *name, const void *data, size_t len,
                                mode_t mode, berth_err *err);
/* The same replace without the fsyncs: readers still see the old content or the new, but a
 * crash may lose it. For state that does not outlive a reboot anyway (/run). */
int berth_write_file_replace_at (int dirfd, const char *name, const void *data, size_t len,
                                 mode_t mode, berth_err *err);
int berth_fsync_dir_at (int dirfd, const char *path, berth_err *err);
/* mkdir -p, following symlinks as the kernel does (for trusted host paths). */
int berth_mkdir_p (const char *path, mode_t mode, berth_err *err);
/* rm -rf beneath dirfd; never follows symlinks and never crosses into another mount. */
int berth_rm_rf_at (int dirfd, const char *path, berth_err *err);
/* Path exists (lstat). */
bool berth_exists_at (int dirfd, const char *path);

/* ------------------------------------------------------------------ event loop, spawning */

#include "common/loop.h"
#include "common/process.h"

/* ------------------------------------------------------------------ misc */

/* Reads an environment-free, hostile-input-safe integer from a /proc-style file. */
int berth_read_uint64_file_at (int dirfd, const char *path, uint64_t *ret, berth_err *err);

#endif

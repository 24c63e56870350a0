/* Logging for berth's programs: leveled, plain text or JSON lines, to stderr or a file.
 * Each line is written with one write() so concurrent writers never interleave a line. */
#include "common.h"

static struct
{
  char program[32];
  int fd;
  bool owns_fd;
  enum berth_log_format format;
  enum berth_log_level level;
} log_state = { "berth", 2, false, BERTH_LOG_PLAIN, BERTH_LOG_INFO };

static const char *const level_names[] = {
  [BERTH_LOG_ERROR] = "error",
  [BERTH_LOG_WARNING] = "warning",
  [BERTH_LOG_INFO] = "info",
  [BERTH_LOG_DEBUG] = "debug",
};

void
berth_log_init (const char *program, int fd, enum berth_log_format format,
                enum berth_log_level level)
{
  if (program)
    snprintf (log_state.program, sizeof log_state.program, "%s", program);
  if (log_state.owns_fd && log_state.fd != fd)
    close (log_state.fd);
  log_state.fd = fd;
  log_state.owns_fd = false;
  log_state.format = format;
  log_state.level = level;
}

int
berth_log_open_file (const char *path, berth_err *err)
{
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return berth_err_set (err, errno, "open log file `%s`", path);
  if (log_state.owns_fd)
    close (log_state.fd);
  log_state.fd = fd;
  log_state.owns_fd = true;
  return 0;
}

void
berth_log_set_level (enum berth_log_level level)
{
  log_state.level = level;
}

enum berth_log_level
berth_log_get_level (void)
{
  return log_state.level;
}

void
berth_log_set_format (enum berth_log_format format)
{
  log_state.format = format;
}

int
berth_log_parse_level (const char *s, enum berth_log_level *ret)
{
  for (size_t i = 0; i < ARRAY_SIZE (level_names); i++)
    if (strcasecmp (s, level_names[i]) == 0)
      {
        *ret = (enum berth_log_level) i;
        return 0;
      }
  if (strcasecmp (s, "warn") == 0)
    {
      *ret = BERTH_LOG_WARNING;
      return 0;
    }
  return -EINVAL;
}

void
berth_logv (enum berth_log_level level, const char *fmt, va_list ap)
{
  int saved = errno;
  char *msg, *line;

  if (level > log_state.level)
    return;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  if (log_state.format == BERTH_LOG_JSON)
    {
      char ts[BERTH_RFC3339_LEN];
      json_object *o = json_object_new_object ();
      json_object_object_add (o, "level", json_object_new_string (level_names[level]));
      json_object_object_add (o, "msg", json_object_new_string (msg));
      json_object_object_add (
          o, "time", json_object_new_string (berth_format_rfc3339 (berth_realtime_ns (), ts, sizeof ts)));
      line = xasprintf ("%s\n", json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN
                                                                    | JSON_C_TO_STRING_NOSLASHESCAPE));
      json_object_put (o);
    }
  else
    line = xasprintf ("%s: %s%s%s\n", log_state.program,
                      level == BERTH_LOG_INFO ? "" : level_names[level],
                      level == BERTH_LOG_INFO ? "" : ": ", msg);
  if (berth_write_all (log_state.fd, line, strlen (line)) < 0 && log_state.fd != 2)
    (void) berth_write_all (2, line, strlen (line));
  free (line);
  free (msg);
  errno = saved;
}

void
berth_log (enum berth_log_level level, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  berth_logv (level, fmt, ap);
  va_end (ap);
}

void
berth_log_err (enum berth_log_level level, const berth_err *err)
{
  berth_log (level, "%s", berth_err_msg (err));
}

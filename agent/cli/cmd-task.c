/* berth's task commands over berthd's local API: run, ps, inspect, logs, exec, stop, rm,
 * events, stats, info. */
#include "common/common.h"
#include "cli.h"
#include "client.h"
#include "cmd-task.h"

#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>

static int
fail (berth_err *err)
{
  log_error ("%s", berth_err_msg (err));
  return 1;
}

static int
simple_call (const char *op, json_object *args, json_object **ret)
{
  struct api_client c = { .fd = -1 };
  cleanup_err berth_err err = NULL;
  int r;
  if (api_client_connect (&c, &err) < 0)
    {
      json_object_put (args);
      return fail (&err);
    }
  r = api_client_call (&c, op, args, NULL, 0, ret, NULL, &err);
  api_client_close (&c);
  if (r < 0)
    return fail (&err);
  return 0;
}

static const char *
str_field (json_object *o, const char *key)
{
  const char *s = NULL;
  if (bjson_get_string (o, "", key, 0, &s, NULL) <= 0 || s == NULL)
    return "";
  return s;
}

/* Options of the commands that take no argument but flags: anything else is an error that
   names it (a flag the user mistyped must not be ignored). */
struct flag
{
  const char *short_name, *long_name;
  bool *set;
};

static int
parse_flags (int argc, char **argv, const char *cmd, const struct flag *flags, size_t n_flags,
             int max_positional, int *ret_first_positional)
{
  int positional = 0, first = argc;
  for (int i = 1; i < argc; i++)
    {
      size_t k;
      if (argv[i][0] != '-' || argv[i][1] == '\0')
        {
          if (positional++ == 0)
            first = i;
          if (positional > max_positional)
            {
              log_error ("%s: unexpected argument `%s` (see berth %s --help)", cmd, argv[i], cmd);
              return -1;
            }
          continue;
        }
      if (argv[i][1] != '-' && argv[i][2] != '\0')
        {
          /* short flags together, as in `ps -aq` */
          for (const char *c = argv[i] + 1; *c; c++)
            {
              for (k = 0; k < n_flags; k++)
                if (flags[k].short_name && flags[k].short_name[1] == *c)
                  break;
              if (k == n_flags)
                {
                  log_error ("%s: unknown option `-%c` in `%s` (see berth %s --help)", cmd, *c,
                             argv[i], cmd);
                  return -1;
                }
              *flags[k].set = true;
            }
          continue;
        }
      for (k = 0; k < n_flags; k++)
        if ((flags[k].short_name && strcmp (argv[i], flags[k].short_name) == 0)
            || (flags[k].long_name && strcmp (argv[i], flags[k].long_name) == 0))
          break;
      if (k == n_flags)
        {
          log_error ("%s: unknown option `%s` (see berth %s --help)", cmd, argv[i], cmd);
          return -1;
        }
      *flags[k].set = true;
    }
  if (ret_first_positional)
    *ret_first_positional = first;
  return 0;
}

/* ------------------------------------------------------------------ run */

static int
cmd_run (int argc, char **argv)
{
  cleanup_json json_object *def = NULL;
  cleanup_err berth_err err = NULL;
  json_object *args, *reply = NULL;
  const char *file = NULL;
  bool wait = false;
  int r;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--wait") == 0)
        wait = true;
      else if (strcmp (argv[i], "--help") == 0)
        {
          printf ("Usage: berth run [--wait] TASKDEF.json\n"
                  "Starts an ECS task definition now and prints the task's id. --wait waits\n"
                  "until the task is RUNNING (or STOPPED) and prints its IP address too.\n");
          return 0;
        }
      else if (file == NULL)
        file = argv[i];
      else
        {
          log_error ("run: one task definition file");
          return 2;
        }
    }
  if (file == NULL)
    {
      log_error ("run: a task definition file is required (berth run TASKDEF.json)");
      return 2;
    }
  if (bjson_parse_file_at (AT_FDCWD, file, 1 << 20, &def, &err) < 0)
    return fail (&err);
  if (!json_object_is_type (def, json_type_object))
    {
      log_error ("%s: a task definition is a JSON object", file);
      return 1;
    }
  {
    struct api_client c = { .fd = -1 };
    const char *task;
    if (api_client_connect (&c, &err) < 0)
      return fail (&err);
    if (wait)
      api_client_call (&c, "events", NULL, NULL, 0, NULL, NULL, NULL);
    args = json_object_new_object ();
    json_object_object_add (args, "definition", json_object_get (def));
    r = api_client_call (&c, "run", args, NULL, 0, &reply, NULL, &err);
    if (r < 0)
      {
        api_client_close (&c);
        json_object_put (reply);
        return fail (&err);
      }
    task = str_field (reply, "task_id");
    printf ("%s\n", task);
    fflush (stdout);
    while (wait)
      {
        json_object *ev = NULL, *change = NULL;
        const char *status;
        if (api_client_next_event (&c, &ev, &err) < 0)
          {
            json_object_put (reply);
            api_client_close (&c);
            return fail (&err);
          }
        json_object_object_get_ex (ev, "change", &change);
        if (change && strcmp (str_field (change, "task_id"), task) == 0)
          {
            status = str_field (change, "status");
            if (strcmp (status, "RUNNING") == 0)
              {
                printf ("RUNNING %s\n", str_field (change, "ip"));
                wait = false;
              }
            else if (strcmp (status, "STOPPED") == 0)
              {
                printf ("STOPPED %s: %s\n", str_field (change, "stop_code"),
                        str_field (change, "reason"));
                json_object_put (ev);
                json_object_put (reply);
                api_client_close (&c);
                return 1;
              }
          }
        json_object_put (ev);
      }
    json_object_put (reply);
    api_client_close (&c);
  }
  return 0;
}

/* ------------------------------------------------------------------ ps */

static int
cmd_ps (int argc, char **argv)
{
  bool all = false, json = false, quiet = false, help = false;
  const struct flag flags[] = { { "-a", "--all", &all },
                                { "-q", "--quiet", &quiet },
                                { NULL, "--json", &json },
                                { "-h", "--help", &help } };
  json_object *args;
  cleanup_json json_object *reply = NULL;
  json_object *tasks = NULL;

  if (parse_flags (argc, argv, "ps", flags, sizeof flags / sizeof flags[0], 0, NULL) < 0)
    return 2;
  if (help)
    {
      printf ("Usage: berth ps [-a|--all] [-q|--quiet] [--json]\n"
              "Lists tasks (with -a, stopped ones too; with -q, only their ids).\n");
      return 0;
    }
  args = json_object_new_object ();
  json_object_object_add (args, "all", json_object_new_boolean (all));
  if (simple_call ("ps", args, &reply) != 0)
    return 1;
  json_object_object_get_ex (reply, "tasks", &tasks);
  if (quiet)
    {
      for (size_t i = 0; tasks && i < json_object_array_length (tasks); i++)
        printf ("%s\n", str_field (json_object_array_get_idx (tasks, i), "task_id"));
      return 0;
    }
  if (json)
    {
      printf ("%s\n", json_object_to_json_string_ext (tasks, JSON_C_TO_STRING_PRETTY
                                                                 | JSON_C_TO_STRING_NOSLASHESCAPE));
      return 0;
    }
  printf ("%-24s %-16s %-14s %-8s %-15s %s\n", "TASK ID", "FAMILY", "STATUS", "DESIRED", "IP",
          "CONTAINERS");
  for (size_t i = 0; tasks && i < json_object_array_length (tasks); i++)
    {
      json_object *t = json_object_array_get_idx (tasks, i), *ctrs = NULL;
      char cbuf[512] = "";
      size_t off = 0;
      json_object_object_get_ex (t, "containers", &ctrs);
      for (size_t k = 0; ctrs && k < json_object_array_length (ctrs); k++)
        {
          json_object *c = json_object_array_get_idx (ctrs, k), *code = NULL;
          json_object_object_get_ex (c, "exit_code", &code);
          int n = snprintf (cbuf + off, sizeof cbuf - off, "%s%s:%s%s%s", k ? " " : "",
                            str_field (c, "name"), str_field (c, "status"), code ? "/" : "",
                            code ? json_object_get_string (code) : "");
          if (n < 0 || (size_t)n >= sizeof cbuf - off)
            break;
          off += (size_t)n;
        }
      printf ("%-24s %-16s %-14s %-8s %-15s %s\n", str_field (t, "task_id"),
              str_field (t, "family"), str_field (t, "status"), str_field (t, "desired"),
              *str_field (t, "ip") ? str_field (t, "ip") : "-", cbuf);
      if (*str_field (t, "reason"))
        printf ("%-24s   %s\n", "", str_field (t, "reason"));
    }
  return 0;
}

/* ------------------------------------------------------------------ inspect, stop, rm, stats, info
 */

static int
task_op (int argc, char **argv, const char *op, const char *usage)
{
  const char *task = NULL;
  bool force = false;
  json_object *args;
  cleanup_json json_object *reply = NULL;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          printf ("%s\n", usage);
          return 0;
        }
      if (strcmp (op, "rm") == 0
          && (strcmp (argv[i], "-f") == 0 || strcmp (argv[i], "--force") == 0))
        force = true;
      else if (argv[i][0] == '-')
        {
          log_error ("%s: unknown option `%s` (see berth %s --help)", op, argv[i], op);
          return 2;
        }
      else if (task == NULL)
        task = argv[i];
      else
        {
          log_error ("%s: one task", op);
          return 2;
        }
    }
  if (task == NULL)
    {
      log_error ("%s: a task id is required", op);
      return 2;
    }
  args = json_object_new_object ();
  json_object_object_add (args, "task", json_object_new_string (task));
  if (force)
    json_object_object_add (args, "force", json_object_new_boolean (true));
  if (simple_call (op, args, &reply) != 0)
    return 1;
  if (strcmp (op, "inspect") == 0)
    {
      json_object *t = NULL;
      json_object_object_get_ex (reply, "task", &t);
      printf ("%s\n", json_object_to_json_string_ext (t, JSON_C_TO_STRING_PRETTY
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
  else if (strcmp (op, "stop") == 0)
    printf ("%s\n", str_field (reply, "task_id"));
  return 0;
}

static int
cmd_inspect (int argc, char **argv)
{
  return task_op (argc, argv, "inspect",
                  "Usage: berth inspect TASK\nPrints everything berthd knows of a task, as JSON.");
}

static int
cmd_stop (int argc, char **argv)
{
  return task_op (argc, argv, "stop",
                  "Usage: berth stop TASK\nStops a task: each container gets its stop signal, then "
                  "SIGKILL after stopTimeout.");
}

static int
cmd_rm (int argc, char **argv)
{
  return task_op (
      argc, argv, "rm",
      "Usage: berth rm [-f] TASK\nRemoves a stopped task's state and logs (-f: stop it first).");
}

static int
cmd_stats (int argc, char **argv)
{
  bool help = false;
  const struct flag flags[] = { { "-h", "--help", &help } };
  json_object *args;
  cleanup_json json_object *reply = NULL;
  json_object *stats = NULL;
  int first;
  if (parse_flags (argc, argv, "stats", flags, 1, 1, &first) < 0)
    return 2;
  if (help)
    {
      printf ("Usage: berth stats [TASK]\nCPU, memory, pids and I/O of the containers, from their "
              "cgroups, as JSON.\n");
      return 0;
    }
  args = json_object_new_object ();
  if (first < argc)
    json_object_object_add (args, "task", json_object_new_string (argv[first]));
  if (simple_call ("stats", args, &reply) != 0)
    return 1;
  json_object_object_get_ex (reply, "stats", &stats);
  printf ("%s\n", json_object_to_json_string_ext (stats, JSON_C_TO_STRING_PRETTY
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
  return 0;
}

static int
cmd_info (int argc, char **argv)
{
  cleanup_json json_object *reply = NULL;
  json_object *node = NULL;
  bool help = false;
  const struct flag flags[] = { { "-h", "--help", &help } };
  if (parse_flags (argc, argv, "info", flags, 1, 0, NULL) < 0)
    return 2;
  if (help)
    {
      printf ("Usage: berth info\nThe node as berthd sees it (resources, ledger, sources, "
              "cgroups), as JSON.\n");
      return 0;
    }
  if (simple_call ("info", NULL, &reply) != 0)
    return 1;
  json_object_object_get_ex (reply, "node", &node);
  printf ("%s\n", json_object_to_json_string_ext (node, JSON_C_TO_STRING_PRETTY
                                                            | JSON_C_TO_STRING_NOSLASHESCAPE));
  return 0;
}

/* ------------------------------------------------------------------ events */

static int
cmd_events (int argc, char **argv)
{
  struct api_client c = { .fd = -1 };
  cleanup_err berth_err err = NULL;
  bool json = false, help = false;
  const struct flag flags[] = { { NULL, "--json", &json }, { "-h", "--help", &help } };
  if (parse_flags (argc, argv, "events", flags, 2, 0, NULL) < 0)
    return 2;
  if (help)
    {
      printf ("Usage: berth events [--json]\nPrints every task state change as it happens.\n");
      return 0;
    }
  if (api_client_connect (&c, &err) < 0
      || api_client_call (&c, "events", NULL, NULL, 0, NULL, NULL, &err) < 0)
    return fail (&err);
  for (;;)
    {
      json_object *ev = NULL, *ch = NULL, *ctrs = NULL;
      if (api_client_next_event (&c, &ev, &err) < 0)
        {
          api_client_close (&c);
          return fail (&err);
        }
      json_object_object_get_ex (ev, "change", &ch);
      if (ch == NULL)
        ;
      else if (json)
        printf ("%s\n", bjson_to_string (ch));
      else
        {
          printf ("%s %s %s", str_field (ch, "time"), str_field (ch, "task_id"),
                  str_field (ch, "status"));
          json_object_object_get_ex (ch, "containers", &ctrs);
          for (size_t k = 0; ctrs && k < json_object_array_length (ctrs); k++)
            printf (" %s=%s", str_field (json_object_array_get_idx (ctrs, k), "name"),
                    str_field (json_object_array_get_idx (ctrs, k), "status"));
          if (*str_field (ch, "reason"))
            printf (" (%s)", str_field (ch, "reason"));
          printf ("\n");
        }
      fflush (stdout);
      json_object_put (ev);
    }
}

/* ------------------------------------------------------------------ logs */

struct log_reader
{
  char *container;
  char *path;
  FILE *f;
  ino_t ino;
};

static void
print_record (const char *line, const char *prefix, bool timestamps)
{
  json_object *o = NULL;
  const char *stream, *text;
  FILE *out;
  if (bjson_parse (line, strlen (line), "log", &o, NULL) < 0)
    return;
  stream = str_field (o, "stream");
  text = str_field (o, "log");
  out = strcmp (stream, "stderr") == 0 ? stderr : stdout;
  if (prefix)
    fprintf (out, "%s | ", prefix);
  if (timestamps)
    fprintf (out, "%s ", str_field (o, "time"));
  fputs (text, out);
  json_object_put (o);
}

/* Prints what is in f from its position on; keeps a trailing partial line for later. */
static void
drain (struct log_reader *r, const char *prefix, bool timestamps)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long pos = ftell (r->f);
  while ((n = getline (&line, &cap, r->f)) > 0)
    {
      if (line[n - 1] != '\n')
        {
          fseek (r->f, pos, SEEK_SET); /* incomplete: read it again when it is whole */
          break;
        }
      line[n - 1] = '\0';
      print_record (line, prefix, timestamps);
      pos = ftell (r->f);
    }
  clearerr (r->f);
  free (line);
  fflush (stdout);
  fflush (stderr);
}

static void
reader_open (struct log_reader *r)
{
  struct stat st;
  r->f = fopen (r->path, "re");
  r->ino = (r->f && fstat (fileno (r->f), &st) == 0) ? st.st_ino : 0;
}

static int
cmd_logs (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "follow", no_argument, NULL, 'f' },
    { "timestamps", no_argument, NULL, 't' },
    { "tail", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool follow = false, timestamps = false;
  uint32_t tail = 0;
  bool has_tail = false;
  const char *task, *container;
  json_object *args;
  cleanup_json json_object *reply = NULL;
  json_object *logs = NULL;
  struct log_reader *rd;
  size_t n;
  int opt;

  optind = 1;
  while ((opt = getopt_long (argc, argv, "+ftn:h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'f':
        follow = true;
        break;
      case 't':
        timestamps = true;
        break;
      case 'n':
        if (berth_parse_uint32 (optarg, &tail) < 0)
          {
            log_error ("logs: --tail: `%s` is not a number", optarg);
            return 2;
          }
        has_tail = true;
        break;
      case 'h':
        printf (
            "Usage: berth logs [-f] [-t] [--tail N] TASK [CONTAINER]\n"
            "Prints the containers' output (stdout to stdout, stderr to stderr); -f follows it\n"
            "until the task stops.\n");
        return 0;
      default:
        return 2;
      }
  if (optind >= argc)
    {
      log_error ("logs: a task id is required");
      return 2;
    }
  task = argv[optind];
  container = optind + 1 < argc ? argv[optind + 1] : NULL;
  args = json_object_new_object ();
  json_object_object_add (args, "task", json_object_new_string (task));
  if (container)
    json_object_object_add (args, "container", json_object_new_string (container));
  if (simple_call ("logs", args, &reply) != 0)
    return 1;
  json_object_object_get_ex (reply, "logs", &logs);
  n = logs ? json_object_array_length (logs) : 0;
  rd = xzalloc ((n ? n : 1) * sizeof *rd);
  for (size_t i = 0; i < n; i++)
    {
      json_object *l = json_object_array_get_idx (logs, i);
      uint32_t keep = 0;
      rd[i].container = xstrdup (str_field (l, "container"));
      rd[i].path = xstrdup (str_field (l, "path"));
      /* rotated files first, oldest first */
      for (unsigned k = 1000; k >= 1; k--)
        {
          cleanup_free char *old = xasprintf ("%s.%u", rd[i].path, k);
          struct log_reader tmp = { .path = old };
          if (access (old, R_OK) != 0)
            continue;
          if (has_tail)
            continue; /* --tail reads only the live file's end (kept simple and bounded) */
          reader_open (&tmp);
          if (tmp.f)
            {
              drain (&tmp, n > 1 ? rd[i].container : NULL, timestamps);
              fclose (tmp.f);
            }
        }
      reader_open (&rd[i]);
      if (rd[i].f == NULL)
        continue;
      if (has_tail)
        {
          /* count lines, then skip all but the last `tail` */
          char *line = NULL;
          size_t cap = 0;
          uint64_t total = 0;
          while (getline (&line, &cap, rd[i].f) > 0)
            total++;
          rewind (rd[i].f);
          for (uint64_t s = 0; total > tail && s < total - tail; s++)
            if (getline (&line, &cap, rd[i].f) <= 0)
              break;
          free (line);
          (void)keep;
        }
      drain (&rd[i], n > 1 ? rd[i].container : NULL, timestamps);
    }
  if (follow)
    {
      struct api_client ev = { .fd = -1 };
      cleanup_err berth_err err = NULL;
      int in = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
      bool done = false;
      if (api_client_connect (&ev, &err) < 0
          || api_client_call (&ev, "events", NULL, NULL, 0, NULL, NULL, &err) < 0)
        return fail (&err);
      for (size_t i = 0; i < n; i++)
        {
          cleanup_free char *dir = xstrdup (rd[i].path);
          char *slash = strrchr (dir, '/');
          if (slash)
            *slash = '\0';
          inotify_add_watch (in, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
        }
      while (!done)
        {
          struct pollfd p[2]
              = { { .fd = in, .events = POLLIN }, { .fd = ev.fd, .events = POLLIN } };
          if (poll (p, 2, -1) < 0 && errno != EINTR)
            break;
          if (p[0].revents & POLLIN)
            {
              char buf[4096];
              while (read (in, buf, sizeof buf) > 0)
                ;
            }
          if (p[1].revents & (POLLIN | POLLHUP))
            {
              json_object *e = NULL, *ch = NULL;
              if (api_client_next_event (&ev, &e, NULL) < 0)
                done = true;
              else if (json_object_object_get_ex (e, "change", &ch)
                       && strcmp (str_field (ch, "status"), "STOPPED") == 0
                       && str_has_prefix (str_field (ch, "task_id"), task))
                done = true;
              json_object_put (e);
            }
          for (size_t i = 0; i < n; i++)
            {
              struct stat st;
              if (rd[i].f == NULL)
                reader_open (&rd[i]);
              if (rd[i].f == NULL)
                continue;
              drain (&rd[i], n > 1 ? rd[i].container : NULL, timestamps);
              /* rotated: the path is a new file now; finish the old one, then switch */
              if (stat (rd[i].path, &st) == 0 && st.st_ino != rd[i].ino)
                {
                  fclose (rd[i].f);
                  reader_open (&rd[i]);
                  if (rd[i].f)
                    drain (&rd[i], n > 1 ? rd[i].container : NULL, timestamps);
                }
            }
        }
      api_client_close (&ev);
      close (in);
    }
  for (size_t i = 0; i < n; i++)
    {
      if (rd[i].f)
        fclose (rd[i].f);
      free (rd[i].container);
      free (rd[i].path);
    }
  free (rd);
  return 0;
}

/* ------------------------------------------------------------------ exec */

static struct termios saved_termios;
static bool termios_saved;

static void
restore_terminal (void)
{
  if (termios_saved)
    tcsetattr (0, TCSANOW, &saved_termios);
}

static void
copy_winsize (int pty)
{
  struct winsize ws;
  if (ioctl (0, TIOCGWINSZ, &ws) == 0)
    ioctl (pty, TIOCSWINSZ, &ws);
}

static int
cmd_exec (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "interactive", no_argument, NULL, 'i' },
    { "tty", no_argument, NULL, 't' },
    { "container", required_argument, NULL, 'c' },
    { "env", required_argument, NULL, 'e' },
    { "workdir", required_argument, NULL, 'w' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct api_client c = { .fd = -1 };
  cleanup_err berth_err err = NULL;
  bool interactive = false, tty = false;
  const char *container = NULL, *cwd = NULL;
  json_object *args, *jargs, *env = json_object_new_array ();
  cleanup_json json_object *reply = NULL;
  int opt, pty = -1, devnull = -1, code = 255;

  optind = 1;
  while ((opt = getopt_long (argc, argv, "+itc:e:w:h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'i':
        interactive = true;
        break;
      case 't':
        tty = true;
        break;
      case 'c':
        container = optarg;
        break;
      case 'e':
        json_object_array_add (env, json_object_new_string (optarg));
        break;
      case 'w':
        cwd = optarg;
        break;
      case 'h':
        printf ("Usage: berth exec [-i] [-t] [-c CONTAINER] [-e K=V] [-w DIR] TASK CMD [ARG...]\n"
                "Runs a command in a running container of the task (its first container unless\n"
                "-c names one) with the container's user, capabilities and seccomp profile.\n");
        json_object_put (env);
        return 0;
      default:
        json_object_put (env);
        return 2;
      }
  if (argc - optind < 2)
    {
      log_error ("exec: a task and a command are required");
      json_object_put (env);
      return 2;
    }
  args = json_object_new_object ();
  json_object_object_add (args, "task", json_object_new_string (argv[optind]));
  if (container)
    json_object_object_add (args, "container", json_object_new_string (container));
  jargs = json_object_new_array ();
  for (int i = optind + 1; i < argc; i++)
    json_object_array_add (jargs, json_object_new_string (argv[i]));
  json_object_object_add (args, "args", jargs);
  json_object_object_add (args, "env", env);
  if (cwd)
    json_object_object_add (args, "cwd", json_object_new_string (cwd));
  json_object_object_add (args, "tty", json_object_new_boolean (tty));
  if (api_client_connect (&c, &err) < 0)
    {
      json_object_put (args);
      return fail (&err);
    }
  {
    int fds[3] = { 0, 1, 2 };
    if (!interactive)
      fds[0] = devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (api_client_call (&c, "exec", args, tty ? NULL : fds, tty ? 0 : 3, &reply, &pty, &err) < 0)
      {
        api_client_close (&c);
        if (devnull >= 0)
          close (devnull);
        return fail (&err);
      }
  }
  if (devnull >= 0)
    close (devnull);
  if (tty && pty >= 0)
    {
      struct termios raw;
      sigset_t mask;
      bool exited = false;
      int sfd;
      if (isatty (0) && tcgetattr (0, &saved_termios) == 0)
        {
          termios_saved = true;
          atexit (restore_terminal);
          raw = saved_termios;
          cfmakeraw (&raw);
          tcsetattr (0, TCSANOW, &raw);
          copy_winsize (pty);
        }
      sigemptyset (&mask);
      sigaddset (&mask, SIGWINCH);
      sigprocmask (SIG_BLOCK, &mask, NULL);
      sfd = signalfd (-1, &mask, SFD_CLOEXEC);
      while (!exited)
        {
          struct pollfd p[4] = { { .fd = interactive ? 0 : -1, .events = POLLIN },
                                 { .fd = pty, .events = POLLIN },
                                 { .fd = c.fd, .events = POLLIN },
                                 { .fd = sfd, .events = POLLIN } };
          char buf[4096];
          ssize_t n;
          if (poll (p, 4, -1) < 0 && errno != EINTR)
            break;
          if (p[0].revents & POLLIN)
            {
              n = read (0, buf, sizeof buf);
              if (n > 0)
                berth_write_all (pty, buf, (size_t)n);
            }
          if (p[1].revents & (POLLIN | POLLHUP))
            {
              n = read (pty, buf, sizeof buf);
              if (n > 0)
                berth_write_all (1, buf, (size_t)n);
            }
          if (p[3].revents & POLLIN)
            {
              struct signalfd_siginfo si;
              if (read (sfd, &si, sizeof si) > 0)
                copy_winsize (pty);
            }
          if (p[2].revents & (POLLIN | POLLHUP))
            {
              json_object *ev = NULL;
              if (api_client_next_event (&c, &ev, NULL) < 0)
                break;
              if (strcmp (str_field (ev, "event"), "exec-exit") == 0)
                {
                  int32_t v = 255;
                  bjson_get_int32 (ev, "", "exit_code", 0, &v, NULL);
                  code = v;
                  exited = true;
                  /* what the process wrote last is still in the pty */
                  while ((n = read (pty, buf, sizeof buf)) > 0)
                    berth_write_all (1, buf, (size_t)n);
                }
              json_object_put (ev);
            }
        }
      restore_terminal ();
      close (pty);
    }
  else
    for (;;)
      {
        json_object *ev = NULL;
        if (api_client_next_event (&c, &ev, &err) < 0)
          {
            api_client_close (&c);
            return fail (&err);
          }
        if (strcmp (str_field (ev, "event"), "exec-exit") == 0)
          {
            int32_t v = 255;
            bjson_get_int32 (ev, "", "exit_code", 0, &v, NULL);
            code = v;
            json_object_put (ev);
            break;
          }
        json_object_put (ev);
      }
  api_client_close (&c);
  return code;
}

const struct berth_command berth_task_commands[] = {
  { "run", "start a task from an ECS task definition file", cmd_run },
  { "ps", "list tasks", cmd_ps },
  { "inspect", "show a task in full (JSON)", cmd_inspect },
  { "logs", "print (-f: follow) a task's container output", cmd_logs },
  { "exec", "run a command in a running container", cmd_exec },
  { "stop", "stop a task", cmd_stop },
  { "rm", "remove a stopped task", cmd_rm },
  { "events", "print task state changes as they happen", cmd_events },
  { "stats", "container CPU, memory, pids and I/O", cmd_stats },
  { "info", "the node: resources, attributes, tasks", cmd_info },
  { NULL, NULL, NULL },
};

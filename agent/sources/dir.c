/* The directory task source ("dir:/etc/berth/tasks.d"), the embedded default for a single
 * host, like kubelet's static pods: every NAME.json in the directory is a task definition
 * desired RUNNING; a file removed (or changed: a new task replaces the old one) is desired
 * STOPPED. The task's state is written beside it in NAME.json.status, from the outbox.
 * A thread watches the directory with inotify and sleeps otherwise. */
#include "common/common.h"
#include "agent/outbox/outbox.h"
#include "agent/sources/source.h"
#include "agent/sources/dir.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#define DIR_MAX_TASK_FILE (1024 * 1024)
#define DIR_DEBOUNCE_MS 50
#define STATUS_SUFFIX ".status"

struct dir_entry
{
  char *file;    /* NAME.json */
  char *task_id; /* NAME-<hash of the content> */
};

struct dir_source
{
  char *name; /* the source's name: "dir:/path" */
  char *path;
  struct source_sink *sink;
  struct outbox *outbox;
  pthread_t thread;
  bool started;
  int inotify_fd;
  int wake_fd; /* eventfd: stop, or outbox changes */
  pthread_mutex_t lock;
  bool stopping;
  bool outbox_pending;
  uint64_t generation;
  uint64_t acked;
  /* the last scan's files, for the status files */
  struct dir_entry *entries;
  size_t n_entries;
};

/* ------------------------------------------------------------------ task ids */

/* NAME-<12 hex of sha256(content)>: a changed file is a new task. The name part keeps
 * [A-Za-z0-9_.-] and is cut so the id fits in 64 characters. */
static char *
task_id_for (const char *file, const char *content, size_t len)
{
  unsigned char md[32];
  unsigned int mdlen = 0;
  char stem[48];
  size_t n = 0;
  const char *dot = strrchr (file, '.');
  size_t flen = dot ? (size_t) (dot - file) : strlen (file);

  EVP_Digest (content, len, md, &mdlen, EVP_sha256 (), NULL);
  for (size_t i = 0; i < flen && n < sizeof stem - 1; i++)
    {
      char c = file[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
      if (n == 0 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
        continue;
      stem[n++] = ok ? c : '-';
    }
  stem[n] = '\0';
  return xasprintf ("%s%s%02x%02x%02x%02x%02x%02x", stem, n ? "-" : "t-", md[0], md[1], md[2], md[3], md[4], md[5]);
}

/* ------------------------------------------------------------------ status files */

static const char *
file_of_task (struct dir_source *d, const char *task_id)
{
  for (size_t i = 0; i < d->n_entries; i++)
    if (strcmp (d->entries[i].task_id, task_id) == 0)
      return d->entries[i].file;
  return NULL;
}

static void
write_status (struct dir_source *d, const char *file, json_object *status)
{
  cleanup_free char *path = xasprintf ("%s/%s%s", d->path, file, STATUS_SUFFIX);
  const char *text = json_object_to_json_string_ext (status, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  berth_err err = NULL;
  if (berth_write_file_atomic_at (AT_FDCWD, path, text, strlen (text), 0644, &err) < 0)
    {
      log_warning ("%s: %s", d->name, berth_err_msg (&err));
      berth_err_free (&err);
    }
}

static void
flush_outbox (struct dir_source *d)
{
  berth_err err = NULL;
  for (;;)
    {
      json_object *changes = NULL;
      uint64_t last = d->acked;
      size_t n;
      if (outbox_read (d->outbox, d->name, d->acked, 256, 0, &changes, &err) < 0)
        {
          log_warning ("%s: outbox: %s", d->name, berth_err_msg (&err));
          berth_err_free (&err);
          return;
        }
      n = json_object_array_length (changes);
      pthread_mutex_lock (&d->lock);
      for (size_t i = 0; i < n; i++)
        {
          json_object *c = json_object_array_get_idx (changes, i);
          const char *task = NULL;
          int64_t seq = 0;
          bjson_get_string (c, "", "task_id", 0, &task, NULL);
          bjson_get_int64 (c, "", "seq", 0, 0, INT64_MAX, &seq, NULL);
          if (seq > 0 && (uint64_t) seq > last)
            last = (uint64_t) seq;
          /* only the newest change of a task matters for its status file */
          bool newer = false;
          for (size_t k = i + 1; k < n && !newer; k++)
            {
              const char *t2 = NULL;
              bjson_get_string (json_object_array_get_idx (changes, k), "", "task_id", 0, &t2, NULL);
              newer = t2 && task && strcmp (t2, task) == 0;
            }
          if (task && !newer)
            {
              const char *file = file_of_task (d, task);
              if (file)
                write_status (d, file, c);
            }
        }
      pthread_mutex_unlock (&d->lock);
      json_object_put (changes);
      if (n == 0)
        return;
      if (outbox_ack (d->outbox, d->name, last, &err) < 0)
        {
          log_warning ("%s: outbox ack: %s", d->name, berth_err_msg (&err));
          berth_err_free (&err);
          return;
        }
      d->acked = last;
    }
}

/* ------------------------------------------------------------------ scanning */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Reads every *.json: the complete desired set. A file that is not a JSON object cannot
 * become a task; its status file says why. */
static void
scan (struct dir_source *d)
{
  cleanup_dir DIR *dir = opendir (d->path);
  struct source_update *u = xzalloc (sizeof *u);
  struct dir_entry *entries = NULL;
  size_t n = 0, cap = 0;
  char **files = NULL;
  struct dirent *de;

  if (dir == NULL)
    {
      /* a missing directory is an empty set, not an error: it may be created later */
      if (errno != ENOENT)
        log_warning ("%s: %s", d->name, strerror (errno));
    }
  while (dir && (de = readdir (dir)) != NULL)
    if (de->d_name[0] != '.' && str_has_suffix (de->d_name, ".json"))
      strv_append (&files, de->d_name);
  if (files)
    qsort (files, strv_len (files), sizeof (char *), cmp_str);
  u->source = xstrdup (d->name);
  /* generations must grow across berthd restarts (the engine persists the last one): the
   * wall clock in microseconds does, and the counter keeps it strictly increasing */
  {
    uint64_t now_us = berth_realtime_ns () / 1000;
    d->generation = now_us > d->generation ? now_us : d->generation + 1;
  }
  u->generation = d->generation;
  u->complete = true;
  u->tasks = xzalloc ((strv_len (files) + 1) * sizeof *u->tasks);
  for (char **f = files; f && *f; f++)
    {
      cleanup_free char *path = xasprintf ("%s/%s", d->path, *f);
      cleanup_free char *text = NULL;
      size_t len = 0;
      json_object *def = NULL;
      berth_err err = NULL;

      if (berth_read_file_at (AT_FDCWD, path, DIR_MAX_TASK_FILE, &text, &len, &err) < 0
          || bjson_parse (text, len, *f, &def, &err) < 0 || !json_object_is_type (def, json_type_object))
        {
          json_object *st = json_object_new_object ();
          json_object_object_add (st, "status", json_object_new_string ("STOPPED"));
          json_object_object_add (st, "stop_code", json_object_new_string ("TaskFailedToStart"));
          json_object_object_add (st, "reason", json_object_new_string (err ? berth_err_msg (&err) : "the task file is not a JSON object"));
          write_status (d, *f, st);
          json_object_put (st);
          json_object_put (def);
          berth_err_free (&err);
          continue;
        }
      if (n == cap)
        {
          cap = cap ? cap * 2 : 8;
          entries = xrealloc (entries, cap * sizeof *entries);
        }
      entries[n].file = xstrdup (*f);
      entries[n].task_id = task_id_for (*f, text, len);
      u->tasks[u->n_tasks].task_id = xstrdup (entries[n].task_id);
      u->tasks[u->n_tasks].definition = def;
      u->tasks[u->n_tasks].desired = BERTH_DESIRED_RUNNING;
      u->tasks[u->n_tasks].metadata = json_object_new_object ();
      json_object_object_add (u->tasks[u->n_tasks].metadata, "file", json_object_new_string (path));
      u->n_tasks++;
      n++;
    }
  strv_free (files);
  pthread_mutex_lock (&d->lock);
  for (size_t i = 0; i < d->n_entries; i++)
    {
      /* a removed file keeps its name for the status of its stopping task */
      bool still = false;
      for (size_t k = 0; k < n && !still; k++)
        still = strcmp (entries[k].task_id, d->entries[i].task_id) == 0;
      if (!still)
        {
          if (n == cap)
            {
              cap = cap ? cap * 2 : 8;
              entries = xrealloc (entries, cap * sizeof *entries);
            }
          entries[n++] = d->entries[i];
          d->entries[i].file = d->entries[i].task_id = NULL;
        }
      free (d->entries[i].file);
      free (d->entries[i].task_id);
    }
  free (d->entries);
  d->entries = entries;
  d->n_entries = n;
  pthread_mutex_unlock (&d->lock);
  source_sink_submit (d->sink, u);
}

/* What a batch of inotify events means for the desired set. Only a NAME.json that scan()
 * reads can change it: our own status files and the temporaries of every atomic write
 * (.NAME.json.status.tmp.*, NAME.json.tmp) cannot, and used to cost a rescan of the whole
 * directory after every status write. A NAME.json renamed into place arrives whole (no
 * writer is still filling it); anything else may be a file still being written. */
enum dir_change
{
  DIR_NONE,
  DIR_WHOLE,
  DIR_PARTIAL,
};

static enum dir_change
read_events (struct dir_source *d)
{
  char buf[4096] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  enum dir_change change = DIR_NONE;
  ssize_t n;

  while ((n = read (d->inotify_fd, buf, sizeof buf)) > 0)
    for (char *q = buf; q < buf + n;)
      {
        struct inotify_event *ev = (struct inotify_event *) q;
        q += sizeof *ev + ev->len;
        /* no name: the directory itself went away, or the queue overflowed */
        if (ev->len == 0 || ev->name[0] == '\0')
          change = DIR_PARTIAL;
        else if (ev->name[0] == '.' || !str_has_suffix (ev->name, ".json"))
          continue;
        else if ((ev->mask & IN_MOVED_TO) && change != DIR_PARTIAL)
          change = DIR_WHOLE;
        else
          change = DIR_PARTIAL;
      }
  return change;
}

static void *
dir_thread (void *p)
{
  struct dir_source *d = p;
  const uint64_t settle_ns = DIR_DEBOUNCE_MS * 1000000ull;
  bool dirty = true, settle = true;
  uint64_t settle_until = 0, last_change = 0;

  for (;;)
    {
      struct pollfd fds[2] = { { .fd = d->inotify_fd, .events = POLLIN }, { .fd = d->wake_fd, .events = POLLIN } };
      bool outbox;
      int r;

      if (dirty && settle)
        {
          /* settle: editors write a file in several steps, and a burst of files is read once */
          uint64_t now = berth_now_ns ();
          if (settle_until == 0)
            settle_until = now + settle_ns;
          if (now < settle_until)
            {
              r = poll (fds, 1, (int) ((settle_until - now + 999999) / 1000000));
              if (r > 0 && read_events (d) != DIR_NONE)
                {
                  /* still changing: wait for a quiet DIR_DEBOUNCE_MS again */
                  last_change = berth_now_ns ();
                  settle_until = last_change + settle_ns;
                }
              continue;
            }
        }
      if (dirty)
        {
          scan (d);
          dirty = settle = false;
          settle_until = 0;
        }
      r = poll (fds, 2, -1);
      if (r < 0 && errno != EINTR)
        break;
      pthread_mutex_lock (&d->lock);
      if (d->stopping)
        {
          pthread_mutex_unlock (&d->lock);
          break;
        }
      outbox = d->outbox_pending;
      d->outbox_pending = false;
      pthread_mutex_unlock (&d->lock);
      if (fds[1].revents & POLLIN)
        {
          uint64_t v;
          ssize_t n BERTH_UNUSED = read (d->wake_fd, &v, sizeof v);
        }
      if (outbox)
        flush_outbox (d);
      if (fds[0].revents & POLLIN)
        {
          enum dir_change c = read_events (d);
          uint64_t now = berth_now_ns ();
          if (c == DIR_NONE)
            continue;
          /* A file renamed into place after a quiet moment is read at once; a change that
           * may be half written, or that follows another within the settle time (a
           * burst), waits until the directory has been quiet for DIR_DEBOUNCE_MS. */
          dirty = true;
          if (c == DIR_PARTIAL || (last_change && now - last_change < settle_ns))
            settle = true;
          last_change = now;
        }
    }
  return NULL;
}

/* ------------------------------------------------------------------ task_source_ops */

static int
dir_open (const struct source_options *opts, struct source_sink *sink, void **ret_state, berth_err *err)
{
  struct dir_source *d;
  if (!str_has_prefix (opts->url, "dir:") || opts->url[4] != '/')
    return berth_err_set (err, 0, "task source `%s`: expected dir:/ABSOLUTE/PATH", opts->url);
  d = xzalloc (sizeof *d);
  d->name = xstrdup (opts->url);
  d->path = xstrdup (opts->url + 4);
  while (strlen (d->path) > 1 && str_has_suffix (d->path, "/"))
    d->path[strlen (d->path) - 1] = '\0';
  d->sink = sink;
  d->outbox = opts->outbox;
  d->inotify_fd = d->wake_fd = -1;
  pthread_mutex_init (&d->lock, NULL);
  *ret_state = d;
  return 0;
}

static int
dir_start (void *state, berth_err *err)
{
  struct dir_source *d = state;
  int r;
  if (berth_mkdir_p (d->path, 0755, err) < 0)
    return berth_err_wrap (err, "task source `%s`", d->name);
  d->inotify_fd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  d->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d->inotify_fd < 0 || d->wake_fd < 0)
    return berth_err_set (err, errno, "task source `%s`: inotify", d->name);
  if (inotify_add_watch (d->inotify_fd, d->path,
                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF)
      < 0)
    return berth_err_set (err, errno, "task source `%s`: watch `%s`", d->name, d->path);
  /* changes written before a crash are still in the outbox: deliver them first */
  d->outbox_pending = d->outbox != NULL;
  r = pthread_create (&d->thread, NULL, dir_thread, d);
  if (r != 0)
    return berth_err_set (err, r, "task source `%s`: thread", d->name);
  d->started = true;
  {
    uint64_t one = 1;
    ssize_t n BERTH_UNUSED = write (d->wake_fd, &one, sizeof one);
  }
  return 0;
}

static void
dir_outbox_ready (void *state)
{
  struct dir_source *d = state;
  uint64_t one = 1;
  if (d->outbox == NULL || d->wake_fd < 0)
    return;
  pthread_mutex_lock (&d->lock);
  d->outbox_pending = true;
  pthread_mutex_unlock (&d->lock);
  {
    ssize_t n BERTH_UNUSED = write (d->wake_fd, &one, sizeof one);
  }
}

static void
dir_stop (void *state)
{
  struct dir_source *d = state;
  uint64_t one = 1;
  if (!d->started)
    return;
  pthread_mutex_lock (&d->lock);
  d->stopping = true;
  pthread_mutex_unlock (&d->lock);
  {
    ssize_t n BERTH_UNUSED = write (d->wake_fd, &one, sizeof one);
  }
  pthread_join (d->thread, NULL);
  d->started = false;
}

static void
dir_free (void *state)
{
  struct dir_source *d = state;
  if (d == NULL)
    return;
  dir_stop (d);
  for (size_t i = 0; i < d->n_entries; i++)
    {
      free (d->entries[i].file);
      free (d->entries[i].task_id);
    }
  free (d->entries);
  if (d->inotify_fd >= 0)
    close (d->inotify_fd);
  if (d->wake_fd >= 0)
    close (d->wake_fd);
  pthread_mutex_destroy (&d->lock);
  free (d->name);
  free (d->path);
  free (d);
}

const struct task_source_ops dir_source_ops = {
  .scheme = "dir",
  .open = dir_open,
  .start = dir_start,
  .outbox_ready = dir_outbox_ready,
  .stop = dir_stop,
  .free = dir_free,
};

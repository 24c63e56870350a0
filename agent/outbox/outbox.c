/* The outbox: one directory per source, one atomically written file per pending state
 * change (<seq, 20 digits>.json), and an "acked" file holding the highest acknowledged seq.
 * The highest seq ever assigned is always on disk (as a change file or in "acked"), so a
 * restart continues above it; an in-memory index, rebuilt by a scan at first use, orders
 * the changes and knows their task for coalescing. */
#include "outbox.h"

#include <dirent.h>
#include <pthread.h>

#define ACKED_FILE     "acked"
#define CORRUPT_PREFIX "corrupt-"
#define SEQ_DIGITS     20
#define SOURCE_DIR_MAX 200

struct outbox_entry
{
  uint64_t seq;
  uint64_t size;
  char *task_id;
};

struct outbox_source
{
  struct outbox_source *next;
  char *name;
  int dfd;
  struct outbox_entry *entries; /* ascending seq */
  size_t n_entries, cap_entries;
  uint64_t bytes;
  uint64_t acked;
  uint64_t last_seq;
  uint64_t coalesced;
  uint64_t quarantined;
  size_t queued; /* changes handed to the writer, not yet durable */
};

/* A change waiting for the writer thread (outbox_append_queued). */
struct queued_change
{
  struct queued_change *next;
  struct outbox_source *src;
  uint64_t seq;
  char *task_id;
  char *text;
  size_t len;
  void (*durable) (void *data);
  void *data;
};

struct outbox
{
  pthread_mutex_t lock;
  int dfd;
  char *dir;
  struct outbox_limits limits;
  struct outbox_source *sources;
  /* Registry of open outboxes: the engine (appending) and each source (reading) open the
   * same directory and must share one index. Guarded by registry_lock. */
  struct outbox *next_open;
  dev_t dev;
  ino_t ino;
  unsigned refs;
  /* The writer thread of outbox_append_queued, started at its first use. Guarded by lock. */
  pthread_t writer;
  bool writer_started, writer_busy, stopping;
  pthread_cond_t queue_cond; /* the writer waits for work */
  pthread_cond_t idle_cond;  /* outbox_drain waits for an empty queue */
  struct queued_change *queue_head, **queue_tail;
  uint64_t write_failures;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outbox *registry;

/* ------------------------------------------------------------------ names */

static int
source_dir_name (const char *name, char **ret, berth_err *err)
{
  cleanup_free char *out = NULL;

  if (*name == '\0')
    return berth_err_set (err, EINVAL, "outbox: empty source name");
  out = berth_name_escape (name);
  if (strlen (out) > SOURCE_DIR_MAX)
    return berth_err_set (err, ENAMETOOLONG,
                          "outbox: source name `%s` is too long (%zu bytes escaped, at most %d)",
                          name, strlen (out), SOURCE_DIR_MAX);
  *ret = steal_pointer (&out);
  return 0;
}

static void
change_file_name (uint64_t seq, char buf[static 32])
{
  snprintf (buf, 32, "%0*" PRIu64 ".json", SEQ_DIGITS, seq);
}

/* "<20 digits>.json" -> seq; anything else -> false. */
static bool
parse_change_file_name (const char *name, uint64_t *ret)
{
  char digits[SEQ_DIGITS + 1];

  if (strlen (name) != SEQ_DIGITS + 5 || strcmp (name + SEQ_DIGITS, ".json") != 0)
    return false;
  memcpy (digits, name, SEQ_DIGITS);
  digits[SEQ_DIGITS] = '\0';
  for (size_t i = 0; i < SEQ_DIGITS; i++)
    if (digits[i] < '0' || digits[i] > '9')
      return false;
  return berth_parse_uint64 (digits, ret) == 0 && *ret > 0;
}

/* ------------------------------------------------------------------ index */

static void
entries_push (struct outbox_source *s, uint64_t seq, uint64_t size, const char *task_id)
{
  if (s->n_entries == s->cap_entries)
    {
      s->cap_entries = s->cap_entries ? s->cap_entries * 2 : 64;
      s->entries = xrealloc (s->entries, s->cap_entries * sizeof (*s->entries));
    }
  s->entries[s->n_entries++]
      = (struct outbox_entry){ .seq = seq, .size = size, .task_id = xstrdup (task_id) };
}

static int
cmp_entry_seq (const void *a, const void *b)
{
  const struct outbox_entry *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops the entries flagged by size == UINT64_MAX, keeping the order. */
static void
entries_compact (struct outbox_source *s)
{
  size_t j = 0;
  for (size_t i = 0; i < s->n_entries; i++)
    {
      if (s->entries[i].size == UINT64_MAX)
        {
          free (s->entries[i].task_id);
          continue;
        }
      s->entries[j++] = s->entries[i];
    }
  s->n_entries = j;
}

static void
source_free (struct outbox_source *s)
{
  for (size_t i = 0; i < s->n_entries; i++)
    free (s->entries[i].task_id);
  free (s->entries);
  if (s->dfd >= 0)
    close (s->dfd);
  free (s->name);
  free (s);
}

/* ------------------------------------------------------------------ loading */

static int
check_change (json_object *change, const char *what, const char **ret_task_id, berth_err *err)
{
  const char *task_id;
  int r;

  if (!json_object_is_type (change, json_type_object))
    return berth_err_set (err, EINVAL, "%s: expected an object, got %s", what,
                          bjson_type_name (json_object_get_type (change)));
  r = bjson_get_string (change, "", "task_id", BJSON_REQUIRED, &task_id, err);
  if (r < 0)
    return berth_err_wrap (err, "%s", what);
  if (*task_id == '\0')
    return berth_err_set (err, EINVAL, "%s: task_id: empty", what);
  *ret_task_id = task_id;
  return 0;
}

/* A file that cannot be read back as the change its name says is set aside (never
 * deleted: whoever investigates wants it), and counted. */
static void
quarantine (struct outbox_source *s, const char *name)
{
  cleanup_free char *to = xasprintf (CORRUPT_PREFIX "%s", name);
  if (renameat (s->dfd, name, s->dfd, to) == 0)
    s->quarantined++;
}

static int
load_change_file (struct outbox_source *s, const char *name, uint64_t seq, berth_err *err)
{
  cleanup_free char *text = NULL;
  cleanup_json json_object *change = NULL;
  cleanup_err berth_err perr = NULL;
  const char *task_id;
  uint64_t file_seq;
  size_t len;
  int r;

  r = berth_read_file_at (s->dfd, name, OUTBOX_MAX_CHANGE_BYTES, &text, &len, &perr);
  if (r < 0 && berth_err_code (&perr) != EFBIG)
    {
      berth_err_move (err, &perr);
      return berth_err_wrap (err, "outbox `%s`", s->name);
    }
  if (r < 0 || bjson_parse (text, len, name, &change, &perr) < 0
      || check_change (change, name, &task_id, &perr) < 0
      || bjson_get_uint64 (change, "", "seq", BJSON_REQUIRED, UINT64_MAX, &file_seq, &perr) < 0
      || file_seq != seq)
    {
      quarantine (s, name);
      return 0;
    }
  entries_push (s, seq, len, task_id);
  s->bytes += len;
  return 0;
}

static int
source_load (struct outbox_source *s, berth_err *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd;
  int r;

  if (berth_exists_at (s->dfd, ACKED_FILE))
    {
      r = berth_read_uint64_file_at (s->dfd, ACKED_FILE, &s->acked, err);
      if (r < 0)
        return berth_err_wrap (err, "outbox `%s`", s->name);
    }
  s->last_seq = s->acked;

  fd = openat (s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "outbox `%s`: open directory", s->name);
  d = fdopendir (fd);
  if (d == NULL)
    {
      int e = errno;
      close (fd);
      return berth_err_set (err, e, "outbox `%s`: fdopendir", s->name);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      uint64_t seq;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      /* A temporary file of a write that a crash interrupted: the append never returned,
       * so nobody was told about it. */
      if (de->d_name[0] == '.' && strstr (de->d_name, ".tmp.") != NULL)
        {
          unlinkat (s->dfd, de->d_name, 0);
          continue;
        }
      if (str_has_prefix (de->d_name, CORRUPT_PREFIX))
        {
          /* Its number was assigned once; never hand it out again. */
          if (parse_change_file_name (de->d_name + strlen (CORRUPT_PREFIX), &seq)
              && seq > s->last_seq)
            s->last_seq = seq;
          continue;
        }
      if (!parse_change_file_name (de->d_name, &seq))
        continue;
      if (seq > s->last_seq)
        s->last_seq = seq;
      if (seq <= s->acked)
        {
          /* Acknowledged, and a crash came between writing "acked" and the unlink. */
          unlinkat (s->dfd, de->d_name, 0);
          continue;
        }
      r = load_change_file (s, de->d_name, seq, err);
      if (r < 0)
        return r;
    }
  if (errno != 0)
    return berth_err_set (err, errno, "outbox `%s`: readdir", s->name);
  if (s->n_entries > 1)
    qsort (s->entries, s->n_entries, sizeof (*s->entries), cmp_entry_seq);
  return 0;
}

static int
source_get (struct outbox *ob, const char *name, struct outbox_source **ret, berth_err *err)
{
  cleanup_free char *dirname = NULL;
  struct outbox_source *s;
  int r;

  for (s = ob->sources; s; s = s->next)
    if (strcmp (s->name, name) == 0)
      {
        *ret = s;
        return 0;
      }

  r = source_dir_name (name, &dirname, err);
  if (r < 0)
    return r;
  if (mkdirat (ob->dfd, dirname, 0700) == 0)
    {
      r = berth_fsync_dir_at (ob->dfd, ".", err);
      if (r < 0)
        return berth_err_wrap (err, "outbox `%s`", ob->dir);
    }
  else if (errno != EEXIST)
    return berth_err_set (err, errno, "outbox: mkdir `%s/%s`", ob->dir, dirname);

  s = xzalloc (sizeof (*s));
  s->name = xstrdup (name);
  s->dfd = openat (ob->dfd, dirname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (s->dfd < 0)
    {
      r = berth_err_set (err, errno, "outbox: open `%s/%s`", ob->dir, dirname);
      source_free (s);
      return r;
    }
  r = source_load (s, err);
  if (r < 0)
    {
      source_free (s);
      return r;
    }
  s->next = ob->sources;
  ob->sources = s;
  *ret = s;
  return 0;
}

/* ------------------------------------------------------------------ public */

int
outbox_open (const char *dir, const struct outbox_limits *limits, struct outbox **ret,
             berth_err *err)
{
  struct outbox *ob;
  struct stat st;
  int dfd;
  int r;

  r = berth_mkdir_p (dir, 0700, err);
  if (r < 0)
    return berth_err_wrap (err, "outbox");
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return berth_err_set (err, errno, "outbox: open `%s`", dir);
  if (fstat (dfd, &st) < 0)
    {
      r = berth_err_set (err, errno, "outbox: stat `%s`", dir);
      close (dfd);
      return r;
    }

  pthread_mutex_lock (&registry_lock);
  for (ob = registry; ob; ob = ob->next_open)
    if (ob->dev == st.st_dev && ob->ino == st.st_ino)
      break;
  if (ob)
    {
      ob->refs++;
      close (dfd);
    }
  else
    {
      ob = xzalloc (sizeof (*ob));
      pthread_mutex_init (&ob->lock, NULL);
      pthread_cond_init (&ob->queue_cond, NULL);
      pthread_cond_init (&ob->idle_cond, NULL);
      ob->queue_tail = &ob->queue_head;
      ob->dfd = dfd;
      ob->dir = xstrdup (dir);
      ob->dev = st.st_dev;
      ob->ino = st.st_ino;
      ob->refs = 1;
      ob->limits.max_changes
          = limits && limits->max_changes ? limits->max_changes : OUTBOX_DEFAULT_MAX_CHANGES;
      ob->limits.max_bytes
          = limits && limits->max_bytes ? limits->max_bytes : OUTBOX_DEFAULT_MAX_BYTES;
      ob->next_open = registry;
      registry = ob;
    }
  pthread_mutex_unlock (&registry_lock);
  *ret = ob;
  return 0;
}

void
outbox_close (struct outbox *ob)
{
  struct outbox **pp;

  if (ob == NULL)
    return;
  pthread_mutex_lock (&registry_lock);
  if (--ob->refs > 0)
    {
      pthread_mutex_unlock (&registry_lock);
      return;
    }
  for (pp = &registry; *pp; pp = &(*pp)->next_open)
    if (*pp == ob)
      {
        *pp = ob->next_open;
        break;
      }
  pthread_mutex_unlock (&registry_lock);

  pthread_mutex_lock (&ob->lock);
  ob->stopping = true;
  pthread_cond_broadcast (&ob->queue_cond);
  pthread_mutex_unlock (&ob->lock);
  if (ob->writer_started)
    pthread_join (ob->writer, NULL);

  while (ob->sources)
    {
      struct outbox_source *s = ob->sources;
      ob->sources = s->next;
      source_free (s);
    }
  close (ob->dfd);
  free (ob->dir);
  pthread_cond_destroy (&ob->queue_cond);
  pthread_cond_destroy (&ob->idle_cond);
  pthread_mutex_destroy (&ob->lock);
  free (ob);
}

static int
cmp_index_task_seq (const void *a, const void *b, void *arg)
{
  const struct outbox_entry *e = arg;
  const struct outbox_entry *x = &e[*(const size_t *)a], *y = &e[*(const size_t *)b];
  int c = strcmp (x->task_id, y->task_id);
  if (c != 0)
    return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keeps only the newest pending change of each task. An unlink that fails keeps its entry:
 * an extra delivery is allowed, a lost newest state is not. The highest seq is the newest
 * change of its task, so it always survives and keeps the numbering on disk. */
static void
source_coalesce (struct outbox_source *s)
{
  cleanup_free size_t *idx = NULL;
  size_t n = s->n_entries, dropped = 0;

  if (n < 2)
    return;
  idx = xmalloc (n * sizeof (*idx));
  for (size_t i = 0; i < n; i++)
    idx[i] = i;
  qsort_r (idx, n, sizeof (*idx), cmp_index_task_seq, s->entries);
  for (size_t k = 0; k + 1 < n; k++)
    {
      struct outbox_entry *e = &s->entries[idx[k]];
      char name[32];

      if (strcmp (e->task_id, s->entries[idx[k + 1]].task_id) != 0)
        continue; /* newest of its task */
      change_file_name (e->seq, name);
      if (unlinkat (s->dfd, name, 0) < 0 && errno != ENOENT)
        continue;
      s->bytes -= e->size;
      e->size = UINT64_MAX;
      dropped++;
    }
  if (dropped == 0)
    return;
  entries_compact (s);
  s->coalesced += dropped;
}

static bool
source_over_limits (struct outbox *ob, struct outbox_source *s)
{
  return s->n_entries > ob->limits.max_changes || s->bytes > ob->limits.max_bytes;
}

/* Validates change and serialises it with "seq" first (a shallow copy: the caller's object
 * stays untouched). Called with ob->lock held: it assigns the source's next seq. */
static int
prepare_change (struct outbox *ob, const char *source, json_object *change,
                struct outbox_source **ret_src, uint64_t *ret_seq, char **ret_text, size_t *ret_len,
                const char **ret_task_id, berth_err *err)
{
  cleanup_json json_object *copy = NULL;
  struct outbox_source *s;
  const char *task_id, *text;
  size_t len;
  int r;

  r = check_change (change, "state change", &task_id, err);
  if (r < 0)
    return r;
  if (json_object_object_get_ex (change, "seq", NULL))
    return berth_err_set (err, EINVAL, "state change: seq: set by the outbox, not the caller");
  r = source_get (ob, source, &s, err);
  if (r < 0)
    return r;
  copy = json_object_new_object ();
  json_object_object_add (copy, "seq", json_object_new_uint64 (s->last_seq + 1));
  json_object_object_foreach (change, key, val)
    json_object_object_add (copy, key, json_object_get (val));
  text = json_object_to_json_string_length (copy, JSON_C_TO_STRING_PLAIN, &len);
  if (len > OUTBOX_MAX_CHANGE_BYTES)
    return berth_err_set (err, EFBIG, "state change of task `%s`: %zu bytes, at most %d", task_id,
                          len, OUTBOX_MAX_CHANGE_BYTES);
  *ret_src = s;
  *ret_seq = ++s->last_seq;
  *ret_text = xstrdup (text);
  *ret_len = len;
  *ret_task_id = task_id;
  return 0;
}

/* The change is durable: into the index, where outbox_read sees it. ob->lock held. */
static void
publish (struct outbox *ob, struct outbox_source *s, uint64_t seq, size_t len, const char *task_id)
{
  entries_push (s, seq, len, task_id);
  s->bytes += len;
  if (source_over_limits (ob, s))
    source_coalesce (s);
}

int
outbox_append (struct outbox *ob, const char *source, json_object *change, uint64_t *ret_seq,
               berth_err *err)
{
  cleanup_free char *text = NULL;
  struct outbox_source *s;
  const char *task_id;
  char name[32];
  uint64_t seq;
  size_t len;
  int r;

  pthread_mutex_lock (&ob->lock);
  /* after the queued changes, or a lower seq could be published after this one */
  while (ob->queue_head || ob->writer_busy)
    pthread_cond_wait (&ob->idle_cond, &ob->lock);
  r = prepare_change (ob, source, change, &s, &seq, &text, &len, &task_id, err);
  if (r < 0)
    goto out;
  change_file_name (seq, name);
  r = berth_write_file_atomic_at (s->dfd, name, text, len, 0600, err);
  if (r < 0)
    {
      /* the seq stays used: a queued change may already hold the next one */
      berth_err_wrap (err, "outbox `%s`", source);
      goto out;
    }
  publish (ob, s, seq, len, task_id);
  if (ret_seq)
    *ret_seq = seq;
  r = 0;
out:
  pthread_mutex_unlock (&ob->lock);
  return r;
}

/* Writes one queued change: temporary file, fdatasync, rename. The directory is synced
 * once per batch by the caller. No lock held: only the writer touches queued seqs' files. */
static int
write_queued (struct queued_change *q, berth_err *err)
{
  char name[32], tmp[48];
  cleanup_close int fd = -1;
  size_t off = 0;

  change_file_name (q->seq, name);
  snprintf (tmp, sizeof tmp, ".tmp-%s", name);
  fd = openat (q->src->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return berth_err_set (err, errno, "outbox `%s`: create `%s`", q->src->name, tmp);
  while (off < q->len)
    {
      ssize_t n = write (fd, q->text + off, q->len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      off += (size_t)n;
    }
  if (fdatasync (fd) < 0 || renameat (q->src->dfd, tmp, q->src->dfd, name) < 0)
    goto fail;
  return 0;
fail:
  {
    int e = errno;
    unlinkat (q->src->dfd, tmp, 0);
    return berth_err_set (err, e, "outbox `%s`: write `%s`", q->src->name, name);
  }
}

static void
queued_free (struct queued_change *q)
{
  free (q->task_id);
  free (q->text);
  free (q);
}

/* The writer: takes the whole queue, writes it in seq order, syncs each source directory
 * once, then publishes and tells the callers. A failure (a full disk) keeps the rest of the
 * batch queued, in order, and retries a second later: a change is never dropped. */
static void *
writer_main (void *arg)
{
  struct outbox *ob = arg;

  pthread_mutex_lock (&ob->lock);
  for (;;)
    {
      struct queued_change *batch, *q, *failed = NULL;
      cleanup_err berth_err err = NULL;

      while (ob->queue_head == NULL && !ob->stopping)
        pthread_cond_wait (&ob->queue_cond, &ob->lock);
      if (ob->queue_head == NULL)
        break;
      batch = ob->queue_head;
      ob->queue_head = NULL;
      ob->queue_tail = &ob->queue_head;
      ob->writer_busy = true;
      pthread_mutex_unlock (&ob->lock);

      for (q = batch; q; q = q->next)
        if (write_queued (q, &err) < 0)
          {
            failed = q;
            break;
          }
      for (q = batch; q != failed; q = q->next)
        {
          bool seen = false;
          for (struct queued_change *p = batch; p != q && !seen; p = p->next)
            seen = p->src == q->src;
          if (!seen && fsync (q->src->dfd) < 0 && failed == NULL)
            {
              /* the renames may not be durable: write the batch again */
              berth_err_set (&err, errno, "outbox `%s`: fsync", q->src->name);
              failed = batch;
              break;
            }
        }

      pthread_mutex_lock (&ob->lock);
      for (q = batch; q != failed;)
        {
          struct queued_change *next = q->next;
          publish (ob, q->src, q->seq, q->len, q->task_id);
          q->src->queued--;
          pthread_mutex_unlock (&ob->lock);
          if (q->durable)
            q->durable (q->data);
          pthread_mutex_lock (&ob->lock);
          queued_free (q);
          q = next;
        }
      if (failed)
        {
          struct queued_change *last = failed;
          struct timespec ts;
          while (last->next)
            last = last->next;
          last->next = ob->queue_head;
          if (ob->queue_head == NULL)
            ob->queue_tail = &last->next;
          ob->queue_head = failed;
          ob->write_failures++;
          clock_gettime (CLOCK_REALTIME, &ts);
          ts.tv_sec += 1;
          if (!ob->stopping)
            pthread_cond_timedwait (&ob->queue_cond, &ob->lock, &ts);
          else
            {
              /* closing with a disk that refuses: the queued changes are lost, say so */
              for (q = ob->queue_head; q;)
                {
                  struct queued_change *next = q->next;
                  q->src->queued--;
                  queued_free (q);
                  q = next;
                }
              ob->queue_head = NULL;
              ob->queue_tail = &ob->queue_head;
            }
        }
      ob->writer_busy = false;
      if (ob->queue_head == NULL)
        pthread_cond_broadcast (&ob->idle_cond);
    }
  ob->writer_busy = false;
  pthread_cond_broadcast (&ob->idle_cond);
  pthread_mutex_unlock (&ob->lock);
  return NULL;
}

int
outbox_append_queued (struct outbox *ob, const char *source, json_object *change,
                      void (*durable) (void *data), void *data, uint64_t *ret_seq, berth_err *err)
{
  struct queued_change *q;
  struct outbox_source *s;
  cleanup_free char *text = NULL;
  const char *task_id;
  uint64_t seq;
  size_t len;
  int r;

  pthread_mutex_lock (&ob->lock);
  if (!ob->writer_started)
    {
      r = -pthread_create (&ob->writer, NULL, writer_main, ob);
      if (r < 0)
        {
          r = berth_err_set (err, -r, "outbox: start its writer thread");
          goto out;
        }
      ob->writer_started = true;
    }
  r = prepare_change (ob, source, change, &s, &seq, &text, &len, &task_id, err);
  if (r < 0)
    goto out;
  q = xzalloc (sizeof (*q));
  *q = (struct queued_change){ .src = s,
                               .seq = seq,
                               .task_id = xstrdup (task_id),
                               .text = steal_pointer (&text),
                               .len = len,
                               .durable = durable,
                               .data = data };
  *ob->queue_tail = q;
  ob->queue_tail = &q->next;
  s->queued++;
  pthread_cond_signal (&ob->queue_cond);
  if (ret_seq)
    *ret_seq = seq;
  r = 0;
out:
  pthread_mutex_unlock (&ob->lock);
  return r;
}

bool
outbox_drain (struct outbox *ob, unsigned timeout_ms)
{
  struct timespec deadline;
  bool drained;

  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L)
    {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  pthread_mutex_lock (&ob->lock);
  while (ob->queue_head || ob->writer_busy)
    if (pthread_cond_timedwait (&ob->idle_cond, &ob->lock, &deadline) == ETIMEDOUT)
      break;
  drained = ob->queue_head == NULL && !ob->writer_busy;
  pthread_mutex_unlock (&ob->lock);
  return drained;
}

int
outbox_read (struct outbox *ob, const char *source, uint64_t after_seq, size_t max_changes,
             size_t max_bytes, json_object **ret_changes, berth_err *err)
{
  cleanup_json json_object *arr = json_object_new_array ();
  struct outbox_source *s;
  uint64_t total = 0;
  size_t i;
  int r;

  pthread_mutex_lock (&ob->lock);
  r = source_get (ob, source, &s, err);
  if (r < 0)
    goto out;
  for (i = 0; i < s->n_entries && s->entries[i].seq <= after_seq; i++)
    ;
  for (; i < s->n_entries && json_object_array_length (arr) < max_changes; i++)
    {
      struct outbox_entry *e = &s->entries[i];
      cleanup_free char *text = NULL;
      cleanup_err berth_err perr = NULL;
      json_object *change = NULL;
      char name[32];
      size_t len;

      if (max_bytes && json_object_array_length (arr) > 0 && total + e->size > max_bytes)
        break;
      change_file_name (e->seq, name);
      r = berth_read_file_at (s->dfd, name, OUTBOX_MAX_CHANGE_BYTES, &text, &len, &perr);
      if (r < 0 && berth_err_code (&perr) != EFBIG)
        {
          berth_err_move (err, &perr);
          berth_err_wrap (err, "outbox `%s`", source);
          goto out;
        }
      if (r < 0 || bjson_parse (text, len, name, &change, &perr) < 0)
        {
          /* Damaged after it was loaded (the disk, or a person): set it aside. */
          quarantine (s, name);
          s->bytes -= e->size;
          e->size = UINT64_MAX;
          continue;
        }
      json_object_array_add (arr, change);
      total += e->size;
    }
  entries_compact (s);
  *ret_changes = steal_pointer (&arr);
  r = 0;
out:
  pthread_mutex_unlock (&ob->lock);
  return r;
}

int
outbox_ack (struct outbox *ob, const char *source, uint64_t upto_seq, berth_err *err)
{
  struct outbox_source *s;
  char buf[32];
  size_t i;
  int r;

  pthread_mutex_lock (&ob->lock);
  r = source_get (ob, source, &s, err);
  if (r < 0 || upto_seq <= s->acked)
    goto out;
  /* "acked" first: from here the numbers up to upto_seq are spoken for even when the
   * files holding them are gone. */
  snprintf (buf, sizeof (buf), "%" PRIu64 "\n", upto_seq);
  r = berth_write_file_atomic_at (s->dfd, ACKED_FILE, buf, strlen (buf), 0600, err);
  if (r < 0)
    {
      berth_err_wrap (err, "outbox `%s`", source);
      goto out;
    }
  s->acked = upto_seq;
  if (upto_seq > s->last_seq)
    s->last_seq = upto_seq;
  for (i = 0; i < s->n_entries && s->entries[i].seq <= upto_seq; i++)
    {
      char name[32];
      change_file_name (s->entries[i].seq, name);
      /* A failed unlink is finished by the next load, which drops files <= acked. */
      unlinkat (s->dfd, name, 0);
      s->bytes -= s->entries[i].size;
      s->entries[i].size = UINT64_MAX;
    }
  entries_compact (s);
  r = 0;
out:
  pthread_mutex_unlock (&ob->lock);
  return r;
}

int
outbox_get_stats (struct outbox *ob, const char *source, struct outbox_stats *ret, berth_err *err)
{
  struct outbox_source *s;
  int r;

  pthread_mutex_lock (&ob->lock);
  r = source_get (ob, source, &s, err);
  if (r == 0)
    *ret = (struct outbox_stats){
      .pending = s->n_entries + s->queued,
      .queued = s->queued,
      .write_failures = ob->write_failures,
      .bytes = s->bytes,
      .first_seq = s->n_entries ? s->entries[0].seq : 0,
      .last_seq = s->last_seq,
      .acked_seq = s->acked,
      .coalesced = s->coalesced,
      .quarantined = s->quarantined,
    };
  pthread_mutex_unlock (&ob->lock);
  return r;
}

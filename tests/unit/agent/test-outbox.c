/* Unit tests of the outbox: ordering, acknowledgement, sequence numbers across reopen and
 * kill -9, coalescing under limits, recovery of leftovers, and concurrent use. */
#include "agent/outbox/outbox.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

static char tmpdir[64];
static char obdir[128];

static void
setup (void)
{
  strcpy (tmpdir, "/tmp/berth-outbox-test-XXXXXX");
  cr_assert_not_null (mkdtemp (tmpdir));
  snprintf (obdir, sizeof (obdir), "%s/outbox", tmpdir);
}

static void
teardown (void)
{
  berth_err err = NULL;
  if (berth_rm_rf_at (AT_FDCWD, tmpdir, &err) < 0)
    berth_err_free (&err);
}

TestSuite (outbox, .init = setup, .fini = teardown);

#define SRC "https://cp.example.net:8443/berth"

static struct outbox *
open_ob (const struct outbox_limits *limits)
{
  struct outbox *ob = NULL;
  berth_err err = NULL;
  int r = outbox_open (obdir, limits, &ob, &err);
  cr_assert_eq (r, 0, "outbox_open: %s", berth_err_msg (&err));
  return ob;
}

static json_object *
make_change (const char *task, const char *status)
{
  json_object *o = json_object_new_object ();
  json_object_object_add (o, "task_id", json_object_new_string (task));
  json_object_object_add (o, "status", json_object_new_string (status));
  return o;
}

static uint64_t
append (struct outbox *ob, const char *src, const char *task, const char *status)
{
  cleanup_json json_object *c = make_change (task, status);
  berth_err err = NULL;
  uint64_t seq = 0;
  int r = outbox_append (ob, src, c, &seq, &err);
  cr_assert_eq (r, 0, "outbox_append: %s", berth_err_msg (&err));
  return seq;
}

static json_object *
read_all (struct outbox *ob, const char *src, uint64_t after)
{
  json_object *arr = NULL;
  berth_err err = NULL;
  int r = outbox_read (ob, src, after, 100000, 0, &arr, &err);
  cr_assert_eq (r, 0, "outbox_read: %s", berth_err_msg (&err));
  return arr;
}

static uint64_t
seq_of (json_object *arr, size_t i)
{
  json_object *v;
  cr_assert (json_object_object_get_ex (json_object_array_get_idx (arr, i), "seq", &v));
  return json_object_get_uint64 (v);
}

static const char *
str_of (json_object *arr, size_t i, const char *key)
{
  json_object *v;
  cr_assert (json_object_object_get_ex (json_object_array_get_idx (arr, i), key, &v));
  return json_object_get_string (v);
}

static struct outbox_stats
stats (struct outbox *ob, const char *src)
{
  struct outbox_stats st;
  berth_err err = NULL;
  cr_assert_eq (outbox_get_stats (ob, src, &st, &err), 0, "%s", berth_err_msg (&err));
  return st;
}

Test (outbox, append_read_in_order)
{
  struct outbox *ob = open_ob (NULL);
  cleanup_json json_object *all = NULL, *some = NULL, *two = NULL;

  cr_assert_eq (append (ob, SRC, "t1", "PENDING"), 1);
  cr_assert_eq (append (ob, SRC, "t2", "PENDING"), 2);
  cr_assert_eq (append (ob, SRC, "t1", "RUNNING"), 3);

  all = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (all), 3);
  for (size_t i = 0; i < 3; i++)
    cr_assert_eq (seq_of (all, i), i + 1);
  cr_assert_str_eq (str_of (all, 2, "status"), "RUNNING");
  cr_assert_str_eq (str_of (all, 1, "task_id"), "t2");

  some = read_all (ob, SRC, 2);
  cr_assert_eq (json_object_array_length (some), 1);
  cr_assert_eq (seq_of (some, 0), 3);

  berth_err err = NULL;
  cr_assert_eq (outbox_read (ob, SRC, 0, 2, 0, &two, &err), 0);
  cr_assert_eq (json_object_array_length (two), 2);
  outbox_close (ob);
}

Test (outbox, read_byte_budget_returns_at_least_one)
{
  struct outbox *ob = open_ob (NULL);
  json_object *arr = NULL;
  berth_err err = NULL;

  append (ob, SRC, "t1", "PENDING");
  append (ob, SRC, "t1", "RUNNING");
  cr_assert_eq (outbox_read (ob, SRC, 0, 100, 1, &arr, &err), 0);
  cr_assert_eq (json_object_array_length (arr), 1);
  cr_assert_eq (seq_of (arr, 0), 1);
  json_object_put (arr);
  outbox_close (ob);
}

Test (outbox, caller_object_untouched)
{
  struct outbox *ob = open_ob (NULL);
  cleanup_json json_object *c = make_change ("t1", "RUNNING");
  berth_err err = NULL;
  uint64_t seq;

  cr_assert_eq (outbox_append (ob, SRC, c, &seq, &err), 0);
  cr_assert_not (json_object_object_get_ex (c, "seq", NULL));
  cr_assert_eq (json_object_object_length (c), 2);
  outbox_close (ob);
}

Test (outbox, bad_changes_refused)
{
  struct outbox *ob = open_ob (NULL);
  berth_err err = NULL;
  uint64_t seq = 77;
  cleanup_json json_object *no_task = json_object_new_object ();
  cleanup_json json_object *with_seq = make_change ("t1", "RUNNING");
  cleanup_json json_object *arr = json_object_new_array ();
  cleanup_json json_object *big = make_change ("t1", "RUNNING");
  cleanup_free char *huge = xmalloc (OUTBOX_MAX_CHANGE_BYTES + 1);

  cr_assert_lt (outbox_append (ob, SRC, no_task, &seq, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "task_id") != NULL, "%s", berth_err_msg (&err));
  json_object_object_add (with_seq, "seq", json_object_new_int (5));
  cr_assert_lt (outbox_append (ob, SRC, with_seq, &seq, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "seq") != NULL, "%s", berth_err_msg (&err));
  cr_assert_lt (outbox_append (ob, SRC, arr, &seq, &err), 0);
  memset (huge, 'x', OUTBOX_MAX_CHANGE_BYTES);
  huge[OUTBOX_MAX_CHANGE_BYTES] = '\0';
  json_object_object_add (big, "reason", json_object_new_string (huge));
  cr_assert_lt (outbox_append (ob, SRC, big, &seq, &err), 0);
  cr_assert_eq (berth_err_code (&err), EFBIG);
  cr_assert_eq (seq, 77, "ret_seq untouched on failure");
  /* Nothing was assigned by the refusals. */
  cr_assert_eq (append (ob, SRC, "t1", "RUNNING"), 1);
  berth_err_free (&err);
  outbox_close (ob);
}

Test (outbox, ack_trims_and_survives_reopen)
{
  struct outbox *ob = open_ob (NULL);
  berth_err err = NULL;
  cleanup_json json_object *rest = NULL;

  for (int i = 0; i < 5; i++)
    append (ob, SRC, "t1", "RUNNING");
  cr_assert_eq (outbox_ack (ob, SRC, 3, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (outbox_ack (ob, SRC, 2, &err), 0, "acking less is a no-op");
  cr_assert_eq (stats (ob, SRC).pending, 2);
  cr_assert_eq (stats (ob, SRC).first_seq, 4);
  outbox_close (ob);

  ob = open_ob (NULL);
  rest = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (rest), 2);
  cr_assert_eq (seq_of (rest, 0), 4);
  cr_assert_eq (stats (ob, SRC).acked_seq, 3);
  cr_assert_eq (append (ob, SRC, "t1", "STOPPED"), 6);
  outbox_close (ob);
}

Test (outbox, seq_never_reused_after_everything_acked)
{
  struct outbox *ob = open_ob (NULL);
  berth_err err = NULL;

  append (ob, SRC, "t1", "PENDING");
  append (ob, SRC, "t1", "RUNNING");
  cr_assert_eq (outbox_ack (ob, SRC, 2, &err), 0);
  cr_assert_eq (stats (ob, SRC).pending, 0);
  outbox_close (ob);

  ob = open_ob (NULL);
  cr_assert_eq (append (ob, SRC, "t1", "STOPPED"), 3);
  outbox_close (ob);
}

Test (outbox, ack_above_last_moves_numbering)
{
  struct outbox *ob = open_ob (NULL);
  berth_err err = NULL;

  append (ob, SRC, "t1", "PENDING");
  cr_assert_eq (outbox_ack (ob, SRC, 117, &err), 0);
  cr_assert_eq (append (ob, SRC, "t1", "RUNNING"), 118);
  outbox_close (ob);
  ob = open_ob (NULL);
  cr_assert_eq (append (ob, SRC, "t1", "STOPPED"), 119);
  outbox_close (ob);
}

Test (outbox, sources_are_separate)
{
  struct outbox *ob = open_ob (NULL);
  cleanup_json json_object *a = NULL, *b = NULL;

  cr_assert_eq (append (ob, SRC, "t1", "RUNNING"), 1);
  cr_assert_eq (append (ob, "http://127.0.0.1:20001", "t9", "RUNNING"), 1);
  cr_assert_eq (append (ob, SRC, "t1", "STOPPED"), 2);
  a = read_all (ob, SRC, 0);
  b = read_all (ob, "http://127.0.0.1:20001", 0);
  cr_assert_eq (json_object_array_length (a), 2);
  cr_assert_eq (json_object_array_length (b), 1);
  cr_assert_str_eq (str_of (b, 0, "task_id"), "t9");
  outbox_close (ob);
}

Test (outbox, source_name_escaping)
{
  struct outbox *ob = open_ob (NULL);
  berth_err err = NULL;
  char longname[400];
  uint64_t seq;
  cleanup_json json_object *c = make_change ("t1", "RUNNING");

  /* "a/b" and "a%2Fb" must not share a directory. */
  cr_assert_eq (append (ob, "a/b", "t1", "RUNNING"), 1);
  cr_assert_eq (append (ob, "a%2Fb", "t1", "RUNNING"), 1);
  cr_assert_eq (append (ob, "..", "t1", "RUNNING"), 1);
  cr_assert (berth_exists_at (AT_FDCWD, obdir));
  memset (longname, 'a', sizeof (longname) - 1);
  longname[sizeof (longname) - 1] = '\0';
  cr_assert_lt (outbox_append (ob, longname, c, &seq, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "too long") != NULL);
  cr_assert_lt (outbox_append (ob, "", c, &seq, &err), 0);
  berth_err_free (&err);
  outbox_close (ob);
}

Test (outbox, coalesce_keeps_newest_per_task_in_order)
{
  struct outbox_limits lim = { .max_changes = 4 };
  struct outbox *ob = open_ob (&lim);
  cleanup_json json_object *arr = NULL;

  append (ob, SRC, "t1", "PENDING"); /* 1 */
  append (ob, SRC, "t2", "PENDING"); /* 2 */
  append (ob, SRC, "t1", "RUNNING"); /* 3 */
  append (ob, SRC, "t3", "PENDING"); /* 4 */
  cr_assert_eq (stats (ob, SRC).coalesced, 0, "at the limit, not above");
  append (ob, SRC, "t1", "STOPPED"); /* 5: over -> coalesce */

  arr = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 3);
  cr_assert_eq (seq_of (arr, 0), 2);
  cr_assert_str_eq (str_of (arr, 0, "task_id"), "t2");
  cr_assert_eq (seq_of (arr, 1), 4);
  cr_assert_eq (seq_of (arr, 2), 5);
  cr_assert_str_eq (str_of (arr, 2, "status"), "STOPPED");
  cr_assert_eq (stats (ob, SRC).coalesced, 2);
  cr_assert_eq (stats (ob, SRC).pending, 3);
  outbox_close (ob);

  /* The files agree with the index. */
  ob = open_ob (&lim);
  cr_assert_eq (stats (ob, SRC).pending, 3);
  cr_assert_eq (append (ob, SRC, "t2", "RUNNING"), 6);
  outbox_close (ob);
}

Test (outbox, coalesce_by_bytes)
{
  struct outbox_limits lim = { .max_bytes = 60 }; /* one change is about 45 bytes */
  struct outbox *ob = open_ob (&lim);

  for (int i = 0; i < 10; i++)
    append (ob, SRC, "t1", "RUNNING");
  cr_assert_eq (stats (ob, SRC).pending, 1);
  cr_assert_eq (stats (ob, SRC).last_seq, 10);
  /* Distinct tasks are never coalesced away, even above the limit. */
  for (int i = 0; i < 10; i++)
    {
      char t[16];
      snprintf (t, sizeof (t), "u%d", i);
      append (ob, SRC, t, "RUNNING");
    }
  cr_assert_eq (stats (ob, SRC).pending, 11);
  outbox_close (ob);
}

#define SRC_DIR "https%3A%2F%2Fcp.example.net%3A8443%2Fberth"

/* Creates the source's directory with one change (seq 1) and returns it open. */
static int
seeded_source_dir (void)
{
  cleanup_free char *dir = NULL;
  struct outbox *ob = open_ob (NULL);
  int dfd;

  cr_assert_eq (append (ob, SRC, "seed", "RUNNING"), 1);
  outbox_close (ob);
  dir = xasprintf ("%s/%s", obdir, SRC_DIR);
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq (dfd, 0, "open %s", dir);
  return dfd;
}

static void
write_raw (int dfd, const char *name, const char *text)
{
  berth_err err = NULL;
  cr_assert_eq (berth_write_file_atomic_at (dfd, name, text, strlen (text), 0600, &err), 0);
}

Test (outbox, leftovers_recovered)
{
  cleanup_json json_object *arr = NULL;
  cleanup_close int dfd = seeded_source_dir ();
  struct outbox *ob;

  write_raw (dfd, ".00000000000000000002.json.tmp.123.1", "{\"seq\":2,\"task_id\":\"t\"");
  write_raw (dfd, "00000000000000000009.json", "{\"seq\":9,\"task_id\":\"t1\"}");
  write_raw (dfd, "00000000000000000012.json", "not json");
  write_raw (dfd, "00000000000000000010.json", "{\"seq\":11,\"task_id\":\"t1\"}");
  write_raw (dfd, "acked", "1\n");

  ob = open_ob (NULL);
  arr = read_all (ob, SRC, 0);
  /* The seed (seq 1) is acknowledged and removed; 9 is pending; 10 (another seq inside) and
   * 12 (not JSON) are set aside; the temporary file of an interrupted write is gone. */
  cr_assert_eq (json_object_array_length (arr), 1);
  cr_assert_eq (seq_of (arr, 0), 9);
  cr_assert_eq (stats (ob, SRC).quarantined, 2);
  cr_assert_eq (append (ob, SRC, "t1", "STOPPED"), 13, "a quarantined number is not reused");
  outbox_close (ob);

  cr_assert (berth_exists_at (dfd, "corrupt-00000000000000000012.json"));
  cr_assert (berth_exists_at (dfd, "corrupt-00000000000000000010.json"));
  cr_assert_not (berth_exists_at (dfd, ".00000000000000000002.json.tmp.123.1"));
  cr_assert_not (berth_exists_at (dfd, "00000000000000000001.json"));
}

/* kill -9 at arbitrary points of a stream of appends and acks: every seq whose append
 * returned is on disk (or acknowledged), seqs are strictly increasing, and the next one is
 * above all of them. */
Test (outbox, kill9_during_appends)
{
  uint64_t highest_reported = 0;

  for (int round = 0; round < 12; round++)
    {
      int fds[2];
      pid_t pid;
      uint64_t got[4096];
      size_t n = 0;
      ssize_t k;

      cr_assert_eq (pipe2 (fds, O_CLOEXEC), 0);
      pid = fork ();
      cr_assert_geq (pid, 0);
      if (pid == 0)
        {
          struct outbox *ob = NULL;
          berth_err err = NULL;
          close (fds[0]);
          if (outbox_open (obdir, NULL, &ob, &err) < 0)
            _exit (1);
          for (uint64_t i = 0;; i++)
            {
              json_object *c = make_change (i % 3 ? "a" : "b", "RUNNING");
              uint64_t seq;
              if (outbox_append (ob, SRC, c, &seq, &err) < 0)
                _exit (2);
              json_object_put (c);
              if (write (fds[1], &seq, sizeof (seq)) != sizeof (seq))
                _exit (3);
              if (i % 7 == 6 && outbox_ack (ob, SRC, seq - 2, &err) < 0)
                _exit (4);
            }
        }
      close (fds[1]);
      /* Let a number of appends through (a different number each round), then kill. */
      while (n < (size_t)(5 + round * 3)
             && (k = read (fds[0], &got[n], sizeof (got[n]))) == sizeof (got[n]))
        n++;
      kill (pid, SIGKILL);
      while ((k = read (fds[0], &got[n], sizeof (got[n]))) == sizeof (got[n]) && n < 4095)
        n++;
      close (fds[0]);
      int status;
      cr_assert_eq (waitpid (pid, &status, 0), pid);
      cr_assert (WIFSIGNALED (status), "child ended by itself: %d", status);

      struct outbox *ob = open_ob (NULL);
      struct outbox_stats st = stats (ob, SRC);
      cleanup_json json_object *arr = read_all (ob, SRC, 0);
      uint64_t prev = st.acked_seq;
      for (size_t i = 0; i < json_object_array_length (arr); i++)
        {
          cr_assert_gt (seq_of (arr, i), prev, "strictly increasing");
          prev = seq_of (arr, i);
        }
      for (size_t i = 0; i < n; i++)
        {
          bool found = got[i] <= st.acked_seq;
          cr_assert_gt (got[i], highest_reported, "a seq was reused across a crash");
          for (size_t j = 0; !found && j < json_object_array_length (arr); j++)
            found = seq_of (arr, j) == got[i];
          cr_assert (found, "round %d: seq %" PRIu64 " was reported durable but is gone", round,
                     got[i]);
        }
      if (n > 0)
        highest_reported = got[n - 1];
      cr_assert_geq (st.last_seq, highest_reported);
      outbox_close (ob);
    }
}

struct thread_arg
{
  struct outbox *ob;
  const char *task;
  int count;
};

static void *
appender (void *p)
{
  struct thread_arg *a = p;
  for (int i = 0; i < a->count; i++)
    {
      char status[16];
      json_object *c;
      berth_err err = NULL;
      uint64_t seq;

      snprintf (status, sizeof (status), "%d", i);
      c = make_change (a->task, status);
      if (outbox_append (a->ob, SRC, c, &seq, &err) < 0)
        abort ();
      json_object_put (c);
    }
  return NULL;
}

Test (outbox, concurrent_appenders_and_reader)
{
  struct outbox *ob = open_ob (NULL);
  struct thread_arg a1 = { ob, "a", 300 }, a2 = { ob, "b", 300 };
  pthread_t t1, t2;
  int next_a = 0, next_b = 0;
  uint64_t acked = 0;

  pthread_create (&t1, NULL, appender, &a1);
  pthread_create (&t2, NULL, appender, &a2);
  while (next_a < 300 || next_b < 300)
    {
      json_object *arr = NULL;
      berth_err err = NULL;
      cr_assert_eq (outbox_read (ob, SRC, acked, 17, 0, &arr, &err), 0);
      for (size_t i = 0; i < json_object_array_length (arr); i++)
        {
          int *next = strcmp (str_of (arr, i, "task_id"), "a") == 0 ? &next_a : &next_b;
          cr_assert_gt (seq_of (arr, i), acked);
          int status;
          cr_assert_eq (berth_parse_int (str_of (arr, i, "status"), &status), 0);
          cr_assert_eq (status, *next, "per-task order");
          (*next)++;
          acked = seq_of (arr, i);
        }
      if (json_object_array_length (arr) == 0)
        usleep (1000);
      json_object_put (arr);
      cr_assert_eq (outbox_ack (ob, SRC, acked, &err), 0);
    }
  pthread_join (t1, NULL);
  pthread_join (t2, NULL);
  cr_assert_eq (acked, 600);
  cr_assert_eq (stats (ob, SRC).pending, 0);
  outbox_close (ob);
}

Test (outbox, same_directory_shares_one_index)
{
  struct outbox *engine = open_ob (NULL), *source = open_ob (NULL);
  cleanup_json json_object *arr = NULL;
  berth_err err = NULL;

  cr_assert_eq (engine, source);
  append (engine, SRC, "t1", "RUNNING");
  arr = read_all (source, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 1);
  cr_assert_eq (outbox_ack (source, SRC, 1, &err), 0);
  outbox_close (source);
  /* Still usable through the other reference. */
  cr_assert_eq (append (engine, SRC, "t1", "STOPPED"), 2);
  outbox_close (engine);
}

/* ------------------------------------------------------------------ queued appends */

struct durable_log
{
  pthread_mutex_t lock;
  struct outbox *ob;
  size_t calls;
  size_t visible_at_call[64]; /* what outbox_read returned when each callback ran */
};

static void
on_durable (void *data)
{
  struct durable_log *l = data;
  cleanup_json json_object *arr = read_all (l->ob, SRC, 0);
  pthread_mutex_lock (&l->lock);
  if (l->calls < 64)
    l->visible_at_call[l->calls] = json_object_array_length (arr);
  l->calls++;
  pthread_mutex_unlock (&l->lock);
}

static uint64_t
append_queued (struct outbox *ob, const char *task, const char *status, struct durable_log *l)
{
  cleanup_json json_object *c = make_change (task, status);
  berth_err err = NULL;
  uint64_t seq = 0;
  int r = outbox_append_queued (ob, SRC, c, on_durable, l, &seq, &err);
  cr_assert_eq (r, 0, "outbox_append_queued: %s", berth_err_msg (&err));
  return seq;
}

Test (outbox, queued_changes_are_durable_before_they_are_seen)
{
  struct outbox *ob = open_ob (NULL);
  struct durable_log l = { .lock = PTHREAD_MUTEX_INITIALIZER, .ob = ob };
  cleanup_json json_object *arr = NULL;
  struct outbox_stats st;
  berth_err err = NULL;

  for (int i = 0; i < 20; i++)
    cr_assert_eq (append_queued (ob, i % 2 ? "t-b" : "t-a", "RUNNING", &l), (uint64_t)i + 1);
  cr_assert (outbox_drain (ob, 60000));
  cr_assert_eq (l.calls, 20, "one callback per change");
  /* each callback ran after its change was readable, never before */
  for (size_t i = 0; i < 20; i++)
    cr_assert_geq (l.visible_at_call[i], i + 1, "callback %zu saw %zu changes", i,
                   l.visible_at_call[i]);
  arr = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 20);
  for (size_t i = 0; i < 20; i++)
    cr_assert_eq (seq_of (arr, i), i + 1, "in seq order");
  cr_assert_eq (outbox_get_stats (ob, SRC, &st, &err), 0);
  cr_assert_eq (st.pending, 20);
  cr_assert_eq (st.queued, 0);
  cr_assert_eq (st.write_failures, 0);
  outbox_close (ob);

  /* on disk: a reopened outbox has them all and continues above them */
  ob = open_ob (NULL);
  json_object_put (arr);
  arr = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 20);
  cr_assert_eq (append (ob, SRC, "t-a", "STOPPED"), 21);
  outbox_close (ob);
}

Test (outbox, a_synchronous_append_waits_for_queued_ones)
{
  struct outbox *ob = open_ob (NULL);
  struct durable_log l = { .lock = PTHREAD_MUTEX_INITIALIZER, .ob = ob };
  cleanup_json json_object *arr = NULL;

  for (int i = 0; i < 10; i++)
    append_queued (ob, "t-a", "PENDING", &l);
  cr_assert_eq (append (ob, SRC, "t-a", "RUNNING"), 11);
  arr = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 11, "the queued ones were written first");
  for (size_t i = 0; i < 11; i++)
    cr_assert_eq (seq_of (arr, i), i + 1);
  outbox_close (ob);
  cr_assert_eq (l.calls, 10);
}

Test (outbox, close_writes_what_is_queued)
{
  struct outbox *ob = open_ob (NULL);
  cleanup_json json_object *arr = NULL;
  cleanup_json json_object *c = make_change ("t-a", "RUNNING");
  berth_err err = NULL;

  for (int i = 0; i < 50; i++)
    cr_assert_eq (outbox_append_queued (ob, SRC, c, NULL, NULL, NULL, &err), 0);
  outbox_close (ob);
  ob = open_ob (NULL);
  arr = read_all (ob, SRC, 0);
  cr_assert_eq (json_object_array_length (arr), 50, "every queued change is on disk after close");
  outbox_close (ob);
}

Test (outbox, queued_change_without_task_id_is_refused)
{
  struct outbox *ob = open_ob (NULL);
  cleanup_json json_object *c = json_object_new_object ();
  berth_err err = NULL;
  cr_assert_lt (outbox_append_queued (ob, SRC, c, NULL, NULL, NULL, &err), 0);
  cr_assert_not_null (strstr (berth_err_msg (&err), "task_id"), "%s", berth_err_msg (&err));
  berth_err_free (&err);
  outbox_close (ob);
}

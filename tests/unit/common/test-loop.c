/* Unit tests: the event loop (io, timers in order, signals, cross-thread wakeups, removal
 * from inside callbacks). */
#include "common/common.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>

static int order[8];
static int n_order;

static int
record_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  (void)src;
  (void)now;
  order[n_order++] = (int)(intptr_t)data;
  return 0;
}

static int
quit_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  (void)now;
  (void)data;
  (void)src;
  berth_loop_quit (data, 7);
  return 0;
}

Test (loop, timers_fire_in_time_order)
{
  struct berth_loop *loop;
  cleanup_err berth_err err = NULL;
  uint64_t now = berth_now_ns ();
  n_order = 0;
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  berth_loop_add_timer (loop, now + 30000000, record_timer, (void *)3, NULL, &err);
  berth_loop_add_timer (loop, now + 10000000, record_timer, (void *)1, NULL, &err);
  berth_loop_add_timer (loop, now + 20000000, record_timer, (void *)2, NULL, &err);
  struct berth_loop_source *q;
  berth_loop_add_timer (loop, now + 40000000, quit_timer, loop, &q, &err);
  (void)q;
  cr_assert_eq (berth_loop_run (loop), 7);
  cr_assert_eq (n_order, 3);
  cr_assert_eq (order[0], 1);
  cr_assert_eq (order[1], 2);
  cr_assert_eq (order[2], 3);
  berth_loop_free (loop);
}

static int
rearm_timer (struct berth_loop_source *src, uint64_t now, void *data)
{
  int *count = data;
  if (++*count < 3)
    berth_loop_timer_set (src, now + 1000000);
  else
    return -42;
  return 0;
}

Test (loop, timer_rearms_itself_and_negative_return_stops)
{
  struct berth_loop *loop;
  cleanup_err berth_err err = NULL;
  int count = 0;
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  berth_loop_add_timer (loop, berth_now_ns (), rearm_timer, &count, NULL, &err);
  cr_assert_eq (berth_loop_run (loop), -42);
  cr_assert_eq (count, 3);
  berth_loop_free (loop);
}

static struct berth_loop_source *victim;

static int
remove_other (struct berth_loop_source *src, uint64_t now, void *data)
{
  (void)now;
  (void)data;
  berth_loop_remove (victim);
  berth_loop_remove (src);
  berth_loop_quit (data, 0);
  return 0;
}

static int
must_not_run (struct berth_loop_source *src, uint64_t now, void *data)
{
  (void)src;
  (void)now;
  (void)data;
  cr_assert_fail ("removed timer ran");
  return 0;
}

Test (loop, remove_inside_callback)
{
  struct berth_loop *loop;
  cleanup_err berth_err err = NULL;
  uint64_t now = berth_now_ns ();
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  berth_loop_add_timer (loop, now + 1000000, remove_other, loop, NULL, &err);
  berth_loop_add_timer (loop, now + 1000000, must_not_run, NULL, &victim, &err);
  cr_assert_eq (berth_loop_run (loop), 0);
  /* a second iteration must not see the removed timer either */
  cr_assert_eq (berth_loop_run_once (loop, 20), 0);
  berth_loop_free (loop);
}

static int
on_readable (struct berth_loop_source *src, int fd, uint32_t revents, void *data)
{
  char buf[16];
  (void)src;
  cr_assert (revents & EPOLLIN);
  cr_assert_eq (read (fd, buf, sizeof buf), 5);
  berth_loop_quit (data, 5);
  return 0;
}

Test (loop, io)
{
  struct berth_loop *loop;
  cleanup_err berth_err err = NULL;
  int p[2];
  cr_assert_eq (pipe2 (p, O_CLOEXEC), 0);
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  cr_assert_eq (berth_loop_add_io (loop, p[0], EPOLLIN, on_readable, loop, NULL, &err), 0);
  cr_assert_eq (write (p[1], "hello", 5), 5);
  cr_assert_eq (berth_loop_run (loop), 5);
  berth_loop_free (loop);
  close (p[0]);
  close (p[1]);
}

static int wakeups;

static int
on_wakeup (struct berth_loop_source *src, void *data)
{
  (void)src;
  wakeups++;
  berth_loop_quit (data, 1);
  return 0;
}

static void *
wake_thread (void *p)
{
  for (int i = 0; i < 100; i++)
    berth_loop_wakeup (p);
  return NULL;
}

Test (loop, wakeup_from_thread_coalesces)
{
  struct berth_loop *loop;
  struct berth_loop_source *w;
  cleanup_err berth_err err = NULL;
  pthread_t t;
  wakeups = 0;
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  cr_assert_eq (berth_loop_add_wakeup (loop, on_wakeup, loop, &w, &err), 0);
  pthread_create (&t, NULL, wake_thread, w);
  pthread_join (t, NULL);
  cr_assert_eq (berth_loop_run (loop), 1);
  cr_assert_eq (wakeups, 1);
  berth_loop_free (loop);
}

static int
on_signal (struct berth_loop_source *src, int signo, void *data)
{
  (void)src;
  berth_loop_quit (data, signo);
  return 0;
}

Test (loop, signal)
{
  struct berth_loop *loop;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (berth_loop_new (&loop, &err), 0);
  cr_assert_eq (berth_loop_add_signal (loop, SIGUSR1, on_signal, loop, NULL, &err), 0);
  cr_assert_lt (berth_loop_add_signal (loop, SIGUSR1, on_signal, loop, NULL, &err), 0);
  kill (getpid (), SIGUSR1);
  cr_assert_eq (berth_loop_run (loop), SIGUSR1);
  berth_loop_free (loop);
}

/* A small pool of worker threads for the engine's blocking work (image pulls, overlay
 * mounts, network setup). Results come back to the loop thread through a wakeup. */
#include "engine-internal.h"

struct job
{
  struct job *next;
  work_fn fn;
  work_done_fn done;
  void *arg;
};

struct workers
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct job *queue_head, **queue_tail;
  struct job *done_head, **done_tail;
  pthread_t *threads;
  unsigned n;
  bool stopping;
  struct berth_loop_source *wakeup;
};

static void *
worker_main (void *p)
{
  struct workers *w = p;
  pthread_mutex_lock (&w->lock);
  for (;;)
    {
      struct job *j;
      while (!w->stopping && w->queue_head == NULL)
        pthread_cond_wait (&w->cond, &w->lock);
      if (w->stopping)
        break;
      j = w->queue_head;
      w->queue_head = j->next;
      if (w->queue_head == NULL)
        w->queue_tail = &w->queue_head;
      pthread_mutex_unlock (&w->lock);
      j->fn (j->arg);
      pthread_mutex_lock (&w->lock);
      j->next = NULL;
      *w->done_tail = j;
      w->done_tail = &j->next;
      berth_loop_wakeup (w->wakeup);
    }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

static int
on_done (struct berth_loop_source *src, void *data)
{
  struct workers *w = data;
  struct job *list;
  (void) src;
  pthread_mutex_lock (&w->lock);
  list = w->done_head;
  w->done_head = NULL;
  w->done_tail = &w->done_head;
  pthread_mutex_unlock (&w->lock);
  while (list)
    {
      struct job *j = list;
      list = j->next;
      if (j->done)
        j->done (j->arg);
      free (j);
    }
  return 0;
}

int
workers_new (struct berth_loop *loop, unsigned n, struct workers **ret, berth_err *err)
{
  struct workers *w = xzalloc (sizeof *w);
  pthread_mutex_init (&w->lock, NULL);
  pthread_cond_init (&w->cond, NULL);
  w->queue_tail = &w->queue_head;
  w->done_tail = &w->done_head;
  if (berth_loop_add_wakeup (loop, on_done, w, &w->wakeup, err) < 0)
    {
      free (w);
      return -EIO;
    }
  w->threads = xzalloc (sizeof (pthread_t) * (n ? n : 1));
  for (unsigned i = 0; i < (n ? n : 1); i++)
    {
      int r = pthread_create (&w->threads[i], NULL, worker_main, w);
      if (r != 0)
        {
          w->n = i;
          workers_free (w);
          return berth_err_set (err, r, "start worker thread");
        }
      w->n = i + 1;
    }
  *ret = w;
  return 0;
}

void
workers_submit (struct workers *w, work_fn fn, work_done_fn done, void *arg)
{
  struct job *j = xzalloc (sizeof *j);
  j->fn = fn;
  j->done = done;
  j->arg = arg;
  pthread_mutex_lock (&w->lock);
  *w->queue_tail = j;
  w->queue_tail = &j->next;
  pthread_cond_signal (&w->cond);
  pthread_mutex_unlock (&w->lock);
}

void
workers_free (struct workers *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock (&w->lock);
  w->stopping = true;
  pthread_cond_broadcast (&w->cond);
  pthread_mutex_unlock (&w->lock);
  for (unsigned i = 0; i < w->n; i++)
    pthread_join (w->threads[i], NULL);
  for (struct job *j = w->queue_head, *n; j; j = n)
    {
      n = j->next;
      free (j);
    }
  for (struct job *j = w->done_head, *n; j; j = n)
    {
      n = j->next;
      free (j);
    }
  berth_loop_remove (w->wakeup);
  pthread_mutex_destroy (&w->lock);
  pthread_cond_destroy (&w->cond);
  free (w->threads);
  free (w);
}

/* epoll event loop with a binary heap of timers on one timerfd, a signalfd for signals and
 * eventfd wakeups. Sources removed during dispatch are freed after the iteration, so a
 * callback may remove any source, itself included. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

enum source_kind
{
  SOURCE_IO,
  SOURCE_TIMER,
  SOURCE_SIGNAL,
  SOURCE_WAKEUP,
};

struct berth_loop_source
{
  struct berth_loop *loop;
  enum source_kind kind;
  bool dead;
  void *data;
  union
  {
    struct
    {
      int fd;
      berth_loop_io_fn fn;
    } io;
    struct
    {
      uint64_t when;
      size_t heap_index; /* SIZE_MAX when not in the heap */
      berth_loop_timer_fn fn;
    } timer;
    struct
    {
      int signo;
      berth_loop_signal_fn fn;
    } sig;
    struct
    {
      int fd;
      berth_loop_wakeup_fn fn;
    } wake;
  };
  struct berth_loop_source *next_dead;
  struct berth_loop_source *prev, *next; /* every live source, for berth_loop_free */
};

struct berth_loop
{
  int epfd;
  int timerfd;
  int sigfd;
  sigset_t sigmask;
  struct berth_loop_source **heap;
  size_t heap_len, heap_cap;
  struct berth_loop_source *signals[_NSIG];
  struct berth_loop_source *dead;
  struct berth_loop_source *live;
  bool quit;
  int quit_code;
  /* marker pointers for the loop's own fds in epoll data */
  char timer_marker, signal_marker;
};

/* ------------------------------------------------------------------ timer heap */

static bool
heap_less (struct berth_loop *l, size_t a, size_t b)
{
  return l->heap[a]->timer.when < l->heap[b]->timer.when;
}

static void
heap_swap (struct berth_loop *l, size_t a, size_t b)
{
  struct berth_loop_source *t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->timer.heap_index = a;
  l->heap[b]->timer.heap_index = b;
}

static void
heap_up (struct berth_loop *l, size_t i)
{
  while (i > 0 && heap_less (l, i, (i - 1) / 2))
    {
      heap_swap (l, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
}

static void
heap_down (struct berth_loop *l, size_t i)
{
  for (;;)
    {
      size_t c = 2 * i + 1, m = i;
      if (c < l->heap_len && heap_less (l, c, m))
        m = c;
      if (c + 1 < l->heap_len && heap_less (l, c + 1, m))
        m = c + 1;
      if (m == i)
        return;
      heap_swap (l, i, m);
      i = m;
    }
}

static void
heap_remove (struct berth_loop *l, struct berth_loop_source *s)
{
  size_t i = s->timer.heap_index;
  if (i == SIZE_MAX)
    return;
  l->heap_len--;
  if (i != l->heap_len)
    {
      l->heap[i] = l->heap[l->heap_len];
      l->heap[i]->timer.heap_index = i;
      heap_up (l, i);
      heap_down (l, l->heap[i]->timer.heap_index);
    }
  s->timer.heap_index = SIZE_MAX;
}

static void
heap_insert (struct berth_loop *l, struct berth_loop_source *s)
{
  if (l->heap_len == l->heap_cap)
    {
      l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 16;
      l->heap = xrealloc (l->heap, l->heap_cap * sizeof *l->heap);
    }
  l->heap[l->heap_len] = s;
  s->timer.heap_index = l->heap_len++;
  heap_up (l, s->timer.heap_index);
}

static void
timerfd_rearm (struct berth_loop *l)
{
  struct itimerspec its = { 0 };
  if (l->heap_len > 0)
    {
      uint64_t when = l->heap[0]->timer.when;
      if (when == 0)
        when = 1;
      its.it_value.tv_sec = (time_t)(when / 1000000000ull);
      its.it_value.tv_nsec = (long)(when % 1000000000ull);
    }
  timerfd_settime (l->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ------------------------------------------------------------------ lifecycle */

int
berth_loop_new (struct berth_loop **ret, berth_err *err)
{
  struct berth_loop *l = xzalloc (sizeof *l);
  struct epoll_event ev = { .events = EPOLLIN };

  l->epfd = l->timerfd = l->sigfd = -1;
  sigemptyset (&l->sigmask);
  l->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (l->epfd < 0)
    goto fail;
  l->timerfd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (l->timerfd < 0)
    goto fail;
  ev.data.ptr = &l->timer_marker;
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, l->timerfd, &ev) < 0)
    goto fail;
  *ret = l;
  return 0;
fail:
  {
    int e = errno;
    berth_loop_free (l);
    return berth_err_set (err, e, "create event loop");
  }
}

static void
free_dead (struct berth_loop *l)
{
  while (l->dead)
    {
      struct berth_loop_source *s = l->dead;
      l->dead = s->next_dead;
      free (s);
    }
}

void
berth_loop_free (struct berth_loop *l)
{
  if (l == NULL)
    return;
  while (l->live)
    berth_loop_remove (l->live);
  free_dead (l);
  free (l->heap);
  if (l->epfd >= 0)
    close (l->epfd);
  if (l->timerfd >= 0)
    close (l->timerfd);
  if (l->sigfd >= 0)
    close (l->sigfd);
  free (l);
}

static struct berth_loop_source *
source_new (struct berth_loop *l, enum source_kind kind, void *data)
{
  struct berth_loop_source *s = xzalloc (sizeof *s);
  s->loop = l;
  s->kind = kind;
  s->data = data;
  s->next = l->live;
  if (l->live)
    l->live->prev = s;
  l->live = s;
  return s;
}

static void
source_unlink (struct berth_loop_source *s)
{
  struct berth_loop *l = s->loop;
  if (s->prev)
    s->prev->next = s->next;
  else
    l->live = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

/* ------------------------------------------------------------------ io */

int
berth_loop_add_io (struct berth_loop *l, int fd, uint32_t events, berth_loop_io_fn fn, void *data,
                   struct berth_loop_source **ret, berth_err *err)
{
  struct berth_loop_source *s = source_new (l, SOURCE_IO, data);
  struct epoll_event ev = { .events = events, .data.ptr = s };

  s->io.fd = fd;
  s->io.fn = fn;
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      source_unlink (s);
      free (s);
      return berth_err_set (err, e, "epoll add fd %d", fd);
    }
  if (ret)
    *ret = s;
  return 0;
}

int
berth_loop_io_set_events (struct berth_loop_source *s, uint32_t events, berth_err *err)
{
  struct epoll_event ev = { .events = events, .data.ptr = s };
  if (epoll_ctl (s->loop->epfd, EPOLL_CTL_MOD, s->io.fd, &ev) < 0)
    return berth_err_set (err, errno, "epoll modify fd %d", s->io.fd);
  return 0;
}

/* ------------------------------------------------------------------ timers */

int
berth_loop_add_timer (struct berth_loop *l, uint64_t when_ns, berth_loop_timer_fn fn, void *data,
                      struct berth_loop_source **ret, berth_err *err)
{
  struct berth_loop_source *s = source_new (l, SOURCE_TIMER, data);
  (void)err;
  s->timer.fn = fn;
  s->timer.heap_index = SIZE_MAX;
  berth_loop_timer_set (s, when_ns);
  if (ret)
    *ret = s;
  return 0;
}

void
berth_loop_timer_set (struct berth_loop_source *s, uint64_t when_ns)
{
  struct berth_loop *l = s->loop;
  if (s->dead)
    return;
  heap_remove (l, s);
  s->timer.when = when_ns;
  if (when_ns != 0)
    heap_insert (l, s);
  timerfd_rearm (l);
}

uint64_t
berth_loop_timer_get (const struct berth_loop_source *s)
{
  return s->timer.heap_index == SIZE_MAX ? 0 : s->timer.when;
}

static int
dispatch_timers (struct berth_loop *l)
{
  uint64_t expirations, now = berth_now_ns ();
  ssize_t n BERTH_UNUSED = read (l->timerfd, &expirations, sizeof expirations);

  while (l->heap_len > 0 && l->heap[0]->timer.when <= now)
    {
      struct berth_loop_source *s = l->heap[0];
      int r;
      heap_remove (l, s);
      r = s->timer.fn (s, now, s->data);
      if (r < 0)
        {
          timerfd_rearm (l);
          return r;
        }
    }
  timerfd_rearm (l);
  return 0;
}

/* ------------------------------------------------------------------ signals */

int
berth_loop_add_signal (struct berth_loop *l, int signo, berth_loop_signal_fn fn, void *data,
                       struct berth_loop_source **ret, berth_err *err)
{
  struct berth_loop_source *s;
  sigset_t one;

  if (signo <= 0 || signo >= _NSIG || l->signals[signo])
    return berth_err_set (err, EINVAL, "signal %d already watched or invalid", signo);
  sigemptyset (&one);
  sigaddset (&one, signo);
  if (pthread_sigmask (SIG_BLOCK, &one, NULL) != 0)
    return berth_err_set (err, EINVAL, "block signal %d", signo);
  sigaddset (&l->sigmask, signo);
  if (l->sigfd < 0)
    {
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->signal_marker };
      l->sigfd = signalfd (-1, &l->sigmask, SFD_CLOEXEC | SFD_NONBLOCK);
      if (l->sigfd < 0)
        return berth_err_set (err, errno, "signalfd");
      if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, l->sigfd, &ev) < 0)
        return berth_err_set (err, errno, "epoll add signalfd");
    }
  else if (signalfd (l->sigfd, &l->sigmask, 0) < 0)
    return berth_err_set (err, errno, "signalfd update");
  s = source_new (l, SOURCE_SIGNAL, data);
  s->sig.signo = signo;
  s->sig.fn = fn;
  l->signals[signo] = s;
  if (ret)
    *ret = s;
  return 0;
}

static int
dispatch_signals (struct berth_loop *l)
{
  struct signalfd_siginfo si;
  while (read (l->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
    {
      struct berth_loop_source *s = si.ssi_signo < _NSIG ? l->signals[si.ssi_signo] : NULL;
      if (s && !s->dead)
        {
          int r = s->sig.fn (s, (int)si.ssi_signo, s->data);
          if (r < 0)
            return r;
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ wakeups */

int
berth_loop_add_wakeup (struct berth_loop *l, berth_loop_wakeup_fn fn, void *data,
                       struct berth_loop_source **ret, berth_err *err)
{
  struct berth_loop_source *s = source_new (l, SOURCE_WAKEUP, data);
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

  s->wake.fn = fn;
  s->wake.fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake.fd < 0 || epoll_ctl (l->epfd, EPOLL_CTL_ADD, s->wake.fd, &ev) < 0)
    {
      int e = errno;
      if (s->wake.fd >= 0)
        close (s->wake.fd);
      source_unlink (s);
      free (s);
      return berth_err_set (err, e, "create wakeup");
    }
  *ret = s;
  return 0;
}

void
berth_loop_wakeup (struct berth_loop_source *s)
{
  uint64_t one = 1;
  ssize_t n BERTH_UNUSED = write (s->wake.fd, &one, sizeof one);
}

/* ------------------------------------------------------------------ removal and dispatch */

void
berth_loop_remove (struct berth_loop_source *s)
{
  struct berth_loop *l;
  if (s == NULL || s->dead)
    return;
  l = s->loop;
  s->dead = true;
  source_unlink (s);
  switch (s->kind)
    {
    case SOURCE_IO:
      epoll_ctl (l->epfd, EPOLL_CTL_DEL, s->io.fd, NULL);
      break;
    case SOURCE_TIMER:
      heap_remove (l, s);
      timerfd_rearm (l);
      break;
    case SOURCE_SIGNAL:
      l->signals[s->sig.signo] = NULL;
      sigdelset (&l->sigmask, s->sig.signo);
      if (l->sigfd >= 0)
        signalfd (l->sigfd, &l->sigmask, 0);
      break;
    case SOURCE_WAKEUP:
      epoll_ctl (l->epfd, EPOLL_CTL_DEL, s->wake.fd, NULL);
      close (s->wake.fd);
      break;
    }
  s->next_dead = l->dead;
  l->dead = s;
}

void
berth_loop_quit (struct berth_loop *l, int code)
{
  l->quit = true;
  l->quit_code = code;
}

int
berth_loop_run_once (struct berth_loop *l, int timeout_ms)
{
  struct epoll_event evs[64];
  int n, r = 0;

  n = epoll_wait (l->epfd, evs, ARRAY_SIZE (evs), timeout_ms);
  if (n < 0)
    return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n && r >= 0; i++)
    {
      void *p = evs[i].data.ptr;
      if (p == &l->timer_marker)
        r = dispatch_timers (l);
      else if (p == &l->signal_marker)
        r = dispatch_signals (l);
      else
        {
          struct berth_loop_source *s = p;
          if (s->dead)
            continue;
          if (s->kind == SOURCE_IO)
            r = s->io.fn (s, s->io.fd, evs[i].events, s->data);
          else
            {
              uint64_t v;
              ssize_t rd BERTH_UNUSED = read (s->wake.fd, &v, sizeof v);
              r = s->wake.fn (s, s->data);
            }
        }
    }
  free_dead (l);
  return r;
}

int
berth_loop_run (struct berth_loop *l)
{
  l->quit = false;
  while (!l->quit)
    {
      int r = berth_loop_run_once (l, -1);
      if (r < 0)
        return r;
    }
  return l->quit_code;
}

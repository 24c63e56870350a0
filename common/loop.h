/* The event loop (epoll): fds, timers on one timerfd, signals through a signalfd, and
 * wakeups other threads can trigger. Single-threaded by design: every callback runs on the
 * thread that runs the loop; only berth_loop_wakeup() may be called from other threads.
 * Included by common.h. */
#ifndef BERTH_COMMON_LOOP_H
#define BERTH_COMMON_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct berth_loop;
struct berth_loop_source;

/* Callbacks return 0 to continue; a negative value stops the loop with that value. */
typedef int (*berth_loop_io_fn) (struct berth_loop_source *src, int fd, uint32_t revents,
                                 void *data);
typedef int (*berth_loop_timer_fn) (struct berth_loop_source *src, uint64_t now_ns, void *data);
typedef int (*berth_loop_signal_fn) (struct berth_loop_source *src, int signo, void *data);
typedef int (*berth_loop_wakeup_fn) (struct berth_loop_source *src, void *data);

int berth_loop_new (struct berth_loop **ret, berth_err *err);
void berth_loop_free (struct berth_loop *loop);

/* Watches fd (not owned) for events (EPOLLIN, EPOLLOUT...). */
int berth_loop_add_io (struct berth_loop *loop, int fd, uint32_t events, berth_loop_io_fn fn,
                       void *data, struct berth_loop_source **ret, berth_err *err);
int berth_loop_io_set_events (struct berth_loop_source *src, uint32_t events, berth_err *err);

/* One-shot timer at an absolute CLOCK_MONOTONIC time; re-arm with berth_loop_timer_set
 * (also from inside its own callback). when_ns == 0 disarms. */
int berth_loop_add_timer (struct berth_loop *loop, uint64_t when_ns, berth_loop_timer_fn fn,
                          void *data, struct berth_loop_source **ret, berth_err *err);
void berth_loop_timer_set (struct berth_loop_source *src, uint64_t when_ns);
uint64_t berth_loop_timer_get (const struct berth_loop_source *src);

/* Blocks signo for the calling thread and delivers it through a signalfd. Call before
 * starting threads so they inherit the blocked mask. */
int berth_loop_add_signal (struct berth_loop *loop, int signo, berth_loop_signal_fn fn, void *data,
                           struct berth_loop_source **ret, berth_err *err);

/* A wakeup: berth_loop_wakeup() (thread-safe, async-signal-safe) makes fn run once on the
 * loop thread, however many wakeups came before it ran. */
int berth_loop_add_wakeup (struct berth_loop *loop, berth_loop_wakeup_fn fn, void *data,
                           struct berth_loop_source **ret, berth_err *err);
void berth_loop_wakeup (struct berth_loop_source *src);

/* Removes a source; safe from inside any callback, including its own. NULL is a no-op. */
void berth_loop_remove (struct berth_loop_source *src);

/* Runs until a callback returns a negative value or berth_loop_quit() is called; returns
 * that value (quit's code). */
int berth_loop_run (struct berth_loop *loop);
void berth_loop_quit (struct berth_loop *loop, int code);
/* Runs one iteration, waiting at most timeout_ms (-1: until something happens). */
int berth_loop_run_once (struct berth_loop *loop, int timeout_ms);

#endif

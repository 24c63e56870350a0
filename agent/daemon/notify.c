/* sd_notify protocol: one datagram per message to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@'). */
#include "notify.h"

#include <sys/socket.h>
#include <sys/un.h>

int
berth_notify (const char *state)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len;
  socklen_t salen;
  int fd, r = 1;

  if (path == NULL || *path == '\0')
    return 0;
  len = strlen (path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
    return -EINVAL;
  memcpy (sa.sun_path, path, len);
  if (path[0] == '@')
    sa.sun_path[0] = '\0';
  salen = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0)
    r = -errno;
  close (fd);
  return r;
}

uint64_t
berth_notify_watchdog_ns (void)
{
  const char *usec = getenv ("WATCHDOG_USEC"), *pid = getenv ("WATCHDOG_PID");
  uint64_t v;
  int32_t p;
  if (usec == NULL || berth_parse_uint64 (usec, &v) < 0 || v == 0)
    return 0;
  /* WATCHDOG_PID, when set, names the process the watchdog is for */
  if (pid && (berth_parse_int32 (pid, &p) < 0 || p != getpid ()))
    return 0;
  return v * 1000;
}

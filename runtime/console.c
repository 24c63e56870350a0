/* The container's terminal: a pty from the container's own devpts instance (created by its
 * first process after pivot_root), bound on /dev/console, its master handed to the
 * --console-socket as runc does (SCM_RIGHTS, the pty name as payload), or relayed to the
 * runtime's own stdio when there is no console socket. */
#include "runtime/internal.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO ('T', 0x41)
#endif

void
rt_child_console (struct rt_init *init)
{
  const struct rt_process *p = init->process;
  int master, slave, unlock = 0;

  master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    rt_child_fail (init, errno, "process.terminal: open /dev/ptmx (is /dev/pts mounted?)");
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0)
    rt_child_fail (init, errno, "process.terminal: unlock the pty");
  /* The peer by fd, not by a /dev/pts/N path that the image could have replaced. */
  slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    rt_child_fail (init, errno, "process.terminal: open the pty peer");
  if (p->has_console_size)
    {
      struct winsize ws = { .ws_row = p->console_height, .ws_col = p->console_width };
      if (ioctl (slave, TIOCSWINSZ, &ws) < 0)
        rt_child_fail (init, errno, "process.consoleSize");
    }
  if (init->mode == RT_INIT_CREATE)
    {
      int target, tree;
      /* /dev/console is a regular file made here, on the /dev of the container. */
      target = open ("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
      if (target < 0 && errno != EEXIST)
        rt_child_fail (init, errno, "process.terminal: create /dev/console");
      if (target >= 0)
        close (target);
      target = open ("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (target < 0)
        rt_child_fail (init, errno, "process.terminal: open /dev/console");
      tree = open_tree (slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
      if (tree < 0)
        rt_child_fail (init, errno, "process.terminal: bind the pty on /dev/console");
      if (move_mount (tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        rt_child_fail (init, errno, "process.terminal: bind the pty on /dev/console");
      close (tree);
      close (target);
    }
  if (setsid () < 0)
    rt_child_fail (init, errno, "process.terminal: setsid");
  if (ioctl (slave, TIOCSCTTY, 0) < 0)
    rt_child_fail (init, errno, "process.terminal: make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2 (slave, fd) < 0)
      rt_child_fail (init, errno, "process.terminal: dup2");
  close (slave);
  if (rt_msg_send (init->sync_fd, RT_MSG_PTY, 0, NULL, master) < 0)
    _exit (1);
  close (master);
}

int
rt_console_socket_connect (const char *path, int *ret_fd, berth_err *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int fd = -1;

  if (strlen (path) >= sizeof addr.sun_path)
    return berth_err_set (err, ENAMETOOLONG, "--console-socket `%s`", path);
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "socket");
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return berth_err_set (err, errno, "--console-socket: connect `%s`", path);
  *ret_fd = steal_fd (&fd);
  return 0;
}

int
rt_console_socket_send (int sock, int master, berth_err *err)
{
  char name[64] = "/dev/console";
  struct iovec iov = { .iov_base = name, .iov_len = 0 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  struct cmsghdr *c;

  memset (&control, 0, sizeof control);
  {
    unsigned n;
    if (ioctl (master, TIOCGPTN, &n) == 0)
      snprintf (name, sizeof name, "/dev/pts/%u", n);
  }
  iov.iov_len = strlen (name) + 1;
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &master, sizeof (int));
  while (sendmsg (sock, &msg, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return berth_err_set (err, errno, "--console-socket: send the terminal");
  return 0;
}

static bool
copy_once (int from, int to)
{
  char buf[8192];
  ssize_t n = read (from, buf, sizeof buf);
  if (n <= 0)
    return n < 0 && (errno == EINTR || errno == EAGAIN);
  for (ssize_t off = 0; off < n;)
    {
      ssize_t w = write (to, buf + off, (size_t)(n - off));
      if (w < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            continue;
          return false;
        }
      off += w;
    }
  return true;
}

int
rt_console_relay (int master, int pidfd, berth_err *err)
{
  struct termios saved, raw;
  bool restore = false;
  bool stdin_open = true;

  (void)err;
  if (isatty (0) && tcgetattr (0, &saved) == 0)
    {
      raw = saved;
      cfmakeraw (&raw);
      raw.c_oflag |= OPOST | ONLCR;
      if (tcsetattr (0, TCSANOW, &raw) == 0)
        restore = true;
      {
        struct winsize ws;
        if (ioctl (0, TIOCGWINSZ, &ws) == 0)
          ioctl (master, TIOCSWINSZ, &ws);
      }
    }
  for (;;)
    {
      struct pollfd pfds[3] = { { .fd = master, .events = POLLIN },
                                { .fd = stdin_open ? 0 : -1, .events = POLLIN },
                                { .fd = pidfd, .events = POLLIN } };
      if (poll (pfds, 3, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      /* The process exited: drain what is there, then stop. Bounded, and looked at before
         more output: a process it left behind on the terminal may keep writing. */
      if (pfds[2].revents & POLLIN)
        {
          struct pollfd d = { .fd = master, .events = POLLIN };
          for (int i = 0; i < 1024; i++)
            if (poll (&d, 1, 0) <= 0 || !(d.revents & POLLIN) || !copy_once (master, 1))
              break;
          break;
        }
      if (pfds[0].revents & POLLIN)
        {
          if (!copy_once (master, 1))
            break;
          continue;
        }
      if (pfds[0].revents & (POLLHUP | POLLERR))
        break;
      if (pfds[1].revents & (POLLIN | POLLHUP))
        {
          if (!copy_once (0, master))
            stdin_open = false;
        }
    }
  if (restore)
    tcsetattr (0, TCSANOW, &saved);
  return 0;
}

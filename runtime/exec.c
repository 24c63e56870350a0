/* exec: a new process in a running container. It is cloned into the container's pid
 * namespace and cgroup, joins every other namespace of the container's first process at once
 * (setns on its pidfd), and gets the container's seccomp program; its process settings come
 * from a process.json or from the container's own process with the command line's changes. */
#include "runtime/internal.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Builds the process object: a copy of the container's, changed as the command line says. */
static int
exec_process_json (const struct rt_config *c, const struct runtime_exec_options *o,
                   json_object **ret, berth_err *err)
{
  json_object *base = NULL, *p = NULL, *env;
  int r;

  if (o->process_file)
    {
      r = bjson_parse_file_at (AT_FDCWD, o->process_file, 4u << 20, &p, err);
      if (r < 0)
        return berth_err_wrap (err, "--process");
      /* --tty with --process (as containerd's shims pass it): the process gets a terminal. */
      if (o->tty && json_object_get_type (p) == json_type_object)
        json_object_object_add (p, "terminal", json_object_new_boolean (true));
      *ret = p;
      return 0;
    }
  if (o->args == NULL || o->args[0] == NULL)
    return berth_err_set (err, 0, "exec: no command given (args or --process)");
  if (!json_object_object_get_ex (c->doc, "process", &base))
    return berth_err_set (err, 0, "the container has no process to base exec on");
  if (json_object_deep_copy (base, &p, NULL) < 0)
    abort ();
  {
    json_object *args = json_object_new_array ();
    for (size_t i = 0; o->args[i]; i++)
      json_object_array_add (args, json_object_new_string (o->args[i]));
    json_object_object_add (p, "args", args);
  }
  json_object_object_add (p, "terminal", json_object_new_boolean (o->tty));
  json_object_object_del (p, "consoleSize");
  if (o->cwd)
    json_object_object_add (p, "cwd", json_object_new_string (o->cwd));
  if (o->env && o->env[0])
    {
      if (!json_object_object_get_ex (p, "env", &env))
        {
          env = json_object_new_array ();
          json_object_object_add (p, "env", env);
        }
      for (size_t i = 0; o->env[i]; i++)
        {
          size_t klen = strcspn (o->env[i], "=");
          bool replaced = false;
          for (size_t k = 0; k < json_object_array_length (env); k++)
            {
              const char *e = json_object_get_string (json_object_array_get_idx (env, k));
              if (e && strncmp (e, o->env[i], klen) == 0 && e[klen] == '=')
                {
                  json_object_array_put_idx (env, k, json_object_new_string (o->env[i]));
                  replaced = true;
                  break;
                }
            }
          if (!replaced)
            json_object_array_add (env, json_object_new_string (o->env[i]));
        }
    }
  if (o->user)
    {
      cleanup_free char *copy = xstrdup (o->user);
      char *colon = strchr (copy, ':');
      uint32_t uid, gid = 0;
      json_object *user;
      if (colon)
        *colon = '\0';
      if (berth_parse_uint32 (copy, &uid) < 0
          || (colon && berth_parse_uint32 (colon + 1, &gid) < 0))
        {
          json_object_put (p);
          return berth_err_set (err, 0, "--user: `%s` is not uid[:gid]", o->user);
        }
      if (!json_object_object_get_ex (p, "user", &user))
        {
          user = json_object_new_object ();
          json_object_object_add (p, "user", user);
        }
      json_object_object_add (user, "uid", json_object_new_int64 (uid));
      json_object_object_add (user, "gid", json_object_new_int64 (gid));
    }
  *ret = p;
  return 0;
}

static int
read_bpf (int statefd, struct rt_bpf *ret, bool *ret_has, berth_err *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  int r = berth_read_file_at (statefd, "seccomp.bpf", 1u << 20, &data, &len, err);
  if (r < 0)
    {
      if (berth_err_code (err) == ENOENT)
        {
          berth_err_free (err);
          *ret_has = false;
          return 0;
        }
      return r;
    }
  if (len == 0 || len % sizeof (struct sock_filter) != 0)
    return berth_err_set (err, 0, "the container's seccomp program is damaged");
  ret->len = len / sizeof (struct sock_filter);
  ret->insns = (struct sock_filter *)steal_pointer (&data);
  *ret_has = true;
  return 0;
}

/* After RT_MSG_READY the process is about to execve: end of file means it did. */
static int
await_exec (int sync_fd, berth_err *err)
{
  struct rt_msg m;
  int r = rt_msg_recv (sync_fd, &m, NULL);
  if (r < 0)
    return berth_err_set (err, -r, "sync with the exec'd process");
  if (r > 0 && m.type == RT_MSG_ERROR)
    return berth_err_set (err, 0, "%s", m.text);
  return 0;
}

struct exec_ctx
{
  int rootfd, statefd, pidfd, child_pidfd, sync_fds[2], console_sock, pty, sigfd, own_pidns;
  struct rt_state *s;
  struct rt_config *c;
  struct rt_process *p;
  struct rt_cgroup *cg;
  struct rt_init init;
};

static void
exec_ctx_free (struct exec_ctx *x)
{
  int *fds[] = { &x->rootfd,      &x->statefd,      &x->pidfd, &x->child_pidfd, &x->sync_fds[0],
                 &x->sync_fds[1], &x->console_sock, &x->pty,   &x->sigfd };
  for (size_t i = 0; i < ARRAY_SIZE (fds); i++)
    if (*fds[i] >= 0)
      close (*fds[i]);
  rt_state_free (x->s);
  rt_config_free (x->c);
  rt_process_free (x->p);
  rt_cgroup_free (x->cg);
  strv_free (x->init.path_dirs);
  if (x->init.caps)
    cap_free (x->init.caps);
  rt_bpf_free (&x->init.seccomp);
  if (x->init.root_fd >= 0)
    close (x->init.root_fd);
}

static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };

int
runtime_exec (const struct runtime_context *ctx, const char *id,
              const struct runtime_exec_options *o, int *ret_status, berth_err *err)
{
  struct exec_ctx x = { -1, -1, -1, -1, { -1, -1 }, -1, -1, -1, -1 };
  struct rt_init *in = &x.init;
  cleanup_json json_object *pj = NULL;
  sigset_t mask, old;
  bool in_cgroup = false, masked = false;
  enum rt_status st;
  siginfo_t info;
  pid_t pid;
  int r;

  in->sync_fd = in->start_fd = in->start_peer_fd = in->join_pidfd = in->root_fd = -1;
  for (int k = 0; k < RT_NS_NKINDS; k++)
    in->ns_fds[k] = -1;
  if ((r = rt_state_root_open (ctx && ctx->root ? ctx->root : "/run/berth-runtime", false,
                               &x.rootfd, err))
          < 0
      || (r = rt_state_dir_open (x.rootfd, id, RT_LOCK_SHARED, &x.statefd, err)) < 0
      || (r = rt_state_read (x.statefd, id, &x.s, err)) < 0)
    goto out;
  st = rt_state_status (x.s);
  if (st != RT_STATUS_RUNNING)
    {
      r = berth_err_set (err, 0, "container `%s` is %s: exec needs a running container", id,
                         rt_status_name (st));
      goto out;
    }
  {
    cleanup_json json_object *doc = NULL;
    if ((r = bjson_parse_file_at (x.statefd, "config.json", 4u << 20, &doc, err)) < 0
        || (r = rt_config_parse (doc, &x.c, err)) < 0)
      goto out;
  }
  if ((r = exec_process_json (x.c, o, &pj, err)) < 0
      || (r = rt_process_parse (pj, "process", &x.p, err)) < 0)
    goto out;
  /* Ignored for a container's first process (runtime-spec), but it means something here. */
  if (json_object_object_get_ex (pj, "execCPUAffinity", NULL))
    {
      r = berth_err_set (err, 0, "process.execCPUAffinity: not supported by berth");
      goto out;
    }
  if (x.p->terminal && !o->console_socket && o->detach)
    {
      r = berth_err_set (err, 0, "--tty with --detach needs --console-socket");
      goto out;
    }
  /* The same refusals as create: what the host cannot grant is named. */
  if ((r = rt_check_host_grants (x.p, "process", err)) < 0)
    goto out;
  if ((r = read_bpf (x.statefd, &in->seccomp, &in->has_seccomp, err)) < 0
      || (r = rt_state_pidfd (x.s, &x.pidfd, err)) < 0)
    goto out;
  if (x.s->cgroup && (r = rt_cgroup_open (x.s->cgroup, &x.cg, err)) < 0)
    goto out;

  in->mode = RT_INIT_EXEC;
  in->config = x.c;
  in->process = x.p;
  in->preserve_fds = o->preserve_fds;
  in->new_keyring = true;
  in->join_pidfd = x.pidfd;
  in->join_flags = x.s->ns_flags & ~CLONE_NEWPID;
  if (!(x.s->ns_flags & CLONE_NEWNS))
    {
      char root[64];
      snprintf (root, sizeof root, "/proc/%d/root", x.s->pid);
      in->root_fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (in->root_fd < 0)
        {
          r = berth_err_set (err, errno, "open the container's root `%s`", root);
          goto out;
        }
    }
  rt_prepare_process (in, x.p);
  if (x.p->terminal && o->console_socket
      && (r = rt_console_socket_connect (o->console_socket, &x.console_sock, err)) < 0)
    goto out;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x.sync_fds) < 0)
    {
      r = berth_err_set (err, errno, "socketpair");
      goto out;
    }
  in->sync_fd = x.sync_fds[1];
  /* Joining the pid namespace applies to our children only; it is undone right after the
     clone, so that nothing else we start (LeakSanitizer's tracer included) lands there. */
  if (x.s->ns_flags & CLONE_NEWPID)
    {
      x.own_pidns = open ("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (x.own_pidns < 0 || setns (x.pidfd, CLONE_NEWPID) < 0)
        {
          r = berth_err_set (err, errno, "join the container's pid namespace");
          goto out;
        }
    }
  if (!o->detach)
    {
      sigemptyset (&mask);
      for (size_t i = 0; i < ARRAY_SIZE (forwarded); i++)
        sigaddset (&mask, forwarded[i]);
      sigprocmask (SIG_BLOCK, &mask, &old);
      masked = true;
      x.sigfd = signalfd (-1, &mask, SFD_CLOEXEC);
    }

  pid = rt_clone (0, x.cg ? rt_cgroup_v2_dirfd (x.cg) : -1, &x.child_pidfd, &in_cgroup);
  if (pid < 0)
    {
      r = berth_err_set (err, -pid, "clone the exec'd process");
      goto out;
    }
  if (pid == 0)
    {
      close (x.sync_fds[0]);
      rt_init_run (in);
    }
  if (x.own_pidns >= 0 && setns (x.own_pidns, CLONE_NEWPID) < 0)
    {
      r = berth_err_set (err, errno, "return to the runtime's pid namespace");
      goto kill;
    }
  close (x.sync_fds[1]);
  x.sync_fds[1] = -1;

  if (x.cg && !in_cgroup && (r = rt_cgroup_enter (x.cg, pid, err)) < 0)
    goto kill;
  if ((r = rt_msg_send (x.sync_fds[0], RT_MSG_GO, pid, NULL, -1)) < 0)
    {
      r = berth_err_set (err, -r, "sync with the exec'd process");
      goto kill;
    }
  for (;;)
    {
      struct rt_msg m;
      int fd = -1;
      r = rt_msg_recv (x.sync_fds[0], &m, &fd);
      if (r <= 0)
        {
          r = berth_err_set (err, r < 0 ? -r : 0, "the exec'd process exited during setup");
          goto kill;
        }
      if (m.type == RT_MSG_ERROR)
        {
          r = berth_err_set (err, 0, "%s", m.text);
          goto kill;
        }
      if (m.type == RT_MSG_PTY && fd >= 0)
        {
          if (x.console_sock >= 0)
            {
              r = rt_console_socket_send (x.console_sock, fd, err);
              close (fd);
              if (r < 0)
                goto kill;
            }
          else
            x.pty = fd;
          continue;
        }
      if (m.type == RT_MSG_READY)
        break;
    }
  if ((r = await_exec (x.sync_fds[0], err)) < 0)
    goto kill;
  /* The process runs: a delete --force (or a start, an update) must not wait for it. */
  rt_state_unlock (x.statefd);
  if (o->pid_file)
    {
      char buf[16];
      int n = snprintf (buf, sizeof buf, "%d", pid);
      r = berth_write_file_replace_at (AT_FDCWD, o->pid_file, buf, (size_t)n, 0644, err);
      if (r < 0)
        {
          berth_err_wrap (err, "--pid-file");
          goto kill;
        }
    }
  if (o->detach)
    {
      *ret_status = 0;
      r = 0;
      goto out;
    }
  if (x.pty >= 0)
    rt_console_relay (x.pty, x.child_pidfd, NULL);
  for (;;)
    {
      struct pollfd pf[2]
          = { { .fd = x.child_pidfd, .events = POLLIN }, { .fd = x.sigfd, .events = POLLIN } };
      if (poll (pf, 2, -1) < 0 && errno != EINTR)
        break;
      if (pf[1].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          if (read (x.sigfd, &si, sizeof si) == sizeof si)
            syscall (SYS_pidfd_send_signal, x.child_pidfd, (int)si.ssi_signo, NULL, 0);
        }
      if (pf[0].revents & POLLIN)
        break;
    }
  while (waitid (P_PIDFD, (id_t)x.child_pidfd, &info, WEXITED) < 0)
    if (errno != EINTR)
      {
        r = berth_err_set (err, errno, "wait for the exec'd process");
        goto out;
      }
  *ret_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  r = 0;
  goto out;

kill:
  syscall (SYS_pidfd_send_signal, x.child_pidfd, SIGKILL, NULL, 0);
  while (waitid (P_PIDFD, (id_t)x.child_pidfd, &info, WEXITED) < 0 && errno == EINTR)
    ;
out:
  if (masked)
    sigprocmask (SIG_SETMASK, &old, NULL);
  exec_ctx_free (&x);
  if (r < 0)
    berth_err_wrap (err, "exec in `%s`", id);
  return r;
}

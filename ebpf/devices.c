/* Loading and attaching the cgroup v2 device program: one berth program per cgroup, replaced
 * atomically (BPF_F_REPLACE) on update so that none leaks however many updates run
 * (runc#2366 leaked one program per `runc update`). */
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebpf/ebpf.h"

#ifdef BERTH_HAVE_EBPF
#include "devices.skel.h"

#define PROG_NAME "berth_devices"

/* libbpf prints to stderr by default; library code never logs. Keep the last message for
 * the error instead (the verifier's complaint, when there is one). */
static __thread char last_msg[512];

static int capture_print (enum libbpf_print_level level, const char *fmt, va_list ap)
    BERTH_PRINTF (2, 0);

static int
capture_print (enum libbpf_print_level level, const char *fmt, va_list ap)
{
  if (level == LIBBPF_DEBUG)
    return 0;
  vsnprintf (last_msg, sizeof last_msg, fmt, ap);
  last_msg[strcspn (last_msg, "\n")] = '\0';
  return 0;
}

static void
quiet_libbpf (void)
{
  static bool done;
  if (!done)
    {
      libbpf_set_print (capture_print);
      done = true;
    }
  last_msg[0] = '\0';
}

bool
ebpf_supported (void)
{
  return true;
}

/* fds of the berth device programs attached directly to the cgroup. */
static int
our_programs (int cgroup_fd, int **ret, size_t *ret_n, berth_err *err)
{
  __u32 ids[64], cnt = ARRAY_SIZE (ids), attach_flags = 0;
  int *fds = NULL;
  size_t n = 0;

  if (bpf_prog_query (cgroup_fd, BPF_CGROUP_DEVICE, 0, &attach_flags, ids, &cnt) < 0)
    return berth_err_set (err, errno, "query the cgroup's device programs");
  for (__u32 i = 0; i < cnt; i++)
    {
      struct bpf_prog_info info;
      __u32 len = sizeof info;
      int fd = bpf_prog_get_fd_by_id (ids[i]);
      if (fd < 0)
        {
          if (errno == ENOENT) /* detached and freed meanwhile */
            continue;
          for (size_t j = 0; j < n; j++)
            close (fds[j]);
          free (fds);
          return berth_err_set (err, errno, "open device program %u", ids[i]);
        }
      memset (&info, 0, sizeof info);
      if (bpf_obj_get_info_by_fd (fd, &info, &len) == 0 && strcmp (info.name, PROG_NAME) == 0)
        {
          fds = xrealloc (fds, (n + 1) * sizeof *fds);
          fds[n++] = fd;
        }
      else
        close (fd);
    }
  *ret = fds;
  *ret_n = n;
  return 0;
}

static void
close_all (int *fds, size_t n)
{
  for (size_t i = 0; i < n; i++)
    close (fds[i]);
  free (fds);
}

int
ebpf_devices_install (int cgroup_fd, const struct ebpf_device_rule *rules, size_t n, berth_err *err)
{
  struct ebpf_dev_entry *entries = NULL;
  size_t n_entries = 0, n_old = 0;
  int *old = NULL;
  struct devices_bpf *skel = NULL;
  int q, map_fd, prog_fd;

  quiet_libbpf ();
  q = ebpf_devices_compile (rules, n, &entries, &n_entries);
  if (q < 0)
    return berth_err_set (err, -q, "compile device rules");

  skel = devices_bpf__open ();
  if (skel == NULL)
    {
      q = berth_err_set (err, errno, "open the device program%s%s", last_msg[0] ? ": " : "",
                         last_msg);
      goto out;
    }
  q = bpf_map__set_max_entries (skel->maps.berth_dev_rules, n_entries ? (__u32)n_entries : 1);
  if (q < 0)
    {
      q = berth_err_set (err, -q, "size the device rule map");
      goto out;
    }
  q = devices_bpf__load (skel);
  if (q < 0)
    {
      q = berth_err_set (err, -q, "load the device program%s%s", last_msg[0] ? ": " : "", last_msg);
      goto out;
    }
  map_fd = bpf_map__fd (skel->maps.berth_dev_rules);
  for (size_t i = 0; i < n_entries; i++)
    if (bpf_map_update_elem (map_fd, &entries[i].key, &entries[i].value, BPF_NOEXIST) < 0)
      {
        q = berth_err_set (err, errno, "fill the device rule map");
        goto out;
      }
  /* Nobody, not even berth, changes a program's rules after this: an update is a new
   * program, so a running container never sees half a rule set. */
  if (bpf_map_freeze (map_fd) < 0)
    {
      q = berth_err_set (err, errno, "freeze the device rule map");
      goto out;
    }
  prog_fd = bpf_program__fd (skel->progs.berth_devices);

  q = our_programs (cgroup_fd, &old, &n_old, err);
  if (q < 0)
    goto out;
  if (n_old > 0)
    {
      LIBBPF_OPTS (bpf_prog_attach_opts, opts, .flags = BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
                   .replace_prog_fd = old[0]);
      if (bpf_prog_attach_opts (prog_fd, cgroup_fd, BPF_CGROUP_DEVICE, &opts) < 0)
        {
          q = berth_err_set (err, errno, "replace the cgroup's device program");
          goto out;
        }
      /* Left over by an update that died between attach and detach (older berth): the new
       * program alone must decide. */
      for (size_t i = 1; i < n_old; i++)
        if (bpf_prog_detach2 (old[i], cgroup_fd, BPF_CGROUP_DEVICE) < 0 && errno != ENOENT)
          {
            q = berth_err_set (err, errno, "detach a stale device program");
            goto out;
          }
    }
  else
    {
      LIBBPF_OPTS (bpf_prog_attach_opts, opts, .flags = BPF_F_ALLOW_MULTI);
      if (bpf_prog_attach_opts (prog_fd, cgroup_fd, BPF_CGROUP_DEVICE, &opts) < 0)
        {
          q = berth_err_set (err, errno, "attach the device program to the cgroup");
          goto out;
        }
    }
  q = 0;
out:
  close_all (old, n_old);
  devices_bpf__destroy (skel); /* the attachment holds the program and its map */
  free (entries);
  return q;
}

int
ebpf_devices_remove (int cgroup_fd, berth_err *err)
{
  int *fds = NULL;
  size_t n = 0;
  int q = our_programs (cgroup_fd, &fds, &n, err);
  if (q < 0)
    return q;
  for (size_t i = 0; i < n; i++)
    if (bpf_prog_detach2 (fds[i], cgroup_fd, BPF_CGROUP_DEVICE) < 0 && errno != ENOENT)
      {
        q = berth_err_set (err, errno, "detach the device program");
        break;
      }
  close_all (fds, n);
  return q;
}

int
ebpf_devices_attached (int cgroup_fd, size_t *ret, berth_err *err)
{
  int *fds = NULL;
  size_t n = 0;
  int q = our_programs (cgroup_fd, &fds, &n, err);
  if (q < 0)
    return q;
  close_all (fds, n);
  *ret = n;
  return 0;
}

int
ebpf_devices_loaded (size_t *ret, berth_err *err)
{
  __u32 id = 0;
  size_t n = 0;

  while (bpf_prog_get_next_id (id, &id) == 0)
    {
      struct bpf_prog_info info;
      __u32 len = sizeof info;
      int fd = bpf_prog_get_fd_by_id (id);
      if (fd < 0)
        continue;
      memset (&info, 0, sizeof info);
      if (bpf_obj_get_info_by_fd (fd, &info, &len) == 0 && strcmp (info.name, PROG_NAME) == 0)
        n++;
      close (fd);
    }
  if (errno != ENOENT)
    return berth_err_set (err, errno, "list BPF programs");
  *ret = n;
  return 0;
}

#else /* !BERTH_HAVE_EBPF */

/* Built with -Debpf=disabled: device rules on cgroup v2 cannot be enforced, and saying so
 * is the only honest answer. */
bool
ebpf_supported (void)
{
  return false;
}

static int
not_built (berth_err *err)
{
  return berth_err_set (err, ENOTSUP,
                        "berth was built without eBPF (-Debpf=disabled): cgroup v2 "
                        "device rules cannot be enforced");
}

int
ebpf_devices_install (int cgroup_fd, const struct ebpf_device_rule *rules, size_t n, berth_err *err)
{
  (void)cgroup_fd;
  (void)rules;
  (void)n;
  return not_built (err);
}

int
ebpf_devices_remove (int cgroup_fd, berth_err *err)
{
  (void)cgroup_fd;
  return not_built (err);
}

int
ebpf_devices_attached (int cgroup_fd, size_t *ret, berth_err *err)
{
  (void)cgroup_fd;
  (void)ret;
  return not_built (err);
}

int
ebpf_devices_loaded (size_t *ret, berth_err *err)
{
  (void)ret;
  return not_built (err);
}
#endif

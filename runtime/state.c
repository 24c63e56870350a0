/* Container state on disk: one directory per container under the state root (default
 * /run/berth-runtime), locked with flock while a command changes it, holding state.json
 * (written atomically), the config.json the container was created from and its compiled
 * seccomp program. The status is never stored: it is read from the kernel each time. */
#include "runtime/internal.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define STATE_MAX_LEN (8u << 20)

bool
rt_id_valid (const char *id)
{
  size_t n = strlen (id);
  /* A leading dot is the runtime's own (the seccomp cache lives in the state root). */
  if (n == 0 || n > 1024 || id[0] == '.')
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
      return false;
  return true;
}

int
rt_state_root_open (const char *root, bool create, int *ret_fd, berth_err *err)
{
  int fd;
  if (create)
    {
      int r = berth_mkdir_p (root, 0700, err);
      if (r < 0)
        return berth_err_wrap (err, "state root");
    }
  fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open state root `%s`", root);
  *ret_fd = fd;
  return 0;
}

int
rt_state_lock (int dirfd, const char *id, bool exclusive, berth_err *err)
{
  struct stat st;
  while (flock (dirfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
    if (errno != EINTR)
      return berth_err_set (err, errno, "lock the state of `%s`", id);
  /* Another command removed the container while we waited for the lock. */
  if (fstat (dirfd, &st) < 0)
    return berth_err_set (err, errno, "stat the state of `%s`", id);
  if (st.st_nlink == 0)
    return berth_err_set (err, ENOENT, "container `%s` does not exist", id);
  return 0;
}

int
rt_state_dir_create (int rootfd, const char *id, int *ret_fd, berth_err *err)
{
  cleanup_close int fd = -1;
  int r;

  if (mkdirat (rootfd, id, 0700) < 0)
    {
      if (errno == EEXIST)
        return berth_err_set (err, 0, "container `%s` already exists", id);
      return berth_err_set (err, errno, "create the state directory of `%s`", id);
    }
  fd = openat (rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return berth_err_set (err, errno, "open the state directory of `%s`", id);
  r = rt_state_lock (fd, id, true, err);
  if (r < 0)
    return r;
  *ret_fd = steal_fd (&fd);
  return 0;
}

int
rt_state_dir_open (int rootfd, const char *id, int lock, int *ret_fd, berth_err *err)
{
  cleanup_close int fd = -1;
  int r;

  if (!rt_id_valid (id))
    return berth_err_set (err, 0, "`%s` is not a valid container id", id);
  fd = openat (rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return berth_err_set (err, ENOENT, "container `%s` does not exist", id);
      return berth_err_set (err, errno, "open the state directory of `%s`", id);
    }
  if (lock != RT_LOCK_NONE)
    {
      r = rt_state_lock (fd, id, lock == RT_LOCK_EXCLUSIVE, err);
      if (r < 0)
        return r;
    }
  *ret_fd = steal_fd (&fd);
  return 0;
}

void
rt_state_unlock (int dirfd)
{
  flock (dirfd, LOCK_UN);
}

void
rt_state_free (struct rt_state *s)
{
  if (s == NULL)
    return;
  free (s->id);
  free (s->oci_version);
  free (s->bundle);
  free (s->rootfs);
  free (s->created);
  free (s->cgroup);
  json_object_put (s->annotations);
  json_object_put (s->host_mounts);
  free (s);
}

void
rt_state_freep (struct rt_state **s)
{
  rt_state_free (*s);
}

int
rt_state_read (int dirfd, const char *id, struct rt_state **ret, berth_err *err)
{
  cleanup_json json_object *doc = NULL;
  struct rt_state *s;
  json_object *b, *ann;
  const char *str;
  int64_t v;
  int r;

  r = bjson_parse_file_at (dirfd, "state.json", STATE_MAX_LEN, &doc, err);
  if (r < 0)
    {
      if (berth_err_code (err) == ENOENT)
        return berth_err_set (err, ENOENT, "container `%s` is being created", id);
      return berth_err_wrap (err, "state of `%s`", id);
    }
  s = xzalloc (sizeof *s);
  if (bjson_get_string (doc, "", "id", BJSON_REQUIRED, &str, err) < 0)
    goto bad;
  s->id = xstrdup (str);
  if (bjson_get_string (doc, "", "ociVersion", BJSON_REQUIRED, &str, err) < 0)
    goto bad;
  s->oci_version = xstrdup (str);
  if (bjson_get_string (doc, "", "bundle", BJSON_REQUIRED, &str, err) < 0)
    goto bad;
  s->bundle = xstrdup (str);
  if (bjson_get_int64 (doc, "", "pid", BJSON_REQUIRED, 0, INT32_MAX, &v, err) < 0)
    goto bad;
  s->pid = (pid_t)v;
  if (bjson_get (doc, "", "annotations", json_type_object, 0, &ann, err) < 0)
    goto bad;
  s->annotations = ann ? json_object_get (ann) : NULL;
  if (bjson_get (doc, "", "berth", json_type_object, BJSON_REQUIRED, &b, err) < 0)
    goto bad;
  if (bjson_get_string (b, "berth", "rootfs", BJSON_REQUIRED, &str, err) < 0)
    goto bad;
  s->rootfs = xstrdup (str);
  if (bjson_get_string (b, "berth", "created", BJSON_REQUIRED, &str, err) < 0)
    goto bad;
  s->created = xstrdup (str);
  if ((r = bjson_get_string (b, "berth", "cgroup", 0, &str, err)) < 0)
    goto bad;
  s->cgroup = r > 0 ? xstrdup (str) : NULL;
  if (bjson_get_uint64 (b, "berth", "startTime", 0, UINT64_MAX, &s->start_time, err) < 0
      || bjson_get_int64 (b, "berth", "startFd", 0, -1, INT32_MAX, &v, err) < 0)
    goto bad;
  s->start_fd = (int)v;
  if (bjson_get_bool (b, "berth", "started", 0, &s->started, err) < 0
      || bjson_get_bool (b, "berth", "creating", 0, &s->creating, err) < 0
      || bjson_get_int64 (b, "berth", "nsFlags", 0, 0, INT32_MAX, &v, err) < 0)
    goto bad;
  s->ns_flags = (int)v;
  if (bjson_get (b, "berth", "hostMounts", json_type_array, 0, &ann, err) < 0)
    goto bad;
  s->host_mounts = ann ? json_object_get (ann) : NULL;
  *ret = s;
  return 0;
bad:
  rt_state_free (s);
  return berth_err_wrap (err, "state of `%s`", id);
}

static json_object *
state_to_json (const struct rt_state *s)
{
  json_object *o = json_object_new_object ();
  json_object *b = json_object_new_object ();
  json_object_object_add (o, "ociVersion", json_object_new_string (s->oci_version));
  json_object_object_add (o, "id", json_object_new_string (s->id));
  json_object_object_add (o, "pid", json_object_new_int (s->pid));
  json_object_object_add (o, "bundle", json_object_new_string (s->bundle));
  if (s->annotations)
    json_object_object_add (o, "annotations", json_object_get (s->annotations));
  json_object_object_add (b, "rootfs", json_object_new_string (s->rootfs));
  json_object_object_add (b, "created", json_object_new_string (s->created));
  if (s->cgroup)
    json_object_object_add (b, "cgroup", json_object_new_string (s->cgroup));
  json_object_object_add (b, "startTime", json_object_new_uint64 (s->start_time));
  json_object_object_add (b, "startFd", json_object_new_int (s->start_fd));
  json_object_object_add (b, "started", json_object_new_boolean (s->started));
  json_object_object_add (b, "creating", json_object_new_boolean (s->creating));
  json_object_object_add (b, "nsFlags", json_object_new_int (s->ns_flags));
  if (s->host_mounts)
    json_object_object_add (b, "hostMounts", json_object_get (s->host_mounts));
  json_object_object_add (o, "berth", b);
  return o;
}

int
rt_state_write (int dirfd, const struct rt_state *s, berth_err *err)
{
  cleanup_json json_object *o = state_to_json (s);
  const char *text = bjson_to_string (o);
  return berth_write_file_replace_at (dirfd, "state.json", text, strlen (text), 0600, err);
}

/* ------------------------------------------------------------------ status */

int
rt_state_pidfd (const struct rt_state *s, int *ret_pidfd, berth_err *err)
{
  uint64_t start;
  bool zombie;
  int fd;

  if (s->pid <= 0)
    return berth_err_set (err, ESRCH, "container `%s` has no process", s->id);
  fd = (int)syscall (SYS_pidfd_open, s->pid, 0);
  if (fd < 0)
    return berth_err_set (err, errno, "container `%s`: pidfd_open %d", s->id, s->pid);
  /* With the pidfd open the pid cannot be reused: compare the start time now. */
  if (rt_proc_start_time (s->pid, &start, &zombie, NULL) < 0 || start != s->start_time || zombie)
    {
      close (fd);
      return berth_err_set (err, ESRCH, "container `%s`: its process %d has exited", s->id, s->pid);
    }
  *ret_pidfd = fd;
  return 0;
}

enum rt_status
rt_state_status (const struct rt_state *s)
{
  uint64_t start;
  bool zombie;

  if (s->creating)
    return RT_STATUS_CREATING;
  if (s->pid <= 0 || rt_proc_start_time (s->pid, &start, &zombie, NULL) < 0
      || start != s->start_time || zombie)
    return RT_STATUS_STOPPED;
  return s->started ? RT_STATUS_RUNNING : RT_STATUS_CREATED;
}

const char *
rt_status_name (enum rt_status st)
{
  switch (st)
    {
    case RT_STATUS_CREATING:
      return "creating";
    case RT_STATUS_CREATED:
      return "created";
    case RT_STATUS_RUNNING:
      return "running";
    case RT_STATUS_PAUSED:
      return "paused";
    case RT_STATUS_STOPPED:
      return "stopped";
    }
  return "unknown";
}

json_object *
rt_state_oci_json (const struct rt_state *s, enum rt_status st)
{
  json_object *o = json_object_new_object ();
  json_object_object_add (o, "ociVersion", json_object_new_string (RUNTIME_OCI_VERSION));
  json_object_object_add (o, "id", json_object_new_string (s->id));
  json_object_object_add (o, "status", json_object_new_string (rt_status_name (st)));
  json_object_object_add (o, "pid", json_object_new_int (st == RT_STATUS_STOPPED ? 0 : s->pid));
  json_object_object_add (o, "bundle", json_object_new_string (s->bundle));
  json_object_object_add (o, "rootfs", json_object_new_string (s->rootfs));
  json_object_object_add (o, "created", json_object_new_string (s->created));
  if (s->annotations)
    json_object_object_add (o, "annotations", json_object_get (s->annotations));
  return o;
}

/* ------------------------------------------------------------------ host mounts */

void
rt_host_mounts_add (json_object **list, const char *text)
{
  const char *sp = strchr (text, ' ');
  uint64_t id;
  cleanup_free char *num = sp ? xstrndup (text, (size_t)(sp - text)) : NULL;
  json_object *e;

  if (num == NULL || berth_parse_uint64 (num, &id) < 0 || sp[1] != '/')
    return;
  if (*list == NULL)
    *list = json_object_new_array ();
  e = json_object_new_array ();
  json_object_array_add (e, json_object_new_uint64 (id));
  json_object_array_add (e, json_object_new_string (sp + 1));
  json_object_array_add (*list, e);
}

int
rt_host_mounts_remove (json_object *list, berth_err *err)
{
  int ret = 0;
  if (list == NULL)
    return 0;
  /* Newest first: a later mount can sit on top of an earlier one. */
  for (size_t i = json_object_array_length (list); i-- > 0;)
    {
      json_object *e = json_object_array_get_idx (list, i);
      uint64_t id = json_object_get_uint64 (json_object_array_get_idx (e, 0));
      const char *path = json_object_get_string (json_object_array_get_idx (e, 1));
      struct statx stx;

      if (path == NULL)
        continue;
      /* Only the mount we made: the same id still on top at that path. */
      if (statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_MNT_ID, &stx) < 0
          || !(stx.stx_mask & STATX_MNT_ID) || stx.stx_mnt_id != id)
        continue;
      if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT
          && ret == 0)
        ret = berth_err_set (err, errno, "unmount `%s`", path);
    }
  return ret;
}

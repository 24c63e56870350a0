/* Task network records, <state>/<network>/tasks/<task>.json: the intent written before any
 * kernel object is made (so teardown and reconcile can find everything after a kill -9), and
 * completed once the network is built. Scratch files start with '.', which no task id does. */
#include "netns-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/file.h>

void
netns_record_clear (struct netns_record *r)
{
  free (r->task_id);
  free (r->hostname);
  memset (r, 0, sizeof *r);
}

static const char *
mac_str (const unsigned char mac[6], char *buf)
{
  snprintf (buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
            mac[5]);
  return buf;
}

static int
mac_parse (const char *s, unsigned char mac[6])
{
  unsigned v[6];
  int n = 0;
  if (strlen (s) != 17
      || sscanf (s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) != 6
      || n != 17)
    return -EINVAL;
  for (int i = 0; i < 6; i++)
    {
      if (!isxdigit ((unsigned char)s[i * 3]) || !isxdigit ((unsigned char)s[i * 3 + 1]))
        return -EINVAL;
      mac[i] = (unsigned char)v[i];
    }
  return 0;
}

json_object *
netns_record_to_json (const struct netns_record *r)
{
  json_object *o = json_object_new_object ();
  char b[INET_ADDRSTRLEN], m[18];

  json_object_object_add (o, "task", json_object_new_string (r->task_id));
  json_object_object_add (o, "mode", json_object_new_string (netns_mode_name (r->mode)));
  json_object_object_add (o, "topology",
                          json_object_new_string (netns_topology_name (r->topology)));
  json_object_object_add (o, "complete", json_object_new_boolean (r->complete));
  if (r->has_address)
    {
      json_object_object_add (o, "address", json_object_new_string (netns_ip_str (r->address, b)));
      json_object_object_add (o, "prefixLength", json_object_new_int ((int)r->prefix_len));
      json_object_object_add (o, "gateway", json_object_new_string (netns_ip_str (r->gateway, b)));
      json_object_object_add (o, "mac", json_object_new_string (mac_str (r->mac, m)));
    }
  if (r->mtu)
    json_object_object_add (o, "mtu", json_object_new_int ((int)r->mtu));
  json_object_object_add (o, "reachTasks", json_object_new_boolean (r->reach_tasks));
  if (r->hostname)
    json_object_object_add (o, "hostname", json_object_new_string (r->hostname));
  return o;
}

static const char *const record_keys[]
    = { "task",    "mode", "topology", "complete",   "address",  "prefixLength",
        "gateway", "mac",  "mtu",      "reachTasks", "hostname", NULL };

int
netns_record_from_json (json_object *o, struct netns_record *ret, berth_err *err)
{
  struct netns_record r = { 0 };
  const char *s = NULL;
  int64_t v;
  int has;

  if (bjson_check_keys (o, "", record_keys, err) < 0)
    return berth_err_ret (err);
  if (bjson_get_string (o, "", "task", BJSON_REQUIRED, &s, err) < 0)
    goto fail;
  if (!netns_task_id_valid (s))
    {
      berth_err_set (err, 0, "task: `%s` is not a task id", s);
      goto fail;
    }
  r.task_id = xstrdup (s);
  if (bjson_get_string (o, "", "mode", BJSON_REQUIRED, &s, err) < 0)
    goto fail;
  if (netns_mode_parse (s, &r.mode) < 0)
    {
      berth_err_set (err, 0, "mode: `%s` is not awsvpc, host or none", s);
      goto fail;
    }
  if (bjson_get_string (o, "", "topology", BJSON_REQUIRED, &s, err) < 0)
    goto fail;
  if (strcmp (s, "bridge") == 0)
    r.topology = NETNS_TOPOLOGY_BRIDGE;
  else if (strcmp (s, "ptp") == 0)
    r.topology = NETNS_TOPOLOGY_PTP;
  else if (strcmp (s, "ipvlan") == 0)
    r.topology = NETNS_TOPOLOGY_IPVLAN;
  else if (strcmp (s, "macvlan") == 0)
    r.topology = NETNS_TOPOLOGY_MACVLAN;
  else
    {
      berth_err_set (err, 0, "topology: `%s` is unknown", s);
      goto fail;
    }
  if (bjson_get_bool (o, "", "complete", BJSON_REQUIRED, &r.complete, err) < 0)
    goto fail;
  has = bjson_get_string (o, "", "address", 0, &s, err);
  if (has < 0)
    goto fail;
  if (has)
    {
      if (netns_ip_parse (s, &r.address) < 0)
        {
          berth_err_set (err, 0, "address: `%s` is not an IPv4 address", s);
          goto fail;
        }
      r.has_address = true;
      if (bjson_get_int64 (o, "", "prefixLength", BJSON_REQUIRED, 1, 32, &v, err) < 0)
        goto fail;
      r.prefix_len = (unsigned)v;
      if (bjson_get_string (o, "", "gateway", BJSON_REQUIRED, &s, err) < 0)
        goto fail;
      if (netns_ip_parse (s, &r.gateway) < 0)
        {
          berth_err_set (err, 0, "gateway: `%s` is not an IPv4 address", s);
          goto fail;
        }
      if (bjson_get_string (o, "", "mac", BJSON_REQUIRED, &s, err) < 0)
        goto fail;
      if (mac_parse (s, r.mac) < 0)
        {
          berth_err_set (err, 0, "mac: `%s` is not a MAC address", s);
          goto fail;
        }
    }
  has = bjson_get_int64 (o, "", "mtu", 0, 68, 65535, &v, err);
  if (has < 0)
    goto fail;
  r.mtu = has ? (unsigned)v : 0;
  if (bjson_get_bool (o, "", "reachTasks", 0, &r.reach_tasks, err) < 0)
    goto fail;
  has = bjson_get_string (o, "", "hostname", 0, &s, err);
  if (has < 0)
    goto fail;
  if (has)
    {
      if (!netns_hostname_valid (s))
        {
          berth_err_set (err, 0, "hostname: `%s` is not a host name", s);
          goto fail;
        }
      r.hostname = xstrdup (s);
    }
  *ret = r;
  return 0;
fail:
  netns_record_clear (&r);
  return berth_err_ret (err);
}

int
netns_record_parse (const char *text, size_t len, struct netns_record *ret, berth_err *err)
{
  cleanup_json json_object *o = NULL;
  if (bjson_parse (text, len, "task network record", &o, err) < 0)
    return berth_err_ret (err);
  return netns_record_from_json (o, ret, err);
}

static char *
record_name (const char *task_id)
{
  return xasprintf ("%s.json", task_id);
}

static char *
record_text (const struct netns_record *r)
{
  cleanup_json json_object *o = netns_record_to_json (r);
  return xasprintf ("%s\n", json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN));
}

/* The record is written and locked before it has a name, then linked into place: link()
 * fails with EEXIST like O_EXCL, and the record appears whole and already locked by its
 * creator, so a concurrent teardown of the same task waits for the setup to finish (with
 * O_EXCL on the name, a teardown could take the lock first and find an empty record).
 * O_TMPFILE spares the scratch name where the filesystem has it. No fsync: see ipam.c, the
 * same reasoning holds for records. */
int
netns_record_create (int dirfd, const struct netns_record *r, int *ret_fd, berth_err *err)
{
  cleanup_free char *text = record_text (r);
  cleanup_free char *name = record_name (r->task_id);
  cleanup_free char *tmp = NULL;
  cleanup_close int fd = openat (dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
  char src[64];
  int e, rc;

  if (fd < 0)
    {
      if (errno != EOPNOTSUPP && errno != EISDIR)
        return berth_err_set (err, errno, "create record of task `%s`", r->task_id);
      tmp = xasprintf (".%s.%d.%ld.tmp", r->task_id, getpid (), (long)gettid ());
      fd = openat (dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0)
        return berth_err_set (err, errno, "create `%s`", tmp);
    }
  if (flock (fd, LOCK_EX) < 0 || berth_write_all (fd, text, strlen (text)) < 0)
    {
      e = errno;
      if (tmp)
        unlinkat (dirfd, tmp, 0);
      return berth_err_set (err, e, "write record of task `%s`", r->task_id);
    }
  if (tmp)
    rc = linkat (dirfd, tmp, dirfd, name, 0);
  else
    {
      snprintf (src, sizeof src, "/proc/self/fd/%d", fd);
      rc = linkat (AT_FDCWD, src, dirfd, name, AT_SYMLINK_FOLLOW);
    }
  e = errno;
  if (tmp)
    unlinkat (dirfd, tmp, 0);
  if (rc < 0)
    {
      if (e == EEXIST)
        return berth_err_set (err, EEXIST, "task `%s` already has a network", r->task_id);
      return berth_err_set (err, e, "create record `%s`", name);
    }
  *ret_fd = steal_fd (&fd);
  return 0;
}

/* In place, on the locked fd: a rename would put the content in a new, unlocked inode. The
 * completed record is never shorter than the intent it overwrites, and a write this small
 * lands whole; a record that still fails to parse is handled as one without content. */
int
netns_record_update (int fd, const struct netns_record *r, berth_err *err)
{
  cleanup_free char *text = record_text (r);
  size_t len = strlen (text);
  ssize_t n = pwrite (fd, text, len, 0);

  if (n < 0 || (size_t)n != len)
    return berth_err_set (err, n < 0 ? errno : EIO, "update record of task `%s`", r->task_id);
  if (ftruncate (fd, (off_t)len) < 0)
    return berth_err_set (err, errno, "update record of task `%s`", r->task_id);
  return 0;
}

int
netns_record_open_locked (int dirfd, const char *task_id, int *ret_fd, berth_err *err)
{
  cleanup_free char *name = record_name (task_id);
  cleanup_close int fd = openat (dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;

  if (fd < 0)
    {
      if (errno == ENOENT)
        return -ENOENT;
      return berth_err_set (err, errno, "open record `%s`", name);
    }
  if (flock (fd, LOCK_EX) < 0)
    return berth_err_set (err, errno, "lock record `%s`", name);
  /* Removed by the teardown we waited for. */
  if (fstat (fd, &st) < 0)
    return berth_err_set (err, errno, "stat record `%s`", name);
  if (st.st_nlink == 0)
    return -ENOENT;
  *ret_fd = steal_fd (&fd);
  return 0;
}

int
netns_record_read_fd (int fd, const char *task_id, struct netns_record *ret, berth_err *err)
{
  char buf[16 * 1024];
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);

  if (n < 0)
    return berth_err_set (err, errno, "read record of task `%s`", task_id);
  if ((size_t)n == sizeof buf - 1)
    return berth_err_set (err, EFBIG, "record of task `%s` is too large", task_id);
  buf[n] = '\0';
  if (netns_record_parse (buf, (size_t)n, ret, err) < 0)
    return berth_err_wrap (err, "record of task `%s`", task_id);
  if (strcmp (ret->task_id, task_id) != 0)
    {
      netns_record_clear (ret);
      return berth_err_set (err, 0, "record of task `%s` names another task", task_id);
    }
  return 0;
}

int
netns_record_load (int dirfd, const char *task_id, struct netns_record *ret, berth_err *err)
{
  cleanup_free char *name = record_name (task_id);
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0)
    {
      if (errno == ENOENT)
        return -ENOENT;
      return berth_err_set (err, errno, "open record `%s`", name);
    }
  return netns_record_read_fd (fd, task_id, ret, err);
}

int
netns_record_remove (int dirfd, const char *task_id, berth_err *err)
{
  cleanup_free char *name = record_name (task_id);
  if (unlinkat (dirfd, name, 0) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "remove record `%s`", name);
    }
  return 1;
}

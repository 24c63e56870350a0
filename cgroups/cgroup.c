/* A container's cgroup across every hierarchy: create (with the parents it needs, controllers
 * enabled on v2, cpusets seeded on v1), reopen from a saved path, enter, update, freeze, kill,
 * list processes and destroy with bounded retries, leaving nothing behind. */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/xattr.h>
#include <time.h>

#include "cgroups/internal.h"

/* Marks a directory cgroups_create made on the way to a container's cgroup, so that
 * cgroups_destroy removes it once empty and never removes one it did not make (the agent's
 * task cgroup above its containers, an operator's directory). trusted.* needs
 * CAP_SYS_ADMIN; user.* (kernel 5.7+) is the fallback. */
static const char *const made_xattrs[] = { "trusted.berth.made", "user.berth.made" };

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static void
cgroup_free_fields (struct cgroups_cgroup *cg)
{
  cg_stat_fds_close (cg);
  if (cg->paths)
    for (size_t i = 0; i < cg->m->n_h; i++)
      free (cg->paths[i]);
  free (cg->paths);
  free (cg->saved);
  if (cg->v2_fd >= 0)
    close (cg->v2_fd);
  if (cg->events_fd >= 0)
    close (cg->events_fd);
  if (cg->inotify_fd >= 0)
    close (cg->inotify_fd);
  if (cg->oom_eventfd >= 0)
    close (cg->oom_eventfd);
}

void
cgroups_free (struct cgroups_cgroup *cg)
{
  if (cg == NULL)
    return;
  cgroup_free_fields (cg);
  free (cg);
}

static struct cgroups_cgroup *
cgroup_new (struct cgroups_manager *m)
{
  struct cgroups_cgroup *cg = xzalloc (sizeof *cg);
  cg->m = m;
  cg->paths = xzalloc (m->n_h * sizeof (char *));
  cg->v2_fd = cg->events_fd = cg->inotify_fd = cg->oom_eventfd = -1;
  return cg;
}

const char *
cgroups_path (const struct cgroups_cgroup *cg)
{
  return cg->saved;
}

int
cgroups_v2_dirfd (const struct cgroups_cgroup *cg)
{
  return cg->m->layout == CGROUPS_LAYOUT_UNIFIED ? cg->v2_fd : -1;
}

/* ------------------------------------------------------------------ saved paths
 * "<path>" when every hierarchy holds the cgroup at the same path, else "<path>" followed by
 * ";<hierarchy key>:<path>" for each hierarchy that differs (memory:/process_api/x/... on
 * this kind of host). Absolute in-hierarchy paths: valid from any process. */

static void
build_saved (struct cgroups_cgroup *cg)
{
  const char *dflt = NULL;
  size_t best = 0;
  char *s;

  for (size_t i = 0; i < cg->m->n_h; i++)
    {
      size_t same = 0;
      if (cg->paths[i] == NULL)
        continue;
      for (size_t j = 0; j < cg->m->n_h; j++)
        if (cg->paths[j] && strcmp (cg->paths[i], cg->paths[j]) == 0)
          same++;
      if (same > best)
        {
          best = same;
          dflt = cg->paths[i];
        }
    }
  s = xstrdup (dflt ? dflt : "");
  for (size_t i = 0; i < cg->m->n_h; i++)
    if (cg->paths[i] && strcmp (cg->paths[i], dflt) != 0)
      {
        char *t = xasprintf ("%s;%s:%s", s, cg->m->h[i].key, cg->paths[i]);
        free (s);
        s = t;
      }
  free (cg->saved);
  cg->saved = s;
}

static int
open_v2 (struct cgroups_cgroup *cg, berth_err *err)
{
  int u = cg->m->unified;
  if (u < 0 || cg->paths[u] == NULL)
    return 0;
  cg->v2_fd = cg_open_dir (cg, (size_t)u, NULL, err);
  return cg->v2_fd < 0 ? cg->v2_fd : 0;
}

int
cgroups_open (struct cgroups_manager *m, const char *saved_path, struct cgroups_cgroup **ret,
              berth_err *err)
{
  struct cgroups_cgroup *cg = cgroup_new (m);
  cleanup_free char *copy = xstrdup (saved_path);
  char *save = NULL, *dflt;
  size_t found = 0;
  int q;

  dflt = strtok_r (copy, ";", &save);
  if (dflt == NULL || dflt[0] != '/')
    {
      cgroups_free (cg);
      return berth_err_set (err, 0, "`%s` is not a saved cgroup path", saved_path);
    }
  for (size_t i = 0; i < m->n_h; i++)
    cg->paths[i] = xstrdup (dflt);
  for (char *t = strtok_r (NULL, ";", &save); t; t = strtok_r (NULL, ";", &save))
    {
      char *colon = strchr (t, ':');
      if (colon == NULL || colon[1] != '/')
        {
          cgroups_free (cg);
          return berth_err_set (err, 0, "`%s` is not a saved cgroup path", saved_path);
        }
      *colon = '\0';
      for (size_t i = 0; i < m->n_h; i++)
        if (strcmp (m->h[i].key, t) == 0)
          {
            free (cg->paths[i]);
            cg->paths[i] = xstrdup (colon + 1);
          }
    }
  /* A hierarchy where the directory is gone (or never was) is not part of this cgroup. */
  for (size_t i = 0; i < m->n_h; i++)
    {
      cleanup_free char *rel = cg_hier_rel (&m->h[i], cg->paths[i]);
      struct stat st;
      if (rel == NULL || fstatat (m->h[i].mnt_fd, rel, &st, 0) < 0 || !S_ISDIR (st.st_mode))
        {
          free (cg->paths[i]);
          cg->paths[i] = NULL;
        }
      else
        found++;
    }
  if (found == 0)
    {
      cgroups_free (cg);
      return berth_err_set (err, ENOENT, "cgroup `%s`", saved_path);
    }
  cg->saved = xstrdup (saved_path);
  q = open_v2 (cg, err);
  if (q < 0)
    {
      cgroups_free (cg);
      return q;
    }
  *ret = cg;
  return 0;
}

/* ------------------------------------------------------------------ create */

static bool
is_systemd_form (const char *p)
{
  /* "slice:prefix:name", as runc and crun read cgroupsPath with a systemd driver. */
  const char *a = strchr (p, ':');
  return a && strchr (a + 1, ':') && strchr (p, '/') == NULL;
}

static int
read_trimmed (int dfd, const char *file, char *buf, size_t size)
{
  ssize_t n = cg_read_small (dfd, file, buf, size);
  if (n < 0)
    return (int)n;
  buf[strcspn (buf, "\n")] = '\0';
  return 0;
}

/* A new v1 cpuset is empty and takes no process until it has CPUs and memory nodes: copy
 * the parent's (cgroup.clone_children would change the parent for everyone). */
static int
seed_cpuset (int parent_fd, int dfd, const char *where, berth_err *err)
{
  static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
  for (size_t i = 0; i < ARRAY_SIZE (files); i++)
    {
      char cur[4096], parent[4096];
      if (read_trimmed (dfd, files[i], cur, sizeof cur) < 0 || cur[0] != '\0')
        continue;
      if (read_trimmed (parent_fd, files[i], parent, sizeof parent) < 0)
        return berth_err_set (err, errno, "read parent `%s` of `%s`", files[i], where);
      if (cg_write (dfd, files[i], parent, NULL, err) < 0)
        return berth_err_wrap (err, "seed cpuset `%s`", where);
    }
  return 0;
}

struct made
{
  size_t h;
  char *path;
};

struct create_state
{
  struct made *made; /* directories this create made, in creation order */
  size_t n_made;
  bool leaf_existed[16];
};

static void
made_add (struct create_state *st, size_t h, const char *p)
{
  st->made = xrealloc (st->made, (st->n_made + 1) * sizeof *st->made);
  st->made[st->n_made].h = h;
  st->made[st->n_made].path = xstrdup (p);
  st->n_made++;
}

static void
rollback (struct cgroups_manager *m, struct create_state *st)
{
  for (size_t i = st->n_made; i-- > 0;)
    {
      cleanup_free char *rel = cg_hier_rel (&m->h[st->made[i].h], st->made[i].path);
      /* Best effort: the error that made us roll back is the one the caller needs. */
      if (rel)
        (void)unlinkat (m->h[st->made[i].h].mnt_fd, rel, AT_REMOVEDIR);
    }
  for (size_t i = 0; i < st->n_made; i++)
    free (st->made[i].path);
  free (st->made);
  st->made = NULL;
  st->n_made = 0;
}

static void
mark_made (int dfd)
{
  for (size_t i = 0; i < ARRAY_SIZE (made_xattrs); i++)
    if (fsetxattr (dfd, made_xattrs[i], "1", 1, 0) == 0)
      return;
  /* Neither namespace is writable (an old kernel without user xattrs on cgroupfs): the
   * directory stays after its last container; docs/cgroups.md says so. */
}

static bool
is_made (int dfd)
{
  char v[4];
  for (size_t i = 0; i < ARRAY_SIZE (made_xattrs); i++)
    if (fgetxattr (dfd, made_xattrs[i], v, sizeof v) > 0)
      return true;
  return false;
}

static bool
has_processes (int dfd)
{
  char buf[16];
  ssize_t n = cg_read_small (dfd, "cgroup.procs", buf, sizeof buf);
  return n > 0;
}

/* mkdir -p of path in hierarchy i: the root's missing components plain, those between the
 * root and the leaf marked as made by berth. */
static int
make_path (struct cgroups_manager *m, size_t i, const char *path, struct create_state *st,
           berth_err *err)
{
  struct cg_hier *h = &m->h[i];
  cleanup_free char *rel = cg_hier_rel (h, path);
  cleanup_free char *root_rel = cg_hier_rel (h, h->root);
  cleanup_close int cur = -1;
  char *save = NULL;
  size_t done = 0, root_depth = 0;
  /* Seeding is for v1 cpusets only: a v2 cpuset inherits its parent's effective set, and the
     v2 root has no cpuset.cpus to copy (a second cgroup below a fresh root failed on it). */
  bool cpuset = !h->unified && cg_hier_has (h, "cpuset");
  cleanup_free char *walked = xstrdup (strcmp (h->mount_root, "/") == 0 ? "" : h->mount_root);

  if (rel == NULL || root_rel == NULL)
    return berth_err_set (err, 0, "cgroup `%s` is outside the %s mount", path, h->key);
  if (strcmp (root_rel, ".") != 0)
    for (const char *p = root_rel; p; p = strchr (p + 1, '/'))
      root_depth++;

  cur = openat (h->mnt_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return berth_err_set (err, errno, "open `%s`", h->mountpoint);
  if (strcmp (rel, ".") == 0)
    return berth_err_set (err, 0, "cgroup `%s` is the hierarchy's root", path);

  for (char *c = strtok_r (rel, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      bool last = save == NULL || *save == '\0';
      bool created = false;
      int next;
      char *w;

      done++;
      w = xasprintf ("%s/%s", walked, c);
      free (walked);
      walked = w;
      if (mkdirat (cur, c, 0755) == 0)
        created = true;
      else if (errno != EEXIST)
        return berth_err_set (err, errno, "mkdir `%s%s`", h->mountpoint, walked);
      next = openat (cur, c, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (next < 0)
        return berth_err_set (err, errno, "open `%s%s`", h->mountpoint, walked);
      /* Seeded whether made now or found: a creator killed between its mkdir and the seeding
       * (berthd killed -9 while provisioning a task) leaves an empty cpuset behind, and every
       * cgroup made below it later would be empty too (a process moved in: ENOSPC).
       * seed_cpuset only writes a file that is empty. */
      if (cpuset && seed_cpuset (cur, next, walked, err) < 0)
        {
          close (next);
          return -EIO;
        }
      if (created)
        {
          made_add (st, i, walked);
          if (done > root_depth && !last)
            mark_made (next);
        }
      else if (last)
        {
          if (i < ARRAY_SIZE (st->leaf_existed))
            st->leaf_existed[i] = true;
          if (has_processes (next))
            {
              close (next);
              return berth_err_set (err, EEXIST, "cgroup `%s` exists and has processes (%s)",
                                    walked, h->key);
            }
        }
      close (cur);
      cur = next;
    }
  return 0;
}

/* On v2 a controller reaches a cgroup only when every ancestor lists it in
 * cgroup.subtree_control. Enables want (need: those the resources require, an error when
 * impossible) on the way to leaf: from the caller's own cgroup when berth's root is below it
 * (berth made that part), else from the root (what the operator gave berth), down to the
 * leaf's parent. */
static const char *
field_of_controller (const char *c)
{
  static const char *const map[][2]
      = { { "cpu", "cpu" },   { "cpuset", "cpu.cpus" }, { "memory", "memory" },
          { "pids", "pids" }, { "io", "blockIO" },      { "hugetlb", "hugepageLimits" },
          { "rdma", "rdma" } };
  for (size_t i = 0; i < ARRAY_SIZE (map); i++)
    if (strcmp (map[i][0], c) == 0)
      return map[i][1];
  return "unified";
}

static int
enable_v2 (struct cgroups_manager *m, const struct cgroups_resources *r, const char *leaf,
           char *const *want, char *const *need, berth_err *err)
{
  struct cg_hier *h = &m->h[m->unified];
  const char *start = cg_path_within (h->root, h->own) ? h->own : h->root;
  cleanup_free char *p = xstrdup (start);
  cleanup_free char *comps = NULL;
  char *save = NULL, *c;

  if (!cg_path_within (leaf, start) || strcmp (leaf, start) == 0)
    return 0; /* not below: a cgroup some other root made; leave its parents alone */
  comps = xstrdup (leaf + (strcmp (start, "/") == 0 ? 0 : strlen (start)));
  c = strtok_r (comps, "/", &save);

  for (;;)
    {
      cleanup_free char *hrel = cg_hier_rel (h, p);
      cleanup_close int dfd = -1;
      char avail[1024], enabled[1024];
      char *next;

      if (hrel == NULL)
        return berth_err_set (err, 0, "cgroup `%s` is outside the cgroup2 mount", p);
      dfd = openat (h->mnt_fd, hrel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        return berth_err_set (err, errno, "open `%s/%s`", h->mountpoint, hrel);
      if (read_trimmed (dfd, "cgroup.controllers", avail, sizeof avail) < 0
          || read_trimmed (dfd, "cgroup.subtree_control", enabled, sizeof enabled) < 0)
        return berth_err_set (err, errno, "read the controllers of `%s`", p);
      /* On a hybrid host the cgroup2 root is the host's: changing its subtree_control would
       * change every cgroup2 group on the host, and outlive the container. berth uses what
       * the host enabled there and says so when that is not enough. */
      if (m->layout == CGROUPS_LAYOUT_HYBRID && strcmp (p, "/") == 0)
        {
          for (char *const *w = want; w && *w; w++)
            {
              cleanup_free char *word = xasprintf (" %s ", *w);
              cleanup_free char *en = xasprintf (" %s ", enabled);
              if (strv_contains (need, *w) && !strstr (en, word))
                {
                  cleanup_free char *f = r ? cg_field (r, field_of_controller (*w)) : NULL;
                  return berth_err_set (
                      err, 0,
                      "%s: the %s controller is on this hybrid host's cgroup2 "
                      "root, which berth does not reconfigure for the whole "
                      "host (enable it there: echo +%s > %s/cgroup.subtree_control)",
                      f ? f : "resources", *w, *w, h->mountpoint);
                }
            }
          goto next_level;
        }
      /* A non-root cgroup with processes must get no controller at all: the threaded ones
       * (cpu, pids) would be accepted and make it a thread root, after which no domain
       * child can hold a process (EOPNOTSUPP), not even a leaf to delegate into. */
      if (strcmp (p, "/") != 0 && has_processes (dfd))
        {
          for (char *const *w = want; w && *w; w++)
            {
              cleanup_free char *word = xasprintf (" %s ", *w);
              cleanup_free char *en = xasprintf (" %s ", enabled);
              if (strv_contains (need, *w) && !strstr (en, word))
                {
                  cleanup_free char *f = r ? cg_field (r, field_of_controller (*w)) : NULL;
                  return berth_err_set (err, EBUSY,
                                        "%s: cannot enable %s in `%s`: the cgroup holds processes, "
                                        "and cgroup v2 keeps controllers from the children of such "
                                        "a cgroup (run berthd with Delegate=yes and "
                                        "cgroups_delegate_self, or give berth a cgroups root "
                                        "without processes)",
                                        f ? f : "resources", *w, p);
                }
            }
          goto next_level;
        }
      for (char *const *w = want; w && *w; w++)
        {
          cleanup_free char *plus = xasprintf ("+%s", *w);
          cleanup_free char *word = xasprintf (" %s ", *w);
          cleanup_free char *av = xasprintf (" %s ", avail), *en = xasprintf (" %s ", enabled);
          bool needed = strv_contains (need, *w);
          if (strstr (en, word))
            continue;
          if (!strstr (av, word))
            {
              if (needed)
                {
                  cleanup_free char *f = r ? cg_field (r, field_of_controller (*w)) : NULL;
                  return berth_err_set (err, 0,
                                        "%s: the %s controller is not available in `%s` (its "
                                        "parent does not delegate it)",
                                        f ? f : "resources", *w, p);
                }
              continue;
            }
          if (cg_write (dfd, "cgroup.subtree_control", plus, NULL, err) < 0)
            {
              if (!needed)
                {
                  berth_err_free (err);
                  continue;
                }
              /* EBUSY by the book; 6.1 says EOPNOTSUPP for the same rule. */
              if (has_processes (dfd))
                return berth_err_wrap (err,
                                       "enable %s in `%s`: the cgroup holds processes, and cgroup "
                                       "v2 then keeps controllers from its children (run berthd "
                                       "with Delegate=yes and cgroups_delegate_self, or give berth "
                                       "a cgroups root without processes)",
                                       *w, p);
              return berth_err_wrap (err, "enable %s in `%s`", *w, p);
            }
        }
    next_level:
      /* stop at the leaf's parent */
      next = strtok_r (NULL, "/", &save);
      if (next == NULL)
        break;
      {
        char *np = cg_path_join (p, c);
        free (p);
        p = np;
      }
      c = next;
    }
  return 0;
}

/* Controllers berth wants on a v2 cgroup: on a pure v2 host every controller its root has
 * (stats need memory, cpu, io and pids even without limits); on the v2 part of a hybrid host
 * only what the resources need, since its root is usually the host's. */
static char **
v2_wanted (struct cgroups_manager *m, char *const *need)
{
  char **want = xzalloc (sizeof (char *));
  struct cg_hier *h = &m->h[m->unified];
  if (m->layout == CGROUPS_LAYOUT_UNIFIED)
    for (char **c = h->ctrl; c && *c; c++)
      strv_append (&want, *c);
  for (char *const *c = need; c && *c; c++)
    if (cg_hier_has (h, *c) && !strv_contains (want, *c))
      strv_append (&want, *c);
  return want;
}

int
cgroups_create (struct cgroups_manager *m, const char *oci_cgroups_path, const char *id,
                const struct cgroups_resources *r, struct cgroups_cgroup **ret, berth_err *err)
{
  cleanup_free char *rel = NULL;
  cleanup_strv char **need = NULL, **want = NULL;
  struct create_state st = { 0 };
  struct cgroups_cgroup *cg = NULL;
  int q;

  if (oci_cgroups_path && *oci_cgroups_path)
    {
      if (is_systemd_form (oci_cgroups_path))
        return berth_err_set (err, 0,
                              "linux.cgroupsPath: `%s` is the systemd form slice:prefix:name, "
                              "which needs a systemd cgroup driver; berth takes a path",
                              oci_cgroups_path);
      if (cg_path_normalize (oci_cgroups_path, false, &rel, err) < 0)
        return berth_err_wrap (err, "linux.cgroupsPath");
    }
  else
    {
      cleanup_free char *dflt = NULL;
      if (id == NULL || *id == '\0' || strchr (id, '/') || strcmp (id, ".") == 0
          || strcmp (id, "..") == 0)
        return berth_err_set (err, 0, "cgroup name `%s` is not a valid directory name",
                              id ? id : "(null)");
      dflt = xasprintf ("berth/%s", id);
      if (cg_path_normalize (dflt, false, &rel, err) < 0)
        return -EINVAL;
    }
  if ((q = cg_resources_check (m, r, err)) < 0)
    return q;
  need = cg_resources_controllers (r);

  cg = cgroup_new (m);
  for (size_t i = 0; i < m->n_h; i++)
    cg->paths[i] = cg_path_join (m->h[i].root, rel);

  for (int attempt = 0;; attempt++)
    {
      q = 0;
      for (size_t i = 0; i < m->n_h && q == 0; i++)
        q = make_path (m, i, cg->paths[i], &st, err);
      /* A concurrent destroy removed an empty parent between our mkdir and the next one. */
      if (q < 0 && berth_err_code (err) == ENOENT && attempt < 5)
        {
          rollback (m, &st);
          memset (st.leaf_existed, 0, sizeof st.leaf_existed);
          continue;
        }
      break;
    }
  if (q < 0)
    goto fail;

  if (m->unified >= 0)
    {
      want = v2_wanted (m, need);
      if (want[0] && (q = enable_v2 (m, r, cg->paths[m->unified], want, need, err)) < 0)
        goto fail;
    }
  if ((q = open_v2 (cg, err)) < 0)
    goto fail;
  {
    struct cg_apply_ctx ctx = { .m = m, .cg = cg, .create = true };
    if ((q = cg_resources_apply (&ctx, r, err)) < 0)
      goto fail;
  }
  build_saved (cg);
  for (size_t i = 0; i < st.n_made; i++)
    free (st.made[i].path);
  free (st.made);
  *ret = cg;
  return 0;

fail:
  rollback (m, &st);
  cgroups_free (cg);
  return q;
}

/* ------------------------------------------------------------------ enter, update */

int
cgroups_enter (struct cgroups_cgroup *cg, pid_t pid, berth_err *err)
{
  char buf[24];
  snprintf (buf, sizeof buf, "%d", (int)pid);
  for (size_t i = 0; i < cg->m->n_h; i++)
    {
      cleanup_close int dfd = -1;
      if (cg->paths[i] == NULL)
        continue;
      dfd = cg_open_dir (cg, i, NULL, err);
      if (dfd < 0)
        return dfd;
      if (cg_write (dfd, "cgroup.procs", buf, NULL, err) < 0)
        return berth_err_wrap (err, "move %d into cgroup `%s` (%s)", (int)pid, cg->paths[i],
                               cg->m->h[i].key);
    }
  return 0;
}

int
cgroups_update (struct cgroups_cgroup *cg, const struct cgroups_resources *r, berth_err *err)
{
  struct cg_apply_ctx ctx = { .m = cg->m, .cg = cg, .create = false };
  int q;

  if ((q = cg_resources_check (cg->m, r, err)) < 0)
    return q;
  if (cg->m->unified >= 0 && cg->paths[cg->m->unified])
    {
      /* A limit given for the first time may need its controller enabled on the way. */
      cleanup_strv char **need = cg_resources_controllers (r), **want = NULL;
      struct cg_hier *h = &cg->m->h[cg->m->unified];
      want = xzalloc (sizeof (char *));
      for (char **c = need; *c; c++)
        if (cg_hier_has (h, *c))
          strv_append (&want, *c);
      if (want[0] && (q = enable_v2 (cg->m, r, cg->paths[cg->m->unified], want, need, err)) < 0)
        return q;
    }
  return cg_resources_apply (&ctx, r, err);
}

/* ------------------------------------------------------------------ processes */

static int
pid_cmp (const void *a, const void *b)
{
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return x < y ? -1 : x > y;
}

/* Appends the pids of dfd's cgroup.procs and of every descendant. */
static int
collect_pids (int dfd, const char *where, pid_t **v, size_t *n, berth_err *err)
{
  cleanup_free char *text = NULL;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int q, dup_fd;

  q = berth_read_file_at (dfd, "cgroup.procs", 1 << 24, &text, NULL, err);
  if (q < 0)
    {
      if (berth_err_code (err) == ENOENT || berth_err_code (err) == ENODEV)
        {
          berth_err_free (err);
          return 0; /* removed meanwhile */
        }
      return berth_err_wrap (err, "%s", where);
    }
  for (char *save = NULL, *l = strtok_r (text, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
    {
      int32_t pid;
      if (berth_parse_int32 (l, &pid) < 0 || pid <= 0)
        return berth_err_set (err, 0, "%s/cgroup.procs: `%s` is not a pid", where, l);
      *v = xrealloc (*v, (*n + 1) * sizeof **v);
      (*v)[(*n)++] = pid;
    }
  dup_fd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0)
    return berth_err_set (err, errno, "open `%s`", where);
  d = fdopendir (dup_fd);
  if (d == NULL)
    {
      close (dup_fd);
      return berth_err_set (err, errno, "opendir `%s`", where);
    }
  while ((de = readdir (d)))
    {
      cleanup_close int sub = -1;
      cleanup_free char *w = NULL;
      if (de->d_type != DT_DIR || strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      sub = openat (dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sub < 0)
        {
          if (errno == ENOENT)
            continue;
          return berth_err_set (err, errno, "open `%s/%s`", where, de->d_name);
        }
      w = xasprintf ("%s/%s", where, de->d_name);
      if ((q = collect_pids (sub, w, v, n, err)) < 0)
        return q;
    }
  return 0;
}

/* The hierarchy whose tree is consulted for the process list: the v2 one (every process is
 * there on hybrid hosts too, cgroups_enter puts it there), else pids, freezer, any. */
static int
primary_hier (const struct cgroups_cgroup *cg)
{
  static const char *const pref[] = { "pids", "freezer", "memory", "cpu" };
  struct cgroups_manager *m = cg->m;
  if (m->unified >= 0 && cg->paths[m->unified])
    return m->unified;
  for (size_t k = 0; k < ARRAY_SIZE (pref); k++)
    {
      int i = cg_manager_find_controller (m, pref[k]);
      if (i >= 0 && cg->paths[i])
        return i;
    }
  for (size_t i = 0; i < m->n_h; i++)
    if (cg->paths[i])
      return (int)i;
  return -1;
}

static int
pids_in (const struct cgroups_cgroup *cg, size_t i, pid_t **ret, size_t *ret_n, berth_err *err)
{
  pid_t *v = NULL;
  size_t n = 0, k = 0;
  cleanup_close int dfd = cg_open_dir (cg, i, NULL, err);
  int q;

  if (dfd < 0)
    return dfd;
  q = collect_pids (dfd, cg->paths[i], &v, &n, err);
  if (q < 0)
    {
      free (v);
      return q;
    }
  if (n)
    {
      qsort (v, n, sizeof *v, pid_cmp);
      for (size_t j = 0; j < n; j++)
        if (k == 0 || v[k - 1] != v[j])
          v[k++] = v[j];
    }
  *ret = v;
  *ret_n = k;
  return 0;
}

int
cgroups_pids (struct cgroups_cgroup *cg, pid_t **ret, size_t *ret_n, berth_err *err)
{
  int i = primary_hier (cg);
  if (i < 0)
    return berth_err_set (err, ENOENT, "cgroup `%s` has no directory left", cg->saved);
  return pids_in (cg, (size_t)i, ret, ret_n, err);
}

/* ------------------------------------------------------------------ freeze */

static bool
v2_core_file (const struct cgroups_cgroup *cg, const char *file)
{
  return cg->v2_fd >= 0 && faccessat (cg->v2_fd, file, F_OK, 0) == 0;
}

/* "frozen 1" / "populated 0" in cgroup.events. */
static int
v2_event_value (int dfd, const char *key, uint64_t *ret)
{
  char buf[512];
  size_t kl = strlen (key);
  ssize_t n = cg_read_small (dfd, "cgroup.events", buf, sizeof buf);
  if (n < 0)
    return (int)n;
  for (char *l = buf; l && *l; l = strchr (l, '\n') ? strchr (l, '\n') + 1 : NULL)
    if (strncmp (l, key, kl) == 0 && l[kl] == ' ')
      {
        char num[24];
        size_t len = strcspn (l + kl + 1, "\n");
        if (len >= sizeof num)
          return -EINVAL;
        memcpy (num, l + kl + 1, len);
        num[len] = '\0';
        return berth_parse_uint64 (num, ret);
      }
  return -ENOENT;
}

/* How long freeze, emptying and removal may take before berth gives up and says so: the
 * kernel finishes these in microseconds unless a task sits in uninterruptible sleep. */
#define CG_WAIT_MS 10000

static int
v2_wait_event (int dfd, const char *key, uint64_t want, berth_err *err)
{
  cleanup_close int efd = openat (dfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
  uint64_t start = berth_now_ns ();

  if (efd < 0)
    return berth_err_set (err, errno, "open `cgroup.events`");
  for (;;)
    {
      uint64_t v = 0;
      struct pollfd p = { .fd = efd, .events = POLLPRI };
      uint64_t elapsed_ms = (berth_now_ns () - start) / 1000000;
      int q = v2_event_value (dfd, key, &v);
      if (q < 0)
        return berth_err_set (err, -q, "read `cgroup.events`");
      if (v == want)
        return 0;
      if (elapsed_ms >= CG_WAIT_MS)
        return berth_err_set (err, ETIMEDOUT,
                              "`cgroup.events` still has %s %" PRIu64 " after %d ms", key, v,
                              CG_WAIT_MS);
      /* kernfs signals a change of cgroup.events with POLLPRI; poll with a cap in case the
       * change landed between the read and the poll. */
      if (poll (&p, 1, 100) < 0 && errno != EINTR)
        return berth_err_set (err, errno, "poll `cgroup.events`");
      if (p.revents & POLLPRI)
        {
          char drain[512];
          ssize_t BERTH_UNUSED n = pread (efd, drain, sizeof drain, 0);
        }
    }
}

static int
v1_freezer_set (const struct cgroups_cgroup *cg, int i, bool frozen, berth_err *err)
{
  cleanup_close int dfd = cg_open_dir (cg, (size_t)i, NULL, err);
  const char *want = frozen ? "FROZEN" : "THAWED";
  uint64_t start = berth_now_ns ();
  unsigned delay = 1;

  if (dfd < 0)
    return dfd;
  for (;;)
    {
      char state[32];
      if (cg_write (dfd, "freezer.state", want, NULL, err) < 0)
        return berth_err_wrap (err, "cgroup `%s`", cg->paths[i]);
      if (read_trimmed (dfd, "freezer.state", state, sizeof state) < 0)
        return berth_err_set (err, errno, "read `freezer.state` of `%s`", cg->paths[i]);
      if (strcmp (state, want) == 0)
        return 0;
      /* FREEZING: a task has not reached the refrigerator yet; writing again retries it. */
      if ((berth_now_ns () - start) / 1000000 >= CG_WAIT_MS)
        return berth_err_set (err, ETIMEDOUT, "cgroup `%s`: freezer.state is %s after %d ms",
                              cg->paths[i], state, CG_WAIT_MS);
      sleep_ms (delay);
      if (delay < 64)
        delay *= 2;
    }
}

/* v2's cgroup.freeze is in every cgroup2 directory, controllers or not, and on hybrid hosts
 * holds the same processes: prefer it; the v1 freezer otherwise. */
int
cgroups_freeze (struct cgroups_cgroup *cg, bool frozen, berth_err *err)
{
  int i;
  if (v2_core_file (cg, "cgroup.freeze"))
    {
      if (cg_write (cg->v2_fd, "cgroup.freeze", frozen ? "1" : "0", NULL, err) < 0)
        return berth_err_wrap (err, "cgroup `%s`", cg->saved);
      if (v2_wait_event (cg->v2_fd, "frozen", frozen ? 1 : 0, err) < 0)
        return berth_err_wrap (err, "%s cgroup `%s`", frozen ? "freeze" : "thaw", cg->saved);
      return 0;
    }
  i = cg_manager_find_controller (cg->m, "freezer");
  if (i < 0 || cg->paths[i] == NULL)
    return berth_err_set (err, ENOTSUP, "cgroup `%s`: no freezer on this host", cg->saved);
  return v1_freezer_set (cg, i, frozen, err);
}

int
cgroups_frozen (struct cgroups_cgroup *cg, bool *ret, berth_err *err)
{
  int i;
  if (v2_core_file (cg, "cgroup.freeze"))
    {
      uint64_t v = 0;
      int q = v2_event_value (cg->v2_fd, "frozen", &v);
      if (q < 0)
        return berth_err_set (err, -q, "read `cgroup.events` of `%s`", cg->saved);
      *ret = v == 1;
      return 0;
    }
  i = cg_manager_find_controller (cg->m, "freezer");
  if (i < 0 || cg->paths[i] == NULL)
    return berth_err_set (err, ENOTSUP, "cgroup `%s`: no freezer on this host", cg->saved);
  {
    cleanup_close int dfd = cg_open_dir (cg, (size_t)i, NULL, err);
    char state[32];
    if (dfd < 0)
      return dfd;
    if (read_trimmed (dfd, "freezer.state", state, sizeof state) < 0)
      return berth_err_set (err, errno, "read `freezer.state` of `%s`", cg->paths[i]);
    *ret = strcmp (state, "FROZEN") == 0;
  }
  return 0;
}

/* ------------------------------------------------------------------ kill */

static bool
can_freeze (const struct cgroups_cgroup *cg)
{
  int i = cg_manager_find_controller (cg->m, "freezer");
  return v2_core_file (cg, "cgroup.freeze") || (i >= 0 && cg->paths[i] != NULL);
}

static int
signal_all (struct cgroups_cgroup *cg, int sig, size_t *ret_n, berth_err *err)
{
  pid_t *pids = NULL;
  size_t n = 0;
  int q = cgroups_pids (cg, &pids, &n, err);
  if (q < 0)
    return q;
  for (size_t k = 0; k < n; k++)
    if (kill (pids[k], sig) < 0 && errno != ESRCH)
      {
        q = berth_err_set (err, errno, "kill %d (signal %d)", (int)pids[k], sig);
        break;
      }
  free (pids);
  if (ret_n)
    *ret_n = n;
  return q;
}

int
cgroups_kill (struct cgroups_cgroup *cg, int sig, berth_err *err)
{
  int q;

  /* cgroup.kill (5.14+) kills the whole subtree at once, forks in flight included. */
  if (sig == SIGKILL && v2_core_file (cg, "cgroup.kill"))
    {
      if (cg_write (cg->v2_fd, "cgroup.kill", "1", NULL, err) < 0)
        return berth_err_wrap (err, "kill cgroup `%s`", cg->saved);
      return 0;
    }
  if (can_freeze (cg))
    {
      /* Frozen, nothing forks between listing and signalling. */
      berth_err thaw_err = NULL;
      if ((q = cgroups_freeze (cg, true, err)) < 0)
        {
          berth_err thaw = NULL;
          (void)cgroups_freeze (cg, false, &thaw);
          berth_err_free (&thaw);
          return q;
        }
      q = signal_all (cg, sig, NULL, err);
      if (cgroups_freeze (cg, false, &thaw_err) < 0 && q == 0)
        {
          berth_err_move (err, &thaw_err);
          q = berth_err_ret (err);
        }
      berth_err_free (&thaw_err);
      return q;
    }
  /* No freezer at all: signal until nothing new appears (bounded). */
  for (int round = 0; round < 100; round++)
    {
      size_t n = 0;
      if ((q = signal_all (cg, sig, &n, err)) < 0)
        return q;
      if (n == 0 || sig != SIGKILL)
        return 0;
      sleep_ms (1);
    }
  return berth_err_set (err, EBUSY, "cgroup `%s`: processes keep appearing", cg->saved);
}

/* ------------------------------------------------------------------ destroy */

static bool
populated (struct cgroups_cgroup *cg)
{
  for (size_t i = 0; i < cg->m->n_h; i++)
    {
      pid_t *pids = NULL;
      size_t n = 0;
      berth_err e = NULL;
      if (cg->paths[i] == NULL)
        continue;
      if (cg->m->h[i].unified && cg->v2_fd >= 0)
        {
          uint64_t v = 0;
          if (v2_event_value (cg->v2_fd, "populated", &v) == 0 && v)
            return true;
          continue;
        }
      if (pids_in (cg, i, &pids, &n, &e) == 0 && n > 0)
        {
          free (pids);
          return true;
        }
      free (pids);
      berth_err_free (&e);
    }
  return false;
}

/* rmdir the tree below dfd (children first), then name in parent_fd; bounded retries on
 * EBUSY (a dying task not yet gone from the cgroup). */
static int
remove_tree (int parent_fd, const char *name, const char *where, berth_err *err)
{
  cleanup_close int dfd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  uint64_t start = berth_now_ns ();
  unsigned delay = 1;

  if (dfd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return berth_err_set (err, errno, "open `%s`", where);
    }
  {
    int dup_fd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_dir DIR *d = dup_fd >= 0 ? fdopendir (dup_fd) : NULL;
    struct dirent *de;
    if (d == NULL)
      {
        if (dup_fd >= 0)
          close (dup_fd);
        return berth_err_set (err, errno, "opendir `%s`", where);
      }
    while ((de = readdir (d)))
      {
        cleanup_free char *w = NULL;
        int q;
        if (de->d_type != DT_DIR || strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
          continue;
        w = xasprintf ("%s/%s", where, de->d_name);
        if ((q = remove_tree (dfd, de->d_name, w, err)) < 0)
          return q;
      }
  }
  for (;;)
    {
      if (unlinkat (parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return 0;
      if (errno != EBUSY || (berth_now_ns () - start) / 1000000 >= CG_WAIT_MS)
        {
          int e = errno;
          char procs[256] = "";
          ssize_t n = cg_read_small (dfd, "cgroup.procs", procs, sizeof procs);
          if (n > 0)
            for (char *p = procs; *p; p++)
              if (*p == '\n')
                *p = ' ';
          return berth_err_set (err, e, "rmdir `%s`%s%s", where, n > 0 ? " (processes left: " : "",
                                n > 0 ? procs : "");
        }
      sleep_ms (delay);
      if (delay < 100)
        delay *= 2;
    }
}

/* Removes the made-by-berth parents of path in hierarchy i once empty, up to berth's root. */
static void
remove_made_parents (struct cgroups_manager *m, size_t i, const char *path)
{
  struct cg_hier *h = &m->h[i];
  cleanup_free char *p = xstrdup (path);

  for (;;)
    {
      char *slash = strrchr (p, '/');
      cleanup_free char *rel = NULL;
      cleanup_close int dfd = -1;
      if (slash == NULL || slash == p)
        return;
      *slash = '\0';
      if (strcmp (p, h->root) == 0 || strlen (p) <= strlen (h->mount_root))
        return;
      rel = cg_hier_rel (h, p);
      if (rel == NULL || strcmp (rel, ".") == 0)
        return;
      dfd = openat (h->mnt_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || !is_made (dfd))
        return;
      /* Busy or not empty: another container still uses it; its destroy will try again. */
      if (unlinkat (h->mnt_fd, rel, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return;
    }
}

int
cgroups_destroy (struct cgroups_cgroup *cg, berth_err *err)
{
  struct cgroups_manager *m = cg->m;
  berth_err first = NULL;
  uint64_t start = berth_now_ns ();
  unsigned delay = 1;
  int q;

  /* Kill until empty: a process can be half-way into the cgroup when we look. */
  while (populated (cg))
    {
      berth_err e = NULL;
      q = cgroups_kill (cg, SIGKILL, &e);
      if (q < 0 && berth_err_code (&e) != ENOENT && first == NULL)
        berth_err_move (&first, &e);
      berth_err_free (&e);
      if ((berth_now_ns () - start) / 1000000 >= CG_WAIT_MS)
        break;
      sleep_ms (delay);
      if (delay < 100)
        delay *= 2;
    }
  /* The fds pin nothing, but close them before the directories go. */
  cg_stat_fds_close (cg);
  if (cg->events_fd >= 0)
    {
      close (cg->events_fd);
      cg->events_fd = -1;
    }
  if (cg->inotify_fd >= 0)
    {
      close (cg->inotify_fd);
      cg->inotify_fd = -1;
    }
  if (cg->oom_eventfd >= 0)
    {
      close (cg->oom_eventfd);
      cg->oom_eventfd = -1;
    }

  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      cleanup_free char *rel = NULL, *parent_rel = NULL, *where = NULL;
      cleanup_close int pfd = -1;
      char *slash;
      berth_err e = NULL;

      if (cg->paths[i] == NULL)
        continue;
      rel = cg_hier_rel (h, cg->paths[i]);
      if (rel == NULL || strcmp (rel, ".") == 0)
        continue;
      parent_rel = xstrdup (rel);
      slash = strrchr (parent_rel, '/');
      if (slash)
        *slash = '\0';
      pfd = openat (h->mnt_fd, slash ? parent_rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pfd < 0)
        {
          if (errno != ENOENT && first == NULL)
            berth_err_set (&first, errno, "open `%s/%s`", h->mountpoint, parent_rel);
          continue;
        }
      where = xasprintf ("%s/%s", h->mountpoint, rel);
      if (remove_tree (pfd, slash ? slash + 1 : rel, where, &e) < 0)
        {
          if (first == NULL)
            berth_err_move (&first, &e);
          berth_err_free (&e);
          continue;
        }
      remove_made_parents (m, i, cg->paths[i]);
    }
  if (cg->v2_fd >= 0)
    {
      close (cg->v2_fd);
      cg->v2_fd = -1;
    }
  if (first)
    {
      berth_err_move (err, &first);
      return berth_err_wrap (err, "destroy cgroup `%s`", cg->saved);
    }
  return 0;
}

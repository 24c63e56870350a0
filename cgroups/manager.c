/* The cgroups manager: finds the host's hierarchies (mountinfo + /proc/self/cgroup), tells
 * unified, hybrid and legacy layouts apart, and decides berth's root in each hierarchy.
 * Path rules are documented in docs/cgroups.md ("Placement"). */
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "cgroups/internal.h"

/* ------------------------------------------------------------------ paths */

int
cg_path_normalize (const char *p, bool allow_empty, char **ret, berth_err *err)
{
  cleanup_free char *copy = xstrdup (p), *out = xzalloc (strlen (p) + 1);
  char *save = NULL, *tok;
  size_t len = 0;

  if (strchr (p, ';') || strchr (p, '\n'))
    return berth_err_set (err, 0, "`%s`: cgroup paths may not contain `;` or a newline", p);
  for (tok = strtok_r (copy, "/", &save); tok; tok = strtok_r (NULL, "/", &save))
    {
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        return berth_err_set (err, 0, "`%s`: `..` is not allowed in a cgroup path", p);
      if (len)
        out[len++] = '/';
      memcpy (out + len, tok, strlen (tok));
      len += strlen (tok);
    }
  out[len] = '\0';
  if (len == 0 && !allow_empty)
    return berth_err_set (err, 0, "`%s`: names no cgroup below the root", p);
  *ret = steal_pointer (&out);
  return 0;
}

char *
cg_path_join (const char *a, const char *b)
{
  while (*b == '/')
    b++;
  if (*b == '\0')
    return xstrdup (a);
  if (strcmp (a, "/") == 0 || *a == '\0')
    return xasprintf ("/%s", b);
  return xasprintf ("%s/%s", a, b);
}

bool
cg_path_within (const char *p, const char *prefix)
{
  size_t n = strlen (prefix);
  if (strcmp (prefix, "/") == 0)
    return p[0] == '/';
  return strncmp (p, prefix, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

char *
cg_hier_rel (const struct cg_hier *h, const char *p)
{
  size_t n = strlen (h->mount_root);
  const char *rest;

  if (!cg_path_within (p, h->mount_root))
    return NULL;
  rest = strcmp (h->mount_root, "/") == 0 ? p : p + n;
  while (*rest == '/')
    rest++;
  return xstrdup (*rest ? rest : ".");
}

char *
cg_host_dir (const struct cgroups_manager *m, size_t i, const char *path)
{
  cleanup_free char *rel = cg_hier_rel (&m->h[i], path);
  if (rel == NULL)
    return NULL;
  if (strcmp (rel, ".") == 0)
    return xstrdup (m->h[i].mountpoint);
  return xasprintf ("%s/%s", m->h[i].mountpoint, rel);
}

/* ------------------------------------------------------------------ /proc/self/cgroup */

void
cg_proc_lines_free (struct cg_proc_line *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (l[i].controllers);
      free (l[i].path);
    }
  free (l);
}

int
cg_parse_proc_cgroup (const char *text, struct cg_proc_line **ret, size_t *ret_n, berth_err *err)
{
  struct cg_proc_line *lines = NULL;
  size_t n = 0;
  const char *p = text;

  while (*p)
    {
      const char *eol = strchrnul (p, '\n');
      const char *c1 = memchr (p, ':', (size_t)(eol - p));
      const char *c2 = c1 ? memchr (c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
      if (eol == p)
        {
          p = *eol ? eol + 1 : eol;
          continue;
        }
      if (c2 == NULL || c2 + 1 >= eol || c2[1] != '/')
        {
          cg_proc_lines_free (lines, n);
          return berth_err_set (err, 0, "/proc/self/cgroup: malformed line `%.*s`", (int)(eol - p),
                                p);
        }
      lines = xrealloc (lines, (n + 1) * sizeof *lines);
      lines[n].controllers = xstrndup (c1 + 1, (size_t)(c2 - c1 - 1));
      lines[n].path = xstrndup (c2 + 1, (size_t)(eol - c2 - 1));
      /* A cgroup removed under us reads "/x (deleted)". */
      if (str_has_suffix (lines[n].path, " (deleted)"))
        lines[n].path[strlen (lines[n].path) - strlen (" (deleted)")] = '\0';
      n++;
      p = *eol ? eol + 1 : eol;
    }
  *ret = lines;
  *ret_n = n;
  return 0;
}

/* ------------------------------------------------------------------ mountinfo */

void
cg_mounts_free (struct cg_mount *m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (m[i].root);
      free (m[i].mountpoint);
      free (m[i].options);
    }
  free (m);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape_octal (const char *s, size_t len)
{
  char *out = xmalloc (len + 1);
  size_t j = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] == '\\' && len - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0'
          && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7')
        {
          out[j++] = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
          i += 3;
        }
      else
        out[j++] = s[i];
    }
  out[j] = '\0';
  return out;
}

/* A mount is hidden when a later mount sits on the same mountpoint or on one of its parents
 * (a tmpfs over /sys/fs/cgroup/unified in a container): mountinfo still lists it, but paths
 * under the mountpoint reach the mount on top. */
static bool
shadowed (const char *mp, char *const *later)
{
  for (char *const *l = later; l && *l; l++)
    {
      size_t n = strlen (*l);
      if (strcmp (*l, mp) == 0
          || (strncmp (mp, *l, n) == 0 && (mp[n] == '/' || strcmp (*l, "/") == 0)))
        return true;
    }
  return false;
}

int
cg_parse_mountinfo (const char *text, struct cg_mount **ret, size_t *ret_n, berth_err *err)
{
  struct cg_mount *mounts = NULL;
  size_t n = 0;
  size_t *line_of = NULL; /* index in all[] of each cgroup mount */
  cleanup_strv char **all = xzalloc (sizeof (char *));
  size_t n_all = 0, k = 0;
  const char *p = text;

  while (*p)
    {
      const char *eol = strchrnul (p, '\n');
      const char *f[6];
      size_t fl[6], nf = 0;
      const char *q = p, *sep;

      /* id parent maj:min root mountpoint options ... - fstype source superoptions */
      while (nf < 6 && q < eol)
        {
          const char *sp = memchr (q, ' ', (size_t)(eol - q));
          if (sp == NULL)
            sp = eol;
          f[nf] = q;
          fl[nf] = (size_t)(sp - q);
          nf++;
          q = sp < eol ? sp + 1 : eol;
        }
      sep = memmem (p, (size_t)(eol - p), " - ", 3);
      if (nf < 6 || sep == NULL)
        {
          if (eol != p)
            {
              cg_mounts_free (mounts, n);
              free (line_of);
              return berth_err_set (err, 0, "mountinfo: malformed line `%.*s`", (int)(eol - p), p);
            }
        }
      else
        {
          const char *fs = sep + 3, *fs_end = memchr (fs, ' ', (size_t)(eol - fs));
          const char *src, *src_end, *opts;
          char *mp = unescape_octal (f[4], fl[4]);

          strv_append (&all, mp);
          n_all++;
          if (fs_end == NULL
              || !(((size_t)(fs_end - fs) == 6 && memcmp (fs, "cgroup", 6) == 0)
                   || ((size_t)(fs_end - fs) == 7 && memcmp (fs, "cgroup2", 7) == 0)))
            {
              free (mp);
              goto next;
            }
          src = fs_end + 1;
          src_end = memchr (src, ' ', (size_t)(eol - src));
          opts = src_end ? src_end + 1 : eol;
          mounts = xrealloc (mounts, (n + 1) * sizeof *mounts);
          line_of = xrealloc (line_of, (n + 1) * sizeof *line_of);
          mounts[n].unified = (size_t)(fs_end - fs) == 7;
          mounts[n].root = unescape_octal (f[3], fl[3]);
          mounts[n].mountpoint = mp;
          mounts[n].options = xstrndup (opts, (size_t)(eol - opts));
          line_of[n] = n_all - 1;
          n++;
        }
    next:
      p = *eol ? eol + 1 : eol;
    }
  for (size_t i = 0; i < n; i++)
    if (shadowed (mounts[i].mountpoint, all + line_of[i] + 1))
      {
        free (mounts[i].root);
        free (mounts[i].mountpoint);
        free (mounts[i].options);
      }
    else
      mounts[k++] = mounts[i];
  free (line_of);
  *ret = mounts;
  *ret_n = k;
  return 0;
}

static bool
options_have (const char *options, const char *name)
{
  size_t n = strlen (name);
  const char *p = options;
  while (p && *p)
    {
      const char *c = strchrnul (p, ',');
      if ((size_t)(c - p) == n && memcmp (p, name, n) == 0)
        return true;
      p = *c ? c + 1 : NULL;
    }
  return false;
}

/* ------------------------------------------------------------------ the manager */

bool
cg_hier_has (const struct cg_hier *h, const char *controller)
{
  return strv_contains (h->ctrl, controller);
}

int
cg_manager_find_controller (const struct cgroups_manager *m, const char *controller)
{
  for (size_t i = 0; i < m->n_h; i++)
    if (cg_hier_has (&m->h[i], controller))
      return (int)i;
  return -1;
}

bool
cgroups_manager_has_controller (const struct cgroups_manager *m, const char *controller)
{
  return cg_manager_find_controller (m, controller) >= 0;
}

enum cgroups_layout
cgroups_manager_layout (const struct cgroups_manager *m)
{
  return m->layout;
}

const char *
cgroups_layout_name (enum cgroups_layout layout)
{
  switch (layout)
    {
    case CGROUPS_LAYOUT_UNIFIED:
      return "unified";
    case CGROUPS_LAYOUT_HYBRID:
      return "hybrid";
    case CGROUPS_LAYOUT_LEGACY:
      return "legacy";
    }
  return "unknown";
}

static void
hier_free (struct cg_hier *h)
{
  free (h->controllers);
  strv_free (h->ctrl);
  free (h->key);
  free (h->name);
  free (h->mountpoint);
  free (h->mount_root);
  free (h->own);
  free (h->root);
  if (h->mnt_fd >= 0)
    close (h->mnt_fd);
}

void
cgroups_manager_free (struct cgroups_manager *m)
{
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n_h; i++)
    hier_free (&m->h[i]);
  free (m->h);
  free (m);
}

/* Of the mounts showing this hierarchy, the one whose root contains own, widest first. */
static const struct cg_mount *
pick_mount (const struct cg_mount *mounts, size_t n_mounts, const struct cg_proc_line *line)
{
  const struct cg_mount *best = NULL;
  bool unified = line->controllers[0] == '\0';

  for (size_t j = 0; j < n_mounts; j++)
    {
      const struct cg_mount *mt = &mounts[j];
      bool match = true;
      if (mt->unified != unified)
        continue;
      if (!unified)
        {
          cleanup_free char *copy = xstrdup (line->controllers);
          char *save = NULL;
          for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
            if (!options_have (mt->options, t))
              match = false;
        }
      if (!match || !cg_path_within (line->path, mt->root))
        continue;
      if (best == NULL || strlen (mt->root) < strlen (best->root))
        best = mt;
    }
  return best;
}

/* The controllers berth can hand to its cgroups: those of the caller's own cgroup when
 * berth's root is below it, else those of the root (or of its nearest existing ancestor). */
static int
read_v2_controllers (struct cg_hier *h, berth_err *err)
{
  cleanup_free char *p = xstrdup (cg_path_within (h->root, h->own) ? h->own : h->root);
  cleanup_free char *text = NULL;
  cleanup_close int dfd = -1;
  char *save = NULL;

  for (;;)
    {
      cleanup_free char *rel = cg_hier_rel (h, p);
      char *slash;
      if (rel == NULL)
        return berth_err_set (err, 0, "cgroup2 `%s` is outside its mount", p);
      dfd = openat (h->mnt_fd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0)
        break;
      if (errno != ENOENT || strcmp (p, "/") == 0)
        return berth_err_set (err, errno, "open cgroup2 `%s/%s`", h->mountpoint, rel);
      slash = strrchr (p, '/');
      if (slash == p)
        slash[1] = '\0';
      else
        *slash = '\0';
    }
  if (berth_read_file_at (dfd, "cgroup.controllers", 4096, &text, NULL, err) < 0)
    return berth_err_wrap (err, "cgroup2 `%s`", p);
  text[strcspn (text, "\n")] = '\0';
  h->controllers = xstrdup (text);
  h->ctrl = xzalloc (sizeof (char *));
  for (char *t = strtok_r (text, " ", &save); t; t = strtok_r (NULL, " ", &save))
    strv_append (&h->ctrl, t);
  return 0;
}

static int
hier_set_root (struct cg_hier *h, const char *root, berth_err *err)
{
  cleanup_free char *norm = NULL, *rel = NULL;

  if (root == NULL)
    h->root = xstrdup (h->own);
  else
    {
      if (cg_path_normalize (root, true, &norm, err) < 0)
        return berth_err_wrap (err, "cgroups root");
      h->root = root[0] == '/' ? xasprintf ("/%s", norm) : cg_path_join (h->own, norm);
    }
  rel = cg_hier_rel (h, h->root);
  if (rel == NULL)
    return berth_err_set (err, 0,
                          "cgroups root `%s` is outside what the %s mount at `%s` shows (`%s`)",
                          h->root, h->key, h->mountpoint, h->mount_root);
  return 0;
}

int
cg_manager_build (const char *proc_cgroup, const char *mountinfo, const char *root, bool open_fds,
                  struct cgroups_manager **ret, berth_err *err)
{
  struct cg_proc_line *lines = NULL;
  struct cg_mount *mounts = NULL;
  size_t n_lines = 0, n_mounts = 0;
  struct cgroups_manager *m = xzalloc (sizeof *m);
  bool have_v1_controllers = false;
  int r;

  m->unified = -1;
  r = cg_parse_proc_cgroup (proc_cgroup, &lines, &n_lines, err);
  if (r < 0)
    goto out;
  r = cg_parse_mountinfo (mountinfo, &mounts, &n_mounts, err);
  if (r < 0)
    goto out;

  for (size_t i = 0; i < n_lines; i++)
    {
      const struct cg_mount *mt = pick_mount (mounts, n_mounts, &lines[i]);
      struct cg_hier *h;
      const char *slash;
      char *save = NULL;
      cleanup_free char *copy = NULL;

      /* A hierarchy nobody mounted where we can see it (or only a part not containing our
       * own cgroup) cannot be used. */
      if (mt == NULL)
        continue;
      m->h = xrealloc (m->h, (m->n_h + 1) * sizeof *m->h);
      h = &m->h[m->n_h++];
      memset (h, 0, sizeof *h);
      h->mnt_fd = -1;
      h->unified = mt->unified;
      h->mountpoint = xstrdup (mt->mountpoint);
      h->mount_root = xstrdup (mt->root);
      h->own = xstrdup (lines[i].path);
      slash = strrchr (mt->mountpoint, '/');
      h->name = xstrdup (strcmp (mt->mountpoint, "/sys/fs/cgroup") == 0 ? ""
                         : slash                                        ? slash + 1
                                                                        : mt->mountpoint);
      if (h->unified)
        {
          h->key = xstrdup ("unified");
          if (m->unified >= 0)
            {
              r = berth_err_set (err, 0, "/proc/self/cgroup: two cgroup2 lines");
              goto out;
            }
          m->unified = (int)(m->n_h - 1);
        }
      else
        {
          h->key = xstrdup (lines[i].controllers);
          h->controllers = xstrdup (lines[i].controllers);
          h->ctrl = xzalloc (sizeof (char *));
          copy = xstrdup (lines[i].controllers);
          for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
            if (!str_has_prefix (t, "name="))
              {
                strv_append (&h->ctrl, t);
                have_v1_controllers = true;
              }
        }
    }

  if (have_v1_controllers)
    m->layout = m->unified >= 0 ? CGROUPS_LAYOUT_HYBRID : CGROUPS_LAYOUT_LEGACY;
  else if (m->unified >= 0)
    {
      /* Pure v2 (a named v1 hierarchy kept for old containers does not change that): keep
       * only the cgroup2 hierarchy. */
      struct cg_hier keep = m->h[m->unified];
      for (size_t i = 0; i < m->n_h; i++)
        if ((int)i != m->unified)
          hier_free (&m->h[i]);
      m->h[0] = keep;
      m->n_h = 1;
      m->unified = 0;
      m->layout = CGROUPS_LAYOUT_UNIFIED;
    }
  else
    {
      r = berth_err_set (err, 0, "no cgroup hierarchy with controllers is mounted");
      goto out;
    }

  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      if (open_fds)
        {
          h->mnt_fd = open (h->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (h->mnt_fd < 0)
            {
              r = berth_err_set (err, errno, "open `%s`", h->mountpoint);
              goto out;
            }
        }
      r = hier_set_root (h, root, err);
      if (r < 0)
        goto out;
      if (h->unified && open_fds)
        {
          r = read_v2_controllers (h, err);
          if (r < 0)
            goto out;
        }
      else if (h->unified)
        {
          h->controllers = xstrdup ("");
          h->ctrl = xzalloc (sizeof (char *));
        }
    }

  *ret = steal_pointer (&m);
  r = 0;
out:
  cg_proc_lines_free (lines, n_lines);
  cg_mounts_free (mounts, n_mounts);
  cgroups_manager_free (m);
  return r;
}

int
cgroups_manager_open (const char *root, struct cgroups_manager **ret, berth_err *err)
{
  cleanup_free char *proc = NULL, *mountinfo = NULL;

  int r;

  r = berth_read_file_at (AT_FDCWD, "/proc/self/cgroup", 1 << 16, &proc, NULL, err);
  if (r < 0)
    return r;
  r = berth_read_file_at (AT_FDCWD, "/proc/self/mountinfo", 1 << 22, &mountinfo, NULL, err);
  if (r < 0)
    return r;
  return cg_manager_build (proc, mountinfo, root, true, ret, err);
}

int
cgroups_manager_remove_root (struct cgroups_manager *m, berth_err *err)
{
  for (size_t i = 0; i < m->n_h; i++)
    {
      struct cg_hier *h = &m->h[i];
      cleanup_free char *p = xstrdup (h->root);
      /* Remove the root, then its parents, never the caller's own cgroup or above it. */
      while (strcmp (p, h->own) != 0 && cg_path_within (p, h->own))
        {
          cleanup_free char *rel = cg_hier_rel (h, p);
          char *slash;
          if (rel == NULL || strcmp (rel, ".") == 0)
            break;
          if (unlinkat (h->mnt_fd, rel, AT_REMOVEDIR) < 0)
            {
              if (errno == ENOENT)
                ;
              else if (errno == EBUSY || errno == ENOTEMPTY)
                break;
              else
                return berth_err_set (err, errno, "rmdir `%s/%s`", h->mountpoint, rel);
            }
          slash = strrchr (p, '/');
          if (slash == NULL || slash == p)
            break;
          *slash = '\0';
        }
      /* A root outside the own cgroup ("/abs") was the operator's: only its leaf goes. */
      if (!cg_path_within (h->root, h->own))
        {
          cleanup_free char *rel = cg_hier_rel (h, h->root);
          if (rel && strcmp (rel, ".") != 0 && unlinkat (h->mnt_fd, rel, AT_REMOVEDIR) < 0
              && errno != ENOENT && errno != EBUSY && errno != ENOTEMPTY)
            return berth_err_set (err, errno, "rmdir `%s/%s`", h->mountpoint, rel);
        }
    }
  return 0;
}

int
cgroups_delegate_self (const char *leaf, char **ret_root, berth_err *err)
{
  cleanup_free char *norm = NULL;
  struct cgroups_manager *m = NULL;
  struct cg_hier *h;
  cleanup_free char *rel = NULL;
  cleanup_close int dfd = -1, leaf_fd = -1;
  int r;

  if (cg_path_normalize (leaf, false, &norm, err) < 0 || strchr (norm, '/'))
    return berth_err_set (err, 0, "delegate: `%s` must be one cgroup name", leaf);
  r = cgroups_manager_open (NULL, &m, err);
  if (r < 0)
    return r;
  if (m->unified < 0)
    {
      cgroups_manager_free (m);
      *ret_root = NULL;
      return 0;
    }
  h = &m->h[m->unified];
  rel = cg_hier_rel (h, h->own);
  dfd = openat (h->mnt_fd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    {
      r = berth_err_set (err, errno, "open `%s/%s`", h->mountpoint, rel);
      goto out;
    }
  /* Already in the leaf (systemd put us there with DelegateSubgroup=, which is what lets
   * it start berthd again: the unit's own cgroup has controllers enabled for the tasks and
   * can take no process): the root is the parent. */
  {
    const char *slash = strrchr (h->own, '/');
    if (slash && slash != h->own && strcmp (slash + 1, norm) == 0)
      {
        *ret_root = xstrndup (h->own, (size_t) (slash - h->own));
        r = 0;
        goto out;
      }
  }
  /* The cgroup2 root is exempt from the rule: nothing to do there. */
  if (strcmp (h->own, "/") != 0)
    {
      if (mkdirat (dfd, norm, 0755) < 0 && errno != EEXIST)
        {
          r = berth_err_set (err, errno, "mkdir `%s/%s/%s`", h->mountpoint, rel, norm);
          goto out;
        }
      leaf_fd = openat (dfd, norm, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (leaf_fd < 0)
        {
          r = berth_err_set (err, errno, "open `%s/%s/%s`", h->mountpoint, rel, norm);
          goto out;
        }
      r = cg_write (leaf_fd, "cgroup.procs", "0", NULL, err);
      if (r < 0)
        {
          berth_err_wrap (err, "move into `%s/%s`", h->own, norm);
          goto out;
        }
    }
  *ret_root = xstrdup (h->own);
  r = 0;
out:
  cgroups_manager_free (m);
  return r;
}

int
cgroups_foreach_hierarchy (struct cgroups_manager *m, const struct cgroups_cgroup *cg,
                           cgroups_hierarchy_fn fn, void *userdata, berth_err *err)
{
  for (size_t i = 0; i < m->n_h; i++)
    {
      const char *p = cg ? cg->paths[i] : m->h[i].root;
      cleanup_free char *dir = NULL;
      struct cg_hier *h = &m->h[i];
      struct cgroups_hierarchy info;
      int r;

      if (p == NULL)
        continue;
      dir = cg_host_dir (m, i, p);
      if (dir == NULL)
        continue;
      info.unified = h->unified;
      info.controllers = h->controllers;
      info.name = h->name;
      info.mountpoint = h->mountpoint;
      info.dir = dir;
      info.path = p;
      r = fn (&info, userdata, err);
      if (r < 0)
        return r;
    }
  return 0;
}

/* Mount options of config.json: which of them are mount attributes (MOUNT_ATTR_*), which
 * are propagation, which make a bind mount, and which are parameters of the filesystem
 * (passed to fsconfig, so the kernel itself rejects one it does not know). */
#include "runtime/internal.h"

#include <sys/mount.h>

struct attr_option
{
  const char *name;
  uint64_t set, clr;
  bool recursive;
};

/* Atime is a field of three values, not a flag: setting one clears the field first. */
#define ATIME(v) (v), MOUNT_ATTR__ATIME

static const struct attr_option attr_options[] = {
  { "ro", MOUNT_ATTR_RDONLY, 0, false },
  { "rw", 0, MOUNT_ATTR_RDONLY, false },
  { "nosuid", MOUNT_ATTR_NOSUID, 0, false },
  { "suid", 0, MOUNT_ATTR_NOSUID, false },
  { "nodev", MOUNT_ATTR_NODEV, 0, false },
  { "dev", 0, MOUNT_ATTR_NODEV, false },
  { "noexec", MOUNT_ATTR_NOEXEC, 0, false },
  { "exec", 0, MOUNT_ATTR_NOEXEC, false },
  { "noatime", ATIME (MOUNT_ATTR_NOATIME), false },
  { "atime", ATIME (MOUNT_ATTR_RELATIME), false },
  { "relatime", ATIME (MOUNT_ATTR_RELATIME), false },
  { "norelatime", ATIME (MOUNT_ATTR_RELATIME), false },
  { "strictatime", ATIME (MOUNT_ATTR_STRICTATIME), false },
  { "nostrictatime", ATIME (MOUNT_ATTR_RELATIME), false },
  { "nodiratime", MOUNT_ATTR_NODIRATIME, 0, false },
  { "diratime", 0, MOUNT_ATTR_NODIRATIME, false },
  { "nosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0, false },
  { "symfollow", 0, MOUNT_ATTR_NOSYMFOLLOW, false },
  /* runc's recursive forms (mount_setattr with AT_RECURSIVE). */
  { "rro", MOUNT_ATTR_RDONLY, 0, true },
  { "rrw", 0, MOUNT_ATTR_RDONLY, true },
  { "rnosuid", MOUNT_ATTR_NOSUID, 0, true },
  { "rsuid", 0, MOUNT_ATTR_NOSUID, true },
  { "rnodev", MOUNT_ATTR_NODEV, 0, true },
  { "rdev", 0, MOUNT_ATTR_NODEV, true },
  { "rnoexec", MOUNT_ATTR_NOEXEC, 0, true },
  { "rexec", 0, MOUNT_ATTR_NOEXEC, true },
  { "rnoatime", ATIME (MOUNT_ATTR_NOATIME), true },
  { "ratime", ATIME (MOUNT_ATTR_RELATIME), true },
  { "rrelatime", ATIME (MOUNT_ATTR_RELATIME), true },
  { "rnorelatime", ATIME (MOUNT_ATTR_RELATIME), true },
  { "rstrictatime", ATIME (MOUNT_ATTR_STRICTATIME), true },
  { "rnostrictatime", ATIME (MOUNT_ATTR_RELATIME), true },
  { "rnodiratime", MOUNT_ATTR_NODIRATIME, 0, true },
  { "rdiratime", 0, MOUNT_ATTR_NODIRATIME, true },
  { "rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0, true },
  { "rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW, true },
};

static const struct
{
  const char *name;
  uint64_t propagation;
  bool recursive;
} propagation_options[] = {
  { "shared", MS_SHARED, false },         { "rshared", MS_SHARED, true },
  { "slave", MS_SLAVE, false },           { "rslave", MS_SLAVE, true },
  { "private", MS_PRIVATE, false },       { "rprivate", MS_PRIVATE, true },
  { "unbindable", MS_UNBINDABLE, false }, { "runbindable", MS_UNBINDABLE, true },
};

static const struct
{
  const char *name;
  const char *why;
} refused_options[] = {
  { "remount", "remounting is not an OCI mount operation" },
  { "idmap", "idmapped mounts are not supported by berth" },
  { "ridmap", "idmapped mounts are not supported by berth" },
  { "tmpcopyup", "tmpcopyup is not supported by berth" },
  { "copy-symlink", "copy-symlink is not supported by berth" },
};

static void
add_param (struct rt_mount *m, const char *opt)
{
  const char *eq = strchr (opt, '=');
  m->params = xrealloc (m->params, (m->n_params + 1) * sizeof (struct rt_fsparam));
  m->params[m->n_params].key = eq ? xstrndup (opt, (size_t)(eq - opt)) : xstrdup (opt);
  m->params[m->n_params].value = eq ? xstrdup (eq + 1) : NULL;
  m->n_params++;
}

int
rt_mount_options_parse (struct rt_mount *m, char *const *options, const char *path, berth_err *err)
{
  bool is_cgroup = m->type && strcmp (m->type, "cgroup") == 0;

  m->kind = is_cgroup ? RT_MOUNT_CGROUP : RT_MOUNT_FS;
  if (m->type && strcmp (m->type, "bind") == 0)
    m->kind = RT_MOUNT_BIND;
  for (size_t i = 0; options && options[i]; i++)
    if (strcmp (options[i], "bind") == 0 || strcmp (options[i], "rbind") == 0)
      {
        if (is_cgroup)
          return berth_err_set (err, 0, "%s[%zu]: a cgroup mount cannot be a bind mount", path, i);
        m->kind = RT_MOUNT_BIND;
        if (options[i][0] == 'r')
          m->recursive = true;
      }

  for (size_t i = 0; options && options[i]; i++)
    {
      const char *o = options[i];
      cleanup_free char *tmp_msg = NULL;
      bool done = false;

      if (*o == '\0')
        return berth_err_set (err, 0, "%s[%zu]: empty option", path, i);
      if (strcmp (o, "bind") == 0 || strcmp (o, "rbind") == 0 || strcmp (o, "defaults") == 0)
        continue;
      /* Kernel log verbosity while mounting; no effect on the mount itself. */
      if (strcmp (o, "silent") == 0 || strcmp (o, "loud") == 0)
        continue;
      for (size_t k = 0; k < ARRAY_SIZE (refused_options); k++)
        if (strcmp (o, refused_options[k].name) == 0)
          return berth_err_set (err, 0, "%s[%zu]: %s", path, i, refused_options[k].why);
      for (size_t k = 0; !done && k < ARRAY_SIZE (attr_options); k++)
        if (strcmp (o, attr_options[k].name) == 0)
          {
            const struct attr_option *a = &attr_options[k];
            /* A new filesystem has no submounts: recursive and plain are the same. */
            if (a->recursive && m->kind == RT_MOUNT_BIND)
              {
                m->rattr_set = (m->rattr_set & ~a->clr) | a->set;
                m->rattr_clr = (m->rattr_clr & ~a->set) | a->clr;
              }
            else
              {
                m->attr_set = (m->attr_set & ~a->clr) | a->set;
                m->attr_clr = (m->attr_clr & ~a->set) | a->clr;
              }
            done = true;
          }
      for (size_t k = 0; !done && k < ARRAY_SIZE (propagation_options); k++)
        if (strcmp (o, propagation_options[k].name) == 0)
          {
            m->propagation = propagation_options[k].propagation;
            m->propagation_recursive = propagation_options[k].recursive;
            done = true;
          }
      if (done)
        continue;
      if (m->kind == RT_MOUNT_BIND && !str_has_prefix (o, "x-"))
        {
          /* Filesystem data and superblock flags do nothing to a bind mount: mount(2)
             ignores the data of MS_BIND. Accepted (runtime-tools' own tests pass
             "mode=755,size=1k" to binds) and reported to the caller as a warning. */
          tmp_msg = xasprintf ("%s[%zu]: `%s` has no effect on a bind mount", path, i, o);
          strv_append (&m->ignored, tmp_msg);
          continue;
        }
      if (str_has_prefix (o, "x-"))
        return berth_err_set (err, 0, "%s[%zu]: `%s` is a mount helper option, not supported", path,
                              i, o);
      if (m->kind == RT_MOUNT_CGROUP)
        return berth_err_set (err, 0, "%s[%zu]: `%s` is not an option of cgroup mounts", path, i,
                              o);
      if (o[0] == '=')
        return berth_err_set (err, 0, "%s[%zu]: `%s` has no parameter name", path, i, o);
      add_param (m, o);
    }
  return 0;
}

/* Resolves a container's "user" (user, user:group, uid, uid:gid) against the image's
 * /etc/passwd and /etc/group, read beneath the rootfs with berth_open_in_root so that a
 * symlink in the image cannot make berth read a host file. Docker's rules: a name must
 * exist; a uid without a group takes the passwd entry's group, else 0; the supplementary
 * groups are those that list the user by name. */
#include "taskdef-internal.h"

#include <ctype.h>

#define ETC_FILE_MAX (4 * 1024 * 1024)

static int
read_etc (int rootfd, const char *path, char **ret, berth_err *err)
{
  cleanup_close int fd = -1;
  size_t len;

  fd = berth_open_in_root (rootfd, path, O_RDONLY | O_CLOEXEC, 0, err);
  if (fd < 0)
    {
      if (berth_err_code (err) == ENOENT)
        {
          berth_err_free (err);
          *ret = xstrdup ("");
          return 0;
        }
      return berth_err_wrap (err, "read the image's %s", path);
    }
  if (berth_read_fd (fd, ETC_FILE_MAX, ret, &len, err) < 0)
    return berth_err_wrap (err, "read the image's %s", path);
  return 0;
}

static bool
parse_id (const char *s, uint32_t *ret)
{
  uint32_t v;
  if (!isdigit ((unsigned char)*s) || berth_parse_uint32 (s, &v) < 0 || v == UINT32_MAX)
    return false;
  *ret = v;
  return true;
}

/* Splits a colon-separated line into at most n fields; returns how many it found. */
static size_t
split_fields (char *line, char **f, size_t n)
{
  size_t i = 0;
  f[i++] = line;
  for (char *p = line; *p && i < n; p++)
    if (*p == ':')
      {
        *p = '\0';
        f[i++] = p + 1;
      }
  return i;
}

struct passwd_entry
{
  bool found;
  char *name;
  uint32_t uid, gid;
  char *home; /* NULL when the entry has no absolute home */
};

static void
find_passwd (const char *text, const char *name, const uint32_t *uid, struct passwd_entry *ret)
{
  cleanup_free char *copy = xstrdup (text);
  char *save = NULL;
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[7];
      size_t n;
      uint32_t u, g;
      if (line[0] == '#' || (n = split_fields (line, f, 7)) < 4)
        continue;
      if (!parse_id (f[2], &u) || !parse_id (f[3], &g))
        continue;
      if ((name && strcmp (f[0], name) == 0) || (uid && u == *uid))
        {
          ret->found = true;
          ret->name = xstrdup (f[0]);
          ret->uid = u;
          ret->gid = g;
          ret->home = n >= 6 && f[5][0] == '/' ? xstrdup (f[5]) : NULL;
          return;
        }
    }
}

static bool
find_group (const char *text, const char *name, uint32_t *ret)
{
  cleanup_free char *copy = xstrdup (text);
  char *save = NULL;
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[4];
      uint32_t g;
      if (line[0] == '#' || split_fields (line, f, 4) < 3 || !parse_id (f[2], &g))
        continue;
      if (strcmp (f[0], name) == 0)
        {
          *ret = g;
          return true;
        }
    }
  return false;
}

static void
member_groups (const char *text, const char *user, uint32_t primary, struct taskdef_user *u)
{
  cleanup_free char *copy = xstrdup (text);
  char *save = NULL;
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[4], *msave = NULL;
      uint32_t g;
      if (line[0] == '#' || split_fields (line, f, 4) < 4 || !parse_id (f[2], &g))
        continue;
      for (char *m = strtok_r (f[3], ",", &msave); m; m = strtok_r (NULL, ",", &msave))
        if (strcmp (m, user) == 0 && g != primary)
          {
            bool dup = false;
            for (size_t i = 0; i < u->n_additional_gids; i++)
              dup |= u->additional_gids[i] == g;
            if (!dup && u->n_additional_gids < 64)
              {
                u->additional_gids
                    = xrealloc (u->additional_gids, (u->n_additional_gids + 1) * sizeof (uint32_t));
                u->additional_gids[u->n_additional_gids++] = g;
              }
            break;
          }
    }
}

int
taskdef_resolve_user (int rootfd, const char *spec, const char *what, struct taskdef_user *ret,
                      berth_err *err)
{
  cleanup_free char *passwd = NULL;
  cleanup_free char *group = NULL;
  cleanup_free char *user_part = NULL;
  const char *colon, *group_part = NULL;
  struct passwd_entry pw = { 0 };
  struct taskdef_user u = { 0 };
  uint32_t id;
  int r;

  if (spec == NULL || *spec == '\0')
    spec = "0";
  colon = strchr (spec, ':');
  user_part = colon ? xstrndup (spec, (size_t)(colon - spec)) : xstrdup (spec);
  if (colon)
    group_part = colon + 1;
  if (*user_part == '\0' || (group_part && *group_part == '\0'))
    return berth_err_set (err, 0, "%s: `%s` is not user, user:group, uid or uid:gid", what, spec);

  r = read_etc (rootfd, "/etc/passwd", &passwd, err);
  if (r < 0)
    return r;
  if (parse_id (user_part, &id))
    {
      find_passwd (passwd, NULL, &id, &pw);
      u.uid = id;
      u.gid = pw.found ? pw.gid : 0;
    }
  else
    {
      find_passwd (passwd, user_part, NULL, &pw);
      if (!pw.found)
        return berth_err_set (err, 0, "%s: no user `%s` in the image's /etc/passwd", what,
                              user_part);
      u.uid = pw.uid;
      u.gid = pw.gid;
    }
  r = read_etc (rootfd, "/etc/group", &group, err);
  if (r < 0)
    {
      free (pw.name);
      free (pw.home);
      return r;
    }
  if (group_part)
    {
      if (!parse_id (group_part, &u.gid) && !find_group (group, group_part, &u.gid))
        {
          free (pw.name);
          free (pw.home);
          return berth_err_set (err, 0, "%s: no group `%s` in the image's /etc/group", what,
                                group_part);
        }
    }
  if (pw.found)
    {
      member_groups (group, pw.name, u.gid, &u);
      u.home = steal_pointer (&pw.home);
      free (pw.name);
    }
  *ret = u;
  return 0;
}

void
taskdef_user_clear (struct taskdef_user *u)
{
  free (u->additional_gids);
  free (u->home);
  memset (u, 0, sizeof *u);
}

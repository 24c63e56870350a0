/* Device rules: the meaning of an ordered OCI rule list (per access, the last matching rule
 * decides; no match denies), its translation into v1 devices.allow/devices.deny writes (with a
 * model of the kernel's exception list that refuses what v1 cannot express), and the v2 eBPF
 * program from ebpf/. */
#include "cgroups/internal.h"
#include "ebpf/ebpf.h"

/* ------------------------------------------------------------------ the reference meaning */

static bool
rule_matches (const struct cg_dev_rule *r, char type, uint32_t major, uint32_t minor)
{
  return (r->type == 'a' || r->type == type) && (r->major < 0 || (uint32_t)r->major == major)
         && (r->minor < 0 || (uint32_t)r->minor == minor);
}

bool
cg_devices_allowed (const struct cg_dev_rule *rules, size_t n, char type, uint32_t major,
                    uint32_t minor, unsigned access)
{
  for (unsigned bit = 1; bit <= CG_ACC_M; bit <<= 1)
    {
      bool allowed = false;
      if (!(access & bit))
        continue;
      for (size_t i = n; i-- > 0;)
        if ((rules[i].access & bit) && rule_matches (&rules[i], type, major, minor))
          {
            allowed = rules[i].allow;
            break;
          }
      if (!allowed)
        return false;
    }
  return true;
}

/* ------------------------------------------------------------------ v1 model */

struct v1_ex
{
  char type; /* 'b' or 'c' */
  int64_t major, minor;
  unsigned access;
};

struct v1_state
{
  bool allow_default;
  struct v1_ex *ex;
  size_t n;
};

static void
v1_reset (struct v1_state *s, bool allow_default)
{
  free (s->ex);
  s->ex = NULL;
  s->n = 0;
  s->allow_default = allow_default;
}

static struct v1_ex *
v1_find (struct v1_state *s, char type, int64_t major, int64_t minor)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->ex[i].type == type && s->ex[i].major == major && s->ex[i].minor == minor)
      return &s->ex[i];
  return NULL;
}

/* What the kernel does with one write to devices.allow (allow) or devices.deny: a write in
 * the default's direction removes access bits from the exception with exactly that key; a
 * write in the other direction adds (merges) an exception. */
static void
v1_write (struct v1_state *s, bool allow, char type, int64_t major, int64_t minor, unsigned access)
{
  struct v1_ex *e = v1_find (s, type, major, minor);
  if (allow != s->allow_default)
    {
      if (e)
        e->access |= access;
      else
        {
          s->ex = xrealloc (s->ex, (s->n + 1) * sizeof *s->ex);
          s->ex[s->n++] = (struct v1_ex){ type, major, minor, access };
        }
    }
  else if (e)
    {
      e->access &= ~access;
      if (e->access == 0)
        {
          *e = s->ex[s->n - 1];
          s->n--;
        }
    }
}

static bool
v1_allowed (const struct v1_state *s, char type, uint32_t major, uint32_t minor, unsigned bit)
{
  for (size_t i = 0; i < s->n; i++)
    {
      const struct v1_ex *e = &s->ex[i];
      if (e->type == type && (e->major < 0 || (uint32_t)e->major == major)
          && (e->minor < 0 || (uint32_t)e->minor == minor) && (e->access & bit))
        return !s->allow_default;
    }
  return s->allow_default;
}

static bool
is_all_rule (const struct cg_dev_rule *r)
{
  return r->type == 'a' && r->major < 0 && r->minor < 0
         && r->access == (CG_ACC_R | CG_ACC_W | CG_ACC_M);
}

static void
access_str (unsigned a, char buf[4])
{
  size_t i = 0;
  if (a & CG_ACC_R)
    buf[i++] = 'r';
  if (a & CG_ACC_W)
    buf[i++] = 'w';
  if (a & CG_ACC_M)
    buf[i++] = 'm';
  buf[i] = '\0';
}

static char *
ex_line (char type, int64_t major, int64_t minor, unsigned access)
{
  char acc[4], ma[24], mi[24];
  access_str (access, acc);
  if (major < 0)
    snprintf (ma, sizeof ma, "*");
  else
    snprintf (ma, sizeof ma, "%" PRId64, major);
  if (minor < 0)
    snprintf (mi, sizeof mi, "*");
  else
    snprintf (mi, sizeof mi, "%" PRId64, minor);
  return xasprintf ("%c %s:%s %s", type, ma, mi, acc);
}

/* Runs rules through the model; lines (when not NULL) receives "allow:<x>"/"deny:<x>". */
static void
v1_translate (const struct cg_dev_rule *rules, size_t n, struct v1_state *s, char ***lines)
{
  size_t start = 0;

  v1_reset (s, false);
  if (n > 0 && is_all_rule (&rules[0]))
    {
      v1_reset (s, rules[0].allow);
      start = 1;
    }
  if (lines)
    strv_append (lines, s->allow_default ? "allow:a" : "deny:a");
  for (size_t i = start; i < n; i++)
    {
      const struct cg_dev_rule *r = &rules[i];
      const char types[2] = { r->type == 'a' ? 'b' : r->type, 'c' };
      size_t nt = r->type == 'a' ? 2 : 1;

      if (is_all_rule (r))
        {
          v1_reset (s, r->allow);
          if (lines)
            strv_append (lines, r->allow ? "allow:a" : "deny:a");
          continue;
        }
      /* v1 reads any "a ..." write as "all devices": a narrower "a" rule becomes b and c. */
      for (size_t t = 0; t < nt; t++)
        {
          v1_write (s, r->allow, types[t], r->major, r->minor, r->access);
          if (lines)
            {
              cleanup_free char *x = ex_line (types[t], r->major, r->minor, r->access);
              cleanup_free char *l = xasprintf ("%s:%s", r->allow ? "allow" : "deny", x);
              strv_append (lines, l);
            }
        }
    }
}

static void
add_num (int64_t **v, size_t *n, int64_t x)
{
  if (x < 0)
    return;
  for (size_t i = 0; i < *n; i++)
    if ((*v)[i] == x)
      return;
  *v = xrealloc (*v, (*n + 1) * sizeof **v);
  (*v)[(*n)++] = x;
}

static int64_t
fresh_num (const int64_t *v, size_t n)
{
  int64_t f = 1;
  for (bool again = true; again;)
    {
      again = false;
      for (size_t i = 0; i < n; i++)
        if (v[i] == f)
          {
            f++;
            again = true;
          }
    }
  return f;
}

/* Does the model agree with the reference meaning on every distinguishable device? The
 * numbers the rules name, plus one they do not, cover every case a rule can tell apart. */
static bool
v1_faithful (const struct cg_dev_rule *rules, size_t n, const struct v1_state *s)
{
  cleanup_free int64_t *ma = NULL, *mi = NULL;
  size_t nma = 0, nmi = 0;
  bool ok = true;

  for (size_t i = 0; i < n; i++)
    {
      add_num (&ma, &nma, rules[i].major);
      add_num (&mi, &nmi, rules[i].minor);
    }
  add_num (&ma, &nma, fresh_num (ma, nma));
  add_num (&mi, &nmi, fresh_num (mi, nmi));
  for (int t = 0; t < 2 && ok; t++)
    for (size_t a = 0; a < nma && ok; a++)
      for (size_t b = 0; b < nmi && ok; b++)
        for (unsigned bit = 1; bit <= CG_ACC_M && ok; bit <<= 1)
          ok = v1_allowed (s, "bc"[t], (uint32_t)ma[a], (uint32_t)mi[b], bit)
               == cg_devices_allowed (rules, n, "bc"[t], (uint32_t)ma[a], (uint32_t)mi[b], bit);
  return ok;
}

static int
v1_check (const struct cg_dev_rule *rules, size_t n, const char *field, struct v1_state *s,
          char ***lines, berth_err *err)
{
  v1_translate (rules, n, s, lines);
  if (v1_faithful (rules, n, s))
    return 0;
  /* Name the first rule from which v1 cannot follow. */
  for (size_t j = 1; j <= n; j++)
    {
      struct v1_state p = { 0 };
      bool ok;
      v1_translate (rules, j, &p, NULL);
      ok = v1_faithful (rules, j, &p);
      v1_reset (&p, false);
      if (!ok)
        return berth_err_set (err, 0,
                              "%s[%zu]: cgroup v1 cannot express this rule after the earlier "
                              "ones (v1 can only add or remove whole exceptions: a rule that "
                              "takes back part of an earlier wildcard rule has no effect there)",
                              field, j - 1);
    }
  return berth_err_set (err, 0, "%s: cgroup v1 cannot express these rules", field);
}

int
cg_devices_v1_lines (const struct cg_dev_rule *rules, size_t n, const char *field, char ***ret,
                     berth_err *err)
{
  struct v1_state s = { 0 };
  char **lines = xzalloc (sizeof (char *));
  int q = v1_check (rules, n, field, &s, &lines, err);
  v1_reset (&s, false);
  if (q < 0)
    {
      strv_free (lines);
      return q;
    }
  *ret = lines;
  return 0;
}

/* devices.list: "a *:* rwm" alone in allow-default mode (exceptions not shown), else the
 * exceptions of deny-default mode. */
static int
v1_read_list (int dfd, struct v1_state *s, berth_err *err)
{
  cleanup_free char *text = NULL;
  char *save = NULL;
  int q = berth_read_file_at (dfd, "devices.list", 1 << 20, &text, NULL, err);
  if (q < 0)
    return q;
  v1_reset (s, false);
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char type, ma[24], mi[24], acc[8];
      int64_t major = -1, minor = -1;
      unsigned a = 0;
      if (sscanf (line, "%c %23[^:]:%23s %7s", &type, ma, mi, acc) != 4)
        return berth_err_set (err, 0, "devices.list: cannot parse `%s`", line);
      if (type == 'a')
        {
          v1_reset (s, true);
          return 0;
        }
      if ((strcmp (ma, "*") != 0 && berth_parse_int64 (ma, &major) < 0)
          || (strcmp (mi, "*") != 0 && berth_parse_int64 (mi, &minor) < 0))
        return berth_err_set (err, 0, "devices.list: cannot parse `%s`", line);
      for (char *p = acc; *p; p++)
        a |= *p == 'r' ? CG_ACC_R : *p == 'w' ? CG_ACC_W : *p == 'm' ? CG_ACC_M : 0;
      v1_write (s, true, type, major, minor, a);
    }
  return 0;
}

static bool
v1_same (struct v1_state *a, struct v1_state *b)
{
  if (a->allow_default || b->allow_default || a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    {
      struct v1_ex *e = v1_find (b, a->ex[i].type, a->ex[i].major, a->ex[i].minor);
      if (e == NULL || e->access != a->ex[i].access)
        return false;
    }
  return true;
}

static int
v1_write_line (int dfd, bool allow, const char *rule, const char *field, berth_err *err)
{
  return cg_write (dfd, allow ? "devices.allow" : "devices.deny", rule, field, err);
}

static int
devices_apply_v1 (const struct cgroups_resources *r, int dfd, berth_err *err)
{
  cleanup_free char *field = cg_field (r, "devices");
  struct v1_state target = { 0 }, cur = { 0 };
  cleanup_strv char **lines = xzalloc (sizeof (char *));
  int q;

  q = v1_check (r->devices, r->n_devices, field, &target, &lines, err);
  if (q < 0)
    goto out;
  q = v1_read_list (dfd, &cur, err);
  if (q < 0)
    goto out;

  if (!target.allow_default && !cur.allow_default)
    {
      /* Both deny by default: add what is missing first, then take back what is extra, so a
       * running container never loses, even for a moment, a device it keeps. */
      for (size_t i = 0; i < target.n; i++)
        {
          struct v1_ex *t = &target.ex[i], *c = v1_find (&cur, t->type, t->major, t->minor);
          unsigned missing = t->access & ~(c ? c->access : 0);
          if (missing)
            {
              cleanup_free char *l = ex_line (t->type, t->major, t->minor, missing);
              if ((q = v1_write_line (dfd, true, l, field, err)) < 0)
                goto out;
            }
        }
      for (size_t i = 0; i < cur.n; i++)
        {
          struct v1_ex *c = &cur.ex[i], *t = v1_find (&target, c->type, c->major, c->minor);
          unsigned extra = c->access & ~(t ? t->access : 0);
          if (extra)
            {
              cleanup_free char *l = ex_line (c->type, c->major, c->minor, extra);
              if ((q = v1_write_line (dfd, false, l, field, err)) < 0)
                goto out;
            }
        }
    }
  else
    for (char **l = lines; *l; l++)
      {
        bool allow = str_has_prefix (*l, "allow:");
        if ((q = v1_write_line (dfd, allow, strchr (*l, ':') + 1, field, err)) < 0)
          goto out;
      }

  if (!target.allow_default)
    {
      q = v1_read_list (dfd, &cur, err);
      if (q < 0)
        goto out;
      if (!v1_same (&target, &cur))
        {
          q = berth_err_set (err, 0,
                             "%s: the kernel holds a different device list than written (does "
                             "the parent cgroup allow these devices?)",
                             field);
          goto out;
        }
    }
  q = 0;
out:
  v1_reset (&target, false);
  v1_reset (&cur, false);
  return q;
}

static int
devices_apply_v2 (struct cgroups_cgroup *cg, const struct cgroups_resources *r, berth_err *err)
{
  cleanup_free struct ebpf_device_rule *rules = xzalloc ((r->n_devices + 1) * sizeof *rules);
  cleanup_free char *field = cg_field (r, "devices");
  int q;

  if (cg->v2_fd < 0)
    return berth_err_set (err, 0, "%s: no devices controller and no cgroup v2 directory", field);
  if (!ebpf_supported ())
    return berth_err_set (err, ENOTSUP,
                          "%s: cannot be honoured: berth was built without eBPF, which cgroup v2 "
                          "needs for device rules",
                          field);
  for (size_t i = 0; i < r->n_devices; i++)
    {
      const struct cg_dev_rule *d = &r->devices[i];
      rules[i].allow = d->allow;
      rules[i].type = d->type;
      rules[i].major = d->major;
      rules[i].minor = d->minor;
      rules[i].access = (d->access & CG_ACC_R ? EBPF_DEV_READ : 0)
                        | (d->access & CG_ACC_W ? EBPF_DEV_WRITE : 0)
                        | (d->access & CG_ACC_M ? EBPF_DEV_MKNOD : 0);
    }
  q = ebpf_devices_install (cg->v2_fd, rules, r->n_devices, err);
  if (q < 0)
    return berth_err_wrap (err, "%s", field);
  return 0;
}

int
cg_devices_apply (struct cgroups_cgroup *cg, const struct cgroups_resources *r, int v1_fd,
                  berth_err *err)
{
  if (v1_fd >= 0)
    return devices_apply_v1 (r, v1_fd, err);
  return devices_apply_v2 (cg, r, err);
}

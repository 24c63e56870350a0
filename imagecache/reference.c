/* Image references, normalised the way Docker does it (distribution/reference): the
 * default registry docker.io, "library/" for its official images, the default tag
 * "latest", and the grammar of hosts, path components, tags and digests. */
#include "internal.h"

#include <ctype.h>

#define DEFAULT_REGISTRY        "docker.io"
#define LEGACY_DEFAULT_REGISTRY "index.docker.io"
#define NAME_TOTAL_MAX          255

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+ */
static bool
path_component_valid (const char *s, size_t n)
{
  size_t i = 0;
  if (n == 0 || !is_lower_alnum (s[0]) || !is_lower_alnum (s[n - 1]))
    return false;
  while (i < n)
    {
      if (is_lower_alnum (s[i]))
        {
          i++;
          continue;
        }
      /* a separator, then an alphanumeric must follow */
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
      if (i >= n || !is_lower_alnum (s[i]))
        return false;
    }
  return true;
}

/* domain := component ('.' component)* (':' port)?, component :=
 * [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? IPv6 literals in brackets are accepted as well
 * ("[::1]:5000"). */
static bool
domain_valid (const char *s, size_t n)
{
  size_t i = 0, host_end = n;
  const char *colon;

  if (n == 0)
    return false;
  if (s[0] == '[')
    {
      const char *close = memchr (s, ']', n);
      if (close == NULL || close == s + 1)
        return false;
      for (const char *p = s + 1; p < close; p++)
        if (!isxdigit ((unsigned char)*p) && *p != ':' && *p != '.')
          return false;
      i = (size_t)(close - s) + 1;
      host_end = i;
      if (i == n)
        return true;
      if (s[i] != ':')
        return false;
    }
  else
    {
      colon = memchr (s, ':', n);
      if (colon)
        host_end = (size_t)(colon - s);
      /* host components */
      size_t start = 0;
      for (size_t j = 0; j <= host_end; j++)
        {
          if (j < host_end && s[j] != '.')
            {
              if (!isalnum ((unsigned char)s[j]) && s[j] != '-')
                return false;
              continue;
            }
          if (j == start || s[start] == '-' || s[j - 1] == '-')
            return false;
          start = j + 1;
        }
      i = host_end;
      if (i == n)
        return true;
    }
  /* ':' port */
  i++;
  if (i >= n || n - i > 5)
    return false;
  for (; i < n; i++)
    if (!isdigit ((unsigned char)s[i]))
      return false;
  return true;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool
tag_valid (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 128)
    return false;
  if (!isalnum ((unsigned char)s[0]) && s[0] != '_')
    return false;
  for (size_t i = 1; i < n; i++)
    if (!isalnum ((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

static bool
is_hex64 (const char *s)
{
  if (strlen (s) != 64)
    return false;
  for (; *s; s++)
    if (!isxdigit ((unsigned char)*s))
      return false;
  return true;
}

void
imagecache_ref_clear (struct imagecache_ref *ref)
{
  if (ref == NULL)
    return;
  free (ref->registry);
  free (ref->repository);
  free (ref->tag);
  free (ref->digest);
  free (ref->name);
  memset (ref, 0, sizeof *ref);
}

int
imagecache_ref_parse (const char *s, struct imagecache_ref *ret, berth_err *err)
{
  cleanup_free char *buf = NULL, *registry = NULL, *repository = NULL, *tag = NULL, *digest = NULL;
  char *at, *rest, *slash, *colon, *p;
  size_t n;

  if (s == NULL || *s == '\0')
    return berth_err_set (err, 0, "invalid reference: empty");
  n = strlen (s);
  if (n > 4096)
    return berth_err_set (err, 0, "invalid reference: %zu bytes long", n);
  if (is_hex64 (s))
    return berth_err_set (
        err, 0, "invalid reference `%s`: a 64-character hex string is an image id, not a name", s);
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
      return berth_err_set (err, 0,
                            "invalid reference `%s`: contains a space or a control character", s);

  buf = xstrdup (s);
  at = strchr (buf, '@');
  if (at)
    {
      *at = '\0';
      if (ic_digest_validate (at + 1, NULL) < 0)
        {
          if (!str_has_prefix (at + 1, "sha256:"))
            return berth_err_set (
                err, 0,
                "invalid reference `%s`: unsupported digest algorithm in `%s` (only sha256)", s,
                at + 1);
          return berth_err_set (
              err, 0, "invalid reference `%s`: bad digest `%s` (want sha256:<64 lowercase hex>)", s,
              at + 1);
        }
      digest = xstrdup (at + 1);
    }

  /* split off the registry: the first component, if it looks like a host */
  slash = strchr (buf, '/');
  if (slash == NULL)
    rest = buf;
  else
    {
      size_t dn = (size_t)(slash - buf);
      bool looks_like_host = memchr (buf, '.', dn) || memchr (buf, ':', dn)
                             || (dn == 9 && memcmp (buf, "localhost", 9) == 0);
      for (size_t i = 0; i < dn && !looks_like_host; i++)
        if (isupper ((unsigned char)buf[i]))
          looks_like_host = true;
      if (looks_like_host)
        {
          if (!domain_valid (buf, dn))
            return berth_err_set (err, 0, "invalid reference `%s`: bad registry host `%.*s`", s,
                                  (int)dn, buf);
          registry = xstrndup (buf, dn);
          rest = slash + 1;
        }
      else
        rest = buf;
    }
  if (registry == NULL || strcmp (registry, LEGACY_DEFAULT_REGISTRY) == 0)
    {
      free (registry);
      registry = xstrdup (DEFAULT_REGISTRY);
    }

  /* a tag is after the last ':' that follows the last '/' */
  p = strrchr (rest, '/');
  colon = strrchr (p ? p : rest, ':');
  if (colon)
    {
      *colon = '\0';
      if (!tag_valid (colon + 1))
        return berth_err_set (err, 0, "invalid reference `%s`: bad tag `%s`", s, colon + 1);
      tag = xstrdup (colon + 1);
    }

  if (*rest == '\0')
    return berth_err_set (err, 0, "invalid reference `%s`: no repository name", s);
  for (char *c = rest; *c;)
    {
      char *end = strchr (c, '/');
      size_t cn = end ? (size_t)(end - c) : strlen (c);
      for (size_t i = 0; i < cn; i++)
        if (isupper ((unsigned char)c[i]))
          return berth_err_set (err, 0, "invalid reference `%s`: repository name must be lowercase",
                                s);
      if (!path_component_valid (c, cn))
        return berth_err_set (
            err, 0, "invalid reference `%s`: bad repository path component `%.*s`", s, (int)cn, c);
      if (!end)
        break;
      c = end + 1;
      if (*c == '\0')
        return berth_err_set (err, 0, "invalid reference `%s`: repository name ends with `/`", s);
    }

  if (strcmp (registry, DEFAULT_REGISTRY) == 0 && strchr (rest, '/') == NULL)
    repository = xasprintf ("library/%s", rest);
  else
    repository = xstrdup (rest);
  if (strlen (registry) + 1 + strlen (repository) > NAME_TOTAL_MAX)
    return berth_err_set (err, 0,
                          "invalid reference `%s`: repository name longer than %d characters", s,
                          NAME_TOTAL_MAX);
  if (tag == NULL && digest == NULL)
    tag = xstrdup ("latest");

  ret->name = xasprintf ("%s/%s%s%s%s%s", registry, repository, tag ? ":" : "", tag ? tag : "",
                         digest ? "@" : "", digest ? digest : "");
  ret->registry = steal_pointer (&registry);
  ret->repository = steal_pointer (&repository);
  ret->tag = steal_pointer (&tag);
  ret->digest = steal_pointer (&digest);
  return 0;
}

/* The form Docker prints: docker.io/library/busybox:latest -> busybox:latest. */
char *
ic_ref_familiar (const char *name)
{
  const char *p = name;
  if (str_has_prefix (p, DEFAULT_REGISTRY "/"))
    {
      p += strlen (DEFAULT_REGISTRY "/");
      if (str_has_prefix (p, "library/"))
        p += strlen ("library/");
    }
  return xstrdup (p);
}

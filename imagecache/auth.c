/* Registry authentication: WWW-Authenticate challenges, basic auth, and bearer tokens
 * from the registry's token server (anonymous, with credentials, or with an OAuth2
 * refresh token), cached per registry and scope until they expire. */
#include "internal.h"

#include <ctype.h>
#include <curl/curl.h>

struct ic_challenge
{
  char *registry;
  struct ic_auth_challenge c;
  struct ic_challenge *next;
};

struct ic_token
{
  char *key; /* registry "|" scope */
  char *token;
  uint64_t expires_ns; /* CLOCK_MONOTONIC */
  struct ic_token *next;
};

#define TOKEN_MIN_LIFETIME_S 60 /* the token spec's default, and Docker's floor */
#define TOKEN_EARLY_NS       10000000000ull

void
ic_auth_challenge_clear (struct ic_auth_challenge *c)
{
  free (c->scheme);
  free (c->realm);
  free (c->service);
  free (c->scope);
  memset (c, 0, sizeof *c);
}

static void
skip_space (const char **p)
{
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

static char *
read_token (const char **p)
{
  const char *s = *p;
  while (**p && !strchr (" \t,=\"", **p))
    (*p)++;
  return *p > s ? xstrndup (s, (size_t)(*p - s)) : NULL;
}

static char *
read_quoted (const char **p)
{
  size_t cap = 64, n = 0;
  char *out = xmalloc (cap);
  (*p)++; /* opening quote */
  while (**p && **p != '"')
    {
      if (**p == '\\' && (*p)[1])
        (*p)++;
      if (n + 2 > cap)
        out = xrealloc (out, cap *= 2);
      out[n++] = *(*p)++;
    }
  if (**p == '"')
    (*p)++;
  out[n] = '\0';
  return out;
}

int
ic_auth_parse_challenge (const char *header, struct ic_auth_challenge *ret)
{
  struct ic_auth_challenge c = { 0 };
  const char *p = header;

  skip_space (&p);
  c.scheme = read_token (&p);
  if (c.scheme == NULL)
    return -EINVAL;
  for (char *q = c.scheme; *q; q++)
    *q = (char)tolower ((unsigned char)*q);
  for (;;)
    {
      cleanup_free char *name = NULL;
      char *value = NULL;
      const char *save;
      skip_space (&p);
      while (*p == ',' || *p == ' ')
        p++;
      if (*p == '\0')
        break;
      save = p;
      name = read_token (&p);
      skip_space (&p);
      if (name == NULL || *p != '=')
        {
          /* another challenge starts here (or junk): keep the first one */
          (void)save;
          break;
        }
      p++;
      skip_space (&p);
      value = *p == '"' ? read_quoted (&p) : read_token (&p);
      if (value == NULL)
        value = xstrdup ("");
      if (strcasecmp (name, "realm") == 0)
        free (c.realm), c.realm = value;
      else if (strcasecmp (name, "service") == 0)
        free (c.service), c.service = value;
      else if (strcasecmp (name, "scope") == 0)
        free (c.scope), c.scope = value;
      else
        free (value);
    }
  if (strcmp (c.scheme, "bearer") == 0 && (c.realm == NULL || *c.realm == '\0'))
    {
      ic_auth_challenge_clear (&c);
      return -EINVAL;
    }
  *ret = c;
  return 0;
}

void
ic_auth_cache_free (struct imagecache_store *s)
{
  while (s->challenges)
    {
      struct ic_challenge *c = s->challenges;
      s->challenges = c->next;
      free (c->registry);
      ic_auth_challenge_clear (&c->c);
      free (c);
    }
  while (s->tokens)
    {
      struct ic_token *t = s->tokens;
      s->tokens = t->next;
      free (t->key);
      explicit_bzero (t->token, strlen (t->token));
      free (t->token);
      free (t);
    }
}

/* under s->mu */
static struct ic_challenge *
find_challenge (struct imagecache_store *s, const char *registry)
{
  for (struct ic_challenge *c = s->challenges; c; c = c->next)
    if (strcmp (c->registry, registry) == 0)
      return c;
  return NULL;
}

static struct ic_token *
find_token (struct imagecache_store *s, const char *key)
{
  for (struct ic_token *t = s->tokens; t; t = t->next)
    if (strcmp (t->key, key) == 0)
      return t;
  return NULL;
}

static void
store_token (struct imagecache_store *s, const char *key, const char *token, uint64_t expires_ns)
{
  struct ic_token *t;
  pthread_mutex_lock (&s->mu);
  t = find_token (s, key);
  if (t == NULL)
    {
      t = xzalloc (sizeof *t);
      t->key = xstrdup (key);
      t->next = s->tokens;
      s->tokens = t;
    }
  else
    {
      explicit_bzero (t->token, strlen (t->token));
      free (t->token);
    }
  t->token = xstrdup (token);
  t->expires_ns = expires_ns;
  pthread_mutex_unlock (&s->mu);
}

static void
drop_token (struct imagecache_store *s, const char *key)
{
  pthread_mutex_lock (&s->mu);
  struct ic_token *t = find_token (s, key);
  if (t)
    t->expires_ns = 0;
  pthread_mutex_unlock (&s->mu);
}

static char *
basic_header (const struct ic_cred *cred)
{
  cleanup_free char *up = xasprintf ("%s:%s", cred->username, cred->password ? cred->password : "");
  cleanup_free char *b = ic_base64_encode (up, strlen (up));
  char *h = xasprintf ("Basic %s", b);
  explicit_bzero (up, strlen (up));
  return h;
}

static char *
url_escape (const char *s)
{
  char *e = curl_easy_escape (NULL, s, 0);
  char *r;
  if (e == NULL)
    abort ();
  r = xstrdup (e);
  curl_free (e);
  return r;
}

/* The host[:port] of an http(s) URL. */
static char *
url_host (const char *url, bool *ret_https)
{
  const char *p = url, *end;
  *ret_https = str_has_prefix (url, "https://");
  if (str_has_prefix (p, "https://"))
    p += 8;
  else if (str_has_prefix (p, "http://"))
    p += 7;
  else
    return NULL;
  end = p + strcspn (p, "/?#");
  return xstrndup (p, (size_t)(end - p));
}

static int
fetch_token (struct ic_registry *reg, const struct ic_auth_challenge *ch, const char *scope,
             char **ret_token, uint64_t *ret_expires, berth_err *err)
{
  struct imagecache_store *s = reg->store;
  struct ic_http_request req = { .method = "GET", .max_body = 1 << 20 };
  struct ic_response resp = { 0 };
  cleanup_free char *url = NULL, *auth = NULL, *form = NULL, *host = NULL;
  cleanup_free char *esc_service = url_escape (ch->service ? ch->service : "");
  cleanup_free char *esc_scope = url_escape (scope);
  cleanup_json json_object *obj = NULL;
  const char *tok = NULL;
  int64_t expires_in = 0;
  bool https;
  int r;

  host = url_host (ch->realm, &https);
  if (host == NULL)
    return berth_err_set (err, 0, "registry %s: token realm `%s` is not an http(s) URL",
                          reg->registry, ch->realm);
  /* Credentials never travel in clear text to a token server that is not as trusted as
   * the registry itself. */
  if (!https && !reg->insecure && !ic_registry_is_insecure (s, host))
    return berth_err_set (
        err, 0,
        "registry %s: token realm `%s` is plain HTTP; list %s in insecure_registries to allow it",
        reg->registry, ch->realm, host);

  if (reg->cred && reg->cred->identity_token)
    {
      cleanup_free char *rt = url_escape (reg->cred->identity_token);
      url = xstrdup (ch->realm);
      form = xasprintf (
          "grant_type=refresh_token&refresh_token=%s&service=%s&scope=%s&client_id=berth", rt,
          esc_service, esc_scope);
      explicit_bzero (rt, strlen (rt));
      req.method = "POST";
      req.post_body = form;
    }
  else
    {
      url = xasprintf ("%s%s%s%s%sscope=%s", ch->realm, strchr (ch->realm, '?') ? "&" : "?",
                       ch->service ? "service=" : "", ch->service ? esc_service : "",
                       ch->service ? "&" : "", esc_scope);
      if (reg->cred && reg->cred->username)
        auth = basic_header (reg->cred);
    }
  req.url = url;
  req.authorization = auth;

  for (unsigned attempt = 0;; attempt++)
    {
      r = ic_http_exchange (s, reg->ctx, &req, &resp, err);
      if (r == 0 && resp.status < 500)
        break;
      if (r < 0 && berth_err_code (err) != EIO)
        goto out;
      if (attempt >= s->cfg.retries)
        {
          if (r == 0)
            {
              cleanup_free char *t = ic_registry_error_text (&resp);
              r = ic_err_code (err, EIO, "token server %s: %ld %s", host, resp.status, t);
            }
          goto out;
        }
      atomic_fetch_add (&reg->ctx->retries, 1);
      if (!ic_ctx_sleep (reg->ctx, (200000000ull << (attempt < 5 ? attempt : 5))))
        {
          r = ic_ctx_stop_error (reg->ctx, err);
          goto out;
        }
    }
  if (resp.status == 401 || resp.status == 403)
    {
      cleanup_free char *t = ic_registry_error_text (&resp);
      r = ic_err_code (err, EACCES, "token server %s refused %s for %s: %ld %s", host,
                       reg->cred ? "the credentials" : "anonymous access", scope, resp.status, t);
      goto out;
    }
  if (resp.status != 200)
    {
      cleanup_free char *t = ic_registry_error_text (&resp);
      r = ic_err_code (err, EIO, "token server %s: %ld %s", host, resp.status, t);
      goto out;
    }
  r = bjson_parse (resp.body ? resp.body : "", resp.body_len, "token response", &obj, err);
  if (r < 0)
    goto out;
  if (json_object_get_type (obj) != json_type_object)
    {
      r = berth_err_set (err, 0, "token server %s: response is not a JSON object", host);
      goto out;
    }
  if ((r = bjson_get_string (obj, "", "token", 0, &tok, err)) < 0)
    goto out;
  if (tok == NULL || *tok == '\0')
    if ((r = bjson_get_string (obj, "", "access_token", 0, &tok, err)) < 0)
      goto out;
  if (tok == NULL || *tok == '\0')
    {
      r = berth_err_set (err, 0, "token server %s: response has no token", host);
      goto out;
    }
  if ((r = bjson_get_int64 (obj, "", "expires_in", 0, INT64_MIN, INT64_MAX, &expires_in, err)) < 0)
    goto out;
  if (expires_in < TOKEN_MIN_LIFETIME_S)
    expires_in = TOKEN_MIN_LIFETIME_S;
  if (expires_in > 86400 * 365)
    expires_in = 86400 * 365;
  *ret_token = xstrdup (tok);
  *ret_expires = berth_now_ns () + (uint64_t)expires_in * 1000000000ull;
  r = 0;
out:
  if (auth)
    explicit_bzero (auth, strlen (auth));
  if (form)
    explicit_bzero (form, strlen (form));
  ic_response_clear (&resp);
  if (r < 0)
    return berth_err_wrap (err, "authenticate to %s", reg->registry);
  return 0;
}

int
ic_auth_header (struct ic_registry *reg, char **ret, berth_err *err)
{
  struct imagecache_store *s = reg->store;
  struct ic_challenge *c;
  struct ic_auth_challenge ch = { 0 };
  cleanup_free char *key = xasprintf ("%s|%s", reg->registry, reg->scope);
  char *token = NULL;
  uint64_t expires;
  int r;

  *ret = NULL;
  pthread_mutex_lock (&s->mu);
  c = find_challenge (s, reg->registry);
  if (c == NULL)
    {
      pthread_mutex_unlock (&s->mu);
      return 0;
    }
  if (strcmp (c->c.scheme, "basic") == 0)
    {
      pthread_mutex_unlock (&s->mu);
      if (reg->cred && reg->cred->username)
        *ret = basic_header (reg->cred);
      return 0;
    }
  if (strcmp (c->c.scheme, "bearer") != 0)
    {
      pthread_mutex_unlock (&s->mu);
      return 0;
    }
  {
    struct ic_token *t = find_token (s, key);
    if (t && t->expires_ns > berth_now_ns () + TOKEN_EARLY_NS)
      {
        *ret = xasprintf ("Bearer %s", t->token);
        pthread_mutex_unlock (&s->mu);
        return 0;
      }
  }
  ch.scheme = xstrdup (c->c.scheme);
  ch.realm = xstrdup (c->c.realm);
  ch.service = xstrdup (c->c.service);
  pthread_mutex_unlock (&s->mu);

  r = fetch_token (reg, &ch, reg->scope, &token, &expires, err);
  ic_auth_challenge_clear (&ch);
  if (r < 0)
    return r;
  store_token (s, key, token, expires);
  *ret = xasprintf ("Bearer %s", token);
  explicit_bzero (token, strlen (token));
  free (token);
  return 0;
}

int
ic_auth_handle_401 (struct ic_registry *reg, const struct ic_response *resp, bool had_auth,
                    berth_err *err)
{
  struct imagecache_store *s = reg->store;
  struct ic_auth_challenge ch = { 0 };
  cleanup_free char *text = ic_registry_error_text (resp);
  cleanup_free char *key = xasprintf ("%s|%s", reg->registry, reg->scope);
  struct ic_challenge *c;

  if (resp->www_authenticate == NULL || ic_auth_parse_challenge (resp->www_authenticate, &ch) < 0)
    return ic_err_code (
        err, EACCES,
        "registry %s: 401 Unauthorized without a usable WWW-Authenticate challenge: %s",
        reg->registry, text);
  if (strcmp (ch.scheme, "basic") != 0 && strcmp (ch.scheme, "bearer") != 0)
    {
      int r = ic_err_code (err, EACCES,
                           "registry %s: authentication scheme `%s` is not supported: %s",
                           reg->registry, ch.scheme, text);
      ic_auth_challenge_clear (&ch);
      return r;
    }
  pthread_mutex_lock (&s->mu);
  c = find_challenge (s, reg->registry);
  if (c == NULL)
    {
      c = xzalloc (sizeof *c);
      c->registry = xstrdup (reg->registry);
      c->next = s->challenges;
      s->challenges = c;
    }
  else
    ic_auth_challenge_clear (&c->c);
  c->c.scheme = xstrdup (ch.scheme);
  c->c.realm = xstrdup (ch.realm);
  c->c.service = xstrdup (ch.service);
  pthread_mutex_unlock (&s->mu);

  if (strcmp (ch.scheme, "basic") == 0)
    {
      ic_auth_challenge_clear (&ch);
      if (reg->cred == NULL || reg->cred->username == NULL)
        return ic_err_code (
            err, EACCES, "registry %s requires credentials and none are configured for it: 401 %s",
            reg->registry, text);
      if (had_auth)
        return ic_err_code (err, EACCES, "registry %s refused the credentials: 401 %s",
                            reg->registry, text);
      return 0;
    }

  /* bearer */
  if (had_auth)
    drop_token (s, key);
  {
    char *token = NULL;
    uint64_t expires;
    int r = fetch_token (reg, &ch, ch.scope ? ch.scope : reg->scope, &token, &expires, err);
    ic_auth_challenge_clear (&ch);
    if (r < 0)
      return r;
    store_token (s, key, token, expires);
    explicit_bzero (token, strlen (token));
    free (token);
  }
  return 0;
}

/* Unit tests: WWW-Authenticate challenges, registry error bodies, base64, sanitising. */
#include "imagecache/internal.h"

#include <criterion/criterion.h>

Test (auth, bearer_challenge_with_commas_in_quotes)
{
  struct ic_auth_challenge c = { 0 };
  cr_assert_eq (ic_auth_parse_challenge (
                    "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
                    "scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\"",
                    &c),
                0);
  cr_assert_str_eq (c.scheme, "bearer");
  cr_assert_str_eq (c.realm, "https://auth.example/token");
  cr_assert_str_eq (c.service, "registry.example");
  cr_assert_str_eq (c.scope, "repository:a/b:pull,push");
  ic_auth_challenge_clear (&c);
}

Test (auth, basic_and_odd_forms)
{
  struct ic_auth_challenge c = { 0 };
  cr_assert_eq (ic_auth_parse_challenge ("Basic realm=\"berth \\\"test\\\"\"", &c), 0);
  cr_assert_str_eq (c.scheme, "basic");
  cr_assert_str_eq (c.realm, "berth \"test\"");
  ic_auth_challenge_clear (&c);
  cr_assert_eq (ic_auth_parse_challenge ("bearer realm=http://t/token, service=s", &c), 0);
  cr_assert_str_eq (c.realm, "http://t/token");
  cr_assert_str_eq (c.service, "s");
  ic_auth_challenge_clear (&c);
  /* a second challenge after the first is ignored */
  cr_assert_eq (ic_auth_parse_challenge ("Bearer realm=\"r\", Basic realm=\"b\"", &c), 0);
  cr_assert_str_eq (c.scheme, "bearer");
  cr_assert_str_eq (c.realm, "r");
  ic_auth_challenge_clear (&c);
  cr_assert_lt (ic_auth_parse_challenge ("Bearer service=\"no realm\"", &c), 0);
  cr_assert_lt (ic_auth_parse_challenge ("", &c), 0);
}

Test (auth, registry_error_text)
{
  struct ic_response r = { 0 };
  char *t;
  r.body = xstrdup ("{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
                    "unknown\",\"detail\":{}}]}");
  r.body_len = strlen (r.body);
  t = ic_registry_error_text (&r);
  cr_assert_str_eq (t, "manifest unknown (MANIFEST_UNKNOWN)");
  free (t);
  free (r.body);
  r.body = xstrdup ("<html>\n\x01oops</html>");
  r.body_len = strlen (r.body);
  t = ic_registry_error_text (&r);
  cr_assert_str_eq (t, "<html> ?oops</html>");
  free (t);
  free (r.body);
  r.body = NULL;
  r.body_len = 0;
  t = ic_registry_error_text (&r);
  cr_assert_str_eq (t, "(no message)");
  free (t);
}

Test (auth, base64_round_trip)
{
  char *e = ic_base64_encode ("user:pa:ss", 10), *d = NULL;
  size_t n;
  cr_assert_str_eq (e, "dXNlcjpwYTpzcw==");
  cr_assert_eq (ic_base64_decode (e, &d, &n), 0);
  cr_assert_eq (n, 10);
  cr_assert_str_eq (d, "user:pa:ss");
  free (d);
  free (e);
  cr_assert_lt (ic_base64_decode ("abc", &d, &n), 0);
  cr_assert_lt (ic_base64_decode ("", &d, &n), 0);
}

Test (auth, sanitize_bounds)
{
  char *s = ic_sanitize ("abcdef", 6, 3);
  cr_assert_str_eq (s, "abc...");
  free (s);
}

Test (auth, lease_ids)
{
  cr_assert_eq (ic_lease_id_validate ("task-1.web:0", NULL), 0);
  cr_assert_lt (ic_lease_id_validate ("../x", NULL), 0);
  cr_assert_lt (ic_lease_id_validate ("a/b", NULL), 0);
  cr_assert_lt (ic_lease_id_validate ("-a", NULL), 0);
  cr_assert_lt (ic_lease_id_validate ("", NULL), 0);
}

Test (policy, names)
{
  enum imagecache_pull_policy p;
  cr_assert_eq (imagecache_pull_policy_parse ("always", &p), 0);
  cr_assert_eq (p, IMAGECACHE_PULL_ALWAYS);
  cr_assert_eq (imagecache_pull_policy_parse ("if-not-present", &p), 0);
  cr_assert_eq (p, IMAGECACHE_PULL_IF_NOT_PRESENT);
  cr_assert_eq (imagecache_pull_policy_parse ("once", &p), 0);
  cr_assert_eq (p, IMAGECACHE_PULL_IF_NOT_PRESENT);
  cr_assert_eq (imagecache_pull_policy_parse ("never", &p), 0);
  cr_assert_eq (p, IMAGECACHE_PULL_NEVER);
  cr_assert_lt (imagecache_pull_policy_parse ("sometimes", &p), 0);
}

/* Unit tests: image reference parsing and Docker's normalisation rules. */
#include "imagecache/internal.h"

#include <criterion/criterion.h>

static void
expect_ref (const char *in, const char *registry, const char *repo, const char *tag,
            const char *digest, const char *name)
{
  struct imagecache_ref r = { 0 };
  cleanup_err berth_err err = NULL;
  cr_assert_eq (imagecache_ref_parse (in, &r, &err), 0, "%s: %s", in, berth_err_msg (&err));
  cr_assert_str_eq (r.registry, registry, "%s", in);
  cr_assert_str_eq (r.repository, repo, "%s", in);
  if (tag)
    cr_assert_str_eq (r.tag, tag, "%s", in);
  else
    cr_assert_null (r.tag, "%s", in);
  if (digest)
    cr_assert_str_eq (r.digest, digest, "%s", in);
  else
    cr_assert_null (r.digest, "%s", in);
  cr_assert_str_eq (r.name, name, "%s", in);
  imagecache_ref_clear (&r);
}

static void
expect_bad (const char *in, const char *fragment)
{
  struct imagecache_ref r = { 0 };
  cleanup_err berth_err err = NULL;
  cr_assert_lt (imagecache_ref_parse (in, &r, &err), 0, "%s parsed", in);
  cr_assert (strstr (berth_err_msg (&err), fragment) != NULL, "%s: %s (want %s)", in,
             berth_err_msg (&err), fragment);
  cr_assert_null (r.name);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test (reference, docker_hub_normalisation)
{
  expect_ref ("busybox", "docker.io", "library/busybox", "latest", NULL,
              "docker.io/library/busybox:latest");
  expect_ref ("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
              "docker.io/library/busybox:1.36");
  expect_ref ("user/app", "docker.io", "user/app", "latest", NULL, "docker.io/user/app:latest");
  expect_ref ("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
              "docker.io/library/busybox:latest");
  expect_ref ("index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x", NULL,
              "docker.io/library/busybox:x");
}

Test (reference, hosts_ports_localhost)
{
  expect_ref ("localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest");
  expect_ref ("localhost:5000/a/b:v1", "localhost:5000", "a/b", "v1", NULL,
              "localhost:5000/a/b:v1");
  expect_ref ("127.0.0.1:17001/busybox", "127.0.0.1:17001", "busybox", "latest", NULL,
              "127.0.0.1:17001/busybox:latest");
  expect_ref ("Registry.Example/x", "Registry.Example", "x", "latest", NULL,
              "Registry.Example/x:latest");
  expect_ref ("[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000/x:latest");
  /* no slash: "localhost:5000" is a repository with a tag, as in Docker */
  expect_ref ("localhost:5000", "docker.io", "library/localhost", "5000", NULL,
              "docker.io/library/localhost:5000");
}

Test (reference, digests)
{
  expect_ref ("busybox@" D64, "docker.io", "library/busybox", NULL, D64,
              "docker.io/library/busybox@" D64);
  expect_ref ("h.io/a:t@" D64, "h.io", "a", "t", D64, "h.io/a:t@" D64);
}

Test (reference, separators)
{
  expect_ref ("a__b/c-d/e.f/g---h", "docker.io", "a__b/c-d/e.f/g---h", "latest", NULL,
              "docker.io/a__b/c-d/e.f/g---h:latest");
}

Test (reference, rejects)
{
  expect_bad ("", "empty");
  expect_bad ("Busybox", "lowercase");
  expect_bad ("h.io/Ab", "lowercase");
  expect_bad ("busybox:", "bad tag");
  expect_bad ("busybox:-x", "bad tag");
  expect_bad ("a//b", "path component");
  expect_bad ("a/", "ends with");
  expect_bad ("_a", "path component");
  expect_bad ("a..b", "path component");
  expect_bad ("a___b", "path component");
  expect_bad ("busybox@sha256:abc", "bad digest");
  expect_bad ("busybox@sha512:abc", "unsupported digest algorithm");
  expect_bad ("busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
              "bad digest");
  expect_bad ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image id");
  expect_bad ("bad host.io/x", "space");
  expect_bad ("-h.io/x", "registry host");
  expect_bad ("h.io:99999999/x", "registry host");
  expect_bad ("h.io/", "no repository");
}

Test (reference, length_limit)
{
  char buf[400];
  memset (buf, 'a', sizeof buf);
  memcpy (buf, "h.io/", 5);
  buf[300] = '\0';
  expect_bad (buf, "longer than 255");
}

Test (reference, familiar)
{
  cleanup_free char *a = ic_ref_familiar ("docker.io/library/busybox:latest");
  cleanup_free char *b = ic_ref_familiar ("docker.io/u/app:1");
  cleanup_free char *c = ic_ref_familiar ("127.0.0.1:5000/x:1");
  cr_assert_str_eq (a, "busybox:latest");
  cr_assert_str_eq (b, "u/app:1");
  cr_assert_str_eq (c, "127.0.0.1:5000/x:1");
}

Test (digest, sha256_and_chain_id)
{
  char d[IC_DIGEST_BUF], c[IC_DIGEST_BUF];
  ic_sha256_buf ("abc", 3, d);
  cr_assert_str_eq (d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  cr_assert_eq (ic_digest_validate (d, NULL), 0);
  ic_chain_id_next (NULL, d, c);
  cr_assert_str_eq (c, d);
  ic_chain_id_next (d, d, c);
  /* sha256("sha256:ba78... sha256:ba78...") computed independently with sha256sum */
  cr_assert_str_eq (c, "sha256:95bbd0d1bf2f6edd073d53e1caa6d4b4778912f6b19bad7a45d56c58e23533bd");
}

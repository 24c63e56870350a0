/* Unit tests: index/manifest/config parsing, platform choice, store config and credentials. */
#include "imagecache/internal.h"

#include <criterion/criterion.h>

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void
expect_err (int r, berth_err *err, const char *fragment)
{
  cr_assert_lt (r, 0);
  cr_assert (strstr (berth_err_msg (err), fragment) != NULL, "got `%s`, want `%s`",
             berth_err_msg (err), fragment);
}

Test (manifest, oci_manifest)
{
  const char *m
      = "{\"schemaVersion\":2,\"mediaType\":\"" IC_MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" IC_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":10},"
        "\"layers\":[{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2
        "\",\"size\":20},{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3 "\",\"size\":30}]}";
  struct ic_manifest man = { 0 };
  cleanup_err berth_err err = NULL;
  enum ic_doc_kind k;
  cr_assert_eq (ic_document_kind (m, strlen (m), NULL, &k, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (k, IC_DOC_MANIFEST);
  cr_assert_eq (ic_manifest_parse (m, strlen (m), &man, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (man.n_layers, 2);
  cr_assert_str_eq (man.config.digest, D1);
  cr_assert_eq (man.layers[1].size, 30);
  ic_manifest_clear (&man);
}

Test (manifest, rejects_with_paths)
{
  struct ic_manifest man = { 0 };
  cleanup_err berth_err err = NULL;
  const char *bad_layer
      = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IC_MT_DOCKER_CONFIG
        "\",\"digest\":\"" D1
        "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-foo\",\"digest\":\"" D2
        "\",\"size\":1}]}";
  expect_err (ic_manifest_parse (bad_layer, strlen (bad_layer), &man, &err), &err,
              "layers[0].mediaType `application/x-foo`");
  const char *bad_digest = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IC_MT_DOCKER_CONFIG
                           "\",\"digest\":\"sha256:xyz\",\"size\":1},\"layers\":[]}";
  expect_err (ic_manifest_parse (bad_digest, strlen (bad_digest), &man, &err), &err,
              "config.digest");
  const char *neg = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" IC_MT_DOCKER_CONFIG
                    "\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}";
  expect_err (ic_manifest_parse (neg, strlen (neg), &man, &err), &err, "config.size");
  const char *artifact = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
                         "vnd.cncf.helm.config.v1+json\","
                         "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
  expect_err (ic_manifest_parse (artifact, strlen (artifact), &man, &err), &err,
              "not a container image config");
  const char *v1 = "{\"schemaVersion\":1,\"config\":{}}";
  expect_err (ic_manifest_parse (v1, strlen (v1), &man, &err), &err, "schemaVersion 1");
  enum ic_doc_kind k;
  const char *s1 = "{\"schemaVersion\":1,\"mediaType\":\"application/"
                   "vnd.docker.distribution.manifest.v1+prettyjws\"}";
  expect_err (ic_document_kind (s1, strlen (s1), NULL, &k, &err), &err, "schema 1");
}

Test (manifest, index_platforms)
{
  const char *idx
      = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" IC_MT_OCI_MANIFEST "\",\"digest\":\"" D1
        "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":"
        "\"v8\"}},"
        "{\"mediaType\":\"" IC_MT_OCI_MANIFEST "\",\"digest\":\"" D2
        "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" IC_MT_OCI_MANIFEST "\",\"digest\":\"" D3
        "\",\"size\":1,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";
  struct ic_index ix = { 0 };
  struct ic_platform p = { 0 };
  cleanup_err berth_err err = NULL;
  enum ic_doc_kind k;
  size_t i;
  cr_assert_eq (ic_document_kind (idx, strlen (idx), NULL, &k, &err), 0);
  cr_assert_eq (k, IC_DOC_INDEX);
  cr_assert_eq (ic_index_parse (idx, strlen (idx), &ix, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (ix.n, 3);

  cr_assert_eq (ic_platform_parse ("linux/x86_64", &p, &err), 0);
  cr_assert_str_eq (p.architecture, "amd64");
  cr_assert_eq (ic_index_select (&ix, &p, &i, &err), 0);
  cr_assert_eq (i, 1);
  ic_platform_clear (&p);

  cr_assert_eq (ic_platform_parse ("linux/arm64", &p, &err), 0);
  cr_assert_eq (ic_index_select (&ix, &p, &i, &err), 0);
  cr_assert_eq (i, 0);
  ic_platform_clear (&p);

  cr_assert_eq (ic_platform_parse ("linux/arm/v7", &p, &err), 0);
  expect_err (ic_index_select (&ix, &p, &i, &err), &err,
              "it has: linux/arm64/v8, linux/amd64, unknown/unknown");
  cr_assert_eq (berth_err_code (&err), ENOENT);
  ic_platform_clear (&p);

  cr_assert_lt (ic_platform_parse ("linux", &p, &err), 0);
  cr_assert_lt (ic_platform_parse ("linux/amd64/v2/x", &p, &err), 0);
  ic_index_clear (&ix);
}

Test (manifest, image_config)
{
  const char *c = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
                  "\"Env\":[\"PATH=/bin\",\"A=b\"],"
                  "\"Entrypoint\":null,\"Cmd\":[],\"WorkingDir\":\"/srv\",\"ExposedPorts\":{\"8080/"
                  "tcp\":{},\"53/udp\":{}},"
                  "\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"b\":\"2\",\"a\":\"1\"},"
                  "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"true\"],\"Interval\":5000000000,"
                  "\"Retries\":3}},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2
                  "\"]},\"history\":[{\"created_by\":\"x\"}]}";
  struct imagecache_image_config cfg = { 0 };
  cleanup_err berth_err err = NULL;
  cr_assert_eq (imagecache_image_config_parse (c, strlen (c), &cfg, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_str_eq (cfg.user, "1000:1000");
  cr_assert_str_eq (cfg.env[1], "A=b");
  cr_assert_null (cfg.entrypoint);
  cr_assert_not_null (cfg.cmd);
  cr_assert_null (cfg.cmd[0]);
  cr_assert_str_eq (cfg.exposed_ports[0], "53/udp");
  cr_assert_str_eq (cfg.labels[0], "a=1");
  cr_assert_str_eq (cfg.stop_signal, "SIGQUIT");
  cr_assert_not_null (cfg.healthcheck);
  cr_assert_eq (cfg.healthcheck->interval_ns, 5000000000);
  cr_assert_eq (cfg.healthcheck->retries, 3);
  cr_assert_eq (strv_len (cfg.diff_ids), 2);
  imagecache_image_config_clear (&cfg);

  const char *bad = "{\"config\":{\"Env\":\"x\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
  expect_err (imagecache_image_config_parse (bad, strlen (bad), &cfg, &err), &err,
              "config.Env: expected an array");
  const char *nodiff = "{\"rootfs\":{\"type\":\"layers\"}}";
  expect_err (imagecache_image_config_parse (nodiff, strlen (nodiff), &cfg, &err), &err,
              "rootfs.diff_ids: required");
  const char *baddiff = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"md5:x\"]}}";
  expect_err (imagecache_image_config_parse (baddiff, strlen (baddiff), &cfg, &err), &err,
              "rootfs.diff_ids[0]");
}

Test (config, parse_and_reject)
{
  struct imagecache_config c;
  cleanup_err berth_err err = NULL;
  json_object *o = NULL;
  const char *ok = "{\"insecure_registries\":[\"127.0.0.1:17001\"],\"max_downloads\":2,\"stall_"
                   "timeout\":\"2s\","
                   "\"max_layer_size\":\"64M\",\"gc\":{\"high_watermark\":90,\"low_watermark\":70,"
                   "\"min_age\":\"0s\"}}";
  imagecache_config_init (&c);
  cr_assert_eq (bjson_parse (ok, strlen (ok), "t", &o, &err), 0);
  cr_assert_eq (imagecache_config_parse_json (o, "images", &c, &err), 0, "%s",
                berth_err_msg (&err));
  json_object_put (o);
  cr_assert_str_eq (c.insecure_registries[0], "127.0.0.1:17001");
  cr_assert_eq (c.max_downloads, 2);
  cr_assert_eq (c.max_downloads_per_pull, 3);
  cr_assert_eq (c.stall_timeout_ns, 2000000000ull);
  cr_assert_eq (c.max_layer_size, 64ull << 20);
  cr_assert_eq (c.gc.low_watermark, 70);
  cr_assert_eq (c.gc.min_age_ns, 0);

  const char *bad[][2] = {
    { "{\"insecure\":[]}", "images.insecure: unknown field" },
    { "{\"max_downloads\":0}", "images.max_downloads: 0 is out of range" },
    { "{\"stall_timeout\":\"soon\"}", "images.stall_timeout: `soon` is not a duration" },
    { "{\"gc\":{\"low_watermark\":95}}", "images.gc.low_watermark: 95 is above" },
    { "{\"gc\":{\"x\":1}}", "images.gc.x: unknown field" },
    { "{\"platform\":\"linux\"}", "images.platform" },
    { "{\"insecure_registries\":[\"http://x\"]}", "images.insecure_registries[0]" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      cr_assert_eq (bjson_parse (bad[i][0], strlen (bad[i][0]), "t", &o, &err), 0);
      expect_err (imagecache_config_parse_json (o, "images", &c, &err), &err, bad[i][1]);
      json_object_put (o);
    }
  imagecache_config_clear (&c);
}

Test (config, credentials)
{
  /* "user:pa:ss" in base64 */
  const char *t = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                  "\"http://127.0.0.1:17001/v2/\":{\"username\":\"u\",\"password\":\"p\"},"
                  "\"tok.example\":{\"identitytoken\":\"refresh\"}}}";
  struct ic_creds c = { 0 };
  cleanup_err berth_err err = NULL;
  const struct ic_cred *e;
  cr_assert_eq (ic_creds_parse (t, strlen (t), "config.json", &c, &err), 0, "%s",
                berth_err_msg (&err));
  e = ic_creds_find (&c, "docker.io");
  cr_assert_not_null (e);
  cr_assert_str_eq (e->username, "user");
  cr_assert_str_eq (e->password, "pa:ss");
  e = ic_creds_find (&c, "127.0.0.1:17001");
  cr_assert_not_null (e);
  cr_assert_str_eq (e->password, "p");
  e = ic_creds_find (&c, "tok.example");
  cr_assert_str_eq (e->identity_token, "refresh");
  cr_assert_null (ic_creds_find (&c, "other.example"));
  ic_creds_free (&c);

  const char *helper = "{\"credsStore\":\"desktop\",\"auths\":{}}";
  expect_err (ic_creds_parse (helper, strlen (helper), "config.json", &c, &err), &err,
              "credsStore");
  const char *bad64 = "{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}";
  expect_err (ic_creds_parse (bad64, strlen (bad64), "config.json", &c, &err), &err,
              "auths.h.auth");
  const char *empty = "{\"auths\":{\"h\":{}}}";
  expect_err (ic_creds_parse (empty, strlen (empty), "config.json", &c, &err), &err,
              "no credentials");
}

/* Unit tests: berthd.conf parsing, typed values, BERTH_* overrides, exact error messages,
 * and that docs/configuration.md documents every key with its default. */
#include "agent/config/config.h"
#include "imagecache/imagecache.h"

#include <criterion/criterion.h>

static char *const no_env[] = { NULL };

static struct berth_config *
parse_ok (const char *text, char *const *env)
{
  cleanup_err berth_err err = NULL;
  struct berth_config *cfg = NULL;
  int r = berth_config_parse (text, strlen (text), "berthd.conf", env ? env : no_env, &cfg, &err);
  cr_assert_eq (r, 0, "%s", berth_err_msg (&err));
  return cfg;
}

static void
parse_fails (const char *text, char *const *env, const char *msg)
{
  cleanup_err berth_err err = NULL;
  struct berth_config *cfg = NULL;
  int r = berth_config_parse (text, strlen (text), "berthd.conf", env ? env : no_env, &cfg, &err);
  cr_assert_lt (r, 0, "parsed but should fail: %s", msg);
  cr_assert_null (cfg);
  cr_assert_str_eq (berth_err_msg (&err), msg);
}

Test (config, defaults)
{
  cleanup_berth_config struct berth_config *c = parse_ok ("", NULL);
  cr_assert_str_eq (c->data_dir, "/var/lib/berth");
  cr_assert_str_eq (c->run_dir, "/run/berth");
  cr_assert_str_eq (c->log_dir, "/var/log/berth");
  cr_assert_str_eq (c->api_socket, "/run/berth/berthd.sock");
  cr_assert_str_eq (c->task_sources[0], "dir:/etc/berth/tasks.d");
  cr_assert_null (c->task_sources[1]);
  cr_assert_str_eq (c->cgroup_root, "");
  cr_assert_str_eq (c->log_level, "info");
  cr_assert_null (c->endpoint_token_file);
  cr_assert_not (c->endpoint_allow_plain_http);
  cr_assert_eq (c->endpoint_max_response_size, 16 << 20);
  cr_assert_eq (c->container_stop_timeout, 30000000000ull);
  cr_assert_eq (c->container_start_timeout, 180000000000ull);
  cr_assert_eq (c->stopped_task_retention, 3 * 3600000000000ull);
  cr_assert_eq (c->container_log_max_size, 10 << 20);
  cr_assert_eq (c->container_log_max_files, 5);
  cr_assert_eq (c->reserved_cpu, 0);
  cr_assert_eq (c->reserved_memory, 0);
  cr_assert_not (c->allow_privileged);
  cr_assert_null (c->allowed_capabilities[0]);
  cr_assert_not (c->allow_ebpf_sidecars);
  cr_assert_not (c->allow_host_network);
  cr_assert_not (c->allow_host_namespaces);
  cr_assert_null (c->allowed_host_paths[0]);
  cr_assert_null (c->allowed_devices[0]);
  cr_assert_str_eq (c->image_pull_policy, "if-not-present");
  cr_assert (str_has_suffix (c->init_path, "/berth-init"));
  cr_assert_str_eq (c->origins[0], "default");
  cr_assert_null (c->unknown_env[0]);
}

Test (config, file_syntax)
{
  cleanup_berth_config struct berth_config *c
      = parse_ok ("# berthd.conf\n"
                  "\n"
                  "   # indented comment\n"
                  "DATA_DIR=/srv/berth\n"
                  "  LOG_LEVEL = debug  \n"
                  "TASK_SOURCES=dir:/etc/berth/tasks.d, https://ctl.example/api ,,\n"
                  "ALLOW_PRIVILEGED=yes\n"
                  "ALLOWED_CAPABILITIES=NET_ADMIN,cap_sys_ptrace\n"
                  "RESERVED_MEMORY=512m\n"
                  "RESERVED_CPU=256\n"
                  "STOPPED_TASK_RETENTION=90m\n"
                  "ENDPOINT_TOKEN_FILE=\"/etc/berth/token\"\n"
                  "ENDPOINT_CA_FILE='/etc/berth/ca.pem'\n"
                  "API_SOCKET=/run/b.sock\r\n"
                  "LOG_DIR=/var/log/$HOME\n"
                  "IMAGE_INSECURE_REGISTRIES=\n"
                  "CONTAINER_LOG_MAX_SIZE=1GiB",
                  NULL);
  cr_assert_str_eq (c->data_dir, "/srv/berth");
  cr_assert_str_eq (c->log_level, "debug");
  cr_assert_str_eq (c->task_sources[0], "dir:/etc/berth/tasks.d");
  cr_assert_str_eq (c->task_sources[1], "https://ctl.example/api");
  cr_assert_null (c->task_sources[2]);
  cr_assert (c->allow_privileged);
  cr_assert_str_eq (c->allowed_capabilities[1], "cap_sys_ptrace");
  cr_assert_eq (c->reserved_memory, 512ull << 20);
  cr_assert_eq (c->reserved_cpu, 256);
  cr_assert_eq (c->stopped_task_retention, 90 * 60000000000ull);
  cr_assert_str_eq (c->endpoint_token_file, "/etc/berth/token");
  cr_assert_str_eq (c->endpoint_ca_file, "/etc/berth/ca.pem");
  cr_assert_str_eq (c->api_socket, "/run/b.sock");
  /* No shell expansion. */
  cr_assert_str_eq (c->log_dir, "/var/log/$HOME");
  cr_assert_null (c->image_insecure_registries[0]);
  cr_assert_eq (c->container_log_max_size, 1ull << 30);
  cr_assert_str_eq (c->origins[0], "berthd.conf:4");
}

Test (config, environment_overrides_file)
{
  char *env[] = { "PATH=/bin",
                  "BERTH_DATA_DIR=/env/berth",
                  "BERTH_ALLOW_HOST_NETWORK=1",
                  "BERTH_DATA_DRI=/typo",
                  "BERTH_TEST_TOP=/x",
                  "BERTH_=x",
                  "XBERTH_LOG_DIR=/no",
                  NULL };
  cleanup_berth_config struct berth_config *c
      = parse_ok ("DATA_DIR=/file/berth\nLOG_DIR=/file/log\n", env);
  cr_assert_str_eq (c->data_dir, "/env/berth");
  cr_assert_str_eq (c->log_dir, "/file/log");
  cr_assert (c->allow_host_network);
  cr_assert_str_eq (c->origins[0], "BERTH_DATA_DIR (environment)");
  cr_assert_str_eq (c->unknown_env[0], "BERTH_DATA_DRI");
  cr_assert_str_eq (c->unknown_env[1], "BERTH_TEST_TOP");
  cr_assert_str_eq (c->unknown_env[2], "BERTH_");
  cr_assert_null (c->unknown_env[3]);
  /* An empty OPTPATH in the environment unsets the file's value. */
  {
    char *env2[] = { "BERTH_ENDPOINT_CA_FILE=", NULL };
    cleanup_berth_config struct berth_config *d = parse_ok ("ENDPOINT_CA_FILE=/ca\n", env2);
    cr_assert_null (d->endpoint_ca_file);
  }
}

Test (config, file_errors)
{
  parse_fails ("# ok\nDATA_DRI=/x\n", NULL, "berthd.conf:2: unknown key `DATA_DRI`");
  parse_fails ("BERTH_DATA_DIR=/x\n", NULL,
               "berthd.conf:1: unknown key `BERTH_DATA_DIR` (write keys without the BERTH_ "
               "prefix in the file)");
  parse_fails ("\n\nexport DATA_DIR\n", NULL, "berthd.conf:3: expected KEY=VALUE");
  parse_fails ("=x\n", NULL, "berthd.conf:1: expected KEY=VALUE");
  parse_fails ("LOG_DIR=/a\nLOG_DIR=/b\n", NULL, "berthd.conf:2: LOG_DIR is set twice");
  parse_fails ("DATA_DIR=var/lib\n", NULL,
               "berthd.conf:1: DATA_DIR: `var/lib` is not an absolute path");
  parse_fails ("DATA_DIR=\n", NULL, "berthd.conf:1: DATA_DIR: `` is not an absolute path");
  parse_fails ("LOG_LEVEL=loud\n", NULL,
               "berthd.conf:1: LOG_LEVEL: `loud` is not one of error,warning,info,debug");
  parse_fails ("ALLOW_PRIVILEGED=maybe\n", NULL,
               "berthd.conf:1: ALLOW_PRIVILEGED: `maybe` is not a boolean (true or false)");
  parse_fails ("CONTAINER_LOG_MAX_FILES=0\n", NULL,
               "berthd.conf:1: CONTAINER_LOG_MAX_FILES: `0` is not a whole number from 1 to 1000");
  parse_fails ("RESERVED_CPU=-1\n", NULL,
               "berthd.conf:1: RESERVED_CPU: `-1` is not a whole number from 0 to 4294967295");
  parse_fails ("RESERVED_MEMORY=lots\n", NULL,
               "berthd.conf:1: RESERVED_MEMORY: `lots` is not a size (4096, 64k, 512m, 2G)");
  parse_fails ("CONTAINER_STOP_TIMEOUT=soon\n", NULL,
               "berthd.conf:1: CONTAINER_STOP_TIMEOUT: `soon` is not a duration (30s, 250ms, 2m, "
               "1h)");
  parse_fails ("TASK_SOURCES=ftp://x\n", NULL,
               "berthd.conf:1: TASK_SOURCES: `ftp://x` is not dir:/ABSOLUTE/PATH or http(s)://URL");
  parse_fails ("TASK_SOURCES=dir:tasks\n", NULL,
               "berthd.conf:1: TASK_SOURCES: `dir:tasks` is not dir:/ABSOLUTE/PATH or "
               "http(s)://URL");
  parse_fails ("TASK_SOURCES= , \n", NULL,
               "berthd.conf:1: TASK_SOURCES: needs at least one source");
  parse_fails ("ALLOWED_CAPABILITIES=NET_ADMIN,FLY\n", NULL,
               "berthd.conf:1: ALLOWED_CAPABILITIES: `FLY` is not a capability name");
  parse_fails ("ALLOWED_CAPABILITIES=12\n", NULL,
               "berthd.conf:1: ALLOWED_CAPABILITIES: `12` is not a capability name");
  parse_fails ("ALLOWED_HOST_PATHS=/srv,data\n", NULL,
               "berthd.conf:1: ALLOWED_HOST_PATHS: `data` is not an absolute path");
  parse_fails ("ALLOWED_DEVICES=/dev/../etc\n", NULL,
               "berthd.conf:1: ALLOWED_DEVICES: `/dev/../etc` is not an absolute path");
  {
    const char t[] = "DATA_DIR=/a\0b\n";
    cleanup_err berth_err err = NULL;
    struct berth_config *cfg = NULL;
    cr_assert_lt (berth_config_parse (t, sizeof t - 1, "berthd.conf", no_env, &cfg, &err), 0);
    cr_assert_str_eq (berth_err_msg (&err), "berthd.conf: contains a NUL byte");
  }
}

Test (config, environment_errors)
{
  char *env[] = { "BERTH_RESERVED_MEMORY=lots", NULL };
  parse_fails ("", env,
               "BERTH_RESERVED_MEMORY (environment): RESERVED_MEMORY: `lots` is not a size (4096, "
               "64k, 512m, 2G)");
}

Test (config, load_file)
{
  char dir[] = "/tmp/berth-config-test.XXXXXX";
  cleanup_free char *path = NULL;
  cleanup_err berth_err err = NULL;
  struct berth_config *c = NULL;
  cr_assert_not_null (mkdtemp (dir));
  path = xasprintf ("%s/berthd.conf", dir);
  /* Missing: defaults unless the file must exist. */
  cr_assert_eq (berth_config_load (path, false, no_env, &c, &err), 0);
  cr_assert_str_eq (c->data_dir, "/var/lib/berth");
  berth_config_free (c);
  c = NULL;
  cr_assert_lt (berth_config_load (path, true, no_env, &c, &err), 0);
  cr_assert_null (c);
  cr_assert (strstr (berth_err_msg (&err), "read configuration") != NULL);
  cr_assert_eq (berth_err_code (&err), ENOENT);
  {
    FILE *f = fopen (path, "w");
    cr_assert_not_null (f);
    fputs ("RUN_DIR=/run/x\nLOG_LEVEL=warning\n", f);
    fclose (f);
  }
  cr_assert_eq (berth_config_load (path, true, no_env, &c, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_str_eq (c->run_dir, "/run/x");
  cr_assert (str_has_suffix (c->origins[1], "/berthd.conf:1"));
  berth_config_free (c);
  c = NULL;
  {
    FILE *f = fopen (path, "w");
    fputs ("RUN_DIR=x\n", f);
    fclose (f);
  }
  cr_assert_lt (berth_config_load (path, true, no_env, &c, &err), 0);
  cr_assert (str_has_suffix (berth_err_msg (&err), "/berthd.conf:1: RUN_DIR: `x` is not an "
                                                   "absolute path"));
  unlink (path);
  rmdir (dir);
}

Test (config, dump_reads_back)
{
  char *env[] = { "BERTH_IMAGE_GC_MIN_AGE=90s", NULL };
  cleanup_berth_config struct berth_config *c = parse_ok (
      "TASK_SOURCES=dir:/a,dir:/b\nRESERVED_MEMORY=1536m\nCONTAINER_START_TIMEOUT=250ms\n"
      "ALLOWED_HOST_PATHS=/srv\n",
      env);
  cleanup_free char *dump = berth_config_dump (c);
  cleanup_berth_config struct berth_config *d = parse_ok (dump, NULL);
  size_t n;
  berth_config_keys (&n);
  cr_assert (strstr (dump, "# berthd.conf:2\nRESERVED_MEMORY=1536MiB\n") != NULL, "%s", dump);
  cr_assert (strstr (dump, "CONTAINER_START_TIMEOUT=250ms\n") != NULL);
  cr_assert (strstr (dump, "# environment\nIMAGE_GC_MIN_AGE=90s\n") == NULL);
  cr_assert (strstr (dump, "# BERTH_IMAGE_GC_MIN_AGE (environment)\nIMAGE_GC_MIN_AGE=90s\n")
             != NULL);
  cr_assert (strstr (dump, "TASK_SOURCES=dir:/a,dir:/b\n") != NULL);
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *a = berth_config_format (c, i);
      cleanup_free char *b = berth_config_format (d, i);
      cr_assert_str_eq (a, b);
    }
}

Test (config, imagecache_defaults_agree)
{
  cleanup_berth_config struct berth_config *c = parse_ok ("", NULL);
  struct imagecache_config want, got;
  imagecache_config_init (&want);
  imagecache_config_init (&got);
  berth_config_imagecache (c, &got);
  cr_assert_eq (got.max_downloads_per_pull, want.max_downloads_per_pull);
  cr_assert_eq (got.max_downloads, want.max_downloads);
  cr_assert_eq (got.max_unpacks, want.max_unpacks);
  cr_assert_eq (got.retries, want.retries);
  cr_assert_eq (got.stall_timeout_ns, want.stall_timeout_ns);
  cr_assert_eq (got.connect_timeout_ns, want.connect_timeout_ns);
  cr_assert_eq (got.max_layer_size, want.max_layer_size);
  cr_assert_eq (got.max_image_size, want.max_image_size);
  cr_assert_eq (got.allow_devices, want.allow_devices);
  cr_assert_eq (got.gc.high_watermark, want.gc.high_watermark);
  cr_assert_eq (got.gc.low_watermark, want.gc.low_watermark);
  cr_assert_eq (got.gc.min_age_ns, want.gc.min_age_ns);
  cr_assert_null (got.ca_file);
  cr_assert_null (got.credentials_file);
  imagecache_config_clear (&want);
  imagecache_config_clear (&got);
}

Test (config, every_key_documented_with_default)
{
  cleanup_free char *doc = NULL;
  cleanup_err berth_err err = NULL;
  size_t len, n;
  const struct berth_config_key *k = berth_config_keys (&n);
  cr_assert_eq (
      berth_read_file_at (AT_FDCWD, BERTH_TEST_DOCS "/configuration.md", 1 << 20, &doc, &len, &err),
      0, "%s", berth_err_msg (&err));
  for (size_t i = 0; i < n; i++)
    {
      /* The row starts "| `KEY` | `default` |" ("(empty)" for an empty default); the
       * build-time libexec defaults are shown as their install location. */
      cleanup_free char *row = str_has_prefix (k[i].default_value, BERTH_LIBEXECDIR)
                                   ? xasprintf ("| `%s` | `", k[i].name)
                               : *k[i].default_value == '\0'
                                   ? xasprintf ("| `%s` | (empty) |", k[i].name)
                                   : xasprintf ("| `%s` | `%s` |", k[i].name, k[i].default_value);
      cr_assert (strstr (doc, row) != NULL, "docs/configuration.md has no row `%s`", row);
    }
}

Test (config, delegated_keys_pass_through_in_order)
{
  char *env[] = { "BERTH_NET_MTU=9000", "BERTH_DATA_DIR=/env", NULL };
  cleanup_berth_config struct berth_config *c
      = parse_ok ("NET_POOLS=10.88.0.0/16\nNET_MODE='ptp'\n", env);
  cr_assert_str_eq (c->delegated[0], "NET_POOLS=10.88.0.0/16");
  cr_assert_str_eq (c->delegated[1], "NET_MODE=ptp");
  cr_assert_str_eq (c->delegated[2], "NET_MTU=9000");
  cr_assert_null (c->delegated[3]);
  cr_assert_str_eq (c->delegated_origins[0], "berthd.conf:1");
  cr_assert_str_eq (c->delegated_origins[2], "BERTH_NET_MTU (environment)");
  /* a delegated key is not an unknown environment variable */
  cr_assert_null (c->unknown_env[0]);
  cr_assert_str_eq (c->data_dir, "/env");
}

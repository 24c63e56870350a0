/* berthd: the node agent. Reads its configuration, opens the image store, the host
 * network, the cgroup root and the outbox, recovers every task from disk, starts its task
 * sources and the local API, and runs the event loop. Tasks, shims and containers outlive
 * berthd: stopping or restarting it never stops a task. */
#include "common/common.h"
#include "berth-config.h"
#include "agent/api/api.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/outbox/outbox.h"
#include "agent/sources/dir.h"
#include "agent/sources/http.h"
#include "agent/taskdef/taskdef.h"
#include "cgroups/cgroups.h"
#include "imagecache/imagecache.h"
#include "netns/netns.h"
#include "notify.h"

#include <getopt.h>
#include <signal.h>
#include <sys/file.h>

struct source
{
  struct source *next;
  const struct task_source_ops *ops;
  void *state;
  char *url;
};

struct daemon
{
  struct berth_config *cfg;
  struct berth_loop *loop;
  struct imagecache_store *images;
  struct netns_config net_cfg;
  struct netns_host *net;
  struct cgroups_manager *cgroups;
  struct outbox *outbox;
  struct taskdef_host_policy policy;
  struct engine *engine;
  struct api_server *api;
  struct source *sources;
  struct berth_loop_source *watchdog;
  uint64_t watchdog_ns;
  int lock_fd;
};

static void
on_ready (void *data)
{
  struct daemon *d = data;
  (void)d;
  log_info ("recovered; every task source has reported: ready");
  berth_notify ("READY=1\nSTATUS=running");
}

static int
on_watchdog (struct berth_loop_source *src, uint64_t now, void *data)
{
  struct daemon *d = data;
  berth_notify ("WATCHDOG=1");
  /* half the interval, as systemd recommends */
  berth_loop_timer_set (src, now + d->watchdog_ns / 2);
  return 0;
}

static int
on_terminate (struct berth_loop_source *src, int signo, void *data)
{
  struct daemon *d = data;
  (void)src;
  log_info ("signal %d: stopping berthd (tasks keep running)", signo);
  berth_notify ("STOPPING=1");
  berth_loop_quit (d->loop, 0);
  return 0;
}

static void
source_outbox_ready (void *data)
{
  struct source *s = data;
  if (s->ops->outbox_ready)
    s->ops->outbox_ready (s->state);
}

static int
open_sources (struct daemon *d, berth_err *err)
{
  /* the http source keeps the node's identity (node.json) here, shared by every source */
  const char *state_dir = d->cfg->data_dir;
  cleanup_free char *outbox_dir = xasprintf ("%s/outbox", d->cfg->data_dir);

  for (char **u = d->cfg->task_sources; *u; u++)
    {
      const struct task_source_ops *ops;
      struct source *s;
      struct source_options o = {
        .url = *u,
        .state_dir = state_dir,
        .outbox_dir = outbox_dir,
        .outbox = d->outbox,
        .token_file = d->cfg->endpoint_token_file,
        .ca_file = d->cfg->endpoint_ca_file,
        .cert_file = d->cfg->endpoint_cert_file,
        .key_file = d->cfg->endpoint_key_file,
        .allow_plain_http = d->cfg->endpoint_allow_plain_http,
        .max_response_bytes = d->cfg->endpoint_max_response_size,
      };
      if (str_has_prefix (*u, "dir:"))
        ops = &dir_source_ops;
      else if (str_has_prefix (*u, "http://") || str_has_prefix (*u, "https://"))
        ops = &source_http_ops;
      else
        return berth_err_set (err, 0, "TASK_SOURCES: `%s` is not dir:/PATH or http(s)://URL", *u);
      s = xzalloc (sizeof *s);
      s->ops = ops;
      s->url = xstrdup (*u);
      if (ops->open (&o, engine_sink (d->engine), &s->state, err) < 0)
        {
          free (s->url);
          free (s);
          return berth_err_wrap (err, "TASK_SOURCES");
        }
      s->next = d->sources;
      d->sources = s;
      engine_source_register (d->engine, s->url, true, source_outbox_ready, s);
    }
  return 0;
}

/* berth's cgroup root. On a pure cgroup v2 host under systemd (Delegate=yes) berthd first
 * moves itself into <own cgroup>/supervisor: a cgroup holding processes cannot give its
 * children controllers, so the task cgroups must not be below a cgroup with berthd in it.
 * The shims and the runtime get the root through BERTH_CGROUP_ROOT. */
static int
setup_cgroups (struct daemon *d, berth_err *err)
{
  cleanup_free char *root = *d->cfg->cgroup_root ? xstrdup (d->cfg->cgroup_root) : NULL;
  if (root == NULL)
    {
      struct cgroups_manager *probe = NULL;
      bool unified;
      if (cgroups_manager_open (NULL, &probe, err) < 0)
        return -EIO;
      unified = cgroups_manager_layout (probe) == CGROUPS_LAYOUT_UNIFIED;
      cgroups_manager_free (probe);
      if (unified && cgroups_delegate_self ("supervisor", &root, err) < 0)
        return berth_err_wrap (err, "move berthd into a leaf of its cgroup v2 subtree");
    }
  if (cgroups_manager_open (root, &d->cgroups, err) < 0)
    return -EIO;
  if (root)
    setenv ("BERTH_CGROUP_ROOT", root, 1);
  else
    unsetenv ("BERTH_CGROUP_ROOT");
  log_info ("cgroups: %s layout, berth's root %s",
            cgroups_layout_name (cgroups_manager_layout (d->cgroups)),
            root ? root : "below berthd's own cgroup");
  return 0;
}

static int
setup_network (struct daemon *d, berth_err *err)
{
  /* the network's state lives under berthd's own directories unless NET_* keys move it */
  {
    cleanup_free char *netns = xasprintf ("%s/netns", d->cfg->run_dir);
    cleanup_free char *files = xasprintf ("%s/network", d->cfg->run_dir);
    cleanup_free char *ipam = xasprintf ("%s/ipam", d->cfg->data_dir);
    if (netns_config_set (&d->net_cfg, "NET_NETNS_DIR", netns, err) < 0
        || netns_config_set (&d->net_cfg, "NET_FILES_DIR", files, err) < 0
        || netns_config_set (&d->net_cfg, "NET_STATE_DIR", ipam, err) < 0)
      return -EINVAL;
  }
  for (size_t i = 0; d->cfg->delegated[i]; i++)
    {
      cleanup_free char *kv = xstrdup (d->cfg->delegated[i]);
      char *eq = strchr (kv, '=');
      *eq = '\0';
      if (netns_config_set (&d->net_cfg, kv, eq + 1, err) < 0)
        return berth_err_wrap (err, "%s", d->cfg->delegated_origins[i]);
    }
  if (netns_config_validate (&d->net_cfg, err) < 0
      || netns_host_open (&d->net_cfg, &d->net, err) < 0)
    return berth_err_wrap (err, "task networking");
  return 0;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: berthd [--config FILE] [--print-config] [--debug]\n"
           "Runs ECS task definitions from the configured task sources.\n"
           "Configuration: %s (keys in docs/configuration.md), BERTH_<KEY> overrides.\n",
           BERTH_CONFIG_DEFAULT_PATH);
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "config", required_argument, NULL, 'c' }, { "print-config", no_argument, NULL, 'p' },
    { "debug", no_argument, NULL, 'd' },        { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
  };
  struct daemon d = { .lock_fd = -1 };
  cleanup_err berth_err err = NULL;
  const char *config_path = NULL;
  bool print = false, debug = false;
  enum berth_log_level level;
  int opt, r = 1;

  berth_log_init ("berthd", 2, BERTH_LOG_PLAIN, BERTH_LOG_INFO);
  netns_config_init (&d.net_cfg);
  while ((opt = getopt_long (argc, argv, "c:h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'c':
        config_path = optarg;
        break;
      case 'p':
        print = true;
        break;
      case 'd':
        debug = true;
        break;
      case 'V':
        printf ("berthd %s\n", BERTH_VERSION);
        return 0;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (berth_config_load (config_path, config_path != NULL, NULL, &d.cfg, &err) < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      return 1;
    }
  if (print)
    {
      cleanup_free char *dump = berth_config_dump (d.cfg);
      fputs (dump, stdout);
      return 0;
    }
  berth_log_parse_level (d.cfg->log_level, &level);
  berth_log_init ("berthd", 2,
                  strcmp (d.cfg->log_format, "json") == 0 ? BERTH_LOG_JSON : BERTH_LOG_PLAIN,
                  debug ? BERTH_LOG_DEBUG : level);
  for (char **u = d.cfg->unknown_env; *u; u++)
    log_warning ("%s is not a berthd setting (a typo?)", *u);
  if (geteuid () != 0)
    {
      log_error ("berthd must run as root");
      return 1;
    }

  /* One berthd per host: two would fight over every task. */
  if (berth_mkdir_p (d.cfg->run_dir, 0755, &err) < 0)
    goto fail;
  {
    cleanup_free char *lock = xasprintf ("%s/berthd.lock", d.cfg->run_dir);
    d.lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d.lock_fd < 0 || flock (d.lock_fd, LOCK_EX | LOCK_NB) < 0)
      {
        berth_err_set (&err, errno, "another berthd runs (lock `%s`)", lock);
        goto fail;
      }
  }

  if (berth_loop_new (&d.loop, &err) < 0)
    goto fail;
  /* signals are blocked before any thread starts, so every thread inherits the mask */
  if (berth_loop_add_signal (d.loop, SIGTERM, on_terminate, &d, NULL, &err) < 0
      || berth_loop_add_signal (d.loop, SIGINT, on_terminate, &d, NULL, &err) < 0)
    goto fail;
  signal (SIGPIPE, SIG_IGN);

  {
    struct imagecache_config ic;
    cleanup_free char *root = xasprintf ("%s/images", d.cfg->data_dir);
    imagecache_config_init (&ic);
    berth_config_imagecache (d.cfg, &ic);
    r = imagecache_store_open (root, &ic, &d.images, &err);
    imagecache_config_clear (&ic);
    if (r < 0)
      goto fail;
    r = 1;
  }
  if (setup_cgroups (&d, &err) < 0)
    goto fail;
  if (setup_network (&d, &err) < 0)
    goto fail;
  {
    cleanup_free char *ob = xasprintf ("%s/outbox", d.cfg->data_dir);
    if (outbox_open (ob, NULL, &d.outbox, &err) < 0)
      goto fail;
  }
  taskdef_policy_from_config (d.cfg, &d.policy);
  {
    struct engine_options eo = {
      .loop = d.loop,
      .data_dir = d.cfg->data_dir,
      .run_dir = d.cfg->run_dir,
      .log_dir = d.cfg->log_dir,
      .runtime_path = d.cfg->runtime_path,
      .shim_path = d.cfg->shim_path,
      .init_path = d.cfg->init_path,
      .images = d.images,
      .net = d.net,
      .cgroups = d.cgroups,
      .outbox = d.outbox,
      .policy = &d.policy,
      .default_pull_policy = d.cfg->image_pull_policy,
      .reserved_cpu = (uint32_t)d.cfg->reserved_cpu,
      .reserved_memory_mib = (uint32_t)(d.cfg->reserved_memory >> 20),
      .log_max_bytes = d.cfg->container_log_max_size,
      .log_max_files = (uint32_t)d.cfg->container_log_max_files,
      .task_retention_ns = d.cfg->stopped_task_retention,
      .default_stop_timeout_ns = d.cfg->container_stop_timeout,
      .container_start_timeout_ns = d.cfg->container_start_timeout,
      .workers = 4,
      .image_gc_interval_ns = d.cfg->image_gc_interval,
      .ready = on_ready,
      .ready_data = &d,
    };
    if (engine_new (&eo, &d.engine, &err) < 0)
      goto fail;
  }
  if (open_sources (&d, &err) < 0)
    goto fail;
  if (engine_recover (d.engine, &err) < 0)
    goto fail;
  for (struct source *s = d.sources; s; s = s->next)
    if (s->ops->start (s->state, &err) < 0)
      goto fail;
  if (api_server_open (d.loop, d.engine, d.cfg->api_socket, &d.api, &err) < 0)
    goto fail;
  d.watchdog_ns = berth_notify_watchdog_ns ();
  if (d.watchdog_ns)
    berth_loop_add_timer (d.loop, berth_now_ns () + d.watchdog_ns / 2, on_watchdog, &d, &d.watchdog,
                          NULL);
  log_info ("berthd %s: %zu task source(s), API on %s", BERTH_VERSION,
            strv_len (d.cfg->task_sources), d.cfg->api_socket);

  r = berth_loop_run (d.loop) < 0 ? 1 : 0;
  goto out;

fail:
  log_error ("%s", berth_err_msg (&err));
  r = 1;
out:
  api_server_free (d.api);
  /* every report queued for the outbox written and its source told, while sources live */
  if (d.outbox && !outbox_drain (d.outbox, 10000))
    log_error ("outbox: state changes still not written after 10 s (the disk refuses them); "
               "they are lost to the task sources");
  for (struct source *s = d.sources; s; s = s->next)
    if (s->ops->stop)
      s->ops->stop (s->state);
  engine_free (d.engine);
  if (d.outbox)
    outbox_drain (d.outbox, 10000);
  while (d.sources)
    {
      struct source *s = d.sources;
      d.sources = s->next;
      s->ops->free (s->state);
      free (s->url);
      free (s);
    }
  if (d.outbox)
    outbox_close (d.outbox);
  netns_host_close (d.net);
  netns_config_free (&d.net_cfg);
  cgroups_manager_free (d.cgroups);
  if (d.images)
    {
      /* unpacked layers were written without fsync: flush them before going away */
      berth_err serr = NULL;
      if (imagecache_store_sync (d.images, &serr) < 0)
        {
          log_warning ("image store sync: %s", berth_err_msg (&serr));
          berth_err_free (&serr);
        }
      imagecache_store_close (d.images);
    }
  berth_loop_free (d.loop);
  berth_config_free (d.cfg);
  if (d.lock_fd >= 0)
    close (d.lock_fd);
  return r;
}

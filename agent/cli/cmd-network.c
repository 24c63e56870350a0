/* `berth network`: create, list, inspect, delete and reconcile task networks without berthd,
 * for debugging, the netns tests and the benchmark. The host configuration comes from the NET_*
 * keys of berthd.conf, then BERTH_NET_* environment variables, then --set KEY=VALUE. */
#include "common/common.h"
#include "berth-config.h"
#include "cli.h"
#include "netns/netns.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>

#define DEFAULT_CONFIG BERTH_SYSCONFDIR "/berth/berthd.conf"

extern char **environ;

static void
network_usage (FILE *out)
{
  fprintf (
      out,
      "Usage: berth network [--config FILE] [--set KEY=VALUE]... [--stop-at STEP] COMMAND [ARGS]\n"
      "\n"
      "Commands:\n"
      "  create TASK [--mode awsvpc|host|none] [--hostname NAME] [--dns IP]...\n"
      "              [--dns-search DOMAIN]... [--add-host NAME:IP]... [--reach-tasks]\n"
      "                          set up a task network; prints it as JSON\n"
      "  list [--json]           task networks on this host\n"
      "  inspect TASK            one task network as JSON\n"
      "  delete TASK...          tear task networks down (idempotent)\n"
      "  reconcile --live TASK... | --all-dead\n"
      "                          remove everything held for tasks not listed\n"
      "\n"
      "Testing: --stop-at record|lease|netns|link|address|firewall|files|ready stops the\n"
      "process (SIGSTOP) when a create reaches that step, so a test can kill -9 it there.\n"
      "\n"
      "Configuration: NET_* keys of FILE (default " DEFAULT_CONFIG " if present),\n"

      "then BERTH_NET_* environment variables, then --set (see docs/netns.md).\n");
}

struct stop_at
{
  const char *step;
};

/* The steps netns_task_setup reports (netns.h, step_hook); a name not among them would
 * never stop anything, and the test waiting for the stop would only time out. */
static const char *const setup_steps[]
    = { "record", "lease", "netns", "link", "address", "firewall", "files", "ready", NULL };

/* --stop-at STEP: stop (SIGSTOP) when the setup reaches STEP, so a test can kill -9 the
 * process at a known point and check that reconcile leaves nothing behind. */
static void
stop_hook (const char *step, void *data)
{
  struct stop_at *s = data;
  if (s->step && strcmp (s->step, step) == 0)
    raise (SIGSTOP);
}

static int
load_config (struct netns_config *cfg, const char *file, char **sets, berth_err *err)
{
  const char *path = file ? file : DEFAULT_CONFIG;

  if (file != NULL || access (path, F_OK) == 0)
    if (netns_config_load_file (cfg, path, err) < 0)
      return berth_err_ret (err);
  for (char **e = environ; e && *e; e++)
    {
      cleanup_free char *kv = NULL;
      char *eq;
      if (!str_has_prefix (*e, "BERTH_NET_"))
        continue;
      kv = xstrdup (*e + strlen ("BERTH_"));
      eq = strchr (kv, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      if (netns_config_set (cfg, kv, eq + 1, err) < 0)
        return berth_err_wrap (err, "BERTH_%s (environment)", kv);
    }
  for (char **s = sets; s && *s; s++)
    {
      cleanup_free char *kv = xstrdup (*s);
      char *eq = strchr (kv, '=');
      if (eq == NULL)
        return berth_err_set (err, 0, "--set `%s`: expected KEY=VALUE", *s);
      *eq = '\0';
      if (netns_config_set (cfg, kv, eq + 1, err) < 0)
        return berth_err_wrap (err, "--set");
    }
  return 0;
}

static void
print_json (json_object *o)
{
  printf ("%s\n", json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int
do_create (struct netns_host *h, int argc, char **argv)
{
  static const struct option opts[] = {
    { "mode", required_argument, NULL, 'm' },     { "hostname", required_argument, NULL, 'H' },
    { "dns", required_argument, NULL, 'd' },      { "dns-search", required_argument, NULL, 's' },
    { "add-host", required_argument, NULL, 'a' }, { "reach-tasks", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
  };
  struct netns_task_spec spec = { .mode = NETNS_MODE_AWSVPC };
  cleanup_strv char **dns = NULL;
  cleanup_strv char **search = NULL;
  cleanup_strv char **hosts = NULL;
  cleanup_free struct netns_extra_host *extra = NULL;
  cleanup_err berth_err err = NULL;
  cleanup_task_net struct netns_task_net *net = NULL;
  cleanup_json json_object *o = NULL;
  size_t n_extra = 0;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'm':
        if (netns_mode_parse (optarg, &spec.mode) < 0)
          {
            log_error ("--mode: `%s` is not awsvpc, host or none", optarg);
            return 2;
          }
        break;
      case 'H':
        spec.hostname = optarg;
        break;
      case 'd':
        strv_append (&dns, optarg);
        break;
      case 's':
        strv_append (&search, optarg);
        break;
      case 'a':
        strv_append (&hosts, optarg);
        break;
      case 'r':
        spec.reach_tasks = true;
        break;
      case 'h':
        network_usage (stdout);
        return 0;
      default:
        return 2;
      }
  if (optind != argc - 1)
    {
      log_error ("create: expected one TASK");
      return 2;
    }
  spec.task_id = argv[optind];
  spec.dns_servers = dns;
  spec.dns_search = search;
  for (char **p = hosts; p && *p; p++)
    {
      /* NAME:IP, the address possibly IPv6 (colons of its own). */
      char *colon = strchr (*p, ':');
      if (colon == NULL)
        {
          log_error ("--add-host `%s`: expected NAME:IP", *p);
          return 2;
        }
      *colon = '\0';
      extra = xrealloc (extra, (n_extra + 1) * sizeof *extra);
      extra[n_extra].hostname = *p;
      extra[n_extra].address = colon + 1;
      n_extra++;
    }
  spec.extra_hosts = extra;
  spec.n_extra_hosts = n_extra;
  if (netns_task_setup (h, &spec, &net, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return 1;
    }
  o = netns_task_net_to_json (net);
  print_json (o);
  return 0;
}

static int
do_list (struct netns_host *h, int argc, char **argv)
{
  cleanup_strv char **ids = NULL;
  cleanup_err berth_err err = NULL;
  cleanup_json json_object *arr = NULL;
  bool json = argc > 1 && strcmp (argv[1], "--json") == 0;

  if (argc > (json ? 2 : 1))
    {
      log_error ("list: unexpected argument `%s`", argv[json ? 2 : 1]);
      return 2;
    }
  if (netns_task_list (h, &ids, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return 1;
    }
  arr = json_object_new_array ();
  if (!json)
    printf ("%-40s %-8s %-18s %s\n", "TASK", "MODE", "ADDRESS", "COMPLETE");
  for (char **id = ids; *id; id++)
    {
      cleanup_task_net struct netns_task_net *n = NULL;
      cleanup_err berth_err e = NULL;
      char addr[INET_ADDRSTRLEN + 4] = "-";

      if (netns_task_get (h, *id, &n, &e) < 0)
        {
          berth_log_err (BERTH_LOG_WARNING, &e);
          continue;
        }
      if (json)
        {
          json_object_array_add (arr, netns_task_net_to_json (n));
          continue;
        }
      if (n->has_address)
        {
          char b[INET_ADDRSTRLEN];
          inet_ntop (AF_INET, &n->address, b, sizeof b);
          snprintf (addr, sizeof addr, "%s/%u", b, n->prefix_len);
        }
      printf ("%-40s %-8s %-18s %s\n", n->task_id, netns_mode_name (n->mode), addr,
              n->complete ? "yes" : "no");
    }
  if (json)
    print_json (arr);
  return 0;
}

static int
do_inspect (struct netns_host *h, int argc, char **argv)
{
  cleanup_task_net struct netns_task_net *n = NULL;
  cleanup_err berth_err err = NULL;
  cleanup_json json_object *o = NULL;

  if (argc != 2)
    {
      log_error ("inspect: expected one TASK");
      return 2;
    }
  if (netns_task_get (h, argv[1], &n, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return 1;
    }
  o = netns_task_net_to_json (n);
  print_json (o);
  return 0;
}

static int
do_delete (struct netns_host *h, int argc, char **argv)
{
  int status = 0;

  if (argc < 2)
    {
      log_error ("delete: expected TASK...");
      return 2;
    }
  for (int i = 1; i < argc; i++)
    {
      cleanup_err berth_err err = NULL;
      if (netns_task_teardown (h, argv[i], &err) < 0)
        {
          berth_log_err (BERTH_LOG_ERROR, &err);
          status = 1;
        }
    }
  return status;
}

static int
do_reconcile (struct netns_host *h, int argc, char **argv)
{
  cleanup_strv char **live = xzalloc (sizeof *live);
  cleanup_err berth_err err = NULL;
  cleanup_json json_object *o = NULL;
  struct netns_reconcile_report rep;
  bool all_dead = false;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--all-dead") == 0)
        all_dead = true;
      else if (strcmp (argv[i], "--live") == 0 && i + 1 < argc)
        strv_append (&live, argv[++i]);
      else if (str_has_prefix (argv[i], "--live="))
        strv_append (&live, argv[i] + strlen ("--live="));
      else
        {
          log_error ("reconcile: unexpected argument `%s`", argv[i]);
          return 2;
        }
    }
  /* Reconcile frees everything of every task not named: make the caller say so. */
  if (!all_dead && live[0] == NULL)
    {
      log_error ("reconcile: name the live tasks (--live TASK...) or pass --all-dead");
      return 2;
    }
  if (all_dead && live[0] != NULL)
    {
      log_error ("reconcile: --all-dead and --live exclude each other");
      return 2;
    }
  if (netns_reconcile (h, live, &rep, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return 1;
    }
  o = json_object_new_object ();
  json_object_object_add (o, "tasks", json_object_new_int64 ((int64_t)rep.tasks));
  json_object_object_add (o, "leases", json_object_new_int64 ((int64_t)rep.leases));
  json_object_object_add (o, "netns", json_object_new_int64 ((int64_t)rep.netns));
  json_object_object_add (o, "files", json_object_new_int64 ((int64_t)rep.files));
  json_object_object_add (o, "links", json_object_new_int64 ((int64_t)rep.links));
  json_object_object_add (o, "scratch", json_object_new_int64 ((int64_t)rep.scratch));
  print_json (o);
  return 0;
}

int
cmd_network (int argc, char **argv)
{
  struct netns_config cfg;
  struct netns_host *h = NULL;
  cleanup_err berth_err err = NULL;
  cleanup_strv char **sets = NULL;
  struct stop_at stop = { NULL };
  const char *config_file = NULL;
  int i = 1, status;

  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          network_usage (stdout);
          return 0;
        }
      else if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
        config_file = argv[++i];
      else if (strcmp (argv[i], "--set") == 0 && i + 1 < argc)
        strv_append (&sets, argv[++i]);
      else if (strcmp (argv[i], "--stop-at") == 0 && i + 1 < argc)
        {
          stop.step = argv[++i];
          if (!strv_contains ((char *const *)setup_steps, stop.step))
            {
              log_error ("--stop-at `%s`: not a setup step (record, lease, netns, link, "
                         "address, firewall, files or ready)",
                         stop.step);
              return 2;
            }
        }
      else
        {
          log_error ("network: unknown option `%s`", argv[i]);
          network_usage (stderr);
          return 2;
        }
    }
  if (i >= argc)
    {
      network_usage (stderr);
      return 2;
    }
  if (strcmp (argv[i], "create") != 0 && strcmp (argv[i], "list") != 0
      && strcmp (argv[i], "inspect") != 0 && strcmp (argv[i], "delete") != 0
      && strcmp (argv[i], "reconcile") != 0)
    {
      log_error ("network: unknown command `%s`", argv[i]);
      network_usage (stderr);
      return 2;
    }

  netns_config_init (&cfg);
  if (load_config (&cfg, config_file, sets, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      netns_config_free (&cfg);
      return 1;
    }
  cfg.step_hook = stop_hook;
  cfg.step_hook_data = &stop;
  if (netns_host_open (&cfg, &h, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      netns_config_free (&cfg);
      return 1;
    }
  netns_config_free (&cfg);

  if (strcmp (argv[i], "create") == 0)
    status = do_create (h, argc - i, argv + i);
  else if (strcmp (argv[i], "list") == 0)
    status = do_list (h, argc - i, argv + i);
  else if (strcmp (argv[i], "inspect") == 0)
    status = do_inspect (h, argc - i, argv + i);
  else if (strcmp (argv[i], "delete") == 0)
    status = do_delete (h, argc - i, argv + i);
  else
    status = do_reconcile (h, argc - i, argv + i);
  netns_host_close (h);
  return status;
}

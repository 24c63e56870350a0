/* berth-endpoint: `serve` runs the reference control endpoint; submit, list, stop, nodes and
 * events are the operator's commands, spoken to the server's admin API. */
#include "endpoint.h"

#include "agent/sources/http-client.h"
#include "berth-config.h"

#include <getopt.h>
#include <signal.h>

#define DEFAULT_ADMIN_URL "http://127.0.0.1:7471"

static const char usage_text[]
    = "Usage: berth-endpoint [--admin URL] [--admin-token-file FILE] [--json] COMMAND ...\n"
      "\n"
      "  serve --state-dir DIR [OPTIONS]    run the control endpoint\n"
      "  submit [--node NODE] [--id ID] [--metadata JSON] TASKDEF.json|-\n"
      "                                     assign a task (ECS task definition JSON)\n"
      "  list [TASK]                        tasks, or one task in full\n"
      "  stop TASK                          desire the task STOPPED\n"
      "  nodes                              registered nodes\n"
      "  events [--after ID] [--task T] [--node N] [--limit N] [--follow]\n"
      "                                     recorded state changes, one JSON object a line\n"
      "\n"
      "serve options:\n"
      "  --listen ADDR            agent API (default 127.0.0.1:7470; 0.0.0.0:7470 for a lab)\n"
      "  --admin-listen ADDR      admin API (default 127.0.0.1:7471)\n"
      "  --token-file FILE        agents must send this bearer token\n"
      "  --admin-token-file FILE  operators must send this bearer token\n"
      "  --tls-cert FILE --tls-key FILE   serve the agent API over TLS\n"
      "  --client-ca FILE         require agent client certificates signed by this CA\n"
      "  --poll-wait S            long-poll hold time told to agents (default 30)\n"
      "  --heartbeat S            heartbeat interval told to agents (default 30)\n"
      "  --min-interval-ms MS     least time between an agent's polls (default 0)\n"
      "  --liveness S             a node is alive if seen this recently (default 3 heartbeats)\n"
      "  --ready-fd FD            write \"ready\\n\" to FD once listening, then close it\n"
      "  --debug                  log every request\n"
      "\n"
      "The admin URL defaults to $BERTH_ENDPOINT_ADMIN or " DEFAULT_ADMIN_URL ".\n";

struct cli
{
  const char *admin_url;
  const char *admin_token_file;
  bool json;
};

/* ------------------------------------------------------------------ serve */

static int
parse_u32_opt (const char *name, const char *v, uint32_t min, uint32_t max, uint32_t *ret)
{
  if (berth_parse_uint32 (v, ret) < 0 || *ret < min || *ret > max)
    {
      log_error ("%s: `%s` is not an integer in [%" PRIu32 ", %" PRIu32 "]", name, v, min, max);
      return -1;
    }
  return 0;
}

static int
cmd_serve (int argc, char **argv)
{
  static const struct option longopts[] = { { "state-dir", required_argument, NULL, 's' },
                                            { "listen", required_argument, NULL, 'l' },
                                            { "admin-listen", required_argument, NULL, 'a' },
                                            { "token-file", required_argument, NULL, 't' },
                                            { "admin-token-file", required_argument, NULL, 'T' },
                                            { "tls-cert", required_argument, NULL, 'c' },
                                            { "tls-key", required_argument, NULL, 'k' },
                                            { "client-ca", required_argument, NULL, 'C' },
                                            { "poll-wait", required_argument, NULL, 'w' },
                                            { "heartbeat", required_argument, NULL, 'h' },
                                            { "min-interval-ms", required_argument, NULL, 'm' },
                                            { "liveness", required_argument, NULL, 'L' },
                                            { "ready-fd", required_argument, NULL, 'r' },
                                            { "debug", no_argument, NULL, 'd' },
                                            { NULL, 0, NULL, 0 } };
  struct endpoint_server_options so
      = { .listen = "127.0.0.1:7470", .admin_listen = "127.0.0.1:7471" };
  struct endpoint_store_options sto = { .poll = HTTP_POLL_HINT_DEFAULT };
  const char *state_dir = NULL;
  uint32_t liveness_s = 0;
  int ready_fd = -1, opt, sig;
  struct endpoint_store *st = NULL;
  struct endpoint_server *srv = NULL;
  cleanup_err berth_err err = NULL;
  sigset_t mask;

  optind = 0; /* glibc: 0 restarts getopt for a new argv */
  while ((opt = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (opt)
      {
      case 's':
        state_dir = optarg;
        break;
      case 'l':
        so.listen = optarg;
        break;
      case 'a':
        so.admin_listen = optarg;
        break;
      case 't':
        so.token_file = optarg;
        break;
      case 'T':
        so.admin_token_file = optarg;
        break;
      case 'c':
        so.tls_cert_file = optarg;
        break;
      case 'k':
        so.tls_key_file = optarg;
        break;
      case 'C':
        so.client_ca_file = optarg;
        break;
      case 'w':
        if (parse_u32_opt ("--poll-wait", optarg, 1, 300, &sto.poll.wait_s) < 0)
          return 2;
        break;
      case 'h':
        if (parse_u32_opt ("--heartbeat", optarg, 5, 3600, &sto.poll.heartbeat_s) < 0)
          return 2;
        break;
      case 'm':
        if (parse_u32_opt ("--min-interval-ms", optarg, 0, 600000, &sto.poll.min_interval_ms) < 0)
          return 2;
        break;
      case 'L':
        if (parse_u32_opt ("--liveness", optarg, 1, 86400, &liveness_s) < 0)
          return 2;
        break;
      case 'r':
        if (berth_parse_int (optarg, &ready_fd) < 0 || ready_fd < 0)
          {
            log_error ("--ready-fd: `%s` is not a file descriptor", optarg);
            return 2;
          }
        break;
      case 'd':
        berth_log_set_level (BERTH_LOG_DEBUG);
        break;
      default:
        fputs (usage_text, stderr);
        return 2;
      }
  if (state_dir == NULL || optind != argc)
    {
      log_error ("serve: --state-dir is required and there are no arguments");
      return 2;
    }
  sto.liveness_ms = (uint64_t)(liveness_s ? liveness_s : 3 * sto.poll.heartbeat_s) * 1000;

  /* Signals are taken synchronously by this thread; the server's threads never see them. */
  sigemptyset (&mask);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &mask, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (endpoint_store_open (state_dir, &sto, &st, &err) < 0
      || endpoint_server_start (st, &so, &srv, &err) < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      endpoint_store_close (st);
      return 1;
    }
  log_info ("serving agents on %s%s, admin on %s, state in %s", so.listen,
            so.tls_cert_file ? " (TLS)" : "", so.admin_listen, state_dir);
  if (ready_fd >= 0)
    {
      if (berth_write_all (ready_fd, "ready\n", 6) < 0)
        log_warning ("--ready-fd %d: %s", ready_fd, strerror (errno));
      close (ready_fd);
    }
  while (sigwait (&mask, &sig) != 0)
    ;
  log_info ("signal %d: stopping", sig);
  endpoint_server_stop (srv);
  endpoint_store_close (st);
  return 0;
}

/* ------------------------------------------------------------------ admin client */

static int
admin_request (struct cli *cli, const char *method, const char *path, json_object *body,
               long timeout_s, json_object **ret)
{
  struct http_client_options o = { .base_url = cli->admin_url,
                                   .token_file = cli->admin_token_file,
                                   .max_response_bytes = 256u * 1024 * 1024 };
  struct http_client *c = NULL;
  struct http_response resp = { 0 };
  cleanup_err berth_err err = NULL;
  int r;

  if (http_client_new (&o, &c, &err) < 0
      || http_client_request (c, method, path, body, timeout_s, &resp, &err) < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      http_client_free (c);
      return -1;
    }
  http_client_free (c);
  if (resp.status / 100 != 2)
    {
      char *code = NULL, *msg = NULL;
      http_proto_parse_error (resp.body, resp.len, &code, &msg);
      log_error ("%s %s: HTTP %ld %s%s%s", method, path, resp.status, code ? code : "",
                 msg ? ": " : "", msg ? msg : resp.body);
      free (code);
      free (msg);
      http_response_clear (&resp);
      return -1;
    }
  r = bjson_parse (resp.body, resp.len, "admin response", ret, &err);
  http_response_clear (&resp);
  if (r < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      return -1;
    }
  return 0;
}

static const char *
str_or (json_object *o, const char *key, const char *def)
{
  json_object *v;
  if (json_object_object_get_ex (o, key, &v) && v && json_object_is_type (v, json_type_string))
    return json_object_get_string (v);
  return def;
}

static int64_t
int_of (json_object *o, const char *key)
{
  json_object *v;
  return json_object_object_get_ex (o, key, &v) ? json_object_get_int64 (v) : 0;
}

static int
cmd_submit (struct cli *cli, int argc, char **argv)
{
  static const struct option longopts[] = { { "node", required_argument, NULL, 'n' },
                                            { "id", required_argument, NULL, 'i' },
                                            { "metadata", required_argument, NULL, 'm' },
                                            { NULL, 0, NULL, 0 } };
  cleanup_json json_object *req = json_object_new_object (), *def = NULL, *reply = NULL;
  cleanup_err berth_err err = NULL;
  const char *node = NULL, *id = NULL, *meta = NULL;
  int opt;

  optind = 0; /* glibc: 0 restarts getopt for a new argv */
  while ((opt = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'n':
        node = optarg;
        break;
      case 'i':
        id = optarg;
        break;
      case 'm':
        meta = optarg;
        break;
      default:
        return 2;
      }
  if (optind != argc - 1)
    {
      log_error ("submit: one task definition file (or -) expected");
      return 2;
    }
  if (strcmp (argv[optind], "-") == 0)
    {
      cleanup_free char *text = NULL;
      size_t len;
      if (berth_read_fd (0, 16 * 1024 * 1024, &text, &len, &err) < 0
          || bjson_parse (text, len, "stdin", &def, &err) < 0)
        {
          log_error ("%s", berth_err_msg (&err));
          return 1;
        }
    }
  else if (bjson_parse_file_at (AT_FDCWD, argv[optind], 16 * 1024 * 1024, &def, &err) < 0)
    {
      log_error ("%s", berth_err_msg (&err));
      return 1;
    }
  json_object_object_add (req, "definition", json_object_get (def));
  if (node)
    json_object_object_add (req, "node", json_object_new_string (node));
  if (id)
    json_object_object_add (req, "task_id", json_object_new_string (id));
  if (meta)
    {
      json_object *m = NULL;
      if (bjson_parse (meta, strlen (meta), "--metadata", &m, &err) < 0)
        {
          log_error ("%s", berth_err_msg (&err));
          return 2;
        }
      json_object_object_add (req, "metadata", m);
    }
  if (admin_request (cli, "POST", "/admin/v1/tasks", req, 30, &reply) < 0)
    return 1;
  if (cli->json)
    printf ("%s\n", bjson_to_string (reply));
  else
    printf ("%s on node %s (generation %" PRId64 ")\n", str_or (reply, "task_id", "?"),
            str_or (reply, "node_id", "?"), int_of (reply, "generation"));
  return 0;
}

static int
cmd_list (struct cli *cli, int argc, char **argv)
{
  cleanup_json json_object *reply = NULL;
  cleanup_free char *path = NULL;
  json_object *tasks;

  if (argc > 2)
    return 2;
  if (argc == 2 && !http_proto_valid_id (argv[1]))
    {
      log_error ("list: `%s` is not a task id", argv[1]);
      return 2;
    }
  path = argc == 2 ? xasprintf ("/admin/v1/tasks/%s", argv[1]) : xstrdup ("/admin/v1/tasks");
  if (admin_request (cli, "GET", path, NULL, 30, &reply) < 0)
    return 1;
  tasks = json_object_object_get (reply, "tasks");
  if (cli->json || argc == 2)
    {
      if (argc == 2)
        printf ("%s\n", json_object_to_json_string_ext (json_object_array_get_idx (tasks, 0),
                                                        JSON_C_TO_STRING_PRETTY
                                                            | JSON_C_TO_STRING_NOSLASHESCAPE));
      else
        printf ("%s\n", bjson_to_string (reply));
      return 0;
    }
  printf ("%-20s %-38s %-8s %-15s %-15s %s\n", "TASK", "NODE", "DESIRED", "STATUS", "IP", "REASON");
  for (size_t i = 0; i < json_object_array_length (tasks); i++)
    {
      json_object *t = json_object_array_get_idx (tasks, i);
      printf ("%-20s %-38s %-8s %-15s %-15s %s\n", str_or (t, "task_id", "?"),
              str_or (t, "node_id", "?"), str_or (t, "desired", "?"), str_or (t, "status", "-"),
              str_or (t, "ip", "-"), str_or (t, "reason", ""));
    }
  return 0;
}

static int
cmd_stop (struct cli *cli, int argc, char **argv)
{
  cleanup_json json_object *reply = NULL;
  cleanup_free char *path = NULL;

  if (argc != 2 || !http_proto_valid_id (argv[1]))
    {
      log_error ("stop: one task id expected");
      return 2;
    }
  path = xasprintf ("/admin/v1/tasks/%s/stop", argv[1]);
  if (admin_request (cli, "POST", path, NULL, 30, &reply) < 0)
    return 1;
  if (cli->json)
    printf ("%s\n", bjson_to_string (reply));
  else
    printf ("%s desired STOPPED on node %s (generation %" PRId64 ")\n", argv[1],
            str_or (reply, "node_id", "?"), int_of (reply, "generation"));
  return 0;
}

static int
cmd_nodes (struct cli *cli, int argc, char **argv BERTH_UNUSED)
{
  cleanup_json json_object *reply = NULL;
  json_object *nodes;

  if (argc != 1)
    return 2;
  if (admin_request (cli, "GET", "/admin/v1/nodes", NULL, 30, &reply) < 0)
    return 1;
  if (cli->json)
    {
      printf ("%s\n", bjson_to_string (reply));
      return 0;
    }
  nodes = json_object_object_get (reply, "nodes");
  printf ("%-38s %-16s %-5s %-11s %-11s %-6s %-6s %s\n", "NODE", "HOSTNAME", "ALIVE", "FREE CPU",
          "FREE MiB", "TASKS", "GEN", "ACKED");
  for (size_t i = 0; i < json_object_array_length (nodes); i++)
    {
      json_object *n = json_object_array_get_idx (nodes, i);
      json_object *fr = json_object_object_get (n, "free");
      printf ("%-38s %-16s %-5s %-11" PRId64 " %-11" PRId64 " %-6" PRId64 " %-6" PRId64 " %" PRId64
              "\n",
              str_or (n, "node_id", "?"), str_or (n, "hostname", "-"),
              json_object_get_boolean (json_object_object_get (n, "alive")) ? "yes" : "no",
              int_of (fr, "cpu"), int_of (fr, "memory_mib"), int_of (n, "running_tasks"),
              int_of (n, "generation"), int_of (n, "acked_generation"));
    }
  return 0;
}

static int
cmd_events (struct cli *cli, int argc, char **argv)
{
  static const struct option longopts[]
      = { { "after", required_argument, NULL, 'a' }, { "task", required_argument, NULL, 't' },
          { "node", required_argument, NULL, 'n' },  { "limit", required_argument, NULL, 'l' },
          { "follow", no_argument, NULL, 'f' },      { NULL, 0, NULL, 0 } };
  const char *task = NULL, *node = NULL;
  uint64_t after = 0, limit = 1000;
  bool follow = false;
  int opt;

  optind = 0; /* glibc: 0 restarts getopt for a new argv */
  while ((opt = getopt_long (argc, argv, "f", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'a':
        if (berth_parse_uint64 (optarg, &after) < 0)
          return 2;
        break;
      case 't':
        task = optarg;
        break;
      case 'n':
        node = optarg;
        break;
      case 'l':
        if (berth_parse_uint64 (optarg, &limit) < 0 || limit == 0 || limit > 100000)
          return 2;
        break;
      case 'f':
        follow = true;
        break;
      default:
        return 2;
      }
  if (optind != argc || (task && !http_proto_valid_id (task))
      || (node && !http_proto_valid_id (node)))
    return 2;
  for (;;)
    {
      cleanup_json json_object *reply = NULL;
      cleanup_free char *path
          = xasprintf ("/admin/v1/events?after=%" PRIu64 "&limit=%" PRIu64 "%s%s%s%s%s", after,
                       limit, task ? "&task=" : "", task ? task : "", node ? "&node=" : "",
                       node ? node : "", follow ? "&wait=30" : "");
      json_object *events;

      if (admin_request (cli, "GET", path, NULL, 60, &reply) < 0)
        return 1;
      events = json_object_object_get (reply, "events");
      for (size_t i = 0; i < json_object_array_length (events); i++)
        printf ("%s\n", bjson_to_string (json_object_array_get_idx (events, i)));
      fflush (stdout);
      after = (uint64_t)int_of (reply, "last_id");
      if (!follow)
        return 0;
    }
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "admin", required_argument, NULL, 'a' }, { "admin-token-file", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' },        { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },     { NULL, 0, NULL, 0 }
  };
  struct cli cli = { .admin_url = getenv ("BERTH_ENDPOINT_ADMIN") };
  const char *cmd;
  int opt;

  berth_log_init ("berth-endpoint", 2, BERTH_LOG_PLAIN, BERTH_LOG_INFO);
  if (cli.admin_url == NULL)
    cli.admin_url = DEFAULT_ADMIN_URL;
  /* Options before the command only ("+"): the command parses its own. */
  while ((opt = getopt_long (argc, argv, "+h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'a':
        cli.admin_url = optarg;
        break;
      case 't':
        cli.admin_token_file = optarg;
        break;
      case 'j':
        cli.json = true;
        break;
      case 'h':
        fputs (usage_text, stdout);
        return 0;
      case 'V':
        printf ("berth-endpoint %s (control protocol v%d)\n", BERTH_VERSION, HTTP_PROTO_VERSION);
        return 0;
      default:
        fputs (usage_text, stderr);
        return 2;
      }
  if (optind >= argc)
    {
      fputs (usage_text, stderr);
      return 2;
    }
  cmd = argv[optind];
  argc -= optind;
  argv += optind;
  if (strcmp (cmd, "serve") == 0)
    return cmd_serve (argc, argv);
  if (strcmp (cmd, "submit") == 0)
    return cmd_submit (&cli, argc, argv);
  if (strcmp (cmd, "list") == 0)
    return cmd_list (&cli, argc, argv);
  if (strcmp (cmd, "stop") == 0)
    return cmd_stop (&cli, argc, argv);
  if (strcmp (cmd, "nodes") == 0)
    return cmd_nodes (&cli, argc, argv);
  if (strcmp (cmd, "events") == 0)
    return cmd_events (&cli, argc, argv);
  log_error ("unknown command `%s`", cmd);
  fputs (usage_text, stderr);
  return 2;
}

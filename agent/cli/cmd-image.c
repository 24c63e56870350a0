/* `berth pull`, `berth images`, `berth rmi` and `berth image ...`: the image store used
 * directly, without berthd (which shares the store through its lock files). Settings
 * come from the IMAGE_* keys of berthd.conf and BERTH_IMAGE_* variables; the store root
 * from --root, else $BERTH_IMAGE_ROOT, else DATA_DIR/images. */
#include "common/common.h"
#include "berth-config.h"
#include "cli.h"
#include "agent/config/config.h"
#include "imagecache/imagecache.h"

#include <getopt.h>
#include <signal.h>
#include <time.h>

struct common_opts
{
  const char *root;
  const char *config;
  const char *platform;
};

enum
{
  OPT_ROOT = 1000,
  OPT_CONFIG,
  OPT_PLATFORM,
  OPT_POLICY,
  OPT_NO_UNPACK,
  OPT_STATS,
  OPT_JSON,
  OPT_NAME,
  OPT_MODE,
  OPT_MIN_AGE,
  OPT_HIGH,
  OPT_LOW,
  OPT_DEEP,
  OPT_RO,
  OPT_RW_DIR,
  OPT_STOP_AT,
};

#define COMMON_LONG_OPTS                                                                           \
  { "root", required_argument, NULL, OPT_ROOT },                                                   \
      { "config", required_argument, NULL, OPT_CONFIG },                                           \
  {                                                                                                \
    "help", no_argument, NULL, 'h'                                                                 \
  }

static const char common_help[]
    = "  --root DIR       image store (default $BERTH_IMAGE_ROOT, else DATA_DIR/images)\n"
      "  --config FILE    berthd.conf to read IMAGE_* settings from (default " BERTH_SYSCONFDIR
      "/berth/berthd.conf)\n";

static bool
common_opt (int c, struct common_opts *o)
{
  switch (c)
    {
    case OPT_ROOT:
      o->root = optarg;
      return true;
    case OPT_CONFIG:
      o->config = optarg;
      return true;
    default:
      return false;
    }
}

static volatile sig_atomic_t interrupted;
static struct imagecache_cancel *active_cancel;

static void
on_signal (int sig)
{
  (void)sig;
  interrupted = 1;
  if (active_cancel)
    imagecache_cancel_trigger (active_cancel); /* an atomic store: async-signal-safe */
}

static int
open_store (const struct common_opts *o, struct imagecache_store **ret)
{
  cleanup_err berth_err err = NULL;
  cleanup_berth_config struct berth_config *bc = NULL;
  struct imagecache_config cfg;
  cleanup_free char *root = NULL;
  const char *env_root = getenv ("BERTH_IMAGE_ROOT");
  bool must_exist = o->config != NULL;
  int r;

  if (berth_config_load (o->config, must_exist, NULL, &bc, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return -1;
    }
  /* as berthd does: a mistyped BERTH_IMAGE_* variable must not be ignored in silence */
  for (char **u = bc->unknown_env; *u; u++)
    if (strcmp (*u, "BERTH_IMAGE_ROOT") != 0)
      log_warning ("%s is not a berth setting (a typo?)", *u);
  imagecache_config_init (&cfg);
  berth_config_imagecache (bc, &cfg);
  if (o->root)
    root = xstrdup (o->root);
  else if (env_root && *env_root)
    root = xstrdup (env_root);
  else
    root = xasprintf ("%s/images", bc->data_dir);
  r = imagecache_store_open (root, &cfg, ret, &err);
  imagecache_config_clear (&cfg);
  if (r < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      return -1;
    }
  return 0;
}

static const char *
short_id (const char *digest, char buf[16])
{
  snprintf (buf, 16, "%.12s", str_has_prefix (digest, "sha256:") ? digest + 7 : digest);
  return buf;
}

static char *
human_size (uint64_t b)
{
  if (b < 1000)
    return xasprintf ("%" PRIu64 "B", b);
  if (b < 1000 * 1000)
    return xasprintf ("%.1fkB", (double)b / 1e3);
  if (b < 1000ull * 1000 * 1000)
    return xasprintf ("%.1fMB", (double)b / 1e6);
  return xasprintf ("%.2fGB", (double)b / 1e9);
}

static char *
human_ago (uint64_t then_ns)
{
  uint64_t now = berth_realtime_ns ();
  uint64_t s = now > then_ns ? (now - then_ns) / 1000000000ull : 0;
  if (s < 60)
    return xasprintf ("%" PRIu64 " seconds ago", s);
  if (s < 3600)
    return xasprintf ("%" PRIu64 " minutes ago", s / 60);
  if (s < 86400 * 2)
    return xasprintf ("%" PRIu64 " hours ago", s / 3600);
  return xasprintf ("%" PRIu64 " days ago", s / 86400);
}

/* ------------------------------------------------------------------ progress */

struct progress
{
  bool tty, quiet;
  const char *ref;
  size_t n_layers;
  uint64_t total;
  uint64_t *done; /* per layer */
  unsigned layers_done, blobs_done;
  uint64_t start_ns, last_draw_ns;
};

static void
draw_bar (struct progress *p, bool final)
{
  uint64_t done = 0, now = berth_now_ns ();
  double secs = (double)(now - p->start_ns) / 1e9;
  cleanup_free char *d = NULL, *t = NULL;
  char bar[31];
  int fill;
  for (size_t i = 0; i < p->n_layers; i++)
    done += p->done[i];
  if (!final && now - p->last_draw_ns < 100000000)
    return;
  p->last_draw_ns = now;
  fill = p->total ? (int)(30 * (done > p->total ? p->total : done) / p->total) : 30;
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[30] = '\0';
  d = human_size (done);
  t = human_size (p->total);
  fprintf (stderr, "\r%s [%s] %s/%s  layers %u/%zu  %.1f MB/s \x1b[K", p->ref, bar, d, t,
           p->layers_done, p->n_layers, secs > 0 ? (double)done / 1e6 / secs : 0.0);
  if (final)
    fputc ('\n', stderr);
}

static void
on_progress (const struct imagecache_progress *e, void *user)
{
  struct progress *p = user;
  char id[16];
  if (p->quiet)
    return;
  switch (e->kind)
    {
    case IMAGECACHE_PROGRESS_RESOLVED:
      p->n_layers = e->n_layers;
      p->total = e->total;
      free (p->done);
      p->done = xzalloc ((e->n_layers + 1) * sizeof *p->done);
      if (!p->tty)
        fprintf (stderr, "%s: resolved to %s, %zu layers, %.1f MB\n", p->ref, e->digest,
                 e->n_layers, (double)e->total / 1e6);
      break;
    case IMAGECACHE_PROGRESS_BLOB_START:
      if (!p->tty && e->layer >= 0)
        fprintf (stderr, "layer %d/%zu %s: downloading%s\n", e->layer + 1, e->n_layers,
                 short_id (e->digest, id), e->done ? " (resuming)" : "");
      break;
    case IMAGECACHE_PROGRESS_BLOB_BYTES:
      if (p->done && e->layer >= 0 && (size_t)e->layer < p->n_layers)
        p->done[e->layer] = e->done;
      if (p->tty)
        draw_bar (p, false);
      break;
    case IMAGECACHE_PROGRESS_BLOB_DONE:
      if (p->done && e->layer >= 0 && (size_t)e->layer < p->n_layers)
        p->done[e->layer] = e->total;
      p->blobs_done++;
      if (!p->tty && e->layer >= 0)
        fprintf (stderr, "layer %d/%zu %s: %s\n", e->layer + 1, e->n_layers,
                 short_id (e->digest, id),
                 e->cached ? "already in the store" : "downloaded and verified");
      if (p->tty)
        draw_bar (p, false);
      break;
    case IMAGECACHE_PROGRESS_BLOB_RETRY:
      if (p->tty)
        fputc ('\n', stderr);
      fprintf (stderr, "layer %d/%zu %s: retrying: %s\n", e->layer + 1, e->n_layers,
               short_id (e->digest, id), e->message ? e->message : "");
      break;
    case IMAGECACHE_PROGRESS_LAYER_DONE:
      p->layers_done++;
      if (!p->tty)
        fprintf (stderr, "layer %d/%zu %s: %s\n", e->layer + 1, e->n_layers,
                 short_id (e->digest, id), e->cached ? "already unpacked" : "unpacked");
      if (p->tty)
        draw_bar (p, false);
      break;
    case IMAGECACHE_PROGRESS_DONE:
      if (p->tty && p->done)
        draw_bar (p, true);
      break;
    }
}

/* ------------------------------------------------------------------ pull */

static int
run_pull (int argc, char **argv, const char *cmdname)
{
  static const struct option lo[] = {
    COMMON_LONG_OPTS,
    { "policy", required_argument, NULL, OPT_POLICY },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "no-unpack", no_argument, NULL, OPT_NO_UNPACK },
    { "quiet", no_argument, NULL, 'q' },
    { "stats", no_argument, NULL, OPT_STATS },
    { NULL, 0, NULL, 0 },
  };
  struct common_opts co = { 0 };
  struct imagecache_pull_options po = { .policy = IMAGECACHE_PULL_ALWAYS };
  struct imagecache_pull_stats stats = { 0 };
  struct imagecache_store *store = NULL;
  struct imagecache_image *img = NULL;
  struct progress prog = { 0 };
  cleanup_err berth_err err = NULL;
  bool want_stats = false;
  uint64_t t0;
  int c, r;

  optind = 1;
  while ((c = getopt_long (argc, argv, "qh", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      switch (c)
        {
        case OPT_POLICY:
          if (imagecache_pull_policy_parse (optarg, &po.policy) < 0)
            {
              log_error ("--policy `%s`: want always, if-not-present or never", optarg);
              return 2;
            }
          break;
        case OPT_PLATFORM:
          po.platform = optarg;
          break;
        case OPT_NO_UNPACK:
          po.flags |= IMAGECACHE_PULL_NO_UNPACK;
          break;
        case 'q':
          prog.quiet = true;
          break;
        case OPT_STATS:
          want_stats = true;
          break;
        case 'h':
          printf ("Usage: berth %s [OPTIONS] REF\n\nPulls an image into the store.\n\n%s"
                  "  --policy P       always (default), if-not-present, never\n"
                  "  --platform P     os/arch[/variant] (default: this host)\n"
                  "  --no-unpack      download and verify the blobs only\n"
                  "  --stats          print the pull's counters as JSON on stdout\n"
                  "  -q, --quiet      no progress\n",
                  cmdname, common_help);
          return 0;
        default:
          return 2;
        }
    }
  if (optind != argc - 1)
    {
      log_error ("usage: berth %s [OPTIONS] REF", cmdname);
      return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  prog.tty = isatty (2);
  prog.ref = argv[optind];
  po.progress = on_progress;
  po.progress_user = &prog;
  po.stats = &stats;
  po.cancel = imagecache_cancel_new ();
  active_cancel = po.cancel;
  signal (SIGINT, on_signal);
  signal (SIGTERM, on_signal);
  t0 = berth_now_ns ();
  r = imagecache_pull (store, argv[optind], &po, &img, &err);
  active_cancel = NULL;
  if (prog.tty && !prog.quiet && r < 0)
    fputc ('\n', stderr);
  if (r < 0)
    berth_log_err (BERTH_LOG_ERROR, &err);
  else
    {
      double secs = (double)(berth_now_ns () - t0) / 1e9;
      if (want_stats)
        {
          cleanup_json json_object *o = json_object_new_object ();
          json_object_object_add (o, "name", json_object_new_string (img->name));
          json_object_object_add (o, "id", json_object_new_string (img->manifest_digest));
          json_object_object_add (o, "seconds", json_object_new_double (secs));
          json_object_object_add (o, "blob_bytes", json_object_new_uint64 (stats.blob_bytes));
          json_object_object_add (o, "blobs_fetched",
                                  json_object_new_int ((int)stats.blobs_fetched));
          json_object_object_add (o, "blobs_cached", json_object_new_int ((int)stats.blobs_cached));
          json_object_object_add (o, "layers_unpacked",
                                  json_object_new_int ((int)stats.layers_unpacked));
          json_object_object_add (o, "layers_cached",
                                  json_object_new_int ((int)stats.layers_cached));
          json_object_object_add (o, "requests", json_object_new_int ((int)stats.requests));
          json_object_object_add (o, "retries", json_object_new_int ((int)stats.retries));
          printf ("%s\n", bjson_to_string (o));
        }
      else
        {
          if (!prog.quiet)
            fprintf (stderr, "%s: %s in %.2f s (%.1f MB downloaded)\n", img->name,
                     stats.blobs_fetched ? "pulled" : "up to date", secs,
                     (double)stats.blob_bytes / 1e6);
          printf ("%s\n", img->name);
        }
    }
  imagecache_image_free (img);
  imagecache_cancel_free (po.cancel);
  free (prog.done);
  imagecache_store_close (store);
  return r < 0 ? 1 : 0;
}

int
cmd_pull (int argc, char **argv)
{
  return run_pull (argc, argv, "pull");
}

/* ------------------------------------------------------------------ images */

static int
run_images (int argc, char **argv)
{
  static const struct option lo[] = {
    COMMON_LONG_OPTS,
    { "json", no_argument, NULL, OPT_JSON },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  struct imagecache_image **v = NULL;
  cleanup_err berth_err err = NULL;
  bool json = false, quiet = false;
  size_t n = 0;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "qh", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      switch (c)
        {
        case OPT_JSON:
          json = true;
          break;
        case 'q':
          quiet = true;
          break;
        case 'h':
          printf ("Usage: berth images [--json] [-q]\n\nLists the images in the store.\n\n%s",
                  common_help);
          return 0;
        default:
          return 2;
        }
    }
  if (open_store (&co, &store) < 0)
    return 1;
  if (imagecache_image_list (store, &v, &n, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      imagecache_store_close (store);
      return 1;
    }
  if (json)
    {
      cleanup_json json_object *a = json_object_new_array ();
      for (size_t i = 0; i < n; i++)
        json_object_array_add (a, imagecache_image_to_json (v[i]));
      printf ("%s\n", json_object_to_json_string_ext (a, JSON_C_TO_STRING_PRETTY
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
  else if (quiet)
    {
      char id[16];
      for (size_t i = 0; i < n; i++)
        printf ("%s\n", short_id (v[i]->manifest_digest, id));
    }
  else
    {
      printf ("%-48s %-12s %-10s %-10s %s\n", "NAME", "IMAGE ID", "SIZE", "UNPACKED", "LAST USED");
      for (size_t i = 0; i < n; i++)
        {
          char id[16];
          cleanup_free char *sz = human_size (v[i]->size), *un = human_size (v[i]->unpacked_size),
                            *ago = human_ago (v[i]->last_used_ns);
          printf ("%-48s %-12s %-10s %-10s %s\n", v[i]->name, short_id (v[i]->manifest_digest, id),
                  sz, un, ago);
        }
    }
  imagecache_image_freev (v, n);
  imagecache_store_close (store);
  return 0;
}

int
cmd_images (int argc, char **argv)
{
  return run_images (argc, argv);
}

/* ------------------------------------------------------------------ rmi */

static int
run_rmi (int argc, char **argv)
{
  static const struct option lo[] = { COMMON_LONG_OPTS, { NULL, 0, NULL, 0 } };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  int c, rc = 0;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      if (c == 'h')
        {
          printf ("Usage: berth rmi REF|ID...\n\nRemoves images (refused while a lease holds them) "
                  "and the content "
                  "nothing else uses.\n\n%s",
                  common_help);
          return 0;
        }
      return 2;
    }
  if (optind >= argc)
    {
      log_error ("usage: berth rmi REF|ID...");
      return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  for (int i = optind; i < argc; i++)
    {
      cleanup_err berth_err err = NULL;
      if (imagecache_image_remove (store, argv[i], &err) < 0)
        {
          berth_log_err (BERTH_LOG_ERROR, &err);
          rc = 1;
        }
      else
        printf ("Removed %s\n", argv[i]);
    }
  imagecache_store_close (store);
  return rc;
}

int
cmd_rmi (int argc, char **argv)
{
  return run_rmi (argc, argv);
}

/* ------------------------------------------------------------------ image gc */

/* The steps imagecache_gc reports (imagecache.h, step_hook). */
static const char *const gc_steps[] = { "pruned", "records", "swept", "unlocked", NULL };

/* --stop-at STEP: stop (SIGSTOP) when GC reaches STEP, so a test can kill -9 it at a known
 * point and check that the store is consistent afterwards. */
static void
gc_stop_hook (const char *step, void *data)
{
  const char *want = data;
  if (strcmp (want, step) == 0)
    raise (SIGSTOP);
}

static int
run_gc (int argc, char **argv)
{
  static const struct option lo[] = {
    COMMON_LONG_OPTS,
    { "mode", required_argument, NULL, OPT_MODE },
    { "min-age", required_argument, NULL, OPT_MIN_AGE },
    { "high", required_argument, NULL, OPT_HIGH },
    { "low", required_argument, NULL, OPT_LOW },
    { "stop-at", required_argument, NULL, OPT_STOP_AT },
    { NULL, 0, NULL, 0 },
  };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  struct imagecache_gc_options go = { .mode = IMAGECACHE_GC_PRUNE };
  struct imagecache_gc_config gc;
  struct imagecache_gc_report rep = { 0 };
  cleanup_err berth_err err = NULL;
  const char *min_age = NULL, *high = NULL, *low = NULL;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      switch (c)
        {
        case OPT_MODE:
          if (strcmp (optarg, "prune") == 0)
            go.mode = IMAGECACHE_GC_PRUNE;
          else if (strcmp (optarg, "watermark") == 0)
            go.mode = IMAGECACHE_GC_WATERMARK;
          else if (strcmp (optarg, "all-unused") == 0)
            go.mode = IMAGECACHE_GC_ALL_UNUSED;
          else
            {
              log_error ("--mode `%s`: want prune, watermark or all-unused", optarg);
              return 2;
            }
          break;
        case OPT_MIN_AGE:
          min_age = optarg;
          break;
        case OPT_HIGH:
          high = optarg;
          break;
        case OPT_LOW:
          low = optarg;
          break;
        case OPT_STOP_AT:
          if (!strv_contains ((char *const *)gc_steps, optarg))
            {
              log_error ("--stop-at `%s`: not a GC step (pruned, records, swept or unlocked)",
                         optarg);
              return 2;
            }
          go.step_hook = gc_stop_hook;
          go.step_hook_data = optarg;
          break;
        case 'h':
          printf ("Usage: berth image gc [--mode prune|watermark|all-unused] [--min-age D] [--high "
                  "PCT] [--low PCT]\n\n"
                  "prune: content no image or lease uses, and leftovers of crashes (default)\n"
                  "watermark: prune, then above --high %% disk use remove least recently used "
                  "images down to --low %%\n"
                  "all-unused: prune, then remove every image no lease holds and unused for "
                  "--min-age\n\n"
                  "Testing: --stop-at pruned|records|swept|unlocked stops the process (SIGSTOP) "
                  "when GC reaches that step, so a test can kill -9 it there.\n\n%s",
                  common_help);
          return 0;
        default:
          return 2;
        }
    }
  if (optind != argc)
    {
      log_error ("usage: berth image gc [OPTIONS]");
      return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  /* the store's settings (IMAGE_GC_*), then the flags */
  gc.high_watermark = 85;
  gc.low_watermark = 80;
  gc.min_age_ns = 120ull * 1000000000ull;
  {
    cleanup_berth_config struct berth_config *bc = NULL;
    cleanup_err berth_err e2 = NULL;
    if (berth_config_load (co.config, co.config != NULL, NULL, &bc, &e2) == 0)
      {
        gc.high_watermark = (unsigned)bc->image_gc_high_watermark;
        gc.low_watermark = (unsigned)bc->image_gc_low_watermark;
        gc.min_age_ns = bc->image_gc_min_age;
      }
  }
  if (min_age && berth_parse_duration_ns (min_age, &gc.min_age_ns) < 0)
    {
      log_error ("--min-age `%s`: not a duration", min_age);
      imagecache_store_close (store);
      return 2;
    }
  if ((high && (berth_parse_uint32 (high, &gc.high_watermark) < 0 || gc.high_watermark > 100))
      || (low && (berth_parse_uint32 (low, &gc.low_watermark) < 0 || gc.low_watermark > 100)))
    {
      log_error ("--high/--low: want a percentage (0-100)");
      imagecache_store_close (store);
      return 2;
    }
  go.gc = &gc;
  if (imagecache_gc (store, &go, &rep, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      imagecache_store_close (store);
      return 1;
    }
  for (size_t i = 0; rep.images_removed && rep.images_removed[i]; i++)
    printf ("Removed image %s\n", rep.images_removed[i]);
  {
    cleanup_free char *freed = human_size (rep.bytes_freed);
    printf ("Removed %u blobs, %u layers, %u leftovers; freed %s; disk use %u%% -> %u%%\n",
            rep.blobs_removed, rep.layers_removed, rep.leftovers_removed, freed,
            rep.disk_used_before, rep.disk_used_after);
  }
  imagecache_gc_report_clear (&rep);
  imagecache_store_close (store);
  return 0;
}

/* ------------------------------------------------------------------ image import */

static int
run_import (int argc, char **argv)
{
  static const struct option lo[] = {
    COMMON_LONG_OPTS,
    { "name", required_argument, NULL, OPT_NAME },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "no-unpack", no_argument, NULL, OPT_NO_UNPACK },
    { NULL, 0, NULL, 0 },
  };
  struct common_opts co = { 0 };
  struct imagecache_import_options io = { 0 };
  struct imagecache_store *store = NULL;
  struct imagecache_image **v = NULL;
  cleanup_err berth_err err = NULL;
  size_t n = 0;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      switch (c)
        {
        case OPT_NAME:
          io.name = optarg;
          break;
        case OPT_PLATFORM:
          io.platform = optarg;
          break;
        case OPT_NO_UNPACK:
          io.flags |= IMAGECACHE_PULL_NO_UNPACK;
          break;
        case 'h':
          printf ("Usage: berth image import [--name REF] [--platform P] [--no-unpack] PATH\n\n"
                  "Imports an OCI image layout (directory or tar) or a docker-archive tar, "
                  "offline.\n\n%s",
                  common_help);
          return 0;
        default:
          return 2;
        }
    }
  if (optind != argc - 1)
    {
      log_error ("usage: berth image import [OPTIONS] PATH");
      return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  if (imagecache_import (store, argv[optind], &io, &v, &n, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      imagecache_store_close (store);
      return 1;
    }
  for (size_t i = 0; i < n; i++)
    printf ("%s\n", v[i]->name);
  imagecache_image_freev (v, n);
  imagecache_store_close (store);
  return 0;
}

/* ------------------------------------------------------------------ image inspect */

static int
run_inspect (int argc, char **argv)
{
  static const struct option lo[] = { COMMON_LONG_OPTS, { NULL, 0, NULL, 0 } };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  cleanup_json json_object *a = json_object_new_array ();
  int c, rc = 0;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      if (c == 'h')
        {
          printf ("Usage: berth image inspect REF|ID...\n\nPrints images as a JSON array.\n\n%s",
                  common_help);
          return 0;
        }
      return 2;
    }
  if (optind >= argc)
    {
      log_error ("usage: berth image inspect REF|ID...");
      return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  for (int i = optind; i < argc; i++)
    {
      cleanup_err berth_err err = NULL;
      struct imagecache_image *img = NULL;
      if (imagecache_image_get (store, argv[i], &img, &err) < 0)
        {
          berth_log_err (BERTH_LOG_ERROR, &err);
          rc = 1;
          continue;
        }
      json_object_array_add (a, imagecache_image_to_json (img));
      imagecache_image_free (img);
    }
  printf ("%s\n", json_object_to_json_string_ext (a, JSON_C_TO_STRING_PRETTY
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE));
  imagecache_store_close (store);
  return rc;
}

/* ------------------------------------------------------------------ image check */

static int
run_check (int argc, char **argv)
{
  static const struct option lo[]
      = { COMMON_LONG_OPTS, { "deep", no_argument, NULL, OPT_DEEP }, { NULL, 0, NULL, 0 } };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  cleanup_strv char **problems = NULL;
  cleanup_err berth_err err = NULL;
  bool deep = false;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      if (c == OPT_DEEP)
        deep = true;
      else if (c == 'h')
        {
          printf ("Usage: berth image check [--deep]\n\nChecks that every image's content is in "
                  "the store (--deep: "
                  "and hashes every blob).\n\n%s",
                  common_help);
          return 0;
        }
      else
        return 2;
    }
  if (open_store (&co, &store) < 0)
    return 1;
  if (imagecache_store_check (store, deep, &problems, &err) < 0)
    {
      berth_log_err (BERTH_LOG_ERROR, &err);
      imagecache_store_close (store);
      return 1;
    }
  for (size_t i = 0; problems[i]; i++)
    printf ("%s\n", problems[i]);
  imagecache_store_close (store);
  if (problems[0])
    {
      log_error ("%zu problems in the store", strv_len (problems));
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------------------ image mount / umount */

static char *
mount_lease (const char *dir)
{
  /* one lease per mount point, so umount finds it again */
  unsigned long h = 5381;
  for (const char *p = dir; *p; p++)
    h = h * 33 + (unsigned char)*p;
  return xasprintf ("cli-mount-%016lx", h);
}

static int
run_mount (int argc, char **argv, bool umount)
{
  static const struct option lo[] = {
    COMMON_LONG_OPTS,
    { "ro", no_argument, NULL, OPT_RO },
    { "rw-dir", required_argument, NULL, OPT_RW_DIR },
    { NULL, 0, NULL, 0 },
  };
  struct common_opts co = { 0 };
  struct imagecache_store *store = NULL;
  struct imagecache_rootfs_options ro = { 0 };
  cleanup_err berth_err err = NULL;
  cleanup_free char *lease = NULL, *rw = NULL, *target = NULL;
  const char *rw_dir = NULL;
  int c, r, want = umount ? 1 : 2;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", lo, NULL)) != -1)
    {
      if (common_opt (c, &co))
        continue;
      if (c == OPT_RO)
        ro.read_only = true;
      else if (c == OPT_RW_DIR)
        rw_dir = optarg;
      else if (c == 'h')
        {
          if (umount)
            printf ("Usage: berth image umount [--rw-dir DIR] MOUNTPOINT\n\nUnmounts what `berth "
                    "image mount` mounted "
                    "and removes its writable layer.\n\n%s",
                    common_help);
          else
            printf (
                "Usage: berth image mount [--ro] [--rw-dir DIR] REF MOUNTPOINT\n\nMounts an "
                "image's root "
                "filesystem (overlay, writable layer in --rw-dir, default MOUNTPOINT.rw).\n\n%s",
                common_help);
          return 0;
        }
      else
        return 2;
    }
  if (argc - optind != want)
    {
      log_error (umount ? "usage: berth image umount MOUNTPOINT"
                        : "usage: berth image mount REF MOUNTPOINT");
      return 2;
    }
  target = realpath (argv[argc - 1], NULL);
  if (target == NULL)
    {
      if (umount || errno != ENOENT)
        {
          log_error ("`%s`: %s", argv[argc - 1], strerror (errno));
          return 1;
        }
      target = argv[argc - 1][0] == '/' ? xstrdup (argv[argc - 1]) : NULL;
      if (target == NULL)
        {
          char cwd[4096];
          if (getcwd (cwd, sizeof cwd) == NULL)
            return 1;
          target = xasprintf ("%s/%s", cwd, argv[argc - 1]);
        }
    }
  rw = rw_dir ? xstrdup (rw_dir) : xasprintf ("%s.rw", target);
  lease = mount_lease (target);
  ro.lease_id = lease;
  ro.target = target;
  ro.rw_dir = rw;
  if (open_store (&co, &store) < 0)
    return 1;
  if (umount)
    r = imagecache_rootfs_release (store, &ro, 0, &err);
  else
    {
      struct imagecache_image *img = NULL;
      r = imagecache_image_get (store, argv[optind], &img, &err);
      if (r == 0)
        r = imagecache_rootfs_prepare (store, img, &ro, &err);
      imagecache_image_free (img);
      if (r < 0)
        {
          /* undo what got done (the lease first of all), as berthd does on a failure */
          cleanup_err berth_err e2 = NULL;
          imagecache_rootfs_release (store, &ro, 0, &e2);
        }
    }
  if (r < 0)
    berth_log_err (BERTH_LOG_ERROR, &err);
  else if (!umount)
    printf ("%s\n", target);
  imagecache_store_close (store);
  return r < 0 ? 1 : 0;
}

/* ------------------------------------------------------------------ dispatch */

static void
image_usage (FILE *out)
{
  fprintf (out, "Usage: berth image COMMAND [ARGS]\n\n"
                "Commands:\n"
                "  pull REF          pull an image (also `berth pull`)\n"
                "  ls                list images (also `berth images`)\n"
                "  rm REF|ID...      remove images (also `berth rmi`)\n"
                "  inspect REF...    images as JSON\n"
                "  import PATH       import an OCI layout or a docker-archive\n"
                "  gc                garbage collection\n"
                "  check             check the store's consistency\n"
                "  mount REF DIR     mount an image's root filesystem\n"
                "  umount DIR        unmount it\n"
                "\nRun `berth image COMMAND --help` for its options.\n");
}

int
cmd_image (int argc, char **argv)
{
  const char *sub;
  if (argc < 2)
    {
      image_usage (stderr);
      return 2;
    }
  sub = argv[1];
  argc--;
  argv++;
  if (strcmp (sub, "pull") == 0)
    return run_pull (argc, argv, "image pull");
  if (strcmp (sub, "ls") == 0 || strcmp (sub, "list") == 0)
    return run_images (argc, argv);
  if (strcmp (sub, "rm") == 0)
    return run_rmi (argc, argv);
  if (strcmp (sub, "inspect") == 0)
    return run_inspect (argc, argv);
  if (strcmp (sub, "import") == 0)
    return run_import (argc, argv);
  if (strcmp (sub, "gc") == 0 || strcmp (sub, "prune") == 0)
    return run_gc (argc, argv);
  if (strcmp (sub, "check") == 0)
    return run_check (argc, argv);
  if (strcmp (sub, "mount") == 0)
    return run_mount (argc, argv, false);
  if (strcmp (sub, "umount") == 0 || strcmp (sub, "unmount") == 0)
    return run_mount (argc, argv, true);
  if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0)
    {
      image_usage (stdout);
      return 0;
    }
  log_error ("unknown image command `%s`", sub);
  image_usage (stderr);
  return 2;
}

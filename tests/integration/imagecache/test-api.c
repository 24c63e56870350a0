/* The image cache API as berthd uses it, against a real registry that test-api.sh starts:
 * concurrent pulls on threads (one download per blob, one unpack per layer), cancellation
 * from another thread (and the resume after it), registry errors in the error message,
 * leases against GC, and an overlay rootfs of an image with 100 layers. Environment:
 * IC_REGISTRY (fast, logged proxy), IC_SLOW_REGISTRY (rate-limited proxy), IC_WORK. */
#include "imagecache/internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/mount.h>

static const char *reg, *slow, *work;
static struct imagecache_store *store;
static char *root;
static unsigned test_counter;

static void
setup (void)
{
  struct imagecache_config cfg;
  cleanup_err berth_err err = NULL;
  if (geteuid () != 0)
    cr_skip_test ("needs root");
  reg = getenv ("IC_REGISTRY");
  slow = getenv ("IC_SLOW_REGISTRY");
  work = getenv ("IC_WORK");
  cr_assert (reg && slow && work, "run by test-api.sh");
  imagecache_config_init (&cfg);
  cfg.insecure_registries = xzalloc (3 * sizeof (char *));
  cfg.insecure_registries[0] = xstrdup (reg);
  cfg.insecure_registries[1] = xstrdup (slow);
  cfg.gc.min_age_ns = 0;
  root = xasprintf ("%s/store-%d-%u", work, getpid (), test_counter++);
  cr_assert_eq (imagecache_store_open (root, &cfg, &store, &err), 0, "%s", berth_err_msg (&err));
  imagecache_config_clear (&cfg);
}

static void
teardown (void)
{
  imagecache_store_close (store);
  store = NULL;
  free (root);
}

TestSuite (api, .init = setup, .fini = teardown, .timeout = 300);

static char *
ref (const char *registry, const char *name)
{
  return xasprintf ("%s/api/%s:1", registry, name);
}

/* ------------------------------------------------------------------ concurrency */

struct puller
{
  const char *ref;
  struct imagecache_pull_stats stats;
  struct imagecache_image *img;
  int r;
  char *msg;
};

static void *
pull_thread (void *arg)
{
  struct puller *p = arg;
  struct imagecache_pull_options o = { .policy = IMAGECACHE_PULL_ALWAYS, .stats = &p->stats };
  berth_err err = NULL;
  p->r = imagecache_pull (store, p->ref, &o, &p->img, &err);
  if (p->r < 0)
    p->msg = xstrdup (berth_err_msg (&err));
  berth_err_free (&err);
  return NULL;
}

Test (api, ten_concurrent_pulls_download_each_blob_once)
{
  struct puller p[10];
  pthread_t th[10];
  cleanup_free char *r = ref (reg, "layers5");
  unsigned fetched = 0, unpacked = 0;
  for (int i = 0; i < 10; i++)
    {
      memset (&p[i], 0, sizeof p[i]);
      p[i].ref = r;
      cr_assert_eq (pthread_create (&th[i], NULL, pull_thread, &p[i]), 0);
    }
  for (int i = 0; i < 10; i++)
    pthread_join (th[i], NULL);
  for (int i = 0; i < 10; i++)
    {
      cr_assert_eq (p[i].r, 0, "pull %d: %s", i, p[i].msg);
      cr_assert_eq (p[i].img->n_layers, 5);
      cr_assert_str_eq (p[i].img->manifest_digest, p[0].img->manifest_digest);
      fetched += p[i].stats.blobs_fetched;
      unpacked += p[i].stats.layers_unpacked;
    }
  for (int i = 0; i < 10; i++)
    imagecache_image_free (p[i].img);
  /* the config and every layer blob exactly once, every layer unpacked exactly once */
  cr_assert_eq (unpacked, 5, "layers unpacked %u times", unpacked);
  cr_assert_eq (fetched, 5 + 1, "blobs fetched %u times", fetched);
}

Test (api, images_sharing_a_base_fetch_it_once)
{
  struct puller p[2] = { 0 };
  pthread_t th[2];
  cleanup_free char *a = ref (reg, "shared-a"), *b = ref (reg, "shared-b");
  p[0].ref = a;
  p[1].ref = b;
  for (int i = 0; i < 2; i++)
    cr_assert_eq (pthread_create (&th[i], NULL, pull_thread, &p[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join (th[i], NULL);
  for (int i = 0; i < 2; i++)
    cr_assert_eq (p[i].r, 0, "%s", p[i].msg);
  cr_assert_str_eq (p[0].img->layers[0].chain_id, p[1].img->layers[0].chain_id);
  cr_assert_eq (p[0].stats.layers_unpacked + p[1].stats.layers_unpacked, 3,
                "base once, each top once");
  imagecache_image_free (p[0].img);
  imagecache_image_free (p[1].img);
}

/* ------------------------------------------------------------------ cancellation */

struct cancel_on_bytes
{
  struct imagecache_cancel *c;
  uint64_t after;
};

static void
cancel_progress (const struct imagecache_progress *e, void *user)
{
  struct cancel_on_bytes *cb = user;
  if (e->kind == IMAGECACHE_PROGRESS_BLOB_BYTES && e->done >= cb->after)
    imagecache_cancel_trigger (cb->c);
}

Test (api, cancel_stops_a_pull_and_the_next_resumes)
{
  cleanup_free char *slow_ref = ref (slow, "big");
  cleanup_free char *fast_ref = ref (reg, "big");
  struct cancel_on_bytes cb = { .c = imagecache_cancel_new (), .after = 1u << 20 };
  struct imagecache_pull_options o
      = { .cancel = cb.c, .progress = cancel_progress, .progress_user = &cb };
  struct imagecache_pull_stats st = { 0 };
  struct imagecache_image *img = NULL;
  cleanup_err berth_err err = NULL;
  uint64_t t0 = berth_now_ns ();
  uint64_t partial = 0;

  cr_assert_lt (imagecache_pull (store, slow_ref, &o, &img, &err), 0);
  cr_assert_eq (berth_err_code (&err), ECANCELED, "%s", berth_err_msg (&err));
  cr_assert_null (img);
  /* the rate-limited transfer would take many seconds; cancellation is prompt */
  cr_assert_lt (berth_now_ns () - t0, 20ull * 1000000000ull);
  {
    cleanup_free char *ingest = xasprintf ("%s/ingest", root);
    cleanup_dir DIR *d = opendir (ingest);
    struct dirent *de;
    cr_assert_not_null (d);
    while ((de = readdir (d)) != NULL)
      if (de->d_name[0] != '.')
        {
          struct stat s;
          cleanup_free char *p = xasprintf ("%s/ingest/%s", root, de->d_name);
          if (stat (p, &s) == 0)
            partial += (uint64_t)s.st_size;
        }
  }
  cr_assert_geq (partial, 1u << 20, "the partial download is kept for the next pull");
  imagecache_cancel_free (cb.c);

  /* the same layers through the fast registry: only what is missing is fetched */
  {
    struct imagecache_pull_options o2 = { .stats = &st };
    berth_err_free (&err);
    cr_assert_eq (imagecache_pull (store, fast_ref, &o2, &img, &err), 0, "%s",
                  berth_err_msg (&err));
    cr_assert_lt (st.blob_bytes + partial, img->size + (1u << 20),
                  "resumed: %" PRIu64 " + %" PRIu64, st.blob_bytes, partial);
    imagecache_image_free (img);
  }
}

/* ------------------------------------------------------------------ errors */

Test (api, errors_carry_the_registry_message)
{
  cleanup_free char *r = xasprintf ("%s/api/does-not-exist:1", reg);
  struct imagecache_image *img = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_lt (imagecache_pull (store, r, NULL, &img, &err), 0);
  cr_assert_eq (berth_err_code (&err), ENOENT, "%s", berth_err_msg (&err));
  cr_assert (strstr (berth_err_msg (&err), "repository name not known") != NULL
                 || strstr (berth_err_msg (&err), "manifest unknown") != NULL,
             "%s", berth_err_msg (&err));
  cr_assert (strstr (berth_err_msg (&err), "does-not-exist") != NULL, "%s", berth_err_msg (&err));
}

/* ------------------------------------------------------------------ leases and GC */

Test (api, a_lease_keeps_an_image_from_gc)
{
  cleanup_free char *r = ref (reg, "layers5");
  struct imagecache_image *img = NULL, *again = NULL;
  struct imagecache_gc_options go = { .mode = IMAGECACHE_GC_ALL_UNUSED };
  struct imagecache_gc_report rep = { 0 };
  cleanup_err berth_err err = NULL;
  cleanup_strv char **leases = NULL;

  cr_assert_eq (imagecache_pull (store, r, NULL, &img, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (imagecache_lease_add (store, "task-1.web", img, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_eq (imagecache_lease_list (store, &leases, &err), 0);
  cr_assert_str_eq (leases[0], "task-1.web");
  cr_assert_eq (imagecache_gc (store, &go, &rep, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_null (rep.images_removed[0], "GC removed %s while a lease held it",
                  rep.images_removed[0]);
  imagecache_gc_report_clear (&rep);
  cr_assert_eq (imagecache_image_remove (store, r, &err), -EBUSY);
  cr_assert (strstr (berth_err_msg (&err), "task-1.web") != NULL, "%s", berth_err_msg (&err));
  berth_err_free (&err);
  cr_assert_eq (imagecache_image_get (store, r, &again, &err), 0);
  imagecache_image_free (again);

  cr_assert_eq (imagecache_lease_release (store, "task-1.web", &err), 0);
  cr_assert_eq (imagecache_lease_release (store, "task-1.web", &err), 0, "releasing twice is fine");
  cr_assert_eq (imagecache_gc (store, &go, &rep, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_not_null (rep.images_removed[0]);
  cr_assert_geq (rep.layers_removed, 5);
  imagecache_gc_report_clear (&rep);
  cr_assert_eq (imagecache_image_get (store, r, &again, &err), -ENOENT);
  imagecache_image_free (img);
}

Test (api, bad_lease_ids_are_refused)
{
  cleanup_err berth_err err = NULL;
  cr_assert_lt (imagecache_lease_release (store, "../x", &err), 0);
  cr_assert_lt (imagecache_lease_release (store, "", &err), 0);
}

/* ------------------------------------------------------------------ rootfs */

Test (api, rootfs_of_100_layers)
{
  cleanup_free char *r = ref (reg, "layers100");
  cleanup_free char *target = xasprintf ("%s/rootfs-%d", work, getpid ());
  cleanup_free char *rw = xasprintf ("%s/rw-%d", work, getpid ());
  struct imagecache_rootfs_options ro = { .lease_id = "task-100", .target = target, .rw_dir = rw };
  struct imagecache_image *img = NULL;
  cleanup_err berth_err err = NULL;
  cleanup_free char *bottom = NULL, *top = NULL;
  cleanup_free char *bp = xasprintf ("%s/f0", target), *tp = xasprintf ("%s/f99", target);
  cleanup_free char *over = xasprintf ("%s/over", target);
  cleanup_free char *ov = NULL;
  size_t len;

  cr_assert_eq (imagecache_pull (store, r, NULL, &img, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (img->n_layers, 100);
  cr_assert_eq (imagecache_rootfs_prepare (store, img, &ro, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (berth_read_file_at (AT_FDCWD, bp, 100, &bottom, &len, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_str_eq (bottom, "layer 0\n");
  cr_assert_eq (berth_read_file_at (AT_FDCWD, tp, 100, &top, &len, &err), 0);
  cr_assert_str_eq (top, "layer 99\n");
  cr_assert_eq (berth_read_file_at (AT_FDCWD, over, 100, &ov, &len, &err), 0);
  cr_assert_str_eq (ov, "99\n", "the uppermost layer wins");
  /* the image is in use: GC and removal keep it */
  cr_assert_eq (imagecache_image_remove (store, r, &err), -EBUSY);
  berth_err_free (&err);
  cr_assert_eq (imagecache_rootfs_release (store, &ro, 0, &err), 0, "%s", berth_err_msg (&err));
  cr_assert (!berth_exists_at (AT_FDCWD, bp), "unmounted");
  {
    cleanup_free char *upper = xasprintf ("%s/upper", rw);
    cr_assert (!berth_exists_at (AT_FDCWD, upper), "the writable layer is gone");
  }
  cr_assert_eq (imagecache_rootfs_release (store, &ro, 0, &err), 0, "release twice: %s",
                berth_err_msg (&err));
  cr_assert_eq (imagecache_image_remove (store, r, &err), 0, "%s", berth_err_msg (&err));
  imagecache_image_free (img);
}

/* Pull: resolve a reference (cache first when the policy allows), fetch the index,
 * manifest and config the store lacks, then every layer in parallel on a small pool of
 * threads (download and unpack overlap, bounded per pull and store-wide), and write the
 * image record last, so a record always names complete content. */
#include "internal.h"

#define MAX_LAYER_WORKERS 32

int
imagecache_pull_policy_parse (const char *s, enum imagecache_pull_policy *ret)
{
  if (strcmp (s, "always") == 0)
    *ret = IMAGECACHE_PULL_ALWAYS;
  else if (strcmp (s, "if-not-present") == 0 || strcmp (s, "missing") == 0
           || strcmp (s, "once") == 0 || strcmp (s, "IfNotPresent") == 0)
    *ret = IMAGECACHE_PULL_IF_NOT_PRESENT;
  else if (strcmp (s, "never") == 0 || strcmp (s, "Never") == 0)
    *ret = IMAGECACHE_PULL_NEVER;
  else if (strcmp (s, "Always") == 0)
    *ret = IMAGECACHE_PULL_ALWAYS;
  else
    return -EINVAL;
  return 0;
}

/* ------------------------------------------------------------------ layer pool */

struct layer_run
{
  struct imagecache_store *s;
  struct ic_ctx *ctx;
  struct ic_registry *reg; /* NULL: offline */
  const struct ic_record *rec;
  bool no_unpack;
  atomic_size_t next;
  pthread_mutex_t mu;
  berth_err err;
  bool err_is_stop; /* the kept error only says a sibling stopped us */
};

static void
run_error (struct layer_run *run, berth_err *e)
{
  bool stop = berth_err_code (e) == ECANCELED && !imagecache_cancel_requested (run->ctx->cancel);
  pthread_mutex_lock (&run->mu);
  if (run->err == NULL || (run->err_is_stop && !stop))
    {
      berth_err_move (&run->err, e);
      run->err_is_stop = stop;
    }
  pthread_mutex_unlock (&run->mu);
  berth_err_free (e);
  atomic_store (&run->ctx->failed, true);
}

static void *
layer_worker (void *arg)
{
  struct layer_run *run = arg;
  for (;;)
    {
      size_t i = atomic_fetch_add (&run->next, 1);
      const struct imagecache_layer *l;
      berth_err e = NULL;
      bool cached;
      int r;
      if (i >= run->rec->n_layers)
        break;
      if (ic_ctx_stopped (run->ctx))
        break;
      l = &run->rec->layers[i];
      if (run->no_unpack)
        r = ic_blob_ensure (run->s, run->ctx, run->reg, l->digest, l->size, (int)i, &cached, &e);
      else
        {
          struct ic_layer_want w = {
            .chain_id = l->chain_id,
            .diff_id = l->diff_id,
            .parent_chain_id = i > 0 ? run->rec->layers[i - 1].chain_id : NULL,
            .digest = l->digest,
            .size = l->size,
            .index = (int)i,
          };
          r = ic_layer_ensure (run->s, run->ctx, run->reg, &w, &cached, &e);
        }
      if (r < 0)
        run_error (run, &e);
    }
  return NULL;
}

static int
run_layers (struct imagecache_store *s, struct ic_ctx *ctx, struct ic_registry *reg,
            const struct ic_record *rec, bool no_unpack, berth_err *err)
{
  struct layer_run run = { .s = s, .ctx = ctx, .reg = reg, .rec = rec, .no_unpack = no_unpack };
  size_t nw = rec->n_layers < MAX_LAYER_WORKERS ? rec->n_layers : MAX_LAYER_WORKERS;
  pthread_t th[MAX_LAYER_WORKERS];
  pthread_attr_t attr;
  size_t started = 0;

  if (rec->n_layers == 0)
    return 0;
  atomic_init (&run.next, 0);
  pthread_mutex_init (&run.mu, NULL);
  pthread_attr_init (&attr);
  pthread_attr_setstacksize (&attr, 2 << 20);
  /* the calling thread works too */
  for (size_t i = 1; i < nw; i++)
    {
      if (pthread_create (&th[started], &attr, layer_worker, &run) != 0)
        break;
      started++;
    }
  pthread_attr_destroy (&attr);
  layer_worker (&run);
  for (size_t i = 0; i < started; i++)
    pthread_join (th[i], NULL);
  pthread_mutex_destroy (&run.mu);
  if (run.err)
    {
      berth_err_move (err, &run.err);
      return berth_err_ret (err);
    }
  if (ic_ctx_stopped (ctx))
    return ic_ctx_stop_error (ctx, err);
  return 0;
}

int
ic_ensure_layers_offline (struct imagecache_store *s, struct ic_ctx *ctx, const struct ic_record *r,
                          berth_err *err)
{
  return run_layers (s, ctx, NULL, r, false, err);
}

/* ------------------------------------------------------------------ resolution */

/* A document by digest: from the store when present, else from the registry (and then
 * stored). */
static int
get_document (struct imagecache_store *s, struct ic_registry *reg, const char *digest, char **ret,
              size_t *ret_len, char **ret_type, berth_err *err)
{
  cleanup_free char *d = NULL;
  if (ic_blob_exists (s, digest, NULL))
    {
      atomic_fetch_add (&reg->ctx->blobs_cached, 1);
      return ic_blob_read (s, digest, IC_MAX_MANIFEST_SIZE, ret, ret_len, err);
    }
  if (ic_registry_manifest (reg, digest, false, ret, ret_len, ret_type, &d, err) < 0)
    return -1;
  if (ic_blob_write (s, digest, *ret, *ret_len, err) < 0)
    {
      free (*ret);
      *ret = NULL;
      return -1;
    }
  return 0;
}

static bool
record_complete (struct imagecache_store *s, const struct ic_record *r, bool no_unpack,
                 bool *ret_blobs_only)
{
  bool blobs = true, layers = true;
  if (!ic_blob_exists (s, r->config, NULL))
    return false;
  for (size_t i = 0; i < r->n_layers; i++)
    {
      if (!ic_layer_exists (s, r->layers[i].chain_id))
        layers = false;
      if (!ic_blob_exists (s, r->layers[i].digest, NULL))
        blobs = false;
    }
  *ret_blobs_only = !layers && blobs;
  if (no_unpack)
    return blobs || layers;
  return layers || blobs;
}

static int
pull_local (struct imagecache_store *s, struct ic_ctx *ctx, const struct imagecache_ref *ref,
            bool no_unpack, struct imagecache_image **ret, berth_err *err)
{
  struct ic_record r = { 0 };
  cleanup_close int lockfd = -1;
  bool blobs_only;
  int q;
  /* shared store lock: GC does not pick this image while it is found and touched */
  q = ic_store_lock_shared (s, ctx, &lockfd, err);
  if (q < 0)
    return q;
  if (ic_record_load (s, ref->name, &r, NULL) < 0)
    return 0;
  if (!record_complete (s, &r, no_unpack, &blobs_only))
    {
      ic_record_clear (&r);
      return 0;
    }
  ctx->n_layers = r.n_layers;
  if (!no_unpack && blobs_only)
    {
      q = ic_ensure_layers_offline (s, ctx, &r, err);
      if (q < 0)
        {
          ic_record_clear (&r);
          return berth_err_wrap (err, "unpack %s from the store", ref->name);
        }
    }
  else
    atomic_fetch_add (&ctx->layers_cached, (unsigned)r.n_layers);
  ic_record_touch (s, r.name, NULL);
  r.last_used_ns = berth_realtime_ns ();
  q = ic_image_from_record (s, &r, ret, err);
  ic_record_clear (&r);
  return q < 0 ? q : 1;
}

static int
pull_remote (struct imagecache_store *s, struct ic_ctx *ctx, const struct imagecache_ref *ref,
             const struct ic_platform *platform, bool explicit_platform, bool no_unpack,
             struct imagecache_image **ret, berth_err *err)
{
  struct ic_registry reg;
  cleanup_close int lockfd = -1;
  cleanup_free char *top = NULL, *top_type = NULL, *mbody = NULL, *cbody = NULL, *top_digest = NULL;
  cleanup_free char *manifest_digest = NULL;
  size_t top_len = 0, mlen = 0, clen = 0;
  struct ic_manifest m = { 0 };
  struct imagecache_image_config cfg = { 0 };
  struct ic_record rec = { 0 };
  enum ic_doc_kind kind;
  int r;

  r = ic_store_lock_shared (s, ctx, &lockfd, err);
  if (r < 0)
    return r;
  ic_registry_init (&reg, s, ctx, ref, err);

  /* the top document: by digest from the store when we have it; by tag, ask the
   * registry what the tag is now (HEAD), and fetch it only if it is new to us */
  if (ref->digest)
    {
      top_digest = xstrdup (ref->digest);
      r = get_document (s, &reg, top_digest, &top, &top_len, &top_type, err);
    }
  else
    {
      r = ic_registry_manifest (&reg, ref->tag, true, &top, &top_len, &top_type, &top_digest, err);
      if (r == 0 && top)
        r = ic_blob_write (s, top_digest, top, top_len, err); /* HEAD fell back to GET */
      else if (r == 0 && top_digest && ic_blob_exists (s, top_digest, NULL))
        r = get_document (s, &reg, top_digest, &top, &top_len, &top_type, err);
      else if (r == 0)
        {
          free (top_digest);
          top_digest = NULL;
          r = ic_registry_manifest (&reg, ref->tag, false, &top, &top_len, &top_type, &top_digest,
                                    err);
          if (r == 0)
            r = ic_blob_write (s, top_digest, top, top_len, err);
        }
    }
  if (r < 0)
    goto out;
  if ((r = ic_document_kind (top, top_len, top_type, &kind, err)) < 0)
    goto out;
  if (kind == IC_DOC_INDEX)
    {
      struct ic_index idx = { 0 };
      size_t i;
      if ((r = ic_index_parse (top, top_len, &idx, err)) < 0)
        goto out;
      r = ic_index_select (&idx, platform, &i, err);
      if (r == 0)
        manifest_digest = xstrdup (idx.manifests[i].digest);
      ic_index_clear (&idx);
      if (r < 0)
        goto out;
      if ((r = get_document (s, &reg, manifest_digest, &mbody, &mlen, NULL, err)) < 0)
        goto out;
      if ((r = ic_document_kind (mbody, mlen, NULL, &kind, err)) < 0)
        goto out;
      if (kind != IC_DOC_MANIFEST)
        {
          r = berth_err_set (err, 0,
                             "%s: the index entry for the platform is not an image manifest",
                             manifest_digest);
          goto out;
        }
    }
  else
    {
      manifest_digest = xstrdup (top_digest);
      mbody = steal_pointer (&top);
      mlen = top_len;
    }
  if ((r = ic_manifest_parse (mbody, mlen, &m, err)) < 0)
    goto out;
  {
    uint64_t total = m.config.size;
    for (size_t i = 0; i < m.n_layers; i++)
      total += m.layers[i].size;
    if (total > s->cfg.max_image_size)
      {
        r = ic_err_code (err, EFBIG,
                         "image is %" PRIu64 " bytes compressed, more than max_image_size (%" PRIu64
                         ")",
                         total, s->cfg.max_image_size);
        goto out;
      }
    if (m.config.size > IC_MAX_CONFIG_SIZE)
      {
        r = berth_err_set (err, 0, "image config is %" PRIu64 " bytes, more than %u", m.config.size,
                           IC_MAX_CONFIG_SIZE);
        goto out;
      }
    ctx->n_layers = m.n_layers;
    ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_RESOLVED, -1, manifest_digest, 0, total, false, NULL);
  }

  /* config: through the content store's single flight, like the layers, so concurrent
     pulls of one image fetch it once */
  {
    bool cached;
    r = ic_blob_ensure (s, ctx, &reg, m.config.digest, m.config.size, -1, &cached, err);
    if (r == 0)
      r = ic_blob_read (s, m.config.digest, IC_MAX_CONFIG_SIZE, &cbody, &clen, err);
  }
  if (r < 0)
    goto out;
  if ((r = imagecache_image_config_parse (cbody, clen, &cfg, err)) < 0)
    goto out;
  if (explicit_platform
      && ((cfg.os && strcmp (cfg.os, platform->os) != 0)
          || (cfg.architecture && strcmp (cfg.architecture, platform->architecture) != 0)))
    {
      r = ic_err_code (err, ENOENT, "image is for %s/%s, not %s/%s", cfg.os ? cfg.os : "?",
                       cfg.architecture ? cfg.architecture : "?", platform->os,
                       platform->architecture);
      goto out;
    }
  if ((r = ic_record_fill (&rec, ref->name, top_digest, manifest_digest, &m, &cfg, err)) < 0)
    goto out;

  r = run_layers (s, ctx, &reg, &rec, no_unpack, err);
  if (r < 0)
    goto out;

  rec.created_ns = rec.last_used_ns = berth_realtime_ns ();
  {
    /* the tag still names what the record says: a touch, not a rewrite (two fsyncs, the
       bulk of a warm pull's time) */
    struct ic_record old = { 0 };
    bool same = ic_record_load (s, rec.name, &old, NULL) == 0
                && strcmp (old.digest, rec.digest) == 0 && strcmp (old.manifest, rec.manifest) == 0;
    if (same)
      rec.created_ns = old.created_ns;
    ic_record_clear (&old);
    r = same ? ic_record_touch (s, rec.name, err) : ic_record_store (s, &rec, err);
    if (r < 0)
      goto out;
  }
  r = ic_image_from_record (s, &rec, ret, err);
  if (r == 0)
    ic_ctx_progress (ctx, IMAGECACHE_PROGRESS_DONE, -1, manifest_digest, 0, 0, false, NULL);
out:
  ic_record_clear (&rec);
  ic_manifest_clear (&m);
  imagecache_image_config_clear (&cfg);
  ic_registry_clear (&reg);
  return r;
}

int
imagecache_pull (struct imagecache_store *s, const char *refstr,
                 const struct imagecache_pull_options *opts, struct imagecache_image **ret,
                 berth_err *err)
{
  static const struct imagecache_pull_options defaults = { 0 };
  struct imagecache_ref ref = { 0 };
  struct ic_platform plat = { 0 };
  struct ic_ctx ctx;
  bool no_unpack;
  int r;

  if (opts == NULL)
    opts = &defaults;
  no_unpack = (opts->flags & IMAGECACHE_PULL_NO_UNPACK) != 0;
  if (imagecache_ref_parse (refstr, &ref, err) < 0)
    return -1;
  if (opts->platform)
    {
      if (ic_platform_parse (opts->platform, &plat, err) < 0)
        {
          imagecache_ref_clear (&ref);
          return -1;
        }
    }
  ic_ctx_init (&ctx, s, opts->cancel, opts->progress, opts->progress_user);

  r = 0;
  if (opts->policy != IMAGECACHE_PULL_ALWAYS)
    r = pull_local (s, &ctx, &ref, no_unpack, ret, err);
  if (r == 0 && opts->policy == IMAGECACHE_PULL_NEVER)
    r = ic_err_code (err, ENOENT, "image %s is not in the store and the pull policy is never",
                     ref.name);
  else if (r == 0)
    r = pull_remote (s, &ctx, &ref, opts->platform ? &plat : &s->platform,
                     opts->platform != NULL || s->cfg.platform, no_unpack, ret, err);
  else if (r > 0)
    r = 0;
  if (r < 0)
    berth_err_wrap (err, "pull %s", ref.name);
  if (opts->stats)
    ic_ctx_stats (&ctx, opts->stats);
  ic_ctx_destroy (&ctx);
  ic_platform_clear (&plat);
  imagecache_ref_clear (&ref);
  return r < 0 ? berth_err_ret (err) : 0;
}

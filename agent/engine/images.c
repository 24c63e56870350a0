/* Images for a task's containers: pull (policy per container, task, or berthd's default)
 * and mount the overlay root, on worker threads; and on the way down, unmount and release
 * the image lease. A pull failure stops the task with CannotPullContainerError and the
 * registry's own message. */
#include "engine-internal.h"
#include "imagecache/imagecache.h"

struct pull_job
{
  struct ctr *c;
  struct imagecache_store *store;
  char *ref;
  enum imagecache_pull_policy policy;
  struct imagecache_cancel *cancel;
  char *lease_id, *target, *rw_dir;
  bool release; /* the reverse: unmount and release */
  struct imagecache_image *image;
  berth_err err;
  int r;
};

static void
pull_job_free (struct pull_job *j)
{
  free (j->ref);
  free (j->lease_id);
  free (j->target);
  free (j->rw_dir);
  imagecache_image_free (j->image);
  berth_err_free (&j->err);
  free (j);
}

static void
pull_job_run (void *arg)
{
  struct pull_job *j = arg;
  struct imagecache_rootfs_options ro = { .lease_id = j->lease_id, .target = j->target, .rw_dir = j->rw_dir };

  if (j->release)
    {
      j->r = imagecache_rootfs_release (j->store, &ro, 0, &j->err);
      return;
    }
  {
    struct imagecache_pull_options po = { .policy = j->policy, .cancel = j->cancel };
    j->r = imagecache_pull (j->store, j->ref, &po, &j->image, &j->err);
  }
  if (j->r < 0)
    return;
  if (imagecache_cancel_requested (j->cancel))
    {
      j->r = berth_err_set (&j->err, ECANCELED, "cancelled");
      return;
    }
  j->r = imagecache_rootfs_prepare (j->store, j->image, &ro, &j->err);
  if (j->r < 0)
    berth_err_wrap (&j->err, "prepare the root filesystem");
}

static void
pull_job_done (void *arg)
{
  struct pull_job *j = arg;
  struct ctr *c = j->c;
  struct task *t = c->task;
  bool more = false;

  c->busy = false;
  if (t->pull_cancels)
    t->pull_cancels[c->idx] = NULL;
  imagecache_cancel_free (j->cancel);
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (t->ctrs[i].busy)
      more = true;
  if (!more)
    t->pull_stopped_ns = berth_realtime_ns ();
  if (j->r < 0)
    {
      if (berth_err_code (&j->err) != ECANCELED)
        {
          free (c->reason);
          c->reason = xasprintf ("CannotPullContainerError: %s", berth_err_msg (&j->err));
          task_fail (t, "TaskFailedToStart", "CannotPullContainerError: %s: %s", c->def->image,
                     berth_err_msg (&j->err));
        }
      /* a failed prepare may have left the lease or a half-made upper dir: release it */
      c->rootfs_ready = true;
    }
  else
    {
      imagecache_image_free (c->image);
      c->image = steal_pointer (&j->image);
      free (c->image_digest);
      c->image_digest = xstrdup (c->image->manifest_digest);
      c->rootfs_ready = true;
      if (c->known < CTR_PULLED)
        c->known = CTR_PULLED;
    }
  task_persist (t);
  task_step (t);
  pull_job_free (j);
}

static enum imagecache_pull_policy
policy_for (struct ctr *c)
{
  struct task *t = c->task;
  enum taskdef_pull_policy p = c->def->pull_policy != TASKDEF_PULL_DEFAULT ? c->def->pull_policy : t->def->pull_policy;
  enum imagecache_pull_policy r = IMAGECACHE_PULL_IF_NOT_PRESENT;
  switch (p)
    {
    case TASKDEF_PULL_ALWAYS:
      return IMAGECACHE_PULL_ALWAYS;
    case TASKDEF_PULL_IF_NOT_PRESENT:
      return IMAGECACHE_PULL_IF_NOT_PRESENT;
    case TASKDEF_PULL_NEVER:
      return IMAGECACHE_PULL_NEVER;
    case TASKDEF_PULL_DEFAULT:
      break;
    }
  imagecache_pull_policy_parse (t->engine->default_pull_policy, &r);
  return r;
}

void
images_step (struct task *t)
{
  struct engine *e = t->engine;

  if (t->pull_cancels == NULL)
    t->pull_cancels = xzalloc (t->n_ctrs * sizeof *t->pull_cancels);
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      struct pull_job *j;
      if (c->busy || c->known >= CTR_PULLED)
        continue;
      if (c->known == CTR_NONE)
        c->known = CTR_PENDING;
      if (t->pull_started_ns == 0)
        t->pull_started_ns = berth_realtime_ns ();
      j = xzalloc (sizeof *j);
      j->c = c;
      j->store = e->o.images;
      j->ref = xstrdup (c->def->image);
      j->policy = policy_for (c);
      j->cancel = imagecache_cancel_new ();
      j->lease_id = xstrdup (c->lease_id);
      j->target = xstrdup (c->rootfs);
      j->rw_dir = xstrdup (c->rw_dir);
      t->pull_cancels[i] = j->cancel;
      c->busy = true;
      workers_submit (e->workers, pull_job_run, pull_job_done, j);
    }
}

void
images_cancel (struct task *t)
{
  if (t->pull_cancels == NULL)
    return;
  for (size_t i = 0; i < t->n_ctrs; i++)
    if (t->pull_cancels[i])
      imagecache_cancel_trigger (t->pull_cancels[i]);
}

static void
release_done (void *arg)
{
  struct pull_job *j = arg;
  struct ctr *c = j->c;
  struct task *t = c->task;
  c->busy = false;
  if (j->r < 0)
    {
      log_warning ("task %s: container %s: release root filesystem: %s", t->id, c->name,
                   berth_err_msg (&j->err));
      /* keep rootfs_ready and try again in a second: the task cannot finish
       * deprovisioning with a mount left behind */
      task_persist (t);
      task_schedule_step_after (t, 1000000000ull);
      pull_job_free (j);
      return;
    }
  c->rootfs_ready = false;
  task_persist (t);
  task_step (t);
  pull_job_free (j);
}

void
images_release_step (struct task *t)
{
  struct engine *e = t->engine;
  for (size_t i = 0; i < t->n_ctrs; i++)
    {
      struct ctr *c = &t->ctrs[i];
      struct pull_job *j;
      if (c->busy || !c->rootfs_ready)
        continue;
      j = xzalloc (sizeof *j);
      j->c = c;
      j->store = e->o.images;
      j->release = true;
      j->lease_id = xstrdup (c->lease_id);
      j->target = xstrdup (c->rootfs);
      j->rw_dir = xstrdup (c->rw_dir);
      c->busy = true;
      workers_submit (e->workers, pull_job_run, release_done, j);
    }
}

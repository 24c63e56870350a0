/* libFuzzer target: the layer reader path (magic detection, ISA-L gzip inflate, zstd,
 * libarchive's tar parser) and the extractor, writing into a scratch directory that is
 * emptied after every input. Sizes are bounded so an input cannot fill the disk. */
#include "imagecache/internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

struct mem_src
{
  const uint8_t *data;
  size_t size, off;
};

static ssize_t
mem_read (void *user, void *buf, size_t len, berth_err *err)
{
  struct mem_src *m = user;
  size_t n = m->size - m->off < len ? m->size - m->off : len;
  (void)err;
  memcpy (buf, m->data + m->off, n);
  m->off += n;
  return (ssize_t)n;
}

static char scratch[64];

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct mem_src m = { data, size, 0 };
  struct ic_source src = { mem_read, &m };
  struct ic_unpack_options o = { .max_size = 8u << 20, .allow_devices = false };
  struct ic_unpack_result res;
  berth_err err = NULL;
  int dirfd;

  if (scratch[0] == '\0')
    {
      snprintf (scratch, sizeof scratch, "/tmp/berth-fuzz-tar-%d", getpid ());
      if (mkdir (scratch, 0700) < 0 && errno != EEXIST)
        abort ();
    }
  if (mkdirat (AT_FDCWD, scratch, 0700) < 0 && errno != EEXIST)
    abort ();
  {
    char layer[96];
    snprintf (layer, sizeof layer, "%s/layer", scratch);
    if (mkdir (layer, 0755) < 0 && errno != EEXIST)
      abort ();
    dirfd = open (layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      abort ();
  }
  (void)ic_unpack_layer (&src, dirfd, &o, &res, &err);
  berth_err_free (&err);
  close (dirfd);
  /* whatever the input, nothing may appear beside the layer directory */
  {
    int sfd = open (scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char layer[96];
    if (sfd < 0)
      abort ();
    if (berth_rm_rf_at (sfd, "layer", &err) < 0)
      abort ();
    close (sfd);
    snprintf (layer, sizeof layer, "%s", scratch);
    if (rmdir (layer) < 0) /* fails (ENOTEMPTY) if an entry escaped into scratch */
      abort ();
  }
  return 0;
}

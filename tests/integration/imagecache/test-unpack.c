/* Integration tests of the layer unpacker on crafted tars (libarchive's writer): hostile
 * layers (.., absolute paths, symlink and hardlink escapes, device nodes, trusted.overlay
 * xattrs, decompression bombs, huge sparse files), whiteout conversion, duplicates, and
 * the compressed streams (gzip members, zstd, truncation, trailing data, DiffID). Root:
 * ownership, device nodes and trusted.* xattrs need it. */
#include "imagecache/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

struct mem
{
  char *buf;
  size_t len, cap;
};

static la_ssize_t
mem_write (struct archive *a, void *user, const void *data, size_t n)
{
  struct mem *m = user;
  (void)a;
  if (m->len + n > m->cap)
    {
      m->cap = (m->len + n) * 2;
      m->buf = xrealloc (m->buf, m->cap);
    }
  memcpy (m->buf + m->len, data, n);
  m->len += n;
  return (la_ssize_t)n;
}

enum filter
{
  F_NONE,
  F_GZIP,
  F_ZSTD
};

struct tar
{
  struct archive *a;
  struct mem m;
};

static void
tar_begin (struct tar *t, enum filter f)
{
  memset (t, 0, sizeof *t);
  t->a = archive_write_new ();
  archive_write_set_format_pax (t->a);
  if (f == F_GZIP)
    {
      archive_write_add_filter_gzip (t->a);
      archive_write_set_filter_option (t->a, "gzip", "compression-level", "1");
    }
  else if (f == F_ZSTD)
    archive_write_add_filter_zstd (t->a);
  archive_write_set_bytes_in_last_block (t->a, 1);
  cr_assert_eq (archive_write_open (t->a, &t->m, NULL, mem_write, NULL), ARCHIVE_OK, "%s",
                archive_error_string (t->a));
}

static void
tar_add (struct tar *t, const char *path, mode_t type, mode_t perm, const char *link,
         const void *data, size_t len)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_mtime (e, 1700000000, 0);
  if (type == AE_IFLNK)
    archive_entry_set_symlink (e, link);
  else if (link)
    archive_entry_set_hardlink (e, link);
  if (type == AE_IFREG && !link)
    archive_entry_set_size (e, (la_int64_t)len);
  cr_assert_eq (archive_write_header (t->a, e), ARCHIVE_OK, "%s: %s", path,
                archive_error_string (t->a));
  if (data && len)
    cr_assert_eq (archive_write_data (t->a, data, len), (la_ssize_t)len);
  archive_entry_free (e);
}

static void
tar_file (struct tar *t, const char *path, const char *content)
{
  tar_add (t, path, AE_IFREG, 0644, NULL, content, strlen (content));
}

static struct mem
tar_end (struct tar *t)
{
  cr_assert_eq (archive_write_close (t->a), ARCHIVE_OK);
  archive_write_free (t->a);
  return t->m;
}

/* reading a tar from memory */
struct mem_src
{
  const char *buf;
  size_t len, off;
};

static ssize_t
mem_read (void *user, void *buf, size_t len, berth_err *err)
{
  struct mem_src *s = user;
  size_t n = s->len - s->off < len ? s->len - s->off : len;
  (void)err;
  memcpy (buf, s->buf + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

/* Every test unpacks into tmp/layer; tmp/outside is what an escape would reach. */
static char tmp[256];
static int layerfd = -1;

static int sh (const char *fmt, ...) BERTH_PRINTF (1, 2);

static int
sh (const char *fmt, ...)
{
  va_list ap;
  char *cmd;
  int r;
  va_start (ap, fmt);
  if (vasprintf (&cmd, fmt, ap) < 0)
    abort ();
  va_end (ap);
  r = system (cmd);
  free (cmd);
  return r;
}

static void
setup (void)
{
  cleanup_free char *layer = NULL;
  if (geteuid () != 0)
    cr_skip_test ("needs root");
  snprintf (tmp, sizeof tmp, "/tmp/berth-imagecache-unpack-%d-XXXXXX", getpid ());
  cr_assert_not_null (mkdtemp (tmp));
  cr_assert_eq (
      sh ("mkdir -p %s/layer %s/outside && echo secret >%s/outside/secret", tmp, tmp, tmp), 0);
  layer = xasprintf ("%s/layer", tmp);
  layerfd = open (layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq (layerfd, 0);
}

static void
teardown (void)
{
  if (layerfd >= 0)
    close (layerfd);
  layerfd = -1;
  if (tmp[0] && sh ("rm -rf %s", tmp) != 0)
    cr_log_warn ("cleanup of %s failed", tmp);
}

static int
unpack_opts (struct mem m, uint64_t max, bool devices, struct ic_unpack_result *res, berth_err *err)
{
  struct mem_src ms = { m.buf, m.len, 0 };
  struct ic_source src = { mem_read, &ms };
  struct ic_unpack_options o = { .max_size = max, .allow_devices = devices };
  int r;
  /* the unpacker wants an empty directory */
  cr_assert_eq (sh ("rm -rf %s/layer/* %s/layer/.[!.]*", tmp, tmp), 0);
  r = ic_unpack_layer (&src, layerfd, &o, res, err);
  free (m.buf);
  return r;
}

static int
unpack (struct mem m, berth_err *err)
{
  struct ic_unpack_result res;
  return unpack_opts (m, 1ull << 30, false, &res, err);
}

static void
expect_refused (struct mem m, const char *fragment)
{
  cleanup_err berth_err err = NULL;
  cr_assert_lt (unpack (m, &err), 0, "unpack succeeded; want an error with `%s`", fragment);
  cr_assert (strstr (berth_err_msg (&err), fragment) != NULL, "error `%s` lacks `%s`",
             berth_err_msg (&err), fragment);
}

static void
expect_outside_untouched (void)
{
  cleanup_free char *p = xasprintf ("%s/outside/secret", tmp);
  struct stat st;
  cr_assert_eq (stat (p, &st), 0);
  cr_assert_eq (st.st_nlink, 1, "the file outside got a hard link");
  cr_assert_eq (
      sh ("test \"$(ls -A %s/outside)\" = secret && grep -qx secret %s/outside/secret", tmp, tmp),
      0, "something was written outside the layer");
}

static bool
exists_in_layer (const char *path)
{
  return berth_exists_at (layerfd, path);
}

TestSuite (unpack, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ hostile paths */

Test (unpack, dotdot_is_refused)
{
  struct tar t;
  tar_begin (&t, F_GZIP);
  tar_file (&t, "ok.txt", "fine");
  tar_file (&t, "../outside/pwned", "x");
  expect_refused (tar_end (&t), "`..`");
  expect_outside_untouched ();
}

Test (unpack, dotdot_in_the_middle_is_refused)
{
  struct tar t;
  tar_begin (&t, F_NONE);
  tar_file (&t, "a/b/../../../outside/pwned", "x");
  expect_refused (tar_end (&t), "`..`");
  expect_outside_untouched ();
}

Test (unpack, absolute_path_is_refused)
{
  struct tar t;
  cleanup_free char *p = xasprintf ("%s/outside/pwned", tmp);
  tar_begin (&t, F_NONE);
  tar_file (&t, p, "x");
  expect_refused (tar_end (&t), "absolute path");
  expect_outside_untouched ();
}

Test (unpack, symlink_escape_stays_inside)
{
  /* "esc" points at the real outside directory; writing through it must not leave the
     layer: it resolves inside the layer (and fails there, since nothing is at that path) */
  struct tar t;
  cleanup_free char *target = xasprintf ("%s/outside", tmp);
  cleanup_err berth_err err = NULL;
  tar_begin (&t, F_NONE);
  tar_add (&t, "esc", AE_IFLNK, 0777, target, NULL, 0);
  tar_file (&t, "esc/pwned", "x");
  unpack (tar_end (&t), &err);
  expect_outside_untouched ();
}

Test (unpack, relative_symlink_escape_stays_inside)
{
  struct tar t;
  cleanup_err berth_err err = NULL;
  tar_begin (&t, F_NONE);
  tar_add (&t, "d", AE_IFDIR, 0755, NULL, NULL, 0);
  tar_add (&t, "d/up", AE_IFLNK, 0777, "../../outside", NULL, 0);
  tar_file (&t, "d/up/pwned", "x");
  tar_add (&t, "d/up2", AE_IFLNK, 0777, "../../../../../../../../..", NULL, 0);
  tar_add (&t, "d/up2/tmp", AE_IFDIR, 0755, NULL, NULL, 0);
  unpack (tar_end (&t), &err);
  expect_outside_untouched ();
}

Test (unpack, symlink_escape_then_write_lands_inside)
{
  /* an in-layer target: the file goes through the link, inside the layer */
  struct tar t;
  cleanup_err berth_err err = NULL;
  tar_begin (&t, F_NONE);
  tar_add (&t, "real", AE_IFDIR, 0755, NULL, NULL, 0);
  tar_add (&t, "link", AE_IFLNK, 0777, "/real", NULL, 0);
  tar_file (&t, "link/file", "through the link");
  cr_assert_eq (unpack (tar_end (&t), &err), 0, "%s", berth_err_msg (&err));
  cr_assert (exists_in_layer ("real/file"));
  expect_outside_untouched ();
}

Test (unpack, hardlink_escapes_are_refused)
{
  struct tar t;
  cleanup_free char *target = xasprintf ("%s/outside/secret", tmp);
  tar_begin (&t, F_NONE);
  tar_add (&t, "hl", AE_IFREG, 0644, "../outside/secret", NULL, 0);
  expect_refused (tar_end (&t), "`..`");
  tar_begin (&t, F_NONE);
  tar_add (&t, "hl", AE_IFREG, 0644, target, NULL, 0);
  expect_refused (tar_end (&t), "absolute");
  tar_begin (&t, F_NONE);
  tar_add (&t, "s", AE_IFLNK, 0777, target, NULL, 0);
  tar_add (&t, "hl", AE_IFREG, 0644, "s", NULL, 0); /* links the symlink itself */
  {
    cleanup_err berth_err err = NULL;
    struct stat st;
    cr_assert_eq (unpack (tar_end (&t), &err), 0, "%s", berth_err_msg (&err));
    cr_assert_eq (fstatat (layerfd, "hl", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_assert (S_ISLNK (st.st_mode),
               "a hardlink to a symlink must be the symlink, never its target");
  }
  expect_outside_untouched ();
}

Test (unpack, hardlink_through_symlinked_dir_stays_inside)
{
  struct tar t;
  cleanup_free char *target = xasprintf ("%s/outside", tmp);
  cleanup_err berth_err err = NULL;
  tar_begin (&t, F_NONE);
  tar_add (&t, "s", AE_IFLNK, 0777, target, NULL, 0);
  tar_add (&t, "hl", AE_IFREG, 0644, "s/secret", NULL, 0);
  cr_assert_lt (unpack (tar_end (&t), &err), 0);
  expect_outside_untouched ();
}

Test (unpack, devices_need_permission)
{
  struct tar t;
  struct archive_entry *e;
  struct stat st;
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;

  for (int allowed = 0; allowed < 2; allowed++)
    {
      tar_begin (&t, F_NONE);
      e = archive_entry_new ();
      archive_entry_set_pathname (e, "dev/null");
      archive_entry_set_filetype (e, AE_IFCHR);
      archive_entry_set_perm (e, 0666);
      archive_entry_set_rdevmajor (e, 1);
      archive_entry_set_rdevminor (e, 3);
      cr_assert_eq (archive_write_header (t.a, e), ARCHIVE_OK);
      archive_entry_free (e);
      if (!allowed)
        {
          cr_assert_lt (unpack_opts (tar_end (&t), 1 << 20, false, &res, &err), 0);
          cr_assert (strstr (berth_err_msg (&err), "devices are not allowed") != NULL, "%s",
                     berth_err_msg (&err));
        }
      else
        {
          cr_assert_eq (unpack_opts (tar_end (&t), 1 << 20, true, &res, &err), 0, "%s",
                        berth_err_msg (&err));
          cr_assert_eq (fstatat (layerfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW), 0);
          cr_assert (S_ISCHR (st.st_mode) && major (st.st_rdev) == 1 && minor (st.st_rdev) == 3);
        }
    }
}

Test (unpack, overlay_xattrs_are_refused)
{
  struct tar t;
  struct archive_entry *e;
  tar_begin (&t, F_NONE);
  e = archive_entry_new ();
  archive_entry_set_pathname (e, "d");
  archive_entry_set_filetype (e, AE_IFDIR);
  archive_entry_set_perm (e, 0755);
  archive_entry_xattr_add_entry (e, "trusted.overlay.redirect", "/etc", 4);
  cr_assert_eq (archive_write_header (t.a, e), ARCHIVE_OK);
  archive_entry_free (e);
  expect_refused (tar_end (&t), "trusted.overlay.redirect");
}

/* ------------------------------------------------------------------ bombs */

Test (unpack, too_many_entries_is_bounded)
{
  struct tar t;
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;
  struct mem_src ms;
  struct ic_source src = { mem_read, &ms };
  struct ic_unpack_options o = { .max_size = 1ull << 30, .max_entries = 1000 };
  struct mem m;
  char path[32];
  int files = 0;
  DIR *d;

  /* empty files: a few bytes each compressed, an inode each unpacked */
  tar_begin (&t, F_GZIP);
  for (int i = 0; i < 5000; i++)
    {
      snprintf (path, sizeof path, "f%05d", i);
      tar_add (&t, path, AE_IFREG, 0644, NULL, NULL, 0);
    }
  m = tar_end (&t);
  ms = (struct mem_src){ m.buf, m.len, 0 };
  cr_assert_lt (ic_unpack_layer (&src, layerfd, &o, &res, &err), 0);
  cr_assert_eq (berth_err_code (&err), EFBIG, "%s", berth_err_msg (&err));
  cr_assert (strstr (berth_err_msg (&err), "more than 1000 entries (max_layer_entries)") != NULL,
             "%s", berth_err_msg (&err));
  /* it stopped at the bound, not at the end */
  d = fdopendir (dup (layerfd));
  cr_assert_not_null (d);
  while (readdir (d))
    files++;
  closedir (d);
  cr_assert_leq (files, 1000 + 2, "%d entries written", files);

  /* the same layer within the bound unpacks */
  berth_err_free (&err);
  o.max_entries = 5000;
  ms.off = 0;
  cr_assert_eq (sh ("rm -rf %s/layer/*", tmp), 0);
  cr_assert_eq (ic_unpack_layer (&src, layerfd, &o, &res, &err), 0, "%s", berth_err_msg (&err));
  free (m.buf);
}

Test (unpack, decompression_bomb_is_bounded)
{
  struct tar t;
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;
  size_t n = 64u << 20;
  char *zeros = xzalloc (1 << 20);
  struct stat st;
  tar_begin (&t, F_GZIP);
  {
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, "zeros");
    archive_entry_set_filetype (e, AE_IFREG);
    archive_entry_set_perm (e, 0644);
    archive_entry_set_size (e, (la_int64_t)n);
    cr_assert_eq (archive_write_header (t.a, e), ARCHIVE_OK);
    for (size_t i = 0; i < n; i += 1 << 20)
      archive_write_data (t.a, zeros, 1 << 20);
    archive_entry_free (e);
  }
  free (zeros);
  struct mem m = tar_end (&t);
  cr_assert_lt (m.len, 1u << 20, "the bomb should compress well (%zu)", m.len);
  cr_assert_lt (unpack_opts (m, 8u << 20, false, &res, &err), 0);
  cr_assert_eq (berth_err_code (&err), EFBIG, "%s", berth_err_msg (&err));
  cr_assert (strstr (berth_err_msg (&err), "max_layer_size") != NULL, "%s", berth_err_msg (&err));
  /* it stopped early: at most the bound was written */
  if (fstatat (layerfd, "zeros", &st, 0) == 0)
    cr_assert_leq ((uint64_t)st.st_blocks * 512, 9u << 20);
}

static struct mem
sparse_tar (uint64_t size)
{
  struct tar t;
  struct archive_entry *e = archive_entry_new ();
  static const char data[] = "data at the end";
  tar_begin (&t, F_GZIP);
  archive_entry_set_pathname (e, "sparse");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t)size);
  archive_entry_sparse_add_entry (e, (la_int64_t)(size - 4096), 4096);
  cr_assert_eq (archive_write_header (t.a, e), ARCHIVE_OK, "%s", archive_error_string (t.a));
  {
    char block[4096] = { 0 };
    memcpy (block, data, sizeof data);
    cr_assert_eq (archive_write_data (t.a, block, sizeof block), 4096);
  }
  archive_entry_free (e);
  return tar_end (&t);
}

Test (unpack, huge_sparse_file_is_bounded)
{
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;
  struct mem m = sparse_tar (1ull << 40); /* 1 TiB */
  cr_assert_lt (m.len, 64u << 10);
  cr_assert_lt (unpack_opts (m, 64u << 20, false, &res, &err), 0);
  cr_assert_eq (berth_err_code (&err), EFBIG, "%s", berth_err_msg (&err));
}

Test (unpack, sparse_file_stays_sparse)
{
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;
  struct stat st;
  cr_assert_eq (unpack_opts (sparse_tar (256ull << 20), 1ull << 30, false, &res, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_eq (fstatat (layerfd, "sparse", &st, 0), 0);
  cr_assert_eq (st.st_size, 256ll << 20);
  cr_assert_lt ((uint64_t)st.st_blocks * 512, 1u << 20, "the hole was written out (%lld blocks)",
                (long long)st.st_blocks);
}

/* ------------------------------------------------------------------ whiteouts, duplicates */

Test (unpack, whiteouts_become_overlay_form)
{
  struct tar t;
  cleanup_err berth_err err = NULL;
  struct stat st;
  char v[8];
  tar_begin (&t, F_GZIP);
  tar_add (&t, "d", AE_IFDIR, 0755, NULL, NULL, 0);
  tar_file (&t, "d/.wh..wh..opq", "");
  tar_file (&t, "d/.wh.gone", "");
  tar_file (&t, ".wh.dir-gone", "");
  tar_file (&t, ".wh..wh.plnk", "");
  tar_file (&t, "implicit/parent/file", "x");
  cr_assert_eq (unpack (tar_end (&t), &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (fstatat (layerfd, "d/gone", &st, AT_SYMLINK_NOFOLLOW), 0);
  cr_assert (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0));
  cr_assert_eq (fstatat (layerfd, "dir-gone", &st, AT_SYMLINK_NOFOLLOW), 0);
  cr_assert (S_ISCHR (st.st_mode));
  {
    cleanup_free char *p = xasprintf ("%s/layer/d", tmp);
    cr_assert_eq (getxattr (p, "trusted.overlay.opaque", v, sizeof v), 1);
    cr_assert_eq (v[0], 'y');
  }
  cr_assert (!exists_in_layer ("d/.wh..wh..opq") && !exists_in_layer ("d/.wh.gone")
             && !exists_in_layer (".wh..wh.plnk"));
  cr_assert_eq (fstatat (layerfd, "implicit/parent", &st, 0), 0);
  cr_assert_eq (st.st_mode & 07777, 0755, "implicit parents are 0755 whatever the umask");
}

Test (unpack, later_entries_replace_earlier_ones)
{
  struct tar t;
  cleanup_err berth_err err = NULL;
  struct stat st;
  tar_begin (&t, F_NONE);
  tar_file (&t, "x", "file first");
  tar_add (&t, "x", AE_IFDIR, 0700, NULL, NULL, 0);
  tar_file (&t, "x/inner", "y");
  tar_file (&t, "x", "file again");
  tar_add (&t, "d", AE_IFDIR, 0755, NULL, NULL, 0);
  tar_file (&t, "d/keep", "k");
  tar_add (&t, "d", AE_IFDIR, 0711, NULL, NULL, 0);
  cr_assert_eq (unpack (tar_end (&t), &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (fstatat (layerfd, "x", &st, AT_SYMLINK_NOFOLLOW), 0);
  cr_assert (S_ISREG (st.st_mode) && st.st_size == 10);
  cr_assert_eq (fstatat (layerfd, "d", &st, AT_SYMLINK_NOFOLLOW), 0);
  cr_assert_eq (st.st_mode & 07777, 0711);
  cr_assert (exists_in_layer ("d/keep"), "a directory listed twice keeps its content");
}

/* ------------------------------------------------------------------ streams */

static struct mem
simple_tar (enum filter f)
{
  struct tar t;
  tar_begin (&t, f);
  tar_add (&t, "etc", AE_IFDIR, 0755, NULL, NULL, 0);
  tar_file (&t, "etc/hello", "hello world\n");
  return tar_end (&t);
}

static void
expect_diffid (struct mem compressed, const struct mem *plain)
{
  cleanup_err berth_err err = NULL;
  struct ic_unpack_result res;
  char want[IC_DIGEST_BUF];
  ic_sha256_buf (plain->buf, plain->len, want);
  cr_assert_eq (unpack_opts (compressed, 1 << 30, false, &res, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_str_eq (res.diff_id, want);
  cr_assert_eq (res.tar_bytes, plain->len);
  cr_assert (exists_in_layer ("etc/hello"));
}

Test (unpack, diffid_over_gzip_zstd_and_plain)
{
  struct mem plain = simple_tar (F_NONE);
  struct mem copy = { xmemdup (plain.buf, plain.len), plain.len, plain.len };
  expect_diffid (copy, &plain);
  /* the same tar, compressed by the command-line tools */
  for (int i = 0; i < 2; i++)
    {
      cleanup_free char *in = xasprintf ("%s/plain.tar", tmp);
      cleanup_free char *out = xasprintf ("%s/plain.tar.%s", tmp, i ? "zst" : "gz");
      cleanup_free char *z = NULL;
      size_t zlen;
      cr_assert_eq (berth_write_file_atomic_at (AT_FDCWD, in, plain.buf, plain.len, 0644, NULL), 0);
      cr_assert_eq (i ? sh ("zstd -q -f -o %s %s", out, in) : sh ("gzip -c %s >%s", in, out), 0);
      cr_assert_eq (berth_read_file_at (AT_FDCWD, out, 1 << 20, &z, &zlen, NULL), 0);
      struct mem zm = { steal_pointer (&z), zlen, zlen };
      cr_assert_eq (sh ("rm -rf %s/layer/etc", tmp), 0);
      expect_diffid (zm, &plain);
    }
  free (plain.buf);
}

Test (unpack, concatenated_gzip_members)
{
  /* gzip -c a; gzip -c b: one valid gzip stream of a+b */
  struct mem plain = simple_tar (F_NONE);
  cleanup_free char *in1 = xasprintf ("%s/p1", tmp), *in2 = xasprintf ("%s/p2", tmp);
  cleanup_free char *out = xasprintf ("%s/members.gz", tmp);
  cleanup_free char *z = NULL;
  size_t zlen, half = plain.len / 2;
  cr_assert_eq (berth_write_file_atomic_at (AT_FDCWD, in1, plain.buf, half, 0644, NULL), 0);
  cr_assert_eq (
      berth_write_file_atomic_at (AT_FDCWD, in2, plain.buf + half, plain.len - half, 0644, NULL),
      0);
  cr_assert_eq (sh ("gzip -c %s >%s && gzip -c %s >>%s", in1, out, in2, out), 0);
  cr_assert_eq (berth_read_file_at (AT_FDCWD, out, 1 << 20, &z, &zlen, NULL), 0);
  struct mem zm = { steal_pointer (&z), zlen, zlen };
  expect_diffid (zm, &plain);
  free (plain.buf);
}

Test (unpack, truncated_and_trailing_garbage)
{
  struct mem gz = simple_tar (F_GZIP);
  struct mem cut = { xmemdup (gz.buf, gz.len - 10), gz.len - 10, gz.len - 10 };
  struct mem extra = { xmalloc (gz.len + 16), gz.len + 16, gz.len + 16 };
  memcpy (extra.buf, gz.buf, gz.len);
  memcpy (extra.buf + gz.len, "trailing garbage", 16);
  free (gz.buf);
  expect_refused (cut, "truncated");
  expect_refused (extra, "trailing data");
  {
    struct mem zs = simple_tar (F_ZSTD);
    struct mem zcut = { xmemdup (zs.buf, zs.len - 3), zs.len - 3, zs.len - 3 };
    free (zs.buf);
    expect_refused (zcut, "zstd");
  }
}

Test (unpack, not_a_tar)
{
  struct mem junk
      = { xstrdup ("this is not a tar archive at all, not even close; really"), 56, 56 };
  expect_refused (junk, "tar");
}

/* Unit tests: opening beneath a root (both the openat2 path and the fallback walk),
 * atomic writes and rm -rf. Runs in a private temporary directory; no root needed. */
#include "common/common.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>

static char tmpdir[] = "/tmp/berth-test-fs.XXXXXX";
static int rootfd = -1;

static void
setup (void)
{
  cr_assert_not_null (mkdtemp (tmpdir));
  cr_assert_eq (chdir (tmpdir), 0);
  cr_assert_eq (mkdir ("root", 0755), 0);
  cr_assert_eq (mkdir ("root/etc", 0755), 0);
  cr_assert_eq (mkdir ("root/a", 0755), 0);
  cr_assert_eq (mkdir ("root/a/b", 0755), 0);
  FILE *f = fopen ("root/etc/passwd", "w");
  fputs ("inside\n", f);
  fclose (f);
  f = fopen ("outside", "w");
  fputs ("outside\n", f);
  fclose (f);
  cr_assert_eq (symlink ("/etc/passwd", "root/abs-link"), 0);
  cr_assert_eq (symlink ("../../../../../outside", "root/a/b/rel-escape"), 0);
  cr_assert_eq (symlink ("../../etc", "root/a/b/up"), 0);
  cr_assert_eq (symlink ("loop2", "root/loop1"), 0);
  cr_assert_eq (symlink ("loop1", "root/loop2"), 0);
  rootfd = open ("root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq (rootfd, 0);
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

static void
teardown (void)
{
  close (rootfd);
  cr_assert_eq (chdir ("/"), 0);
  nftw (tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef int (*open_fn) (int, const char *, int, mode_t, berth_err *);

static char *
read_via (open_fn fn, const char *path)
{
  cleanup_err berth_err err = NULL;
  char *buf = NULL;
  int fd = fn (rootfd, path, O_RDONLY, 0, &err);
  cr_assert_geq (fd, 0, "%s: %s", path, berth_err_msg (&err));
  cr_assert_eq (berth_read_fd (fd, 4096, &buf, NULL, &err), 0);
  close (fd);
  return buf;
}

static void
check_containment (open_fn fn)
{
  cleanup_err berth_err err = NULL;
  const char *paths[] = { "/etc/passwd", "etc/passwd", "abs-link", "a/b/up/passwd",
                          "../../../etc/passwd", "a/b/rel-escape" };
  for (size_t i = 0; i < ARRAY_SIZE (paths); i++)
    {
      /* rel-escape points at root/outside, which does not exist: ENOENT, never the host file */
      if (strcmp (paths[i], "a/b/rel-escape") == 0)
        {
          cr_assert_eq (fn (rootfd, paths[i], O_RDONLY, 0, &err), -ENOENT);
          continue;
        }
      cleanup_free char *s = read_via (fn, paths[i]);
      cr_assert_str_eq (s, "inside\n", "%s resolved outside the root", paths[i]);
    }
  cr_assert_eq (fn (rootfd, "loop1", O_RDONLY, 0, &err), -ELOOP);
  cr_assert_eq (fn (rootfd, "etc/passwd/x", O_RDONLY, 0, &err), -ENOTDIR);
}

Test (fs, open_in_root_contains, .init = setup, .fini = teardown)
{
  check_containment (berth_open_in_root);
}

Test (fs, open_in_root_walk_contains, .init = setup, .fini = teardown)
{
  check_containment (berth_open_in_root_walk);
}

Test (fs, walk_creates_inside_root, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  struct stat st;
  /* creating through an absolute symlink lands inside the root */
  cr_assert_eq (symlink ("/etc/newfile", "root/create-link"), 0);
  int fd = berth_open_in_root_walk (rootfd, "create-link", O_WRONLY | O_CREAT, 0600, &err);
  cr_assert_geq (fd, 0, "%s", berth_err_msg (&err));
  close (fd);
  cr_assert_eq (stat ("root/etc/newfile", &st), 0);
  cr_assert_eq (lstat ("/etc/newfile", &st), -1);
}

Test (fs, nofollow_last_component, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  struct stat st;
  int fd = berth_open_in_root_walk (rootfd, "abs-link", O_PATH | O_NOFOLLOW, 0, &err);
  cr_assert_geq (fd, 0);
  cr_assert_eq (fstatat (fd, "", &st, AT_EMPTY_PATH), 0);
  cr_assert (S_ISLNK (st.st_mode));
  close (fd);
}

Test (fs, mkdir_in_root, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  struct stat st;
  int fd = -1;
  cr_assert_eq (berth_mkdir_in_root (rootfd, "/a/b/up/x/y", 0755, &fd, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_geq (fd, 0);
  close (fd);
  cr_assert_eq (stat ("root/etc/x/y", &st), 0);
  cr_assert (S_ISDIR (st.st_mode));
  cr_assert_eq (berth_mkdir_in_root (rootfd, "etc/passwd/z", 0755, NULL, &err), -ENOTDIR);
}

Test (fs, atomic_write_replaces_and_sets_mode, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  cleanup_free char *s = NULL;
  struct stat st;
  cr_assert_eq (berth_write_file_atomic_at (AT_FDCWD, "state.json", "{\"a\":1}", 7, 0600, &err), 0);
  cr_assert_eq (berth_write_file_atomic_at (AT_FDCWD, "root/etc/state.json", "two", 3, 0644, &err), 0);
  cr_assert_eq (berth_write_file_atomic_at (AT_FDCWD, "state.json", "new", 3, 0640, &err), 0);
  cr_assert_eq (berth_read_file_at (AT_FDCWD, "state.json", 100, &s, NULL, &err), 0);
  cr_assert_str_eq (s, "new");
  cr_assert_eq (stat ("state.json", &st), 0);
  cr_assert_eq (st.st_mode & 07777, 0640);
  /* no temp files left */
  DIR *d = opendir (".");
  struct dirent *de;
  while ((de = readdir (d)))
    cr_assert (strstr (de->d_name, ".tmp.") == NULL, "left %s", de->d_name);
  closedir (d);
  cr_assert_lt (berth_write_file_atomic_at (AT_FDCWD, "nodir/x", "a", 1, 0600, &err), 0);
}

Test (fs, replace_without_fsync_is_atomic_too, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  cleanup_free char *s = NULL;
  struct stat st;
  cr_assert_eq (berth_write_file_replace_at (AT_FDCWD, "run.json", "old", 3, 0600, &err), 0);
  cr_assert_eq (berth_write_file_replace_at (AT_FDCWD, "run.json", "newer", 5, 0640, &err), 0);
  cr_assert_eq (berth_read_file_at (AT_FDCWD, "run.json", 100, &s, NULL, &err), 0);
  cr_assert_str_eq (s, "newer");
  cr_assert_eq (stat ("run.json", &st), 0);
  cr_assert_eq (st.st_mode & 07777, 0640);
  DIR *d = opendir (".");
  struct dirent *de;
  while ((de = readdir (d)))
    cr_assert (strstr (de->d_name, ".tmp.") == NULL, "left %s", de->d_name);
  closedir (d);
  cr_assert_lt (berth_write_file_replace_at (AT_FDCWD, "nodir/x", "a", 1, 0600, &err), 0);
}

Test (fs, read_limit, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  char *s = NULL;
  cr_assert_eq (berth_read_file_at (AT_FDCWD, "outside", 3, &s, NULL, &err), -EFBIG);
  cr_assert_null (s);
}

Test (fs, rm_rf_does_not_follow_symlinks, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  struct stat st;
  cr_assert_eq (mkdir ("victim", 0755), 0);
  cr_assert_eq (symlink ("../outside", "root/a/link-out"), 0);
  cr_assert_eq (symlink ("../victim", "root/a/dirlink-out"), 0);
  cr_assert_eq (berth_rm_rf_at (AT_FDCWD, "root", &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (stat ("root", &st), -1);
  cr_assert_eq (stat ("outside", &st), 0);
  cr_assert_eq (stat ("victim", &st), 0);
  cr_assert_eq (berth_rm_rf_at (AT_FDCWD, "root", &err), 0, "idempotent");
}

Test (fs, uint64_file, .init = setup, .fini = teardown)
{
  cleanup_err berth_err err = NULL;
  uint64_t v;
  FILE *f = fopen ("num", "w");
  fputs ("12345\n", f);
  fclose (f);
  cr_assert_eq (berth_read_uint64_file_at (AT_FDCWD, "num", &v, &err), 0);
  cr_assert_eq (v, 12345);
  cr_assert_lt (berth_read_uint64_file_at (AT_FDCWD, "outside", &v, &err), 0);
}

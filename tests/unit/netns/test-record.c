/* Unit tests: task records (JSON round trip, errors that name the field, O_EXCL-like
 * creation, in-place completion, waiting on a locked record). */
#include "netns/netns-internal.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/file.h>

static char tmpdir[] = "/tmp/berth-test-netns-record.XXXXXX";
static int dirfd_ = -1;

static void
setup (void)
{
  cr_assert_not_null (mkdtemp (tmpdir));
  dirfd_ = open (tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
teardown (void)
{
  berth_err err = NULL;
  close (dirfd_);
  cr_assert_eq (berth_rm_rf_at (AT_FDCWD, tmpdir, &err), 0);
}

TestSuite (record, .init = setup, .fini = teardown);

static struct netns_record
sample (void)
{
  struct netns_record r = { 0 };
  r.task_id = xstrdup ("task-1");
  r.mode = NETNS_MODE_AWSVPC;
  r.topology = NETNS_TOPOLOGY_PTP;
  r.complete = true;
  r.has_address = true;
  (void)netns_ip_parse ("10.88.0.9", &r.address);
  r.prefix_len = 32;
  (void)netns_ip_parse ("10.88.0.1", &r.gateway);
  netns_mac_from_ip (r.address, r.mac);
  r.mtu = 1500;
  r.reach_tasks = true;
  r.hostname = xstrdup ("web");
  return r;
}

Test (record, json_round_trip)
{
  struct netns_record r = sample (), back;
  cleanup_json json_object *o = netns_record_to_json (&r);
  const char *text = json_object_to_json_string (o);
  berth_err err = NULL;

  cr_assert_eq (netns_record_parse (text, strlen (text), &back, &err), 0, "%s",
                berth_err_msg (&err));
  cr_assert_str_eq (back.task_id, "task-1");
  cr_assert_eq (back.topology, NETNS_TOPOLOGY_PTP);
  cr_assert_eq (back.address.s_addr, r.address.s_addr);
  cr_assert_eq (memcmp (back.mac, r.mac, 6), 0);
  cr_assert_eq (back.mac[0], 0x02);
  cr_assert_eq (back.mac[5], 9);
  cr_assert (back.reach_tasks);
  cr_assert_str_eq (back.hostname, "web");
  netns_record_clear (&back);
  netns_record_clear (&r);
}

static void
parse_fails (const char *text, const char *needle)
{
  struct netns_record r;
  berth_err err = NULL;
  cr_assert_lt (netns_record_parse (text, strlen (text), &r, &err), 0);
  cr_assert_not_null (strstr (berth_err_msg (&err), needle), "`%s` lacks `%s`",
                      berth_err_msg (&err), needle);
  berth_err_free (&err);
}

Test (record, errors_name_the_field)
{
  parse_fails ("{\"task\":\"a\",\"mode\":\"bogus\",\"topology\":\"ptp\",\"complete\":true}",
               "mode");
  parse_fails ("{\"task\":\"../x\",\"mode\":\"none\",\"topology\":\"ptp\",\"complete\":true}",
               "task");
  parse_fails ("{\"task\":\"a\",\"mode\":\"none\",\"topology\":\"ptp\"}", "complete");
  parse_fails ("{\"task\":\"a\",\"mode\":\"none\",\"topology\":\"ptp\",\"complete\":true,"
               "\"address\":\"10.0.0.300\"}",
               "address");
  parse_fails ("{\"task\":\"a\",\"mode\":\"none\",\"topology\":\"ptp\",\"complete\":true,"
               "\"extra\":1}",
               "extra");
  parse_fails ("[]", "");
  parse_fails ("{\"task\":\"a\",", "");
}

Test (record, create_is_exclusive_and_locked)
{
  struct netns_record r = sample ();
  struct netns_record back;
  berth_err err = NULL;
  int fd = -1, fd2 = -1;

  r.complete = false;
  r.has_address = false;
  cr_assert_eq (netns_record_create (dirfd_, &r, &fd, &err), 0, "%s", berth_err_msg (&err));
  cr_assert_eq (netns_record_create (dirfd_, &r, &fd2, &err), -EEXIST);
  cr_assert_not_null (strstr (berth_err_msg (&err), "already has a network"));
  berth_err_free (&err);
  /* The creator holds the lock. */
  int other = openat (dirfd_, "task-1.json", O_RDONLY);
  cr_assert_eq (flock (other, LOCK_EX | LOCK_NB), -1);
  cr_assert_eq (errno, EWOULDBLOCK);
  close (other);
  /* Completed in place, longer than the intent. */
  r.complete = true;
  r.has_address = true;
  cr_assert_eq (netns_record_update (fd, &r, &err), 0);
  cr_assert_eq (netns_record_load (dirfd_, "task-1", &back, &err), 0, "%s", berth_err_msg (&err));
  cr_assert (back.complete);
  cr_assert (back.has_address);
  netns_record_clear (&back);
  cr_assert_eq (netns_record_remove (dirfd_, "task-1", &err), 1);
  cr_assert_eq (netns_record_remove (dirfd_, "task-1", &err), 0);
  cr_assert_eq (netns_record_load (dirfd_, "task-1", &back, &err), -ENOENT);
  close (fd);
  netns_record_clear (&r);
}

struct waiter
{
  int rc;
};

static void *
wait_for_record (void *data)
{
  struct waiter *w = data;
  berth_err err = NULL;
  int fd = -1;
  w->rc = netns_record_open_locked (dirfd_, "task-1", &fd, &err);
  if (fd >= 0)
    close (fd);
  berth_err_free (&err);
  return NULL;
}

Test (record, waiter_sees_removal)
{
  struct netns_record r = sample ();
  berth_err err = NULL;
  struct waiter w = { 1 };
  pthread_t t;
  int fd = -1;

  cr_assert_eq (netns_record_create (dirfd_, &r, &fd, &err), 0);
  cr_assert_eq (pthread_create (&t, NULL, wait_for_record, &w), 0);
  /* Whether the waiter opened the record before or after the removal, it must not get a
   * record that is gone. */
  cr_assert_eq (netns_record_remove (dirfd_, "task-1", &err), 1);
  close (fd);
  pthread_join (t, NULL);
  cr_assert_eq (w.rc, -ENOENT);
  netns_record_clear (&r);
}

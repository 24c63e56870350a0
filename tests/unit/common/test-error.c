/* Unit tests: the error type and its context chain. */
#include "common/common.h"

#include <criterion/criterion.h>

Test (error, set_with_errno_appends_strerror)
{
  cleanup_err berth_err err = NULL;
  int r = berth_err_set (&err, ENOENT, "open `%s`", "x");
  cr_assert_eq (r, -ENOENT);
  cr_assert_eq (berth_err_code (&err), ENOENT);
  cr_assert_str_eq (berth_err_msg (&err), "open `x`: No such file or directory");
}

Test (error, logical_error_returns_einval)
{
  cleanup_err berth_err err = NULL;
  int r = berth_err_set (&err, 0, "process.args: required");
  cr_assert_eq (r, -EINVAL);
  cr_assert_eq (berth_err_code (&err), 0);
  cr_assert_str_eq (berth_err_msg (&err), "process.args: required");
}

Test (error, wrap_prefixes_context_and_keeps_code)
{
  cleanup_err berth_err err = NULL;
  berth_err_set (&err, EACCES, "write `memory.max`");
  cr_assert_eq (berth_err_wrap (&err, "container `%s`", "c1"), -EACCES);
  cr_assert_str_eq (berth_err_msg (&err), "container `c1`: write `memory.max`: Permission denied");
}

Test (error, set_twice_replaces)
{
  cleanup_err berth_err err = NULL;
  berth_err_set (&err, EIO, "first");
  berth_err_set (&err, 0, "second");
  cr_assert_str_eq (berth_err_msg (&err), "second");
  cr_assert_eq (berth_err_code (&err), 0);
}

Test (error, move_and_free)
{
  berth_err a = NULL, b = NULL;
  berth_err_set (&a, EPERM, "a");
  berth_err_move (&b, &a);
  cr_assert_null (a);
  cr_assert_eq (berth_err_code (&b), EPERM);
  berth_err_free (&b);
  cr_assert_null (b);
  berth_err_free (&b);
}

Test (error, null_err_is_allowed)
{
  cr_assert_eq (berth_err_set (NULL, EBUSY, "ignored"), -EBUSY);
}

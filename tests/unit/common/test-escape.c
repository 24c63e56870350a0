/* Unit tests: berth_name_escape, a string as one safe file name. */
#include "common/common.h"

#include <criterion/criterion.h>

static void
check (const char *in, const char *want)
{
  cleanup_free char *got = berth_name_escape (in);
  cr_assert_str_eq (got, want, "escape(\"%s\")", in);
}

Test (escape, keeps_safe_bytes)
{
  check ("node-1_a.b", "node-1_a.b");
}

Test (escape, urls_and_separators)
{
  check ("https://h:8443/x", "https%3A%2F%2Fh%3A8443%2Fx");
  check ("a/b", "a%2Fb");
  check ("a%2Fb", "a%252Fb");
}

Test (escape, never_dot_or_empty)
{
  check ("", "%00");
  check (".", "%2E");
  check ("..", "%2E.");
  check (".hidden", "%2Ehidden");
  check ("\xff", "%FF");
}

/* Unit tests: JSON parsing and typed getters that name the path of a bad value. */
#include "common/common.h"

#include <criterion/criterion.h>

static json_object *
parse (const char *s)
{
  json_object *o = NULL;
  cleanup_err berth_err err = NULL;
  cr_assert_eq (bjson_parse (s, strlen (s), "test", &o, &err), 0, "%s", berth_err_msg (&err));
  return o;
}

static void
expect_error (int r, berth_err *err, const char *msg)
{
  cr_assert_lt (r, 0);
  cr_assert_str_eq (berth_err_msg (err), msg);
}

Test (json, parse_rejects_trailing_garbage_and_truncation)
{
  cleanup_err berth_err err = NULL;
  json_object *o = NULL;
  const char *t = "{\"a\":1} x";
  cr_assert_lt (bjson_parse (t, strlen (t), "config.json", &o, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "config.json") != NULL);
  t = "{\"a\":";
  cr_assert_lt (bjson_parse (t, strlen (t), "config.json", &o, &err), 0);
  cr_assert (strstr (berth_err_msg (&err), "unexpected end") != NULL);
  t = "{\"a\":1,}";
  cr_assert_lt (bjson_parse (t, strlen (t), "config.json", &o, &err), 0);
  t = "{\"a\":1}\n  ";
  cr_assert_eq (bjson_parse (t, strlen (t), "config.json", &o, &err), 0);
  json_object_put (o);
}

Test (json, parse_depth_is_bounded)
{
  cleanup_err berth_err err = NULL;
  json_object *o = NULL;
  char buf[2000];
  memset (buf, '[', 1000);
  memset (buf + 1000, ']', 1000);
  cr_assert_lt (bjson_parse (buf, sizeof buf, "deep", &o, &err), 0);
}

Test (json, string_getter)
{
  cleanup_json json_object *o = parse ("{\"p\":{\"cwd\":\"/\",\"n\":3}}");
  cleanup_err berth_err err = NULL;
  json_object *p;
  const char *s = NULL;
  cr_assert_eq (bjson_get (o, "", "p", json_type_object, BJSON_REQUIRED, &p, &err), 1);
  cr_assert_eq (bjson_get_string (p, "process", "cwd", 0, &s, &err), 1);
  cr_assert_str_eq (s, "/");
  cr_assert_eq (bjson_get_string (p, "process", "missing", 0, &s, &err), 0);
  expect_error (bjson_get_string (p, "process", "missing", BJSON_REQUIRED, &s, &err), &err,
                "process.missing: required but missing");
  expect_error (bjson_get_string (p, "process", "n", 0, &s, &err), &err,
                "process.n: expected a string, got an integer");
  expect_error (bjson_get_string (o, "", "nope", BJSON_REQUIRED, &s, &err), &err,
                "nope: required but missing");
}

Test (json, nul_in_string_is_refused)
{
  cleanup_err berth_err err = NULL;
  const char t[] = "{\"a\":\"x\\u0000y\"}";
  cleanup_json json_object *o = parse (t);
  const char *s;
  expect_error (bjson_get_string (o, "root", "a", 0, &s, &err), &err,
                "root.a: string contains a NUL character");
}

Test (json, integer_ranges)
{
  cleanup_json json_object *o
      = parse ("{\"a\":-1,\"b\":18446744073709551615,\"c\":1.5,\"d\":4294967296,\"e\":7}");
  cleanup_err berth_err err = NULL;
  uint64_t u;
  uint32_t u32;
  int64_t i;
  int32_t i32;
  expect_error (bjson_get_uint64 (o, "x", "a", 0, UINT64_MAX, &u, &err), &err, "x.a: -1 is negative");
  cr_assert_eq (bjson_get_uint64 (o, "x", "b", 0, UINT64_MAX, &u, &err), 1);
  cr_assert_eq (u, UINT64_MAX);
  expect_error (bjson_get_uint64 (o, "x", "c", 0, UINT64_MAX, &u, &err), &err,
                "x.c: expected an integer, got a number");
  expect_error (bjson_get_uint32 (o, "x", "d", 0, &u32, &err), &err,
                "x.d: 4294967296 is larger than 4294967295");
  cr_assert_eq (bjson_get_int64 (o, "x", "a", 0, INT64_MIN, INT64_MAX, &i, &err), 1);
  cr_assert_eq (i, -1);
  expect_error (bjson_get_int64 (o, "x", "b", 0, INT64_MIN, INT64_MAX, &i, &err), &err,
                "x.b: 18446744073709551615 is out of range [-9223372036854775808, 9223372036854775807]");
  cr_assert_eq (bjson_get_int32 (o, "x", "e", 0, &i32, &err), 1);
  cr_assert_eq (i32, 7);
  expect_error (bjson_get_int64 (o, "x", "e", 0, 0, 5, &i, &err), &err,
                "x.e: 7 is out of range [0, 5]");
}

Test (json, strv_names_bad_element)
{
  cleanup_json json_object *o = parse ("{\"args\":[\"sh\",\"-c\",3]}");
  cleanup_err berth_err err = NULL;
  char **v = NULL;
  expect_error (bjson_get_strv (o, "process", "args", 0, &v, &err), &err,
                "process.args[2]: expected a string, got an integer");
  cr_assert_null (v);
}

Test (json, strv_ok_and_empty)
{
  cleanup_json json_object *o = parse ("{\"a\":[\"x\",\"y\"],\"b\":[]}");
  cleanup_err berth_err err = NULL;
  cleanup_strv char **a = NULL;
  cleanup_strv char **b = NULL;
  cr_assert_eq (bjson_get_strv (o, "", "a", 0, &a, &err), 1);
  cr_assert_eq (strv_len (a), 2);
  cr_assert_str_eq (a[1], "y");
  cr_assert_eq (bjson_get_strv (o, "", "b", 0, &b, &err), 1);
  cr_assert_eq (strv_len (b), 0);
}

Test (json, string_map)
{
  cleanup_json json_object *o = parse ("{\"m\":{\"k\":\"v\",\"x\":\"\"},\"bad\":{\"k\":1}}");
  cleanup_err berth_err err = NULL;
  cleanup_strv char **m = NULL;
  char **bad = NULL;
  cr_assert_eq (bjson_get_string_map (o, "", "m", 0, &m, &err), 1);
  cr_assert (strv_contains (m, "k=v"));
  cr_assert (strv_contains (m, "x="));
  expect_error (bjson_get_string_map (o, "", "bad", 0, &bad, &err), &err,
                "bad.k: expected a string, got an integer");
}

Test (json, check_keys)
{
  cleanup_json json_object *o = parse ("{\"a\":1,\"secrets\":[]}");
  cleanup_err berth_err err = NULL;
  static const char *const known[] = { "a", NULL };
  static const char *const all[] = { "a", "secrets", NULL };
  expect_error (bjson_check_keys (o, "containerDefinitions[0]", known, &err), &err,
                "containerDefinitions[0].secrets: unknown field");
  cr_assert_eq (bjson_check_keys (o, "", all, &err), 0);
}

Test (json, paths)
{
  cleanup_free char *a = bjson_path_key ("", "process");
  cleanup_free char *b = bjson_path_key (a, "args");
  cleanup_free char *c = bjson_path_index (b, 3);
  cr_assert_str_eq (c, "process.args[3]");
}

Test (json, check_keys_on_non_object)
{
  cleanup_json json_object *o = parse ("[1,2]");
  cleanup_err berth_err err = NULL;
  static const char *const known[] = { "a", NULL };
  expect_error (bjson_check_keys (o, "volumes", known, &err), &err,
                "volumes: expected an object, got an array");
}

/* json-c helpers that check types and ranges and name the JSON path of a bad value, so
 * every parser of outside input reports "mounts[2].options[0]: expected a string". */
#include "common.h"

#include <limits.h>

#define BJSON_MAX_DEPTH 64

char *
bjson_path_key (const char *parent, const char *key)
{
  if (parent == NULL || *parent == '\0')
    return xstrdup (key);
  return xasprintf ("%s.%s", parent, key);
}

char *
bjson_path_index (const char *parent, size_t i)
{
  return xasprintf ("%s[%zu]", parent ? parent : "", i);
}

const char *
bjson_type_name (json_type t)
{
  switch (t)
    {
    case json_type_null:
      return "null";
    case json_type_boolean:
      return "a boolean";
    case json_type_double:
      return "a number";
    case json_type_int:
      return "an integer";
    case json_type_object:
      return "an object";
    case json_type_array:
      return "an array";
    case json_type_string:
      return "a string";
    }
  return "an unknown type";
}

int
bjson_parse (const char *text, size_t len, const char *what, json_object **ret, berth_err *err)
{
  struct json_tokener *tok;
  json_object *obj;
  enum json_tokener_error jerr;
  size_t used;

  if (len > INT_MAX)
    return berth_err_set (err, EFBIG, "%s: document too large", what);
  tok = json_tokener_new_ex (BJSON_MAX_DEPTH);
  if (tok == NULL)
    abort ();
  json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
  obj = json_tokener_parse_ex (tok, text, (int) len);
  jerr = json_tokener_get_error (tok);
  used = json_tokener_get_parse_end (tok);
  json_tokener_free (tok);
  if (obj == NULL || jerr != json_tokener_success)
    {
      json_object_put (obj);
      if (jerr == json_tokener_continue)
        return berth_err_set (err, 0, "%s: invalid JSON: unexpected end of input", what);
      return berth_err_set (err, 0, "%s: invalid JSON at byte %zu: %s", what, used,
                            json_tokener_error_desc (jerr));
    }
  for (size_t i = used; i < len; i++)
    if (!strchr (" \t\r\n", text[i]))
      {
        json_object_put (obj);
        return berth_err_set (err, 0, "%s: invalid JSON: trailing data at byte %zu", what, i);
      }
  *ret = obj;
  return 0;
}

int
bjson_parse_file_at (int dirfd, const char *path, size_t max_len, json_object **ret,
                     berth_err *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  int r;

  r = berth_read_file_at (dirfd, path, max_len, &text, &len, err);
  if (r < 0)
    return r;
  return bjson_parse (text, len, path, ret, err);
}

static int
type_error (const char *path, const char *key, json_type want, json_object *got, berth_err *err)
{
  const char *sep = (path && *path && key) ? "." : "";
  return berth_err_set (err, 0, "%s%s%s: expected %s, got %s", path ? path : "", sep,
                        key ? key : "", bjson_type_name (want),
                        bjson_type_name (json_object_get_type (got)));
}

int
bjson_expect (json_object *val, const char *path, json_type type, berth_err *err)
{
  if (json_object_get_type (val) != type)
    return type_error (path, NULL, type, val, err);
  return 0;
}

int
bjson_get (json_object *obj, const char *path, const char *key, json_type type, unsigned flags,
           json_object **ret, berth_err *err)
{
  json_object *v = NULL;

  if (obj == NULL || !json_object_object_get_ex (obj, key, &v))
    {
      if (flags & BJSON_REQUIRED)
        {
          if (path && *path)
            return berth_err_set (err, 0, "%s.%s: required but missing", path, key);
          return berth_err_set (err, 0, "%s: required but missing", key);
        }
      *ret = NULL;
      return 0;
    }
  if (json_object_get_type (v) != type)
    return type_error (path, key, type, v, err);
  *ret = v;
  return 1;
}

int
bjson_get_string (json_object *obj, const char *path, const char *key, unsigned flags,
                  const char **ret, berth_err *err)
{
  json_object *v;
  int r = bjson_get (obj, path, key, json_type_string, flags, &v, err);
  if (r > 0)
    {
      /* A NUL inside a JSON string would silently truncate every C use of it. */
      if (strlen (json_object_get_string (v)) != (size_t) json_object_get_string_len (v))
        {
          cleanup_free char *p = bjson_path_key (path, key);
          return berth_err_set (err, 0, "%s: string contains a NUL character", p);
        }
      *ret = json_object_get_string (v);
    }
  return r;
}

int
bjson_get_bool (json_object *obj, const char *path, const char *key, unsigned flags, bool *ret,
                berth_err *err)
{
  json_object *v;
  int r = bjson_get (obj, path, key, json_type_boolean, flags, &v, err);
  if (r > 0)
    *ret = json_object_get_boolean (v);
  return r;
}

int
bjson_value_int64 (json_object *val, const char *path, int64_t min, int64_t max, int64_t *ret,
                   berth_err *err)
{
  int64_t v;

  if (json_object_get_type (val) != json_type_int)
    return type_error (path, NULL, json_type_int, val, err);
  v = json_object_get_int64 (val);
  /* json-c keeps integers above INT64_MAX as uint64 and clamps them here. */
  if (v == INT64_MAX && json_object_get_uint64 (val) != (uint64_t) INT64_MAX)
    return berth_err_set (err, 0, "%s: %" PRIu64 " is out of range [%" PRId64 ", %" PRId64 "]",
                          path, json_object_get_uint64 (val), min, max);
  if (v < min || v > max)
    return berth_err_set (err, 0, "%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
                          path, v, min, max);
  *ret = v;
  return 0;
}

int
bjson_value_uint64 (json_object *val, const char *path, uint64_t max, uint64_t *ret,
                    berth_err *err)
{
  int64_t s;
  uint64_t v;

  if (json_object_get_type (val) != json_type_int)
    return type_error (path, NULL, json_type_int, val, err);
  s = json_object_get_int64 (val);
  if (s < 0)
    return berth_err_set (err, 0, "%s: %" PRId64 " is negative", path, s);
  v = (s == INT64_MAX) ? json_object_get_uint64 (val) : (uint64_t) s;
  if (v > max)
    return berth_err_set (err, 0, "%s: %" PRIu64 " is larger than %" PRIu64, path, v, max);
  *ret = v;
  return 0;
}

int
bjson_get_int64 (json_object *obj, const char *path, const char *key, unsigned flags,
                 int64_t min, int64_t max, int64_t *ret, berth_err *err)
{
  json_object *v;
  int r;

  if (obj && json_object_object_get_ex (obj, key, &v) && json_object_get_type (v) != json_type_int)
    return type_error (path, key, json_type_int, v, err);
  r = bjson_get (obj, path, key, json_type_int, flags, &v, err);
  if (r > 0)
    {
      cleanup_free char *p = bjson_path_key (path, key);
      int q = bjson_value_int64 (v, p, min, max, ret, err);
      if (q < 0)
        return q;
    }
  return r;
}

int
bjson_get_uint64 (json_object *obj, const char *path, const char *key, unsigned flags,
                  uint64_t max, uint64_t *ret, berth_err *err)
{
  json_object *v;
  int r = bjson_get (obj, path, key, json_type_int, flags, &v, err);
  if (r > 0)
    {
      cleanup_free char *p = bjson_path_key (path, key);
      int q = bjson_value_uint64 (v, p, max, ret, err);
      if (q < 0)
        return q;
    }
  return r;
}

int
bjson_get_uint32 (json_object *obj, const char *path, const char *key, unsigned flags,
                  uint32_t *ret, berth_err *err)
{
  uint64_t v;
  int r = bjson_get_uint64 (obj, path, key, flags, UINT32_MAX, &v, err);
  if (r > 0)
    *ret = (uint32_t) v;
  return r;
}

int
bjson_get_int32 (json_object *obj, const char *path, const char *key, unsigned flags,
                 int32_t *ret, berth_err *err)
{
  int64_t v;
  int r = bjson_get_int64 (obj, path, key, flags, INT32_MIN, INT32_MAX, &v, err);
  if (r > 0)
    *ret = (int32_t) v;
  return r;
}

int
bjson_get_strv (json_object *obj, const char *path, const char *key, unsigned flags,
                char ***ret, berth_err *err)
{
  json_object *arr;
  cleanup_strv char **v = NULL;
  size_t n;
  int r = bjson_get (obj, path, key, json_type_array, flags, &arr, err);
  if (r <= 0)
    return r;
  n = json_object_array_length (arr);
  v = xzalloc ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (arr, i);
      if (json_object_get_type (e) != json_type_string
          || strlen (json_object_get_string (e)) != (size_t) json_object_get_string_len (e))
        {
          cleanup_free char *kp = bjson_path_key (path, key);
          if (json_object_get_type (e) == json_type_string)
            return berth_err_set (err, 0, "%s[%zu]: string contains a NUL character", kp, i);
          return berth_err_set (err, 0, "%s[%zu]: expected a string, got %s", kp, i,
                                bjson_type_name (json_object_get_type (e)));
        }
      v[i] = xstrdup (json_object_get_string (e));
    }
  *ret = steal_pointer (&v);
  return 1;
}

int
bjson_get_string_map (json_object *obj, const char *path, const char *key, unsigned flags,
                      char ***ret, berth_err *err)
{
  json_object *map;
  cleanup_strv char **v = NULL;
  size_t n = 0;
  int r = bjson_get (obj, path, key, json_type_object, flags, &map, err);
  if (r <= 0)
    return r;
  v = xzalloc ((size_t) (json_object_object_length (map) + 1) * sizeof (char *));
  json_object_object_foreach (map, k, val)
    {
      if (json_object_get_type (val) != json_type_string)
        {
          cleanup_free char *kp = bjson_path_key (path, key);
          return berth_err_set (err, 0, "%s.%s: expected a string, got %s", kp, k,
                                bjson_type_name (json_object_get_type (val)));
        }
      v[n++] = xasprintf ("%s=%s", k, json_object_get_string (val));
    }
  *ret = steal_pointer (&v);
  return 1;
}

int
bjson_check_keys (json_object *obj, const char *path, const char *const *known, berth_err *err)
{
  if (json_object_get_type (obj) != json_type_object)
    return type_error (path, NULL, json_type_object, obj, err);
  json_object_object_foreach (obj, k, val)
    {
      bool found = false;
      (void) val;
      for (const char *const *p = known; *p; p++)
        if (strcmp (*p, k) == 0)
          {
            found = true;
            break;
          }
      if (!found)
        {
          if (path && *path)
            return berth_err_set (err, 0, "%s.%s: unknown field", path, k);
          return berth_err_set (err, 0, "%s: unknown field", k);
        }
    }
  return 0;
}

const char *
bjson_to_string (json_object *obj)
{
  return json_object_to_json_string_ext (obj, JSON_C_TO_STRING_PLAIN
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE);
}

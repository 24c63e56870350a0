/* libFuzzer target: berth's JSON document parser and typed getters on hostile input. */
#include "common/common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  json_object *o = NULL;
  berth_err err = NULL;

  if (bjson_parse ((const char *) data, size, "fuzz", &o, &err) == 0)
    {
      const char *s;
      char **v = NULL, **m = NULL;
      uint64_t u;
      int64_t i;
      bool b;
      static const char *const known[] = { "a", "b", NULL };

      (void) bjson_get_string (o, "", "a", 0, &s, &err);
      (void) bjson_get_uint64 (o, "", "b", 0, UINT64_MAX, &u, &err);
      (void) bjson_get_int64 (o, "x", "c", 0, -5, 5, &i, &err);
      (void) bjson_get_bool (o, "x", "d", 0, &b, &err);
      if (bjson_get_strv (o, "x", "e", 0, &v, &err) > 0)
        strv_free (v);
      if (bjson_get_string_map (o, "x", "f", 0, &m, &err) > 0)
        strv_free (m);
      (void) bjson_check_keys (o, "x", known, &err);
      json_object_put (o);
    }
  berth_err_free (&err);
  return 0;
}

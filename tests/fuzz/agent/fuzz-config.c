/* libFuzzer target: berthd.conf parsing (KEY=VALUE lines, typed values) and the dump of
 * an accepted configuration, which must read back. */
#include "agent/config/config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char *const env[] = { "BERTH_LOG_LEVEL=debug", "BERTH_NOT_A_KEY=1", NULL };
  struct berth_config *cfg = NULL;
  berth_err err = NULL;

  if (berth_config_parse ((const char *)data, size, "fuzz", env, &cfg, &err) == 0)
    {
      char *dump = berth_config_dump (cfg);
      struct berth_config *again = NULL;
      if (berth_config_parse (dump, strlen (dump), "dump", env, &again, &err) < 0)
        abort (); /* what berth prints must read back */
      berth_config_free (again);
      free (dump);
      berth_config_free (cfg);
    }
  berth_err_free (&err);
  return 0;
}

/* The error type: an errno plus a message that callers extend with context. */
#include "common.h"

int
berth_err_setv (berth_err *err, int code, const char *fmt, va_list ap)
{
  struct berth_error *e;
  char *msg;

  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  if (code > 0)
    {
      char *full = xasprintf ("%s: %s", msg, strerror (code));
      free (msg);
      msg = full;
    }
  if (err == NULL)
    {
      free (msg);
      return code > 0 ? -code : -EINVAL;
    }
  berth_err_free (err);
  e = xmalloc (sizeof *e);
  e->code = code > 0 ? code : 0;
  e->msg = msg;
  *err = e;
  return code > 0 ? -code : -EINVAL;
}

int
berth_err_set (berth_err *err, int code, const char *fmt, ...)
{
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = berth_err_setv (err, code, fmt, ap);
  va_end (ap);
  return r;
}

int
berth_err_wrap (berth_err *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *msg;

  if (err == NULL || *err == NULL)
    return -EINVAL;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    abort ();
  va_end (ap);
  msg = xasprintf ("%s: %s", ctx, (*err)->msg);
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = msg;
  return berth_err_ret (err);
}

int
berth_err_code (const berth_err *err)
{
  return (err && *err) ? (*err)->code : 0;
}

const char *
berth_err_msg (const berth_err *err)
{
  return (err && *err) ? (*err)->msg : "(no error)";
}

int
berth_err_ret (const berth_err *err)
{
  int c = berth_err_code (err);
  return c > 0 ? -c : -EINVAL;
}

void
berth_err_free (berth_err *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

void
berth_err_move (berth_err *dst, berth_err *src)
{
  berth_err_free (dst);
  *dst = *src;
  *src = NULL;
}

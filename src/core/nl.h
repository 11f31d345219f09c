/* nl.h: status codes and the per-interpreter context shared by every kernel.
 *
 * The C core never includes lua.h. Kernels report failures by returning a
 * status and writing a message into ctx->err; only the Lua bindings turn that
 * into a Lua error (see src/lua/l_util.h: nl_lua_check). */
#ifndef NL_NL_H
#define NL_NL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define NL_VERSION "0.1.0"

typedef enum {
    NL_OK = 0,
    NL_ESHAPE,   /* tensors of the wrong shape or size */
    NL_EARG,     /* a bad scalar argument (negative size, zero stride, ...) */
    NL_ENOMEM,   /* an allocation failed */
    NL_EIO,      /* a file could not be read or written */
    NL_EFORMAT,  /* a file is corrupt or in the wrong format */
    NL_EINTR,    /* interrupted by the user (Ctrl-C) */
    NL_ENUMERIC  /* a NaN or infinity where a finite value was required */
} nl_status;

/* One context per Lua interpreter (kept in the Lua registry, never global). */
typedef struct NlCtx {
    int threads;                         /* thread count for OpenBLAS and our own loops */
    volatile sig_atomic_t interrupted;   /* set by the SIGINT handler; polled by long loops */
    char err[512];                       /* message of the last failure */
} NlCtx;

/* Records a printf-style message in ctx->err and returns `status`. */
nl_status nl_fail(NlCtx *c, nl_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *nl_status_name(nl_status s);

/* Sets the thread count for OpenBLAS (and any threading of our own). */
void nl_set_threads(NlCtx *c, int n);

#endif

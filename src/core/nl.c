/* nl.c: error recording and thread control for the context. */
#include <stdarg.h>
#include <stdio.h>
#include "nl.h"

/* OpenBLAS's own setter; declared here so the core needs no cblas.h. */
void openblas_set_num_threads(int num_threads);

nl_status nl_fail(NlCtx *c, nl_status status, const char *fmt, ...) {
    if (c) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *nl_status_name(nl_status s) {
    switch (s) {
    case NL_OK: return "ok";
    case NL_ESHAPE: return "shape error";
    case NL_EARG: return "bad argument";
    case NL_ENOMEM: return "out of memory";
    case NL_EIO: return "I/O error";
    case NL_EFORMAT: return "format error";
    case NL_EINTR: return "interrupted";
    case NL_ENUMERIC: return "numeric error";
    }
    return "unknown error";
}

void nl_set_threads(NlCtx *c, int n) {
    if (n < 1) n = 1;
    c->threads = n;
    openblas_set_num_threads(n);
}

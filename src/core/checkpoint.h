/* checkpoint.h: a data-only file of named tensors, numbers and strings.
 *
 * Layout (all integers little-endian):
 *   "NLCKPT\r\n"  magic (8 bytes; the CR LF catches text-mode mangling)
 *   u32 version (= 1)   u32 record count
 *   records: u16 name length, name bytes, u8 kind, then
 *     kind 0 tensor: u8 ndim, i64 dims[ndim], f32 data[numel]
 *     kind 1 number: f64
 *     kind 2 string: u32 length, bytes
 *   u32 CRC-32 (zlib) of every byte before it
 * Loading parses and bounds-checks everything; nothing in the file is ever
 * executed, and a truncated or corrupt file is an error naming the offset. */
#ifndef NL_CHECKPOINT_H
#define NL_CHECKPOINT_H
#include <stdint.h>
#include <stdio.h>
#include "tensor.h"

#define NL_CKPT_MAGIC "NLCKPT\r\n"
#define NL_CKPT_VERSION 1u
#define NL_CKPT_MAX_NAME 1024

typedef enum { NL_CKPT_TENSOR = 0, NL_CKPT_NUMBER = 1, NL_CKPT_STRING = 2 } nl_ckpt_kind;

/* One parsed record. Pointers point into the caller's buffer (no copies). */
typedef struct {
    const char *name; size_t name_len;
    nl_ckpt_kind kind;
    NlTensor tensor;          /* kind TENSOR: shape; data NOT aligned, use the raw bytes */
    const unsigned char *raw; /* TENSOR: numel*4 bytes; STRING: the bytes */
    size_t raw_len;
    double number;
} NlCkptRecord;

/* Parses buf[0..len): calls on_record for each record in order (stop by
 * returning non-zero, which is passed back). Validates the CRC first. */
nl_status nl_ckpt_parse(NlCtx *c, const unsigned char *buf, size_t len, const char *fname,
                        int (*on_record)(void *ud, const NlCkptRecord *r), void *ud);

/* The writer streams records into a FILE and keeps the running CRC. */
typedef struct { FILE *f; uint32_t crc; uint32_t count; int failed; } NlCkptWriter;
void nl_ckpt_begin(NlCkptWriter *w, FILE *f, uint32_t count);
void nl_ckpt_put_tensor(NlCkptWriter *w, const char *name, const NlTensor *t);
void nl_ckpt_put_number(NlCkptWriter *w, const char *name, double v);
void nl_ckpt_put_string(NlCkptWriter *w, const char *name, const char *s, size_t len);
int nl_ckpt_end(NlCkptWriter *w);   /* writes the CRC; 0 on success */

#endif

/* test_checkpoint.c: the checkpoint format round-trips, and every truncation
 * or corruption of a valid file is rejected with a message (never a crash). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "core/checkpoint.h"

typedef struct { int count; float sum; double number; char str[32]; } Seen;

static int collect(void *ud, const NlCkptRecord *r) {
    Seen *s = (Seen *)ud;
    s->count++;
    if (r->kind == NL_CKPT_TENSOR) {
        for (int64_t i = 0; i < r->tensor.numel; i++) {
            float v;
            memcpy(&v, r->raw + 4 * i, 4);
            s->sum += v;
        }
    } else if (r->kind == NL_CKPT_NUMBER) {
        s->number = r->number;
    } else if (r->raw_len < sizeof s->str) {
        memcpy(s->str, r->raw, r->raw_len);
        s->str[r->raw_len] = '\0';
    }
    return 0;
}

int main(void) {
    NlCtx c = {0};
    float data[6] = {1, 2, 3, 4, 5, 6.5f};
    NlTensor t = {0};
    int64_t dims[2] = {2, 3};
    nl_tensor_set_shape(&c, &t, 2, dims);
    t.data = data;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    NlCkptWriter w;
    nl_ckpt_begin(&w, f, 3);
    nl_ckpt_put_tensor(&w, "model.1.weight", &t);
    nl_ckpt_put_number(&w, "epoch", 7.25);
    nl_ckpt_put_string(&w, "rng.order", "00ff00ff00ff00ff", 16);
    CHECK(nl_ckpt_end(&w) == 0, "writer succeeds", "writer failed");
    fclose(f);

    Seen s = {0};
    nl_status st = nl_ckpt_parse(&c, (unsigned char *)buf, len, "mem", collect, &s);
    CHECK(st == NL_OK, "round trip parses", "status %d: %s", st, c.err);
    CHECK(s.count == 3 && s.sum == 21.5f && s.number == 7.25 && !strcmp(s.str, "00ff00ff00ff00ff"),
          "round trip values", "count %d sum %g number %g str %s", s.count, s.sum, s.number, s.str);

    /* every proper prefix of the file must be rejected */
    int truncated_ok = 1;
    for (size_t n = 0; n < len; n++) {
        Seen t2 = {0};
        c.err[0] = '\0';
        if (nl_ckpt_parse(&c, (unsigned char *)buf, n, "mem", collect, &t2) == NL_OK || !c.err[0]) truncated_ok = 0;
    }
    CHECK(truncated_ok, "every truncation is an error with a message", "a truncated file parsed");

    /* every single-byte corruption must be rejected (CRC, magic or version) */
    int flipped_ok = 1;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5a;
        Seen t3 = {0};
        if (nl_ckpt_parse(&c, (unsigned char *)buf, len, "mem", collect, &t3) == NL_OK) flipped_ok = 0;
        buf[i] ^= 0x5a;
    }
    CHECK(flipped_ok, "every flipped byte is detected", "a corrupted file parsed");

    memcpy(buf, "#!/bin/s", 8);
    nl_ckpt_parse(&c, (unsigned char *)buf, len, "evil.ckpt", collect, &s);
    CHECK(strstr(c.err, "evil.ckpt") && strstr(c.err, "magic"), "bad magic names the file", "message: %s", c.err);
    free(buf);
    return check_done();
}

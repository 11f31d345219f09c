/* fuzz_checkpoint.c: libFuzzer harness for the checkpoint parser
 * (src/core/checkpoint.c). Any input must parse or fail with a message;
 * ASan catches any out-of-bounds read. The CRC would stop almost every
 * mutation at the door, so the harness also re-signs the input with a valid
 * CRC and parses it again, which lets the fuzzer reach the record parser. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/checkpoint.h"

static int touch(void *ud, const NlCkptRecord *r) {
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < r->raw_len; i++) sink ^= r->raw[i];   /* read every byte the record claims */
    for (size_t i = 0; i < r->name_len; i++) sink ^= (unsigned char)r->name[i];
    (void)ud; (void)sink;
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    NlCtx c = {0};
    nl_ckpt_parse(&c, data, size, "fuzz", touch, NULL);
    if (size >= 20) {
        unsigned char *copy = malloc(size);
        memcpy(copy, data, size);
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), copy, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) copy[size - 4 + i] = (unsigned char)(crc >> (8 * i));
        nl_ckpt_parse(&c, copy, size, "fuzz", touch, NULL);
        free(copy);
    }
    return 0;
}

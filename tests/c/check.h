/* check.h: a tiny TAP-like checker for the C unit tests (no Lua needed).
 * CHECK prints "ok N - name" or "not ok N - name: message"; tests/run.sh
 * counts those lines. End main() with `return check_done();`. */
#ifndef NL_CHECK_H
#define NL_CHECK_H
#include <stdio.h>

static int check_count, check_failed;

#define CHECK(cond, name, ...)                                             \
    do {                                                                   \
        check_count++;                                                     \
        if (cond) {                                                        \
            printf("ok %d - %s\n", check_count, name);                     \
        } else {                                                           \
            check_failed++;                                                \
            printf("not ok %d - %s: ", check_count, name);                 \
            printf(__VA_ARGS__);                                           \
            printf("  (%s:%d)\n", __FILE__, __LINE__);                     \
        }                                                                  \
        fflush(stdout);                                                    \
    } while (0)

static inline int check_done(void) {
    printf("# %d checks, %d failed\n", check_count, check_failed);
    return check_failed ? 1 : 0;
}
#endif

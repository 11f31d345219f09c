/* main.c: the `normlab` program. Embeds Lua 5.4 with the normlab library.
 *
 *   normlab                 interactive REPL (stdin a terminal), else runs stdin
 *   normlab FILE [ARG...]   runs a script; `arg` is set as the standalone lua does
 *   normlab -e CODE         runs a chunk          normlab -    runs stdin
 *
 * The message handler adds a traceback, and SIGINT stops the running chunk
 * (a hook raises "interrupted!") instead of killing the process, as in lua.c;
 * it also sets ctx->interrupted, which long C loops poll. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "l_util.h"
#include "repl.h"

static lua_State *running_state;   /* only for the signal handler */
static NlCtx *running_ctx;

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
    signal(sig, SIG_DFL);   /* a second Ctrl-C kills the process */
    if (running_ctx) running_ctx->interrupted = 1;
    lua_sethook(running_state, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below its `narg` arguments with the handler and SIGINT hook in place. */
int nl_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    running_state = L;
    running_ctx = nl_lua_ctx(L);
    running_ctx->interrupted = 0;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        fprintf(stderr, "normlab: %s\n", lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* Finds lua/normlab/init.lua: $NORMLAB_LUA_DIR, beside the executable (a build
 * tree), or the installed share directory. */
static void set_package_path(lua_State *L) {
    char dir[4096] = "", probe[4200];
    const char *env = getenv("NORMLAB_LUA_DIR");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        if (n > 0) {
            dir[n] = '\0';
            char *slash = strrchr(dir, '/');
            if (slash) *slash = '\0';
            /* the executable may sit in the repository or in build-asan/ below it */
            /* a build tree (./lua), build-asan/ below it (../lua), or an
             * installed PREFIX/bin (../share/normlab/lua), wherever PREFIX is */
            static const char *const rel[] = { "/lua", "/../lua", "/../share/normlab/lua" };
            int found = 0;
            for (int i = 0; i < 3 && !found; i++) {
                snprintf(probe, sizeof probe, "%s%s/normlab/init.lua", dir, rel[i]);
                if (file_exists(probe)) { strcat(dir, rel[i]); found = 1; }
            }
            if (!found) snprintf(dir, sizeof dir, "%s", NL_INSTALL_LUA_DIR);
        } else {
            snprintf(dir, sizeof dir, "%s", NL_INSTALL_LUA_DIR);
        }
    }
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static int load_library(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "normlab");
    int status = nl_docall(L, 1, 1);
    if (status != LUA_OK) return report(L, status);
    lua_setglobal(L, "normlab");
    return LUA_OK;
}

/* arg = { [-k..-1] = program and options, [0] = script, [1..] = script arguments } */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    lua_createtable(L, argc - script, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, const char *fname, char **args, int nargs) {
    int status = luaL_loadfile(L, fname);   /* fname NULL: stdin */
    if (status != LUA_OK) return report(L, status);
    for (int i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
    return report(L, nl_docall(L, nargs, 0));
}

static int run_string(lua_State *L, const char *code) {
    int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    if (status == LUA_OK) status = nl_docall(L, 0, 0);
    return report(L, status);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: normlab [options] [script [args...]]\n"
        "  (no arguments)   interactive REPL when stdin is a terminal, else run stdin\n"
        "  script [args]    run a Lua script with the normlab library loaded\n"
        "  -e CODE          run CODE (may be repeated; runs before a script)\n"
        "  -i               enter the REPL after running -e chunks / the script\n"
        "  -                run standard input\n"
        "  --threads N      threads for OpenBLAS and normlab's own loops (default: NORMLAB_THREADS or all cores)\n"
        "  -h, --help       this help\n"
        "  -v, --version    print the version\n"
        "Environment: NORMLAB_DATA (data root), NORMLAB_HISTORY (REPL history file),\n"
        "             NORMLAB_LUA_DIR (where lua/normlab lives), NORMLAB_THREADS.\n");
}

/* OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its
 * Prescott (SSE3) kernels, 3-5x slower here. When the user has not chosen a
 * core type, pick the AVX-512 or AVX2 kernels from CPUID. OpenBLAS reads the
 * variable when it is loaded, before main(), so the program re-executes
 * itself once. An OPENBLAS_CORETYPE already set is always left alone, and
 * NORMLAB_BLAS_AUTO=0 turns this off. */
static void choose_blas_kernels(char **argv) {
    const char *off = getenv("NORMLAB_BLAS_AUTO");
    if (getenv("OPENBLAS_CORETYPE") || (off && !strcmp(off, "0")) || getenv("NORMLAB_BLAS_CHOSEN")) return;
    __builtin_cpu_init();
    const char *core = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "Haswell" : NULL;
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("NORMLAB_BLAS_CHOSEN", core, 1);   /* never loop, and lets scripts report it */
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");            /* exec failed: carry on with the default */
}

static int default_threads(void) {
    const char *env = getenv("NORMLAB_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int main(int argc, char **argv) {
    choose_blas_kernels(argv);
    int interactive = 0, script = 0, threads = default_threads(), ran_code = 0;
    /* first pass: options that must be known before the library loads */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) { printf("normlab %s (%s)\n", NL_VERSION, LUA_RELEASE); return 0; }
        if (!strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc || atoi(argv[i + 1]) < 1) { fprintf(stderr, "normlab: --threads needs a positive number\n"); return 2; }
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-e")) {
            if (i + 1 >= argc) { fprintf(stderr, "normlab: -e needs an argument\n"); usage(stderr); return 2; }
            i++;
        } else if (!strcmp(argv[i], "-i")) {
            interactive = 1;
        } else if (!strcmp(argv[i], "--")) {
            if (i + 1 < argc) script = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "normlab: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            script = i;   /* a file name or "-" */
            break;
        }
    }

    lua_State *L = luaL_newstate();
    if (!L) { fprintf(stderr, "normlab: cannot create the Lua state (out of memory)\n"); return 1; }
    luaL_openlibs(L);
    nl_lua_open(L);
    nl_set_threads(nl_lua_ctx(L), threads);
    set_package_path(L);
    create_arg_table(L, argv, argc, script ? script : argc);
    int status = load_library(L);

    for (int i = 1; status == LUA_OK && i < (script ? script : argc); i++) {
        if (!strcmp(argv[i], "-e")) { status = run_string(L, argv[++i]); ran_code = 1; }
        else if (!strcmp(argv[i], "--threads")) i++;
    }
    if (status == LUA_OK) {
        if (script) {
            const char *fname = strcmp(argv[script], "-") ? argv[script] : NULL;
            status = run_script(L, fname, argv + script + 1, argc - script - 1);
        } else if (!ran_code && !interactive) {
            if (isatty(STDIN_FILENO)) interactive = 1;
            else status = run_script(L, NULL, NULL, 0);
        }
    }
    if (status == LUA_OK && interactive) status = nl_repl_run(L);
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}

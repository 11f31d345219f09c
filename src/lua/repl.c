/* repl.c: normlab's interactive prompt, lua.c's doREPL on GNU readline.
 *
 *   > 1 + 1            expressions print their values ("return " .. line is tried first)
 *   > function f(x)    an incomplete chunk (the parser stops at <eof>) continues
 *   >> return x end    with the ">> " prompt
 *   > ?nn.Conv2d       help: the same as normlab.help.query("nn.Conv2d")
 *
 * Readline runs through its callback interface so that the SIGINT handler does
 * nothing but set flags (and wake the prompt's select through a self-pipe): at
 * the prompt Ctrl-C clears the line (and drops an
 * unfinished chunk); while a chunk runs it sets a hook that raises
 * "interrupted!" in the chunk (lua.c's laction) and sets ctx->interrupted, which
 * long C loops poll. Ctrl-D on an empty line leaves.
 *
 * History: one entry per chunk (multi-line chunks stay one entry, written with
 * timestamp lines so they read back whole), appended to the file after every
 * chunk, at most HISTORY_MAX entries. The file is $NORMLAB_HISTORY, else
 * ~/.normlab_history; NORMLAB_HISTORY="" or an unwritable file means no file.
 *
 * Completion, printing of results and help live in lua/normlab/repl.lua. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lua.h>
#include <lauxlib.h>
#include "l_util.h"
#include "repl.h"

#define PROMPT "> "
#define PROMPT2 ">> "
#define HISTORY_MAX 1000
#define EOFMARK "<eof>"
#define MARKLEN (sizeof(EOFMARK) / sizeof(char) - 1)

enum { READ_OK, READ_EOF, READ_INTR };   /* results of read_line */
#define STATUS_EOF (-1)                  /* loadline: Ctrl-D at the prompt */
#define STATUS_SKIP (-2)                 /* loadline: Ctrl-C, nothing to run */

/* The signal handler and readline's callbacks take no user pointer, so the one
 * REPL of the process keeps its state here (as lua.c keeps globalL). */
static lua_State *repl_L;
static NlCtx *repl_ctx;
static volatile sig_atomic_t in_chunk;      /* a chunk is running: Ctrl-C stops it */
static volatile sig_atomic_t got_sigint;    /* Ctrl-C at the prompt */
static volatile sig_atomic_t got_sigwinch;
static volatile sig_atomic_t presses;       /* Ctrl-C presses during the current chunk */
static int wake_pipe[2] = { -1, -1 };      /* the handlers write a byte: wakes the prompt's select */
static char *history_file;                  /* NULL: no history file */
static const char REPL_KEY = 'r';           /* registry key: the normlab.repl module table */

/* ---------------------------------------------------------------- signals */

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* Wakes read_line's select. The signal may be handled by another thread (OpenBLAS
 * starts a pool), so a flag alone would wait for the next key press. */
static void wake(void) {
    if (wake_pipe[1] < 0) return;
    int saved = errno;
    ssize_t w = write(wake_pipe[1], "", 1);
    (void)w;
    errno = saved;
}

static void on_sigint(int sig) {
    if (!in_chunk) { got_sigint = 1; wake(); return; }
    repl_ctx->interrupted = 1;   /* long C loops poll this between mini-batches */
    /* lua_sethook is safe to call from a signal handler (see lua.c: laction) */
    lua_sethook(repl_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    if (++presses == 3) {   /* a C call that never polls: let the next press kill us */
        static const char msg[] = "\nnormlab: still running; press Ctrl-C once more to quit normlab\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        signal(sig, SIG_DFL);
    }
}

static void on_sigwinch(int sig) { (void)sig; got_sigwinch = 1; wake(); }

/* SIGINT without SA_RESTART, so that a chunk blocked in a read (io.read) gets
 * EINTR and reaches the hook; SIGWINCH with it, so resizing never fails a read. */
static void set_handler(int sig, void (*fn)(int), struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = sig == SIGINT ? 0 : SA_RESTART;
    sigaction(sig, &sa, old);
}

/* ---------------------------------------------------------- protected calls */

static int msghandler(lua_State *L) {   /* lua.c's: adds a traceback */
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below its narg arguments; Ctrl-C stops it. */
static int docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    repl_ctx->interrupted = 0;   /* each chunk starts clean */
    presses = 0;
    in_chunk = 1;
    int status = lua_pcall(L, narg, nres, base);
    in_chunk = 0;
    /* a Ctrl-C that came as the chunk ended must not stop the next Lua call */
    if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
    if (presses > 0) fputc('\n', stderr);   /* after the "^C" the terminal echoed */
    if (presses >= 3) set_handler(SIGINT, on_sigint, NULL);
    lua_remove(L, base);
    return status;
}

static void report(lua_State *L, int status) {
    if (status == LUA_OK) return;
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
}

/* Pushes field `name` of the normlab.repl module (nil when it did not load). */
static int push_repl_fn(lua_State *L, const char *name) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REPL_KEY);
    if (!lua_istable(L, -1)) return lua_type(L, -1);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    return lua_type(L, -1);
}

/* The printer used when lua/normlab/repl.lua could not be loaded. */
static int plain_print(lua_State *L) {
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

/* Prints the chunk's results (everything above `base`) through repl.print_results. */
static void print_results(lua_State *L, int base) {
    int n = lua_gettop(L) - base;
    if (n <= 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    if (push_repl_fn(L, "print_results") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        lua_pushcfunction(L, plain_print);
    }
    lua_insert(L, base + 1);
    report(L, docall(L, n, 0));
}

/* ----------------------------------------------------------------- history */

/* Whether the file starts with a timestamp line: a file of plain lines (from
 * another tool, or written by hand) is one entry per line. */
static int has_timestamps(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    int c0 = fgetc(f), c1 = fgetc(f);
    fclose(f);
    return c0 == EOF || (c0 == '#' && c1 >= '0' && c1 <= '9');
}

static void history_setup(void) {
    const char *env = getenv("NORMLAB_HISTORY"), *home = getenv("HOME");
    history_comment_char = '#';     /* timestamp lines "#<seconds>" delimit entries */
    history_write_timestamps = 1;
    using_history();
    stifle_history(HISTORY_MAX);
    if (env) {
        if (!*env) return;          /* NORMLAB_HISTORY="": no history file */
        history_file = strdup(env);
    } else if (home && *home) {
        size_t n = strlen(home) + sizeof "/.normlab_history";
        history_file = malloc(n);
        if (history_file) snprintf(history_file, n, "%s/.normlab_history", home);
    }
    if (!history_file) return;
    int plain = !has_timestamps(history_file);
    /* lines after a timestamp up to the next one are one entry */
    history_multiline_entries = !plain;
    unstifle_history();
    read_history(history_file);     /* a missing or unreadable file is an empty history */
    history_multiline_entries = 1;
    int fd = open(history_file, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0) { free(history_file); history_file = NULL; }   /* silently no file */
    else close(fd);
    int rewrite = plain || history_length > HISTORY_MAX;
    stifle_history(HISTORY_MAX);    /* keeps the newest entries */
    if (history_file && rewrite && history_length > 0) {
        /* rewrite it trimmed, every entry with a timestamp so that the appended
         * multi-line entries read back whole */
        for (int i = 0; i < history_length; i++) {
            HIST_ENTRY *e = history_get(history_base + i);
            if (e && (!e->timestamp || !e->timestamp[0])) {
                char ts[32];
                snprintf(ts, sizeof ts, "#%ld", (long)time(NULL));
                free(e->timestamp);
                e->timestamp = strdup(ts);
            }
        }
        write_history(history_file);
    }
}

static void save_line(const char *chunk) {
    if (!chunk[0]) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && !strcmp(last->line, chunk)) return;   /* no repeated entries */
    add_history(chunk);
    if (history_file) append_history(1, history_file);   /* errors ignored: no spam */
}

/* --------------------------------------------------------------- completion */

static char **cands;   /* candidates from repl.complete, handed out by next_cand */
static int ncands, icand;

static void free_cands(void) {
    for (int i = 0; i < ncands; i++) free(cands[i]);
    free(cands);
    cands = NULL;
    ncands = icand = 0;
}

static char *next_cand(const char *text, int state) {
    (void)text;
    if (state == 0) icand = 0;
    return icand < ncands ? strdup(cands[icand++]) : NULL;
}

static char **attempt_completion(const char *text, int start, int end) {
    (void)start; (void)end;
    lua_State *L = repl_L;
    int top = lua_gettop(L);
    rl_attempted_completion_over = 1;   /* never fall back to file names */
    rl_completion_append_character = '\0';
    free_cands();
    if (push_repl_fn(L, "complete") != LUA_TFUNCTION) { lua_settop(L, top); return NULL; }
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) { lua_settop(L, top); return NULL; }
    int n = (int)lua_rawlen(L, -1);
    cands = calloc(n > 0 ? (size_t)n : 1, sizeof *cands);
    for (int i = 1; cands && i <= n; i++) {
        if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
            char *s = strdup(lua_tostring(L, -1));
            if (s) cands[ncands++] = s;
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    char **matches = ncands ? rl_completion_matches(text, next_cand) : NULL;
    free_cands();
    return matches;
}

/* Lists matches by their last component: normlab.nn.Co<TAB><TAB> shows Conv2d. */
static void display_matches(char **matches, int num, int max_length) {
    (void)max_length;
    char **shown = malloc(((size_t)num + 2) * sizeof *shown);
    if (!shown) return;
    int width = 0;
    shown[0] = matches[0];
    for (int i = 1; i <= num; i++) {
        const char *s = matches[i], *p = strrchr(s, '.'), *q = strrchr(s, ':');
        if (q > p) p = q;
        shown[i] = (char *)(p ? p + 1 : s);
        int w = (int)strlen(shown[i]);
        if (w > width) width = w;
    }
    shown[num + 1] = NULL;
    rl_crlf();
    rl_display_match_list(shown, num, width);
    rl_forced_update_display();
    free(shown);
}

/* ------------------------------------------------------------ reading lines */

static char *cb_line;
static int cb_done;

static void on_line(char *line) {   /* readline's callback: a whole line (NULL on Ctrl-D) */
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

static void drain_wake_pipe(void) {
    char buf[64];
    while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof buf) > 0) {}
}

/* Reads one line with `prompt`; *out is malloc'd (READ_OK) or NULL. Waits in
 * select on the terminal and on the self-pipe the signal handlers write to, so
 * a Ctrl-C is seen at once whichever thread handled it. */
static int read_line(const char *prompt, char **out) {
    drain_wake_pipe();
    got_sigint = 0;   /* a Ctrl-C from before the prompt does not clear it */
    cb_done = 0;
    cb_line = NULL;
    *out = NULL;
    int result = READ_OK;
    fflush(stdout);
    rl_callback_handler_install(prompt, on_line);
    while (!cb_done) {
        if (got_sigwinch) { got_sigwinch = 0; rl_resize_terminal(); }
        if (got_sigint) {   /* Ctrl-C: drop the line, go to a fresh prompt */
            got_sigint = 0;
            rl_callback_sigcleanup();   /* e.g. an incremental search in progress */
            rl_free_line_state();
            rl_echo_signal_char(SIGINT);
            rl_replace_line("", 1);
            rl_point = rl_end = rl_mark = 0;
            rl_callback_handler_remove();
            rl_crlf();
            using_history();            /* back to the end of the history list */
            result = READ_INTR;
            break;
        }
        int fd = fileno(rl_instream ? rl_instream : stdin), nfds = fd;
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        if (wake_pipe[0] >= 0) {
            FD_SET(wake_pipe[0], &fds);
            if (wake_pipe[0] > nfds) nfds = wake_pipe[0];
        }
        int r = select(nfds + 1, &fds, NULL, NULL, NULL);
        if (r < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            result = READ_EOF;
            break;
        }
        if (wake_pipe[0] >= 0 && FD_ISSET(wake_pipe[0], &fds)) drain_wake_pipe();
        if (FD_ISSET(fd, &fds)) rl_callback_read_char();
    }
    if (result == READ_OK) {
        if (cb_line) *out = cb_line;
        else result = READ_EOF;
    }
    return result;
}

/* ------------------------------------------------------------------ chunks */

static int incomplete(lua_State *L, int status) {   /* lua.c: the parser stopped at <eof> */
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        if (lmsg >= MARKLEN && strcmp(msg + lmsg - MARKLEN, EOFMARK) == 0) return 1;
    }
    return 0;
}

static int is_blank(int c) { return c == ' ' || c == '\t'; }

/* `?x` is help: pushes normlab.repl.help_query and the query string. */
static int push_help(lua_State *L, const char *line, int *narg) {
    while (is_blank(*line) || *line == '?') line++;
    size_t n = strlen(line);
    while (n > 0 && is_blank(line[n - 1])) n--;
    if (push_repl_fn(L, "help_query") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        lua_pushliteral(L, "help is not available (lua/normlab/repl.lua did not load)");
        return LUA_ERRRUN;
    }
    lua_pushlstring(L, line, n);
    *narg = 1;
    return LUA_OK;
}

/* Reads and compiles one chunk. Pushes the function and *narg arguments and
 * returns LUA_OK, or pushes an error message and returns its status, or
 * pushes nothing and returns STATUS_EOF / STATUS_SKIP. */
static int loadline(lua_State *L, int *narg) {
    char *line;
    *narg = 0;
    int r = read_line(PROMPT, &line);
    if (r == READ_EOF) return STATUS_EOF;
    if (r == READ_INTR) return STATUS_SKIP;
    const char *p = line;
    while (is_blank(*p)) p++;
    if (*p == '?') {
        save_line(line);
        int status = push_help(L, p, narg);
        free(line);
        return status;
    }
    /* an expression? (lua.c's addreturn) */
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    lua_remove(L, -2);
    if (status == LUA_OK) {
        save_line(line);
        free(line);
        return LUA_OK;
    }
    lua_pop(L, 1);
    /* a statement, perhaps continued on the next lines (lua.c's multiline) */
    size_t len = strlen(line), cap = len + 1;
    char *chunk = line;
    for (;;) {
        status = luaL_loadbuffer(L, chunk, len, "=stdin");
        if (!incomplete(L, status)) break;
        char *more;
        r = read_line(PROMPT2, &more);
        if (r == READ_INTR) { lua_pop(L, 1); free(chunk); return STATUS_SKIP; }
        if (r == READ_EOF) break;   /* Ctrl-D: report the incomplete chunk */
        lua_pop(L, 1);
        size_t m = strlen(more);
        if (len + 1 + m + 1 > cap) {
            cap = 2 * (len + 1 + m + 1);
            char *grown = realloc(chunk, cap);
            if (!grown) { free(more); free(chunk); lua_pushliteral(L, "not enough memory"); return LUA_ERRMEM; }
            chunk = grown;
        }
        chunk[len++] = '\n';
        memcpy(chunk + len, more, m + 1);
        len += m;
        free(more);
    }
    save_line(chunk);
    free(chunk);
    return status;
}

/* ------------------------------------------------------------------- setup */

/* Loads lua/normlab/repl.lua, binds the short globals, prints the banner. */
static void repl_setup(lua_State *L) {
    const char *globals = "normlab";
    lua_getglobal(L, "require");
    lua_pushliteral(L, "normlab.repl");
    int status = docall(L, 1, 1);
    if (status == LUA_OK && lua_istable(L, -1)) {
        lua_rawsetp(L, LUA_REGISTRYINDEX, &REPL_KEY);
        if (push_repl_fn(L, "setup") == LUA_TFUNCTION) {
            status = docall(L, 0, 1);
            if (status == LUA_OK && lua_isstring(L, -1)) globals = lua_tostring(L, -1);
            else report(L, status);
        }
    } else {
        if (status == LUA_OK) lua_pushliteral(L, "normlab.repl did not return a table");
        fprintf(stderr, "normlab: no completion or pretty printing: ");
        report(L, LUA_ERRRUN);
    }
    printf("normlab %s (%s)  %s; ?x: help\n", NL_VERSION, LUA_VERSION, globals);
    fflush(stdout);
    lua_settop(L, 0);
}

int nl_repl_run(lua_State *L) {
    struct sigaction old_int, old_winch;
    repl_L = L;
    repl_ctx = nl_lua_ctx(L);
    lua_settop(L, 0);
    if (pipe(wake_pipe) == 0) {
        for (int i = 0; i < 2; i++) {
            fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
            fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
        }
    } else {
        wake_pipe[0] = wake_pipe[1] = -1;   /* then a Ctrl-C may wait for the next key */
    }
    set_handler(SIGINT, on_sigint, &old_int);
    set_handler(SIGWINCH, on_sigwinch, &old_winch);

    rl_readline_name = "normlab";   /* for $if normlab in ~/.inputrc */
    rl_catch_signals = 0;           /* our handlers above do the work */
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = attempt_completion;
    rl_completion_display_matches_hook = display_matches;
    /* words for completion run across '.' and ':' (normlab.nn.Co, x:si) */
    static char breaks[] = " \t\n\"\\'`@$><=;|&{(,[+-*/%^~#)]}";
    rl_basic_word_break_characters = breaks;
    rl_completer_word_break_characters = breaks;
    history_setup();
    repl_setup(L);

    int status, narg;
    while ((status = loadline(L, &narg)) != STATUS_EOF) {
        if (status == STATUS_SKIP) continue;
        if (status == LUA_OK) {
            int base = lua_gettop(L) - narg - 1;
            status = docall(L, narg, LUA_MULTRET);
            if (status == LUA_OK) print_results(L, base);
        }
        report(L, status);
        lua_settop(L, 0);
    }
    lua_settop(L, 0);
    fputc('\n', stdout);
    fflush(stdout);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    free(history_file);
    history_file = NULL;
    for (int i = 0; i < 2; i++) {
        if (wake_pipe[i] >= 0) close(wake_pipe[i]);
        wake_pipe[i] = -1;
    }
    return LUA_OK;
}

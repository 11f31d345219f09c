/* repl.h: the interactive prompt (src/lua/repl.c). */
#ifndef NL_REPL_H
#define NL_REPL_H
#include <lua.h>

/* Runs the REPL on a state with the normlab library loaded and `normlab` set
 * as a global (main.c calls it when stdin is a terminal and there is nothing
 * else to run). Returns LUA_OK (0) when the user leaves with Ctrl-D (os.exit
 * leaves directly); another status only on a fatal error. */
int nl_repl_run(lua_State *L);

/* main.c's protected call: message handler with traceback, SIGINT stops the
 * chunk (sets ctx->interrupted too). The function sits below its narg args. */
int nl_docall(lua_State *L, int narg, int nres);
#endif

/* fuzz_results.c: libFuzzer harness for the results-file reader, the Lua code that
 * sweeps (resume) and reports read JSON lines back with: report.load (lua/normlab/report.lua)
 * -> json.read_lines -> json.decode (lua/normlab/json.lua), then report.tables / text /
 * markdown on whatever records came out. The input is served as the contents of the
 * results file (io.open is replaced by an in-memory file), and is also decoded whole.
 *
 * Any Lua error is a fine outcome (a corrupt file must raise one); a crash, a sanitizer
 * report, a timeout or unbounded memory is not. The Lua VM (liblua5.4) carries no
 * coverage instrumentation, so a line hook feeds the Lua code's own coverage to libFuzzer:
 * each (previous line, line) pair of the running Lua code bumps one of the
 * __libfuzzer_extra_counters, which libFuzzer treats like its edge counters.
 *
 * The Lua files come from $NORMLAB_LUA_DIR, else ./lua (fuzz/run.sh runs from the top). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define COV_SIZE (1 << 16)
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_cov[COV_SIZE];
static uintptr_t prev_loc;

static lua_State *L;
static size_t mem_used;
#define MEM_LIMIT ((size_t)512 << 20)   /* a Lua memory error, long before -rss_limit_mb */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (ptr == NULL) osize = 0;
    if (nsize == 0) { free(ptr); mem_used -= osize; return NULL; }
    if (nsize > osize && mem_used + (nsize - osize) > MEM_LIMIT) return NULL;
    void *p = realloc(ptr, nsize);
    if (p) mem_used = mem_used - osize + nsize;
    return p;
}

static void line_hook(lua_State *l, lua_Debug *ar) {
    if (!lua_getinfo(l, "S", ar)) return;
    uintptr_t loc = ((uintptr_t)ar->source * 2654435761u) ^ (uintptr_t)ar->currentline * 40503u;
    lua_cov[(loc ^ (prev_loc >> 1)) % COV_SIZE]++;
    prev_loc = loc;
}

/* Returns the function that takes one input string (the results file's text). */
static const char DRIVER[] =
    "local dir = ...\n"
    "package.path = dir .. '/?.lua;' .. dir .. '/?/init.lua'\n"
    "local json = require 'normlab.json'\n"
    "local report = require 'normlab.report'\n"
    "local input\n"
    "local memfile = { read = function() return input end, close = function() return true end }\n"
    "io.open = function(path) if path == 'fuzz.jsonl' then return memfile end return nil, 'no files here' end\n"
    "io.popen, os.execute, os.remove, os.rename = nil, nil, nil, nil\n"
    "return function(s)\n"
    "  input = s\n"
    "  pcall(json.decode, s, 'fuzz', 1)\n"
    "  local ok, recs = pcall(report.load, { 'fuzz.jsonl' })\n"
    "  if not ok or #recs == 0 then return end\n"
    "  for _, r in ipairs(recs) do pcall(json.encode, r) end\n"
    "  local study = type(recs[1].study) == 'string' and recs[1].study or 'position'\n"
    "  local ok2, tables = pcall(report.tables, recs, { study = study })\n"
    "  if not ok2 or type(tables) ~= 'table' then return end\n"
    "  for _, g in ipairs(tables) do pcall(report.text, g); pcall(report.markdown, g) end\n"
    "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("NORMLAB_LUA_DIR");
    L = lua_newstate(limited_alloc, NULL);
    if (!L) abort();
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, DRIVER, sizeof DRIVER - 1, "=fuzz_results") != LUA_OK) goto fail;
    lua_pushstring(L, dir && *dir ? dir : "lua");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) goto fail;
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz_one");
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    return 0;
fail:
    fprintf(stderr, "fuzz_results: %s (run from the top of the repository or set NORMLAB_LUA_DIR)\n",
            lua_tostring(L, -1));
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static unsigned runs;
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_one");
    lua_pushlstring(L, (const char *)data, size);
    prev_loc = 0;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);   /* e.g. "not enough memory": fine */
    if (++runs % 256 == 0) lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

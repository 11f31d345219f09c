/* l_checkpoint.c: C.ckpt_save(path, entries) and C.ckpt_load(path).
 * entries is a list of {name, value} with value a tensor, number or string.
 * Saving writes PATH.tmp, fsyncs and renames it over PATH, so a crash never
 * leaves a half-written checkpoint under the real name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "l_util.h"
#include "../core/checkpoint.h"

static int l_ckpt_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    /* validate every entry before the file is created */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        if (!lua_istable(L, -1)) return luaL_error(L, "checkpoint: entry %d is not a {name, value} pair", (int)i);
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        if (lua_type(L, -2) != LUA_TSTRING) return luaL_error(L, "checkpoint: entry %d has no name", (int)i);
        if (lua_rawlen(L, -2) > NL_CKPT_MAX_NAME) return luaL_error(L, "checkpoint: entry %d: name too long", (int)i);
        int t = lua_type(L, -1);
        if (t != LUA_TNUMBER && t != LUA_TSTRING && !luaL_testudata(L, -1, NL_TENSOR_MT))
            return luaL_error(L, "checkpoint: entry '%s' is a %s (expected a tensor, number or string)",
                              lua_tostring(L, -2), luaL_typename(L, -1));
        lua_pop(L, 3);
    }
    luaL_Buffer tmpname;
    luaL_buffinit(L, &tmpname);
    luaL_addstring(&tmpname, path);
    luaL_addstring(&tmpname, ".tmp");
    luaL_pushresult(&tmpname);
    const char *tmp = lua_tostring(L, -1);
    FILE *f = fopen(tmp, "wb");
    if (!f) return luaL_error(L, "checkpoint: cannot create %s: %s", tmp, strerror(errno));
    NlCkptWriter w;
    nl_ckpt_begin(&w, f, (uint32_t)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        const char *name = lua_tostring(L, -2);
        if (lua_type(L, -1) == LUA_TNUMBER) nl_ckpt_put_number(&w, name, lua_tonumber(L, -1));
        else if (lua_type(L, -1) == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            nl_ckpt_put_string(&w, name, s, len);
        } else nl_ckpt_put_tensor(&w, name, (NlTensor *)lua_touserdata(L, -1));
        lua_pop(L, 3);
    }
    int bad = nl_ckpt_end(&w);
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return luaL_error(L, "checkpoint: cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

typedef struct { lua_State *L; int map, names; lua_Integer n; } LoadState;

/* Pushes each record into the result tables (map name -> value, ordered names). */
static int on_record(void *ud, const NlCkptRecord *r) {
    LoadState *st = (LoadState *)ud;
    lua_State *L = st->L;
    lua_pushlstring(L, r->name, r->name_len);
    if (r->kind == NL_CKPT_NUMBER) lua_pushnumber(L, r->number);
    else if (r->kind == NL_CKPT_STRING) lua_pushlstring(L, (const char *)r->raw, r->raw_len);
    else {
        NlTensor *t = nl_lua_newtensor(L, r->tensor.ndim, r->tensor.shape);
        memcpy(t->data, r->raw, r->raw_len);
    }
    lua_pushvalue(L, -2);
    lua_rawseti(L, st->names, ++st->n);
    lua_rawset(L, st->map);
    return 0;
}

static int l_ckpt_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) return luaL_error(L, "checkpoint: cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {   /* a directory "opens" too */
        fclose(f);
        return luaL_error(L, "checkpoint: %s is not a regular file", path);
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return luaL_error(L, "checkpoint: cannot read %s", path); }
    /* the file is read into a userdata so a Lua error below frees it with the GC */
    unsigned char *buf = (unsigned char *)lua_newuserdatauv(L, (size_t)size + 1, 0);
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) return luaL_error(L, "checkpoint: %s: short read (%d of %d bytes)", path, (int)got, (int)size);
    lua_newtable(L);
    lua_newtable(L);
    LoadState st = { L, lua_gettop(L) - 1, lua_gettop(L), 0 };
    nl_lua_check(L, nl_ckpt_parse(nl_lua_ctx(L), buf, (size_t)size, path, on_record, &st), "checkpoint");
    return 2;
}

void nl_open_checkpoint(lua_State *L) {
    static const luaL_Reg funcs[] = { {"ckpt_save", l_ckpt_save}, {"ckpt_load", l_ckpt_load}, {NULL, NULL} };
    luaL_setfuncs(L, funcs, 0);
}

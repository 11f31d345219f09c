/* l_data.c: bindings for src/data (datasets, the batch pipeline, downloads).
 *
 * Two userdata types:
 *   normlab.Dataset     an NlDataset (uint8 images + labels, owned, freed in __gc)
 *   normlab.DataLoader  an NlLoader; its first user value keeps its Dataset alive
 * Both are zeroed and given their metatable before anything is allocated, so
 * __gc is safe at any point (liolib's newprefile pattern). The Lua side is
 * lua/normlab/data/init.lua; these are the raw functions in normlab.C. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "l_util.h"
#include "../data/dataset.h"
#include "../data/fetch.h"

#define DATASET_MT "normlab.Dataset"
#define LOADER_MT "normlab.DataLoader"

static NlDataset *check_ds(lua_State *L, int i) {
    NlDataset *ds = (NlDataset *)luaL_checkudata(L, i, DATASET_MT);
    if (!ds->pixels) luaL_argerror(L, i, "dataset is empty or freed");
    return ds;
}

static NlDataset *push_ds(lua_State *L) {
    NlDataset *ds = (NlDataset *)lua_newuserdatauv(L, sizeof *ds, 0);
    memset(ds, 0, sizeof *ds);
    luaL_setmetatable(L, DATASET_MT);
    return ds;
}

static void account(lua_State *L, const NlDataset *ds) {   /* tell the collector about the big buffer */
    size_t kb = ((size_t)ds->n * ds->c * ds->h * ds->w) >> 10;
    if (kb) lua_gc(L, LUA_GCSTEP, (int)(kb > (1u << 20) ? (1u << 20) : kb));
}

/* data_load_cifar(paths, kind, coarse, expect_records) -> Dataset */
static int l_load_cifar(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int kind = (int)luaL_checkinteger(L, 2);
    int coarse = lua_toboolean(L, 3);
    lua_Integer expect = luaL_optinteger(L, 4, 0);
    luaL_argcheck(L, kind == 10 || kind == 100, 2, "kind must be 10 or 100");
    int n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 64, 1, "expected 1 to 64 file names");
    const char *paths[64];
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        paths[i] = lua_tostring(L, -1);   /* stays on the stack, so the string stays alive */
        if (!paths[i]) return luaL_argerror(L, 1, "file names must be strings");
    }
    NlDataset *ds = push_ds(L);
    nl_lua_check(L, nl_cifar_load(nl_lua_ctx(L), ds, paths, n, kind, coarse, expect), "cifar");
    account(L, ds);
    return 1;
}

/* data_load_idx(images_path, labels_path, num_classes) -> Dataset */
static int l_load_idx(lua_State *L) {
    const char *im = luaL_checkstring(L, 1), *lb = luaL_checkstring(L, 2);
    int k = (int)luaL_optinteger(L, 3, 10);
    NlDataset *ds = push_ds(L);
    nl_lua_check(L, nl_idx_load(nl_lua_ctx(L), ds, im, lb, k), "idx");
    account(L, ds);
    return 1;
}

static int ds_gc(lua_State *L) {
    nl_dataset_free((NlDataset *)luaL_checkudata(L, 1, DATASET_MT));
    return 0;
}

static int ds_len(lua_State *L) {
    lua_pushinteger(L, ((NlDataset *)luaL_checkudata(L, 1, DATASET_MT))->n);
    return 1;
}

static int ds_shape(lua_State *L) {   /* -> c, h, w */
    NlDataset *ds = check_ds(L, 1);
    lua_pushinteger(L, ds->c);
    lua_pushinteger(L, ds->h);
    lua_pushinteger(L, ds->w);
    return 3;
}

static int ds_num_classes(lua_State *L) {
    lua_pushinteger(L, check_ds(L, 1)->num_classes);
    return 1;
}

static int64_t check_index(lua_State *L, const NlDataset *ds, int arg) {
    lua_Integer i = luaL_checkinteger(L, arg);
    if (i < 1 || i > ds->n) luaL_error(L, "dataset: index %d out of range 1..%d", (int)i, (int)ds->n);
    return (int64_t)i - 1;
}

static int ds_label(lua_State *L) {   /* label(i) -> 0-based class of image i (1-based) */
    NlDataset *ds = check_ds(L, 1);
    lua_pushinteger(L, ds->labels[check_index(L, ds, 2)]);
    return 1;
}

static int ds_label_counts(lua_State *L) {   /* -> {count of class 0, class 1, ...} */
    NlDataset *ds = check_ds(L, 1);
    int64_t h[256] = {0};
    for (int64_t i = 0; i < ds->n; i++) h[ds->labels[i]]++;
    lua_createtable(L, ds->num_classes, 0);
    for (int k = 0; k < ds->num_classes; k++) {
        lua_pushinteger(L, h[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

static int ds_image(lua_State *L) {   /* image(i) -> (C,H,W) tensor of the raw bytes 0..255 */
    NlDataset *ds = check_ds(L, 1);
    int64_t i = check_index(L, ds, 2);
    int64_t dims[3] = {ds->c, ds->h, ds->w};
    NlTensor *t = nl_lua_newtensor(L, 3, dims);
    const uint8_t *p = ds->pixels + (size_t)i * ds->c * ds->h * ds->w;
    for (int64_t k = 0; k < t->numel; k++) t->data[k] = p[k];
    return 1;
}

static int ds_channel_stats(lua_State *L) {   /* -> {mean per channel}, {std per channel} of pixels/255 */
    NlDataset *ds = check_ds(L, 1);
    size_t plane = (size_t)ds->h * ds->w;
    lua_createtable(L, ds->c, 0);
    lua_createtable(L, ds->c, 0);
    for (int c = 0; c < ds->c; c++) {
        uint64_t s = 0, ss = 0;
        for (int64_t i = 0; i < ds->n; i++) {
            const uint8_t *p = ds->pixels + ((size_t)i * ds->c + c) * plane;
            for (size_t j = 0; j < plane; j++) { s += p[j]; ss += (uint64_t)p[j] * p[j]; }
        }
        double n = (double)ds->n * plane, m = s / n, v = ss / n - m * m;
        lua_pushnumber(L, m / 255.0);
        lua_rawseti(L, -3, c + 1);
        lua_pushnumber(L, sqrt(v > 0 ? v : 0) / 255.0);
        lua_rawseti(L, -2, c + 1);
    }
    return 2;
}

static int ds_free(lua_State *L) {
    nl_dataset_free((NlDataset *)luaL_checkudata(L, 1, DATASET_MT));
    return 0;
}

/* ---- loader ---- */

static NlLoader *check_loader(lua_State *L, int i) {
    NlLoader *ld = (NlLoader *)luaL_checkudata(L, i, LOADER_MT);
    if (!ld->perm) luaL_argerror(L, i, "loader is freed");
    return ld;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer def) {
    lua_getfield(L, t, k);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "loader: option '%s' must be an integer", k);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *k, int def) {
    lua_getfield(L, t, k);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static void opt_floats(lua_State *L, int t, const char *k, float *out, int n) {
    lua_getfield(L, t, k);
    if (!lua_istable(L, -1)) luaL_error(L, "loader: option '%s' must be a table of %d numbers", k, n);
    if (luaL_len(L, -1) != n) luaL_error(L, "loader: option '%s' has %d values, the images have %d channels", k,
                                         (int)luaL_len(L, -1), n);
    for (int i = 0; i < n; i++) {
        lua_geti(L, -1, i + 1);
        int ok;
        out[i] = (float)lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "loader: option '%s' must hold numbers", k);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* data_loader(ds, {batch_size, train, seed, subset, drop_last, pad, flip, mean, std}) -> DataLoader */
static int l_loader(lua_State *L) {
    NlDataset *ds = check_ds(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer batch = opt_int(L, 2, "batch_size", 128);
    int train = opt_bool(L, 2, "train", 1);
    lua_Integer seed = opt_int(L, 2, "seed", 1);
    lua_Integer subset = opt_int(L, 2, "subset", 0);
    int drop_last = opt_bool(L, 2, "drop_last", train);
    lua_Integer pad = opt_int(L, 2, "pad", 0);
    int flip = opt_bool(L, 2, "flip", 0);
    float mean[NL_DATA_MAXC], std[NL_DATA_MAXC];
    if (ds->c > NL_DATA_MAXC) return luaL_error(L, "loader: %d channels (at most %d)", ds->c, NL_DATA_MAXC);
    opt_floats(L, 2, "mean", mean, ds->c);
    opt_floats(L, 2, "std", std, ds->c);
    if (pad < 0 || pad > 64) return luaL_error(L, "loader: pad %d out of range 0..64", (int)pad);
    NlLoader *ld = (NlLoader *)lua_newuserdatauv(L, sizeof *ld, 1);
    memset(ld, 0, sizeof *ld);
    luaL_setmetatable(L, LOADER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);   /* the dataset lives as long as the loader */
    nl_lua_check(L, nl_loader_init(nl_lua_ctx(L), ld, ds, subset, batch, train, drop_last, (uint64_t)seed,
                                   mean, std, (int)pad, flip), "loader");
    return 1;
}

static int ld_gc(lua_State *L) {
    nl_loader_free((NlLoader *)luaL_checkudata(L, 1, LOADER_MT));
    return 0;
}

static int ld_num_batches(lua_State *L) {
    lua_pushinteger(L, check_loader(L, 1)->nbatches);
    return 1;
}

static int ld_size(lua_State *L) {   /* images used (after subset) */
    lua_pushinteger(L, check_loader(L, 1)->n);
    return 1;
}

static int ld_batch_len(lua_State *L) {   /* batch_len(b) for 1-based b; 0 when out of range */
    NlLoader *ld = check_loader(L, 1);
    lua_Integer b = luaL_checkinteger(L, 2);
    lua_pushinteger(L, b >= 1 ? nl_loader_batch_len(ld, b - 1) : 0);   /* (b - 1 overflows at mininteger) */
    return 1;
}

static int ld_set_epoch(lua_State *L) {
    nl_loader_set_epoch(check_loader(L, 1), luaL_checkinteger(L, 2));
    return 0;
}

static int ld_fill(lua_State *L) {   /* fill(b, x, y): batch b (1-based) of the current epoch */
    NlLoader *ld = check_loader(L, 1);
    lua_Integer b = luaL_checkinteger(L, 2);
    NlTensor *x = nl_lua_checktensor(L, 3), *y = nl_lua_checktensor(L, 4);
    nl_lua_check(L, nl_loader_fill(nl_lua_ctx(L), ld, b >= 1 ? b - 1 : -1, x, y), "loader");
    return 0;
}

static int ld_epoch(lua_State *L) {
    lua_pushinteger(L, check_loader(L, 1)->epoch);
    return 1;
}

/* ---- files ---- */

/* data_download(url, dest, md5 or nil, quiet) -> {resumed, resumed_from, bytes, skipped} */
static int l_download(lua_State *L) {
    const char *url = luaL_checkstring(L, 1), *dest = luaL_checkstring(L, 2);
    const char *md5 = luaL_optstring(L, 3, NULL);
    int quiet = lua_toboolean(L, 4);
    if (md5 && strlen(md5) != 32) luaL_argerror(L, 3, "md5 must be 32 hex digits");
    NlDownloadInfo info;
    nl_lua_check(L, nl_download(nl_lua_ctx(L), url, dest, md5, quiet ? NULL : stderr, &info), "data.fetch");
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, info.resumed);
    lua_setfield(L, -2, "resumed");
    lua_pushinteger(L, info.resumed_from);
    lua_setfield(L, -2, "resumed_from");
    lua_pushinteger(L, info.bytes);
    lua_setfield(L, -2, "bytes");
    lua_pushboolean(L, info.skipped);
    lua_setfield(L, -2, "skipped");
    return 1;
}

/* data_extract(archive, dest_dir) -> {top-level names} */
static int l_extract(lua_State *L) {
    const char *arch = luaL_checkstring(L, 1), *dest = luaL_checkstring(L, 2);
    char tops[4096];
    nl_lua_check(L, nl_tar_extract(nl_lua_ctx(L), arch, dest, tops, sizeof tops), "data.fetch: extract");
    lua_newtable(L);
    int k = 0;
    for (const char *p = tops; *p;) {
        const char *nl = strchr(p, '\n');
        lua_pushlstring(L, p, (size_t)(nl - p));
        lua_rawseti(L, -2, ++k);
        p = nl + 1;
    }
    return 1;
}

static int l_md5(lua_State *L) {
    char hex[33];
    nl_lua_check(L, nl_md5_file(nl_lua_ctx(L), luaL_checkstring(L, 1), hex), "md5");
    lua_pushstring(L, hex);
    return 1;
}

static int l_mkdirs(lua_State *L) {   /* mkdir -p; raises on failure */
    const char *p = luaL_checkstring(L, 1);
    if (nl_mkdirs(p, 0755) != 0) {
        NlCtx *c = nl_lua_ctx(L);
        nl_fail(c, NL_EIO, "cannot create the directory %s: %s", p, strerror(errno));
        nl_lua_check(L, NL_EIO, "mkdir");
    }
    return 0;
}

static int l_isdir(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

static int l_file_size(lua_State *L) {   /* -> bytes, or nil when absent */
    struct stat st;
    if (stat(luaL_checkstring(L, 1), &st) != 0) return 0;
    lua_pushinteger(L, (lua_Integer)st.st_size);
    return 1;
}

static int l_realpath(lua_State *L) {   /* absolute path (for messages); the input when it fails */
    const char *p = luaL_checkstring(L, 1);
    char *r = realpath(p, NULL);
    lua_pushstring(L, r ? r : p);
    free(r);
    return 1;
}

void nl_open_data(lua_State *L) {
    static const luaL_Reg ds_methods[] = {
        {"n", ds_len}, {"shape", ds_shape}, {"num_classes", ds_num_classes}, {"label", ds_label},
        {"label_counts", ds_label_counts}, {"image", ds_image}, {"channel_stats", ds_channel_stats},
        {"free", ds_free}, {NULL, NULL}
    };
    static const luaL_Reg ld_methods[] = {
        {"num_batches", ld_num_batches}, {"size", ld_size}, {"batch_len", ld_batch_len},
        {"set_epoch", ld_set_epoch}, {"fill", ld_fill}, {"epoch", ld_epoch}, {NULL, NULL}
    };
    if (luaL_newmetatable(L, DATASET_MT)) {
        luaL_newlib(L, ds_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ds_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ds_len);
        lua_setfield(L, -2, "__len");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, LOADER_MT)) {
        luaL_newlib(L, ld_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, ld_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"data_load_cifar", l_load_cifar}, {"data_load_idx", l_load_idx}, {"data_loader", l_loader},
        {"data_download", l_download}, {"data_extract", l_extract}, {"data_md5", l_md5},
        {"data_mkdirs", l_mkdirs}, {"data_isdir", l_isdir}, {"data_file_size", l_file_size},
        {"data_realpath", l_realpath}, {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}

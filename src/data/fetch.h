/* fetch.h: getting dataset files onto disk and reading them back.
 *
 *   gz.c        a reader that inflates gzip (zlib) or passes plain bytes through
 *   md5.c       MD5 (RFC 1321), for the official archives' checksums
 *   tar.c       a small ustar/GNU tar reader and a safe extractor
 *   download.c  libcurl download: progress bar, resume, md5 check, atomic move
 *
 * Pure C (no Lua). Errors go to ctx->err and name the file and byte offset. */
#ifndef NL_FETCH_H
#define NL_FETCH_H

#include <stdint.h>
#include <stdio.h>
#include <zlib.h>
#include "../core/nl.h"

/* ---- gzip or plain reader (gz.c) ---- */
typedef struct NlGz {
    const char *name;        /* for messages */
    FILE *f;                 /* file source, or NULL for memory */
    const uint8_t *mem;      /* memory source */
    size_t memlen, mempos;
    uint8_t *inbuf;          /* file input buffer */
    size_t inlen, inpos;     /* plain mode: bytes buffered in inbuf / consumed */
    int gz;                  /* 1: inflating; 0: plain bytes */
    int zinit, zend;         /* inflateInit2 done / stream end seen */
    z_stream z;
    uint64_t in_off;         /* bytes of the source consumed so far */
    uint64_t out_off;        /* bytes returned so far */
} NlGz;

nl_status nl_gz_open_file(NlCtx *c, NlGz *g, const char *path);
void nl_gz_open_mem(NlGz *g, const char *name, const uint8_t *buf, size_t len);
/* Reads up to n bytes; *got < n only at the end of the data. A gzip stream
 * that ends early, is corrupt or is followed by garbage is an error. */
nl_status nl_gz_read(NlCtx *c, NlGz *g, void *buf, size_t n, size_t *got);
void nl_gz_close(NlGz *g);

/* Reads a whole file (inflated when it starts with the gzip magic) into a
 * malloc'ed buffer. More than max_bytes of output is an error (0: 1 GiB). */
nl_status nl_read_all(NlCtx *c, const char *path, uint8_t **out, size_t *len, size_t max_bytes);
/* The same for a buffer in memory (the fuzzer's entry point). */
nl_status nl_read_all_mem(NlCtx *c, const char *name, const uint8_t *buf, size_t n,
                          uint8_t **out, size_t *len, size_t max_bytes);

/* ---- MD5 (md5.c) ---- */
typedef struct NlMd5 {
    uint32_t a, b, c, d;
    uint64_t len;
    uint8_t buf[64];
} NlMd5;
void nl_md5_init(NlMd5 *m);
void nl_md5_update(NlMd5 *m, const void *data, size_t n);
void nl_md5_final(NlMd5 *m, uint8_t digest[16]);
void nl_md5_hex(const uint8_t digest[16], char hex[33]);
nl_status nl_md5_file(NlCtx *c, const char *path, char hex[33]);

/* ---- tar (tar.c) ---- */
enum { NL_TAR_BEGIN, NL_TAR_DATA, NL_TAR_END };
typedef struct NlTarEntry {
    char name[1024];     /* full path inside the archive (prefix/name or GNU long name) */
    char type;           /* '0' file, '5' directory, others passed through */
    uint64_t size;
    uint64_t offset;     /* header position in the (decompressed) archive */
} NlTarEntry;
/* Called with BEGIN (chunk NULL), then DATA chunks covering exactly size bytes,
 * then END, for every entry. A non-OK return stops the walk. */
typedef nl_status (*nl_tar_fn)(NlCtx *c, void *ud, const NlTarEntry *e, int event,
                               const uint8_t *chunk, size_t n);
/* Walks a tar stream (plain or gzip). Checks header checksums and sizes; a
 * stream that ends inside a header or an entry's data is an error. */
nl_status nl_tar_walk(NlCtx *c, NlGz *g, nl_tar_fn fn, void *ud);
/* Extracts archive (.tar or .tar.gz) into dest_dir: entries go to a fresh
 * temporary directory inside dest_dir first, then each top-level entry is
 * renamed into place (a directory that already exists gets its files moved in
 * one by one). Rejects absolute names and "..". Only files and directories are
 * extracted. On return, tops holds the top-level names, separated by '\n'. */
nl_status nl_tar_extract(NlCtx *c, const char *archive, const char *dest_dir,
                         char *tops, size_t tops_size);
/* Cleans an archive name into rel: no leading "/" or "./", no "." parts.
 * Returns 1, 0 for an empty result, -1 for a name that must not be extracted
 * (absolute, a ".." part, or longer than n). */
int nl_tar_clean_name(const char *name, char *rel, size_t n);
/* Removes a directory tree (used for temporary directories). */
int nl_rmtree(const char *path);
/* mkdir -p; returns 0 or -1 with errno. */
int nl_mkdirs(const char *path, int mode);

/* ---- download (download.c) ---- */
typedef struct NlDownloadInfo {
    int resumed;            /* 1 when a partial file was continued */
    int64_t resumed_from;   /* its size */
    int64_t bytes;          /* bytes transferred this time */
    int skipped;            /* 1 when dest already existed with the right md5 */
} NlDownloadInfo;

/* Downloads url to dest through dest.part. An existing dest.part is resumed
 * (HTTP Range); a server that ignores the range gets a fresh download. With
 * md5_hex, the finished file is checked: a mismatch deletes it and fails; a
 * match (or no md5) renames dest.part to dest (atomic). An existing dest with
 * the right md5 is kept and nothing is fetched. progress: NULL for silence, or
 * a stream for the progress bar (size, percent, rate, ETA; redrawn with '\r'
 * when it is a terminal, a line per 10% otherwise). Polls c->interrupted
 * (returns NL_EINTR and keeps dest.part for a later resume). */
nl_status nl_download(NlCtx *c, const char *url, const char *dest, const char *md5_hex,
                      FILE *progress, NlDownloadInfo *info);

#endif

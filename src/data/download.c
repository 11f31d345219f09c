/* download.c: fetch one file over HTTP(S) with libcurl, safely.
 *
 *   dest.part  receives the bytes; an existing one is resumed with a Range
 *              request (libcurl's RESUME_FROM). A server that ignores ranges
 *              (CURLE_RANGE_ERROR) gets one fresh download instead; a 416 means
 *              the part is already whole and goes straight to the check.
 *   md5        of the finished part; a mismatch deletes it (it is never used)
 *   rename     dest.part -> dest, atomic on one file system, so dest is
 *              either absent or complete.
 * The progress bar (size, percent, rate, ETA) goes to the stream the caller
 * passes, never to stdout by itself. Ctrl-C (c->interrupted) aborts the
 * transfer and keeps dest.part for the next attempt. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fetch.h"

typedef struct Dl {
    NlCtx *c;
    FILE *out;
    FILE *progress;
    int tty;
    const char *label;
    int64_t base;          /* bytes already in the part file when this transfer started */
    double t0, last_draw;
    int last_tenth;
    int werr;              /* errno of a failed write, 0 if none */
    int drawn;
} Dl;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
    Dl *d = (Dl *)ud;
    size_t k = fwrite(p, 1, sz * n, d->out);
    if (k != sz * n) d->werr = errno ? errno : EIO;
    return k;   /* a short count makes libcurl stop with CURLE_WRITE_ERROR */
}

static void draw(Dl *d, int64_t now, int64_t total, int final) {
    double el = now_s() - d->t0;
    double rate = el > 0 ? (double)(now - d->base) / el : 0;   /* this session's bytes per second */
    char eta[32] = "--:--";
    if (total > 0 && rate > 0) {
        long s = (long)((double)(total - now) / rate + 0.5);
        if (s < 0) s = 0;
        if (s >= 3600) snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        else snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    double mb = 1048576.0;
    if (total > 0) {
        double frac = (double)now / (double)total;
        if (frac > 1) frac = 1;
        char bar[26];
        int fill = (int)(frac * 24 + 0.5);
        for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '.';
        bar[24] = '\0';
        fprintf(d->progress, "%s%s [%s] %5.1f%%  %.1f/%.1f MB  %.2f MB/s  ETA %s%s", d->tty ? "\r" : "",
                d->label, bar, 100 * frac, now / mb, total / mb, rate / mb, final ? "0:00" : eta,
                d->tty ? "\033[K" : "\n");
    } else {
        fprintf(d->progress, "%s%s  %.1f MB  %.2f MB/s%s", d->tty ? "\r" : "", d->label, now / mb, rate / mb,
                d->tty ? "\033[K" : "\n");
    }
    fflush(d->progress);
    d->drawn = 1;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t uln) {
    (void)ult; (void)uln;
    Dl *d = (Dl *)ud;
    if (d->c && d->c->interrupted) return 1;   /* CURLE_ABORTED_BY_CALLBACK */
    if (!d->progress) return 0;
    int64_t total = dltotal > 0 ? d->base + (int64_t)dltotal : 0, now = d->base + (int64_t)dlnow;
    double t = now_s();
    if (d->tty) {
        if (t - d->last_draw < 0.1) return 0;
    } else {   /* a log file: one line per tenth of the way */
        int tenth = total > 0 ? (int)(10 * (double)now / (double)total) : (int)(now >> 24);
        if (tenth <= d->last_tenth) return 0;
        d->last_tenth = tenth;
    }
    d->last_draw = t;
    draw(d, now, total, 0);
    return 0;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Turns the curl transfer of one attempt into a status. */
static nl_status transfer(NlCtx *c, const char *url, const char *part, Dl *d, long *code, CURLcode *res) {
    CURL *h = curl_easy_init();
    if (!h) return nl_fail(c, NL_ENOMEM, "download: cannot start libcurl");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 512L);   /* give up after 60 s below 512 B/s */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "normlab/" NL_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
    if (d->base > 0) curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d->base);
    *res = curl_easy_perform(h);
    *code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(h);
    if (d->progress && (d->drawn || *res == CURLE_OK)) {
        if (*res == CURLE_OK) {
            int64_t sz = file_size(part);
            draw(d, sz, sz, 1);
        }
        if (d->tty) fputc('\n', d->progress);
        fflush(d->progress);
        d->drawn = 0;
    }
    if (*res == CURLE_OK) return NL_OK;
    if (*res == CURLE_ABORTED_BY_CALLBACK && c && c->interrupted)
        return nl_fail(c, NL_EINTR, "download of %s interrupted; %s is kept and the next attempt resumes it",
                       url, part);
    if (*res == CURLE_WRITE_ERROR && d->werr)
        return nl_fail(c, NL_EIO, "download: cannot write %s: %s", part, strerror(d->werr));
    return nl_fail(c, NL_EIO, "download of %s failed: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(*res));
}

nl_status nl_download(NlCtx *c, const char *url, const char *dest, const char *md5_hex, FILE *progress,
                      NlDownloadInfo *info) {
    NlDownloadInfo dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    char part[4096], hex[33];
    if (snprintf(part, sizeof part, "%s.part", dest) >= (int)sizeof part)
        return nl_fail(c, NL_EARG, "download: path too long: %s", dest);
    nl_status s;

    /* an earlier complete download */
    if (md5_hex && file_size(dest) >= 0) {
        s = nl_md5_file(c, dest, hex);
        if (s != NL_OK) return s;
        if (!strcasecmp(hex, md5_hex)) {
            info->skipped = 1;
            return NL_OK;
        }
        unlink(dest);   /* not the published file: fetch it again */
    }

    const char *slash = strrchr(dest, '/');
    Dl d;
    for (int attempt = 0;; attempt++) {
        memset(&d, 0, sizeof d);
        d.c = c;
        d.progress = progress;
        d.tty = progress && isatty(fileno(progress));
        d.label = slash ? slash + 1 : dest;
        d.base = file_size(part);
        if (d.base < 0) d.base = 0;
        d.t0 = now_s();
        if (d.base > 0) {
            info->resumed = 1;
            info->resumed_from = d.base;
            if (progress) fprintf(progress, "resuming %s at %.1f MB\n", d.label, d.base / 1048576.0);
        }
        d.out = fopen(part, "ab");
        if (!d.out) return nl_fail(c, NL_EIO, "download: cannot write %s: %s", part, strerror(errno));
        long code = 0;
        CURLcode res = CURLE_OK;
        s = transfer(c, url, part, &d, &code, &res);
        int closed_bad = fclose(d.out) != 0;
        info->bytes += file_size(part) - d.base;
        if (s == NL_OK && closed_bad) s = nl_fail(c, NL_EIO, "download: cannot write %s: %s", part, strerror(errno));
        if (s != NL_OK && d.base > 0 && attempt == 0 && res == CURLE_RANGE_ERROR) {
            /* the server cannot resume: start over once */
            if (progress) fprintf(progress, "the server does not support resuming; downloading %s again\n", d.label);
            unlink(part);
            info->resumed = 0;
            info->resumed_from = 0;
            continue;
        }
        if (s != NL_OK && d.base > 0 && res == CURLE_HTTP_RETURNED_ERROR && code == 416)
            s = NL_OK;   /* "range not satisfiable": the part already holds the whole file */
        break;
    }
    if (s != NL_OK) {
        if (file_size(part) == 0) unlink(part);   /* nothing to resume from */
        return s;
    }

    if (md5_hex) {
        s = nl_md5_file(c, part, hex);
        if (s != NL_OK) return s;
        if (strcasecmp(hex, md5_hex)) {
            int64_t sz = file_size(part);
            unlink(part);
            return nl_fail(c, NL_EFORMAT, "checksum mismatch: %s (%lld bytes, from %s) has md5 %s, expected %s; "
                           "the download was deleted and not used", part, (long long)sz, url, hex, md5_hex);
        }
    }
    if (rename(part, dest) != 0)
        return nl_fail(c, NL_EIO, "download: cannot rename %s to %s: %s", part, dest, strerror(errno));
    return NL_OK;
}

/*
 * audit.c: the tamper-evident audit log behind audit.h.
 *
 * Why a hash chain plus a MAC plus a head file: the MAC (HMAC-SHA-256 under
 * the audit key) makes every line unforgeable without the key, the chain
 * ("prev" = SHA-256 of the previous line's bytes) pins each line to its
 * place so deletions, insertions and reorderings show, and the head file
 * (LOG.head: last seq and last line hash, under the same MAC) pins the end so
 * cutting lines off the tail shows too.
 *
 * Every line and the head are written in one canonical form (compact JSON,
 * keys sorted), so the MAC input is the canonical serialisation of the object
 * without "mac" and a line that is not byte-for-byte canonical has been
 * edited. Writers serialise on an exclusive flock of LOG.lock and always
 * re-read the tail under it, because other processes (concurrent jobs)
 * append to the same log. Verification streams the log, so its memory does
 * not grow with the log.
 *
 * A log rolled back together with its head is consistent again; only a
 * record off this machine shows it. The witness is that record kept by the
 * writers themselves: every line's number and hash appended to a file on
 * storage the machine can only append to, and checked before every append.
 */
#include "engine/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"

enum {
    AUDIT_KEY_LEN = 32,
    AUDIT_HASH_LEN = 32,
    AUDIT_HEX_LEN = 64,
    AUDIT_LINE_MAX = 1 << 20,    /* longest line written or accepted, newline excluded */
    AUDIT_HEAD_MAX = 4096,       /* longest head file accepted */
    AUDIT_READ_CHUNK = 64 * 1024 /* verify reads the log in blocks of this size */
};

#define AUDIT_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static const char *const audit_reserved[] = {"seq", "time", "event", "prev", "mac"};

struct sl_audit {
    char *log_path;
    char *head_path; /* LOG.head */
    char *tmp_path;  /* LOG.head.tmp, renamed over LOG.head */
    char *lock_path; /* LOG.lock */
    char *dir_path;  /* directory holding all four */
    char *witness_path; /* or NULL, see sl_audit_set_witness */
    struct sl_secbuf *key;
};

/* LOG.head as read: present or not, its bytes, and once checked the last
 * seq and line hash. */
struct audit_head {
    int present;
    size_t len;
    char text[AUDIT_HEAD_MAX + 1];
    int64_t seq;
    unsigned char hash[AUDIT_HASH_LEN];
};

/* Where the next line chains on: seq and hash of the last line (0 and zeros
 * for an empty log), and whether LOG.head must be rewritten (missing on an
 * empty log, or one line behind after a crash). */
struct audit_tail {
    int64_t seq;
    unsigned char hash[AUDIT_HASH_LEN];
    int head_stale;
};

/* An HMAC-SHA-256 context keyed once and re-initialised per message. */
struct audit_mac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
};

/* ---- OpenSSL ---- */

static sl_status audit_ssl_fail(const char *file, int line, const char *func, const char *what)
{
    char reason[256] = "no detail from OpenSSL";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return sl_error_set(SL_ERR_INTERNAL, file, line, func, "OpenSSL %s failed: %s", what, reason);
}

#define AUDIT_CHECK_SSL(cond, what)                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            st = audit_ssl_fail(__FILE__, __LINE__, __func__, (what));     \
            goto cleanup;                                                  \
        }                                                                  \
    } while (0)

static void audit_mac_fini(struct audit_mac *m)
{
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    m->ctx = NULL;
    m->mac = NULL;
}

/* Keys `m` with `key` (secret, borrowed; OpenSSL keeps its own copy). */
static sl_status audit_mac_init(struct audit_mac *m, const unsigned char *key)
{
    sl_status st = SL_OK;
    char digest[] = "SHA256";
    OSSL_PARAM params[2];

    m->mac = NULL;
    m->ctx = NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    AUDIT_CHECK_SSL(m->mac != NULL, "HMAC fetch");
    m->ctx = EVP_MAC_CTX_new(m->mac);
    AUDIT_CHECK_SSL(m->ctx != NULL, "HMAC context allocation");
    AUDIT_CHECK_SSL(EVP_MAC_init(m->ctx, key, AUDIT_KEY_LEN, params) == 1, "HMAC key setup");
cleanup:
    if (st != SL_OK)
        audit_mac_fini(m);
    return st;
}

static sl_status audit_mac_compute(struct audit_mac *m, const char *msg, size_t len,
                                   unsigned char out[AUDIT_HASH_LEN])
{
    sl_status st = SL_OK;
    size_t outlen = 0;

    /* A NULL key re-initialises the context with the key it already holds. */
    AUDIT_CHECK_SSL(EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1, "HMAC init");
    AUDIT_CHECK_SSL(EVP_MAC_update(m->ctx, (const unsigned char *)msg, len) == 1, "HMAC update");
    AUDIT_CHECK_SSL(EVP_MAC_final(m->ctx, out, &outlen, AUDIT_HASH_LEN) == 1, "HMAC final");
    SL_ASSERT(outlen == AUDIT_HASH_LEN);
cleanup:
    return st;
}

static sl_status audit_sha256(const char *msg, size_t len, unsigned char out[AUDIT_HASH_LEN])
{
    sl_status st = SL_OK;
    unsigned int outlen = 0;

    AUDIT_CHECK_SSL(EVP_Digest(msg, len, out, &outlen, EVP_sha256(), NULL) == 1, "SHA-256");
    SL_ASSERT(outlen == AUDIT_HASH_LEN);
cleanup:
    return st;
}

/* ---- hex and JSON helpers ---- */

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes exactly 64 lower-case hex digits; returns 0, or -1 if malformed. */
static int hex_decode32(const char *s, unsigned char out[AUDIT_HASH_LEN])
{
    if (strlen(s) != AUDIT_HEX_LEN)
        return -1;
    for (size_t i = 0; i < AUDIT_HASH_LEN; i++) {
        int hi = hex_nibble(s[2 * i]);
        int lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Canonical serialisation of `obj` into *out (sl_malloc'd, length *len, with
 * room for one more byte before the terminating NUL so a caller can add the
 * newline in place). */
static sl_status json_canon(const json_t *obj, char **out, size_t *len)
{
    sl_status st = SL_OK;
    char *buf = NULL;
    size_t n = json_dumpb(obj, NULL, 0, AUDIT_JSON_FLAGS);

    *out = NULL;
    *len = 0;
    SL_CHECK(n > 0, SL_ERR_INTERNAL, "cannot serialise an audit entry");
    buf = sl_malloc(n + 2);
    SL_CHECK(buf, SL_ERR_NOMEM, "out of memory serialising an audit entry");
    SL_CHECK(json_dumpb(obj, buf, n, AUDIT_JSON_FLAGS) == n, SL_ERR_INTERNAL,
             "cannot serialise an audit entry");
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
cleanup:
    sl_free(buf);
    return st;
}

/* Sets obj["mac"] to the MAC of obj's canonical form (obj must have no "mac"). */
static sl_status json_seal(json_t *obj, struct audit_mac *m)
{
    sl_status st = SL_OK;
    char *body = NULL;
    size_t len = 0;
    unsigned char tag[AUDIT_HASH_LEN];
    char hex[AUDIT_HEX_LEN + 1];

    SL_CALL(json_canon(obj, &body, &len));
    SL_CALL(audit_mac_compute(m, body, len, tag));
    hex_encode(tag, sizeof tag, hex);
    SL_CHECK(json_object_set_new(obj, "mac", json_string(hex)) == 0, SL_ERR_NOMEM,
             "out of memory building an audit entry");
cleanup:
    sl_free(body);
    return st;
}

/* Checks obj["mac"] (removing it from obj) against the MAC of the rest. */
static sl_status json_unseal(json_t *obj, struct audit_mac *m)
{
    sl_status st = SL_OK;
    char *body = NULL;
    size_t len = 0;
    unsigned char want[AUDIT_HASH_LEN];
    unsigned char got[AUDIT_HASH_LEN];
    const char *hex = json_string_value(json_object_get(obj, "mac"));

    SL_CHECK(hex && hex_decode32(hex, want) == 0, SL_ERR_INTEGRITY,
             "missing or malformed \"mac\" (expected 64 lower-case hex digits)");
    json_object_del(obj, "mac");
    SL_CALL(json_canon(obj, &body, &len));
    SL_CALL(audit_mac_compute(m, body, len, got));
    SL_CHECK(CRYPTO_memcmp(want, got, sizeof got) == 0, SL_ERR_INTEGRITY,
             "bad MAC (the line was edited, forged, or written under another key)");
cleanup:
    sl_free(body);
    return st;
}

/* Parses one log line (`len` bytes, no newline) and checks its form and MAC.
 * On success *seq and prev hold its "seq" and "prev", and *entry (when not
 * NULL) the parsed line without its "mac" (a new reference). On failure
 * SL_ERR_INTEGRITY with the reason; the caller adds where. */
static sl_status entry_check(struct audit_mac *m, const char *line, size_t len, int64_t *seq,
                             unsigned char prev[AUDIT_HASH_LEN], json_t **entry)
{
    sl_status st = SL_OK;
    json_error_t jerr;
    json_t *obj = NULL;
    char *canon = NULL;
    size_t canon_len = 0;
    json_t *v;

    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    SL_CHECK(obj, SL_ERR_INTEGRITY, "unparsable JSON at column %d: %s", jerr.column, jerr.text);
    SL_CHECK(json_is_object(obj), SL_ERR_INTEGRITY, "unparsable entry: not a JSON object");
    SL_CALL(json_canon(obj, &canon, &canon_len));
    SL_CHECK(canon_len == len && memcmp(canon, line, len) == 0, SL_ERR_INTEGRITY,
             "edited line: not in the canonical form the log writes");
    v = json_object_get(obj, "seq");
    SL_CHECK(json_is_integer(v) && json_integer_value(v) >= 1, SL_ERR_INTEGRITY,
             "missing or malformed \"seq\" (expected an integer >= 1)");
    *seq = (int64_t)json_integer_value(v);
    SL_CHECK(json_is_string(json_object_get(obj, "time")), SL_ERR_INTEGRITY,
             "missing or malformed \"time\" (expected a string)");
    SL_CHECK(json_is_string(json_object_get(obj, "event")), SL_ERR_INTEGRITY,
             "missing or malformed \"event\" (expected a string)");
    v = json_object_get(obj, "prev");
    SL_CHECK(json_is_string(v) && hex_decode32(json_string_value(v), prev) == 0,
             SL_ERR_INTEGRITY, "missing or malformed \"prev\" (expected 64 lower-case hex digits)");
    SL_CALL(json_unseal(obj, m));
    if (entry) {
        *entry = obj;
        obj = NULL;
    }
cleanup:
    sl_free(canon);
    json_decref(obj);
    return st;
}

/* ---- files ---- */

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    char *p = sl_malloc(la + lb + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb + 1);
    }
    return p;
}

/* The directory part of `path` ("." when it has none). */
static char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;
    size_t n;

    if (!slash)
        return sl_strdup(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    d = sl_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* Creates `dir` and its missing parents with mode 0700. */
static sl_status mkdir_parents(const char *dir)
{
    sl_status st = SL_OK;
    char *p = sl_strdup(dir);
    struct stat sb;

    SL_CHECK(p, SL_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            SL_FAIL(SL_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        SL_FAIL(SL_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
    SL_CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode), SL_ERR_IO,
             "%s is not a directory", p);
cleanup:
    sl_free(p);
    return st;
}

static sl_status fsync_dir(const char *dir)
{
    sl_status st = SL_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync directory %s: %s", dir, strerror(errno));
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

/* Opens `path` (creating it 0600 when `create`) and takes flock `op` on it;
 * *fd is -1 when `create` is 0 and the file does not exist. The lock is
 * released by closing *fd. */
static sl_status lock_take(const char *path, int create, int op, int *fd)
{
    sl_status st = SL_OK;
    int flags = create ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC;
    int r;

    *fd = open(path, flags, 0600);
    if (*fd < 0 && !create && errno == ENOENT)
        goto cleanup;
    SL_CHECK(*fd >= 0, SL_ERR_IO, "cannot open lock file %s: %s", path, strerror(errno));
    do {
        r = flock(*fd, op);
    } while (r != 0 && errno == EINTR);
    SL_CHECK(r == 0, SL_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
cleanup:
    if (st != SL_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return st;
}

static sl_status pread_all(int fd, void *buf, size_t len, off_t off, const char *path)
{
    sl_status st = SL_OK;
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t k = pread(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k >= 0, SL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        SL_CHECK(k > 0, SL_ERR_IO, "%s shrank while it was being read", path);
        p += k;
        len -= (size_t)k;
        off += k;
    }
cleanup:
    return st;
}

/* ---- the head file ---- */

/* Reads LOG.head's bytes into h->text (at most AUDIT_HEAD_MAX + 1 of them);
 * h->present is 0 when it does not exist. head_check authenticates them:
 * the two are apart so verification can read the head together with the
 * log's length under the lock, but judge the lines before the head. */
static sl_status head_load(const char *path, struct audit_head *h)
{
    sl_status st = SL_OK;
    int fd = -1;

    memset(h, 0, sizeof *h);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        goto cleanup;
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open audit head %s: %s", path, strerror(errno));
    while (h->len < sizeof h->text) {
        ssize_t k = read(fd, h->text + h->len, sizeof h->text - h->len);
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k >= 0, SL_ERR_IO, "cannot read audit head %s: %s", path, strerror(errno));
        if (k == 0)
            break;
        h->len += (size_t)k;
    }
    h->present = 1;
cleanup:
    if (fd >= 0)
        close(fd);
    if (st != SL_OK)
        memset(h, 0, sizeof *h);
    return st;
}

/* Parses and authenticates a loaded head (present), setting h->seq and
 * h->hash. SL_ERR_INTEGRITY when it is malformed or its MAC is wrong. */
static sl_status head_check(const char *path, struct audit_mac *m, struct audit_head *h)
{
    sl_status st = SL_OK;
    json_t *obj = NULL;
    json_error_t jerr;
    json_t *seq;
    const char *hash;

    SL_ASSERT(h->present);
    SL_CHECK(h->len <= AUDIT_HEAD_MAX, SL_ERR_INTEGRITY, "audit head %s is longer than %d bytes",
             path, AUDIT_HEAD_MAX);
    obj = json_loadb(h->text, h->len, JSON_REJECT_DUPLICATES, &jerr);
    SL_CHECK(obj && json_is_object(obj) && json_object_size(obj) == 3, SL_ERR_INTEGRITY,
             "audit head %s is malformed (expected {\"hash\":...,\"mac\":...,\"seq\":...})", path);
    seq = json_object_get(obj, "seq");
    hash = json_string_value(json_object_get(obj, "hash"));
    SL_CHECK(json_is_integer(seq) && json_integer_value(seq) >= 0 &&
                 json_integer_value(seq) <= INT64_MAX - 2 && hash &&
                 hex_decode32(hash, h->hash) == 0,
             SL_ERR_INTEGRITY,
             "audit head %s is malformed (expected an integer \"seq\" >= 0 and a 64-digit hex "
             "\"hash\")", path);
    h->seq = (int64_t)json_integer_value(seq);
    st = json_unseal(obj, m);
    if (st != SL_OK)
        sl_error_prefix("audit head %s", path);
cleanup:
    json_decref(obj);
    return st;
}

/* Replaces LOG.head atomically: write LOG.head.tmp, fsync, rename, fsync the
 * directory. The caller holds the exclusive lock, so the temp name is ours. */
static sl_status head_write(const struct sl_audit *a, struct audit_mac *m, int64_t seq,
                            const unsigned char hash[AUDIT_HASH_LEN])
{
    sl_status st = SL_OK;
    json_t *obj = NULL;
    char hex[AUDIT_HEX_LEN + 1];
    char *text = NULL;
    size_t len = 0;
    size_t done = 0;
    int fd = -1;

    hex_encode(hash, AUDIT_HASH_LEN, hex);
    obj = json_pack("{s:I,s:s}", "seq", (json_int_t)seq, "hash", hex);
    SL_CHECK(obj, SL_ERR_NOMEM, "out of memory building the audit head");
    SL_CALL(json_seal(obj, m));
    SL_CALL(json_canon(obj, &text, &len));
    text[len++] = '\n';
    fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot create %s: %s", a->tmp_path, strerror(errno));
    while (done < len) {
        ssize_t k = write(fd, text + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k > 0, SL_ERR_IO, "cannot write %s: %s", a->tmp_path, strerror(errno));
        done += (size_t)k;
    }
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync %s: %s", a->tmp_path, strerror(errno));
    SL_CHECK(close(fd) == 0, SL_ERR_IO, "cannot close %s: %s", a->tmp_path, strerror(errno));
    fd = -1;
    SL_CHECK(rename(a->tmp_path, a->head_path) == 0, SL_ERR_IO, "cannot rename %s to %s: %s",
             a->tmp_path, a->head_path, strerror(errno));
    SL_CALL(fsync_dir(a->dir_path));
cleanup:
    if (fd >= 0)
        close(fd);
    sl_free(text);
    json_decref(obj);
    return st;
}

/* ---- the tail of the log ---- */

/* Reads the last line of the log open at `fd` (`size` bytes) into *line
 * (sl_malloc'd, NUL-terminated, newline dropped) and *len. SL_ERR_INTEGRITY
 * when the log does not end with a newline or its last line is too long. */
static sl_status tail_read(int fd, off_t size, const char *path, char **line, size_t *len)
{
    sl_status st = SL_OK;
    char buf[4096];
    off_t end = size - 1; /* offset of the final newline */
    off_t start = 0;      /* offset of the last line's first byte */
    off_t pos = end;
    char *out = NULL;
    size_t n;

    *line = NULL;
    *len = 0;
    SL_CALL(pread_all(fd, buf, 1, end, path));
    SL_CHECK(buf[0] == '\n', SL_ERR_INTEGRITY,
             "audit log %s ends in a partial line (no trailing newline)", path);
    while (pos > 0) {
        size_t want = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
        off_t from = pos - (off_t)want;
        const char *nl = NULL;
        SL_CALL(pread_all(fd, buf, want, from, path));
        for (size_t i = want; i > 0 && !nl; i--)
            if (buf[i - 1] == '\n')
                nl = buf + i - 1;
        if (nl) {
            start = from + (nl - buf) + 1;
            break;
        }
        pos = from;
        SL_CHECK(end - pos <= AUDIT_LINE_MAX, SL_ERR_INTEGRITY,
                 "audit log %s: last line is longer than %d bytes", path, AUDIT_LINE_MAX);
    }
    n = (size_t)(end - start);
    SL_CHECK(n <= AUDIT_LINE_MAX, SL_ERR_INTEGRITY,
             "audit log %s: last line is longer than %d bytes", path, AUDIT_LINE_MAX);
    out = sl_malloc(n + 1);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory reading %s", path);
    SL_CALL(pread_all(fd, out, n, start, path));
    out[n] = '\0';
    *line = out;
    *len = n;
    out = NULL;
cleanup:
    sl_free(out);
    return st;
}

/* Checks, under the exclusive lock, that the log open at `fd` and LOG.head
 * agree, and says where the next line chains on. The log may be one line
 * ahead of the head (a crash between writing a line and updating the head);
 * then t->head_stale is set and the caller rewrites the head. */
static sl_status tail_check(const struct sl_audit *a, struct audit_mac *m, int fd,
                            struct audit_tail *t)
{
    sl_status st = SL_OK;
    struct audit_head h;
    struct stat sb;
    char *line = NULL;
    size_t len = 0;
    int64_t seq = 0;
    unsigned char prev[AUDIT_HASH_LEN];

    memset(t, 0, sizeof *t);
    SL_CALL(head_load(a->head_path, &h));
    if (h.present)
        SL_CALL(head_check(a->head_path, m, &h));
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", a->log_path, strerror(errno));
    if (sb.st_size == 0) {
        SL_CHECK(!h.present || h.seq == 0, SL_ERR_INTEGRITY,
                 "audit log %s is empty but its head says %" PRId64 " lines (truncated)",
                 a->log_path, h.seq);
        t->head_stale = !h.present;
        goto cleanup;
    }
    SL_CALL(tail_read(fd, sb.st_size, a->log_path, &line, &len));
    st = entry_check(m, line, len, &seq, prev, NULL);
    if (st != SL_OK) {
        sl_error_prefix("audit log %s: last line", a->log_path);
        goto cleanup;
    }
    SL_CHECK(h.present, SL_ERR_INTEGRITY, "audit head %s is missing but the log has lines",
             a->head_path);
    SL_CALL(audit_sha256(line, len, t->hash));
    t->seq = seq;
    if (seq == h.seq && CRYPTO_memcmp(t->hash, h.hash, AUDIT_HASH_LEN) == 0)
        goto cleanup;
    SL_CHECK(seq == h.seq + 1 && CRYPTO_memcmp(prev, h.hash, AUDIT_HASH_LEN) == 0,
             SL_ERR_INTEGRITY,
             "audit log %s: last line (seq %" PRId64 ") does not match its head (seq %" PRId64
             "); lines were cut off, added or replaced",
             a->log_path, seq, h.seq);
    t->head_stale = 1;
cleanup:
    sl_free(line);
    if (st != SL_OK)
        memset(t, 0, sizeof *t);
    return st;
}

/* ---- the witness ---- */

int sl_audit_anchor_parse(const char *s, size_t n, int64_t *line, unsigned char hash[32])
{
    char digits[AUDIT_HEX_LEN + 1];
    int64_t v = 0;
    size_t i = 0;

    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = 10 * v + (s[i] - '0');
    }
    if (i == 0 || v < 1 || i + 1 + AUDIT_HEX_LEN != n || s[i] != ':')
        return -1;
    for (size_t k = 0; k < AUDIT_HEX_LEN; k++) {
        char c = s[i + 1 + k];
        digits[k] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    digits[AUDIT_HEX_LEN] = '\0';
    if (hex_decode32(digits, hash) != 0)
        return -1;
    *line = v;
    return 0;
}

sl_status sl_audit_witness_last(const char *path, int64_t *line, unsigned char hash[32],
                                int *present)
{
    sl_status st = SL_OK;
    char buf[2 * (AUDIT_HEX_LEN + 24)];
    struct stat sb;
    size_t n, start;
    int fd;

    *present = 0;
    *line = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return SL_OK;
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open audit witness %s: %s", path, strerror(errno));
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    if (sb.st_size == 0)
        goto cleanup;
    n = sb.st_size < (off_t)sizeof buf ? (size_t)sb.st_size : sizeof buf;
    SL_CALL(pread_all(fd, buf, n, sb.st_size - (off_t)n, path));
    SL_CHECK(buf[n - 1] == '\n', SL_ERR_INTEGRITY,
             "audit witness %s ends in a partial line (no trailing newline)", path);
    for (start = n - 1; start > 0 && buf[start - 1] != '\n'; start--)
        ;
    SL_CHECK((start > 0 || (off_t)n == sb.st_size) &&
                 sl_audit_anchor_parse(buf + start, n - 1 - start, line, hash) == 0,
             SL_ERR_INTEGRITY,
             "audit witness %s: its last line is not LINE:SHA256 (a line number and 64 hex "
             "digits)", path);
    *present = 1;
cleanup:
    if (fd >= 0)
        close(fd);
    if (st != SL_OK)
        *line = 0;
    return st;
}

sl_status sl_audit_witness_add(const char *path, int64_t line, const unsigned char hash[32])
{
    sl_status st = SL_OK;
    char text[AUDIT_HEX_LEN + 32], hex[AUDIT_HEX_LEN + 1];
    size_t len, done = 0;
    int fd;

    hex_encode(hash, AUDIT_HASH_LEN, hex);
    len = (size_t)snprintf(text, sizeof text, "%" PRId64 ":%s\n", line, hex);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open audit witness %s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t k = write(fd, text + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k > 0, SL_ERR_IO, "cannot append to audit witness %s: %s", path,
                 strerror(errno));
        done += (size_t)k;
    }
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync audit witness %s: %s", path,
             strerror(errno));
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

/* The SHA-256 of line `want` of the log open at fd, whose last line (line
 * `last`, want <= last) ends the file: found by counting lines back from
 * the end. */
static sl_status line_hash_back(int fd, const char *path, int64_t last, int64_t want,
                                unsigned char hash[AUDIT_HASH_LEN])
{
    sl_status st = SL_OK;
    char buf[4096], *line = NULL;
    struct stat sb;
    off_t pos, end = -1, start = 0;
    int64_t newlines = 0; /* seen from the end, the final one included */

    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    /* line want ends at newline number last - want + 1 from the end and
     * starts after newline number last - want + 2 (or at 0) */
    for (pos = sb.st_size; pos > 0 && start == 0;) {
        size_t k = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
        pos -= (off_t)k;
        SL_CALL(pread_all(fd, buf, k, pos, path));
        for (size_t i = k; i > 0; i--) {
            if (buf[i - 1] != '\n')
                continue;
            newlines++;
            if (newlines == last - want + 1)
                end = pos + (off_t)i - 1;
            if (newlines == last - want + 2) {
                start = pos + (off_t)i;
                break;
            }
        }
    }
    SL_CHECK(end >= start && end - start <= AUDIT_LINE_MAX, SL_ERR_INTEGRITY,
             "audit log %s: line %" PRId64 " not found where the last line's number puts it",
             path, want);
    line = sl_malloc((size_t)(end - start) + 1);
    SL_CHECK(line, SL_ERR_NOMEM, "out of memory reading %s", path);
    SL_CALL(pread_all(fd, line, (size_t)(end - start), start, path));
    SL_CALL(audit_sha256(line, (size_t)(end - start), hash));
cleanup:
    sl_free(line);
    return st;
}

/* Under the lock, with the tail checked: the log still holds the line the
 * witness names last, unchanged. */
static sl_status witness_check(const struct sl_audit *a, int fd, const struct audit_tail *t)
{
    sl_status st = SL_OK;
    unsigned char want[AUDIT_HASH_LEN], got[AUDIT_HASH_LEN];
    int64_t line = 0;
    int present = 0;

    if (!a->witness_path)
        return SL_OK;
    SL_CALL(sl_audit_witness_last(a->witness_path, &line, want, &present));
    if (!present) {
        SL_CHECK(t->seq == 0, SL_ERR_INTEGRITY,
                 "audit witness %s is missing or empty, but the audit log %s has %" PRId64
                 " lines: start it with 'sluice audit verify %s --key KEY --witness %s'",
                 a->witness_path, a->log_path, t->seq, a->log_path, a->witness_path);
        goto cleanup;
    }
    SL_CHECK(line <= t->seq, SL_ERR_INTEGRITY,
             "audit log %s has %" PRId64 " lines, but its witness %s names line %" PRId64
             ": the log was rolled back (with its head) or replaced",
             a->log_path, t->seq, a->witness_path, line);
    if (line == t->seq)
        memcpy(got, t->hash, sizeof got);
    else
        SL_CALL(line_hash_back(fd, a->log_path, t->seq, line, got));
    SL_CHECK(CRYPTO_memcmp(got, want, sizeof got) == 0, SL_ERR_INTEGRITY,
             "line %" PRId64 " of audit log %s is not the line its witness %s names (its "
             "SHA-256 differs): the log was rewritten at or before it",
             line, a->log_path, a->witness_path);
cleanup:
    return st;
}

/* ---- writers ---- */

/* What every writer does first: the exclusive lock, the log opened for
 * appending (created 0600 when missing), its tail checked against the head.
 * The caller passes *lock_fd and *fd as -1 and releases them with
 * writer_close, also on failure. */
static sl_status writer_open(const struct sl_audit *a, struct audit_mac *m, int *lock_fd,
                             int *fd, struct audit_tail *t)
{
    sl_status st = SL_OK;
    SL_CALL(lock_take(a->lock_path, 1, LOCK_EX, lock_fd));
    *fd = open(a->log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    SL_CHECK(*fd >= 0, SL_ERR_IO, "cannot open audit log %s: %s", a->log_path, strerror(errno));
    /* Another process may have appended since we last looked: chain on what
     * the file holds now, never on cached state. */
    SL_CALL(tail_check(a, m, *fd, t));
cleanup:
    return st;
}

/* Closes what writer_open opened (the lock last) and the MAC context. */
static void writer_close(int fd, int lock_fd, struct audit_mac *m)
{
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    audit_mac_fini(m);
}

/* ---- public API ---- */

void sl_audit_close(struct sl_audit **a)
{
    if (!a || !*a)
        return;
    sl_free((*a)->log_path);
    sl_free((*a)->head_path);
    sl_free((*a)->tmp_path);
    sl_free((*a)->lock_path);
    sl_free((*a)->dir_path);
    sl_free((*a)->witness_path);
    sl_secbuf_destroy(&(*a)->key);
    sl_free(*a);
    *a = NULL;
}

sl_status sl_audit_open(const char *path, const unsigned char key[32], struct sl_audit **out)
{
    sl_status st = SL_OK;
    struct sl_audit *a = NULL;
    struct audit_mac m = {NULL, NULL};
    struct audit_tail t;
    int lock_fd = -1;
    int fd = -1;

    SL_CHECK(out, SL_ERR_ARG, "sl_audit_open: out is NULL");
    *out = NULL;
    SL_CHECK(path && *path && key, SL_ERR_ARG, "sl_audit_open: a log path and a key are needed");
    a = sl_calloc(1, sizeof *a);
    SL_CHECK(a, SL_ERR_NOMEM, "out of memory");
    a->log_path = sl_strdup(path);
    a->head_path = path_join(path, ".head");
    a->tmp_path = path_join(path, ".head.tmp");
    a->lock_path = path_join(path, ".lock");
    a->dir_path = path_dir(path);
    SL_CHECK(a->log_path && a->head_path && a->tmp_path && a->lock_path && a->dir_path,
             SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create(AUDIT_KEY_LEN, &a->key));
    memcpy(a->key->data, key, AUDIT_KEY_LEN);
    SL_CALL(audit_mac_init(&m, a->key->data));
    SL_CALL(mkdir_parents(a->dir_path));
    SL_CALL(writer_open(a, &m, &lock_fd, &fd, &t));
    if (t.head_stale)
        SL_CALL(head_write(a, &m, t.seq, t.hash));
    SL_CALL(fsync_dir(a->dir_path));
    *out = a;
    a = NULL;
cleanup:
    writer_close(fd, lock_fd, &m);
    sl_audit_close(&a);
    return st;
}

sl_status sl_audit_set_witness(struct sl_audit *a, const char *path)
{
    sl_status st = SL_OK;
    struct audit_mac m = {NULL, NULL};
    struct audit_tail t;
    int lock_fd = -1, fd = -1;

    SL_CHECK(a && path && *path, SL_ERR_ARG, "sl_audit_set_witness: a log and a path are needed");
    sl_free(a->witness_path);
    a->witness_path = sl_strdup(path);
    SL_CHECK(a->witness_path, SL_ERR_NOMEM, "out of memory");
    SL_CALL(audit_mac_init(&m, a->key->data));
    SL_CALL(writer_open(a, &m, &lock_fd, &fd, &t));
    SL_CALL(witness_check(a, fd, &t));
cleanup:
    writer_close(fd, lock_fd, &m);
    return st;
}

/* Whether the n bytes at s contain the plen bytes of pat. */
static int bytes_contain(const char *s, size_t n, const char *pat, size_t plen)
{
    for (const char *p = s; plen <= n - (size_t)(p - s);) {
        const char *q = memchr(p, pat[0], n - (size_t)(p - s) - plen + 1);
        if (!q)
            return 0;
        if (memcmp(q, pat, plen) == 0)
            return 1;
        p = q + 1;
    }
    return 0;
}

/* The index just past the JSON string that starts at s[i] (a quote), or n
 * when it does not end. */
static size_t json_string_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* The top-level "seq" (an integer >= 1) and "prev" (64 hex digits) of the
 * n bytes of an audit line, found without parsing the rest: for lines the
 * hash chain already vouches for. Returns 0, or -1 when either is missing
 * or malformed. */
static int line_seq_prev(const char *s, size_t n, int64_t *seq, unsigned char prev[AUDIT_HASH_LEN])
{
    size_t i = 1;
    int depth = 1, have = 0;

    if (n < 2 || s[0] != '{')
        return -1;
    while (i < n && depth > 0) {
        size_t k0 = i, k1, v;
        if (s[i] != '"') {
            depth += (s[i] == '{' || s[i] == '[') - (s[i] == '}' || s[i] == ']');
            i++;
            continue;
        }
        k1 = json_string_end(s, n, i);
        i = k1;
        if (depth != 1 || k1 >= n || s[k1] != ':')
            continue; /* a string value, or a key below the top level */
        v = k1 + 1;
        if (k1 - k0 == 5 && memcmp(s + k0, "\"seq\"", 5) == 0) {
            int64_t x = 0;
            size_t d = v;
            for (; d < n && d - v < 18 && s[d] >= '0' && s[d] <= '9'; d++)
                x = 10 * x + (s[d] - '0');
            if (d == v || x < 1 || (d < n && s[d] >= '0' && s[d] <= '9'))
                return -1;
            *seq = x;
            have |= 1;
        } else if (k1 - k0 == 6 && memcmp(s + k0, "\"prev\"", 6) == 0) {
            if (v + AUDIT_HEX_LEN + 2 > n || s[v] != '"' || s[v + AUDIT_HEX_LEN + 1] != '"')
                return -1;
            for (size_t b = 0; b < AUDIT_HASH_LEN; b++) {
                int hi = hex_nibble(s[v + 1 + 2 * b]), lo = hex_nibble(s[v + 2 + 2 * b]);
                if (hi < 0 || lo < 0)
                    return -1;
                prev[b] = (unsigned char)(hi << 4 | lo);
            }
            have |= 2;
        }
    }
    return have == 3 ? 0 : -1;
}

/* "KEY":VALUE as the log writes a member (sl_malloc'd), or NULL when out of
 * memory. */
static char *member_text(const char *key, const json_t *value)
{
    json_t *k = json_string(key);
    char *ks = k ? json_dumps(k, JSON_ENCODE_ANY | AUDIT_JSON_FLAGS) : NULL;
    char *vs = json_dumps(value, JSON_ENCODE_ANY | AUDIT_JSON_FLAGS);
    char *out = ks && vs ? sl_malloc(strlen(ks) + strlen(vs) + 2) : NULL;
    if (out)
        sprintf(out, "%s:%s", ks, vs);
    json_decref(k);
    free(ks);
    free(vs);
    return out;
}

/* What a line that matches must contain, as the log writes it: the member
 * "event":EVENT and every member of match whose value has one written form
 * (a string, an integer, true, false, null; not a real, since 0.0 equals
 * -0.0 and 1e2 equals 100.0, nor a list or object that may hold one):
 * NULL-terminated, sl_malloc'd strings in *out. A line without all of them
 * cannot match, so it is not parsed. */
static sl_status match_patterns(const char *event, const json_t *match, char ***out)
{
    sl_status st = SL_OK;
    char **pat = NULL;
    const char *k;
    json_t *want, *ev = json_string(event);
    size_t n = 0;

    *out = NULL;
    pat = sl_calloc(json_object_size(match) + 2, sizeof *pat);
    SL_CHECK(pat && ev, SL_ERR_NOMEM, "out of memory");
    pat[n] = member_text("event", ev);
    SL_CHECK(pat[n++], SL_ERR_NOMEM, "out of memory");
    json_object_foreach((json_t *)match, k, want) {
        if (!json_is_string(want) && !json_is_integer(want) && !json_is_boolean(want) &&
            !json_is_null(want))
            continue;
        pat[n] = member_text(k, want);
        SL_CHECK(pat[n++], SL_ERR_NOMEM, "out of memory");
    }
    *out = pat;
    pat = NULL;
cleanup:
    for (size_t i = 0; pat && pat[i]; i++)
        sl_free(pat[i]);
    sl_free(pat);
    json_decref(ev);
    return st;
}

/* Whether the n bytes at s contain every pattern of pat. */
static int bytes_contain_all(const char *s, size_t n, char *const *pat)
{
    for (size_t i = 0; pat[i]; i++)
        if (!bytes_contain(s, n, pat[i], strlen(pat[i])))
            return 0;
    return 1;
}

sl_status sl_audit_find_last(const struct sl_audit *a, const char *event, const json_t *match,
                             json_t **entry, int64_t *seq)
{
    sl_status st = SL_OK;
    struct audit_mac m = {NULL, NULL};
    const size_t window = (size_t)AUDIT_LINE_MAX + 2;
    char *buf = NULL, **pat = NULL;
    int lock_fd = -1, fd = -1;
    struct stat sb;
    off_t end;
    unsigned char newer_prev[AUDIT_HASH_LEN];
    int64_t newer_seq = 0; /* 0 until a line has been read */
    json_t *found = NULL;

    SL_CHECK(entry && seq, SL_ERR_ARG, "sl_audit_find_last: entry and seq are needed");
    *entry = NULL;
    *seq = 0;
    SL_CHECK(a && event && json_is_object(match), SL_ERR_ARG,
             "sl_audit_find_last: missing argument");
    SL_CALL(match_patterns(event, match, &pat));
    buf = sl_malloc(window);
    SL_CHECK(buf, SL_ERR_NOMEM, "out of memory reading %s", a->log_path);
    SL_CALL(audit_mac_init(&m, a->key->data));
    /* the log only grows: its length under the lock is a snapshot */
    SL_CALL(lock_take(a->lock_path, 0, LOCK_SH, &lock_fd));
    fd = open(a->log_path, O_RDONLY | O_CLOEXEC);
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open audit log %s: %s", a->log_path, strerror(errno));
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", a->log_path, strerror(errno));
    if (lock_fd >= 0) {
        close(lock_fd);
        lock_fd = -1;
    }
    /* windows end after a newline; each holds at least one whole line */
    for (end = sb.st_size; end > 0 && !*entry;) {
        off_t from = end > (off_t)window ? end - (off_t)window : 0;
        size_t n = (size_t)(end - from), stop = n - 1, s;
        SL_CALL(pread_all(fd, buf, n, from, a->log_path));
        SL_CHECK(buf[n - 1] == '\n', SL_ERR_INTEGRITY,
                 "audit log %s ends in a partial line (no trailing newline)", a->log_path);
        for (;;) {
            for (s = stop; s > 0 && buf[s - 1] != '\n'; s--)
                ;
            if (s == 0 && from > 0) {
                SL_CHECK(stop < n - 1, SL_ERR_INTEGRITY,
                         "audit log %s: the line ending at byte %lld is longer than %d bytes",
                         a->log_path, (long long)(from + (off_t)stop), AUDIT_LINE_MAX);
                end = from + (off_t)stop + 1;
                break;
            }
            {
                const char *line = buf + s;
                size_t len = stop - s;
                unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
                int64_t lseq = 0;
                int maybe = bytes_contain_all(line, len, pat), all;
                json_t *want;
                const char *k;
                /* The newest line's MAC vouches for it; each older one is
                 * vouched for by the hash the line after it names, so only
                 * a line that may match is parsed and checked in full. */
                if (newer_seq > 0) {
                    SL_CALL(audit_sha256(line, len, hash));
                    SL_CHECK(CRYPTO_memcmp(hash, newer_prev, AUDIT_HASH_LEN) == 0 &&
                                 line_seq_prev(line, len, &lseq, prev) == 0 &&
                                 lseq == newer_seq - 1,
                             SL_ERR_INTEGRITY,
                             "audit log %s: line seq %lld does not chain onto the line before "
                             "it (at byte %lld): a line was removed, added or replaced",
                             a->log_path, (long long)newer_seq, (long long)(from + (off_t)s));
                }
                if (newer_seq == 0 || maybe) {
                    st = entry_check(&m, line, len, &lseq, prev, maybe ? &found : NULL);
                    if (st != SL_OK) {
                        sl_error_prefix("audit log %s: line at byte %lld", a->log_path,
                                        (long long)(from + (off_t)s));
                        goto cleanup;
                    }
                }
                newer_seq = lseq;
                memcpy(newer_prev, prev, AUDIT_HASH_LEN);
                all = found &&
                      strcmp(json_string_value(json_object_get(found, "event")), event) == 0;
                json_object_foreach((json_t *)match, k, want)
                    all = all && json_equal(json_object_get(found, k), want);
                if (all) {
                    *entry = found;
                    found = NULL;
                    *seq = lseq;
                    break;
                }
                json_decref(found);
                found = NULL;
            }
            if (s == 0) {
                end = 0;
                break;
            }
            stop = s - 1;
        }
    }
cleanup:
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    audit_mac_fini(&m);
    sl_free(buf);
    for (size_t i = 0; pat && pat[i]; i++)
        sl_free(pat[i]);
    sl_free(pat);
    json_decref(found);
    if (st != SL_OK && entry) {
        json_decref(*entry);
        *entry = NULL;
        *seq = 0;
    }
    return st;
}

/* Current UTC time as 2026-11-23T06:46:00.123Z. */
static sl_status audit_now(char out[32])
{
    sl_status st = SL_OK;
    struct timespec ts;
    struct tm tm;
    size_t n;

    SL_CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0, SL_ERR_IO, "cannot read the clock: %s",
             strerror(errno));
    SL_CHECK(gmtime_r(&ts.tv_sec, &tm), SL_ERR_INTERNAL, "cannot convert the time to UTC");
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    SL_CHECK(n > 0 && n < 24, SL_ERR_INTERNAL, "cannot format the time");
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
cleanup:
    return st;
}

sl_status sl_audit_append(struct sl_audit *a, const char *event, const json_t *fields)
{
    sl_status st = SL_OK;
    struct audit_mac m = {NULL, NULL};
    struct audit_tail t;
    json_t *obj = NULL;
    json_t *ev = NULL;
    char *line = NULL;
    size_t len = 0;
    char now[32];
    char prev_hex[AUDIT_HEX_LEN + 1];
    unsigned char hash[AUDIT_HASH_LEN];
    struct stat sb;
    ssize_t k;
    int lock_fd = -1;
    int fd = -1;

    SL_CHECK(a && event && *event, SL_ERR_ARG, "sl_audit_append: a log and an event name are needed");
    SL_CHECK(!fields || json_is_object(fields), SL_ERR_ARG,
             "audit event '%s': fields must be a JSON object", event);
    for (size_t i = 0; i < sizeof audit_reserved / sizeof audit_reserved[0]; i++)
        SL_CHECK(!fields || !json_object_get(fields, audit_reserved[i]), SL_ERR_ARG,
                 "audit event '%s': field name '%s' is reserved (seq, time, event, prev and mac "
                 "are set by the log)", event, audit_reserved[i]);
    ev = json_string(event);
    SL_CHECK(ev, SL_ERR_ARG, "audit event name is not valid UTF-8");
    obj = fields ? json_deep_copy(fields) : json_object();
    SL_CHECK(obj, SL_ERR_NOMEM, "out of memory building an audit entry");
    SL_CHECK(json_object_set(obj, "event", ev) == 0, SL_ERR_NOMEM,
             "out of memory building an audit entry");
    SL_CALL(audit_mac_init(&m, a->key->data));

    SL_CALL(writer_open(a, &m, &lock_fd, &fd, &t));
    SL_CALL(witness_check(a, fd, &t));
    SL_CHECK(t.seq < INT64_MAX, SL_ERR_INTEGRITY, "audit log %s: sequence exhausted", a->log_path);
    SL_CALL(audit_now(now));
    hex_encode(t.hash, AUDIT_HASH_LEN, prev_hex);
    SL_CHECK(json_object_set_new(obj, "seq", json_integer((json_int_t)(t.seq + 1))) == 0 &&
                 json_object_set_new(obj, "time", json_string(now)) == 0 &&
                 json_object_set_new(obj, "prev", json_string(prev_hex)) == 0,
             SL_ERR_NOMEM, "out of memory building an audit entry");
    SL_CALL(json_seal(obj, &m));
    SL_CALL(json_canon(obj, &line, &len));
    SL_CHECK(len <= AUDIT_LINE_MAX, SL_ERR_ARG,
             "audit event '%s' is %zu bytes long; at most %d are allowed", event, len,
             AUDIT_LINE_MAX);
    SL_CALL(audit_sha256(line, len, hash));
    line[len] = '\n';
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", a->log_path, strerror(errno));
    do {
        k = write(fd, line, len + 1);
    } while (k < 0 && errno == EINTR);
    if (k != (ssize_t)(len + 1)) {
        int err = k < 0 ? errno : EIO;
        /* We hold the lock, so nobody else wrote after sb.st_size: cut our
         * partial line off rather than leave a line without its end. */
        if (k > 0 && ftruncate(fd, sb.st_size) != 0)
            SL_FAIL(SL_ERR_IO, "short write to audit log %s, and cannot cut it back: %s",
                    a->log_path, strerror(errno));
        SL_FAIL(SL_ERR_IO, "cannot write audit log %s: %s", a->log_path, strerror(err));
    }
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync audit log %s: %s", a->log_path,
             strerror(errno));
    SL_CALL(head_write(a, &m, t.seq + 1, hash));
    if (a->witness_path)
        SL_CALL(sl_audit_witness_add(a->witness_path, t.seq + 1, hash));
cleanup:
    writer_close(fd, lock_fd, &m);
    sl_free(line);
    json_decref(obj);
    json_decref(ev);
    return st;
}

/* ---- verification ---- */

/* Streams the first `left` bytes of a log line by line. */
struct line_reader {
    int fd;
    const char *path;
    off_t left;
    char *chunk;
    size_t pos;
    size_t fill;
    char *line;
    size_t len;
    size_t cap;
};

enum line_result { LINE_FULL, LINE_PARTIAL, LINE_END };

/* Reads the next line into r->line/r->len (newline dropped). LINE_PARTIAL
 * when the bytes end inside a line. SL_ERR_INTEGRITY for a line longer than
 * AUDIT_LINE_MAX. */
static sl_status reader_next(struct line_reader *r, enum line_result *res)
{
    sl_status st = SL_OK;

    r->len = 0;
    for (;;) {
        const char *nl;
        size_t take;
        if (r->pos == r->fill) {
            size_t want = r->left > AUDIT_READ_CHUNK ? AUDIT_READ_CHUNK : (size_t)r->left;
            ssize_t k = 0;
            if (want > 0)
                k = read(r->fd, r->chunk, want);
            if (k < 0 && errno == EINTR)
                continue;
            SL_CHECK(k >= 0, SL_ERR_IO, "cannot read audit log %s: %s", r->path, strerror(errno));
            if (k == 0) {
                r->left = 0;
                *res = r->len > 0 ? LINE_PARTIAL : LINE_END;
                goto cleanup;
            }
            r->left -= k;
            r->pos = 0;
            r->fill = (size_t)k;
        }
        nl = memchr(r->chunk + r->pos, '\n', r->fill - r->pos);
        take = nl ? (size_t)(nl - (r->chunk + r->pos)) : r->fill - r->pos;
        SL_CHECK(r->len + take <= AUDIT_LINE_MAX, SL_ERR_INTEGRITY,
                 "unparsable: line is longer than %d bytes", AUDIT_LINE_MAX);
        if (r->len + take + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            char *p;
            while (cap < r->len + take + 1)
                cap *= 2;
            p = sl_realloc(r->line, cap);
            SL_CHECK(p, SL_ERR_NOMEM, "out of memory reading %s", r->path);
            r->line = p;
            r->cap = cap;
        }
        memcpy(r->line + r->len, r->chunk + r->pos, take);
        r->len += take;
        r->pos += take;
        if (nl) {
            r->pos++;
            r->line[r->len] = '\0';
            *res = LINE_FULL;
            goto cleanup;
        }
    }
cleanup:
    return st;
}

/* Checks line `i` (1-based) against the chain so far and advances it:
 * `hash` holds the previous line's hash on entry and this line's on return. */
static sl_status verify_line(struct audit_mac *m, const char *line, size_t len, int64_t i,
                             unsigned char hash[AUDIT_HASH_LEN], json_t **entry)
{
    sl_status st = SL_OK;
    int64_t seq = 0;
    unsigned char prev[AUDIT_HASH_LEN];

    SL_CALL(entry_check(m, line, len, &seq, prev, entry));
    SL_CHECK(CRYPTO_memcmp(prev, hash, AUDIT_HASH_LEN) == 0, SL_ERR_INTEGRITY,
             "broken chain: \"prev\" is not the hash of the line before it (a line was "
             "deleted, inserted or reordered)");
    SL_CHECK(seq == i, SL_ERR_INTEGRITY, "sequence gap: seq is %" PRId64 ", expected %" PRId64,
             seq, i);
    SL_CALL(audit_sha256(line, len, hash));
cleanup:
    return st;
}

sl_status sl_audit_verify(const char *path, const unsigned char key[32], int64_t *nlines,
                          int64_t *bad_line)
{
    return sl_audit_verify_each(path, key, NULL, NULL, nlines, bad_line);
}

sl_status sl_audit_verify_each(const char *path, const unsigned char key[32],
                               sl_audit_visit_fn *visit, void *ctx, int64_t *nlines,
                               int64_t *bad_line)
{
    sl_status st = SL_OK;
    struct audit_mac m = {NULL, NULL};
    struct audit_head h;
    struct line_reader r;
    enum line_result res = LINE_END;
    unsigned char hash[AUDIT_HASH_LEN];
    unsigned char prev_hash[AUDIT_HASH_LEN];
    char *head_path = NULL;
    char *lock_path = NULL;
    struct stat sb;
    int64_t n = 0;
    int64_t bad = 0;
    int lock_fd = -1;
    json_t *entry = NULL;

    memset(&r, 0, sizeof r);
    r.fd = -1;
    r.path = path;
    memset(hash, 0, sizeof hash);
    memset(prev_hash, 0, sizeof prev_hash);
    if (nlines)
        *nlines = 0;
    if (bad_line)
        *bad_line = 0;
    SL_CHECK(path && *path && key, SL_ERR_ARG, "sl_audit_verify: a log path and a key are needed");
    head_path = path_join(path, ".head");
    lock_path = path_join(path, ".lock");
    r.chunk = sl_malloc(AUDIT_READ_CHUNK);
    SL_CHECK(head_path && lock_path && r.chunk, SL_ERR_NOMEM, "out of memory");
    SL_CALL(audit_mac_init(&m, key));

    /* Snapshot the head and the log's length together under a shared lock,
     * then verify that prefix without holding the lock: the log only grows,
     * so appends made meanwhile do not disturb the snapshot. Without a lock
     * file (a copy of the log) there is nobody to wait for. */
    SL_CALL(lock_take(lock_path, 0, LOCK_SH, &lock_fd));
    SL_CALL(head_load(head_path, &h));
    r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0 && errno == ENOENT) {
        SL_CHECK(h.present, SL_ERR_IO, "no audit log at %s", path);
        SL_CALL(head_check(head_path, &m, &h));
        bad = 1;
        SL_CHECK(h.seq == 0, SL_ERR_INTEGRITY,
                 "audit log %s is missing but its head says %" PRId64 " lines", path, h.seq);
        goto cleanup;
    }
    SL_CHECK(r.fd >= 0, SL_ERR_IO, "cannot open audit log %s: %s", path, strerror(errno));
    SL_CHECK(fstat(r.fd, &sb) == 0, SL_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    r.left = sb.st_size;
    if (lock_fd >= 0) {
        close(lock_fd);
        lock_fd = -1;
    }

    for (;;) {
        bad = n + 1;
        st = reader_next(&r, &res);
        if (st == SL_ERR_INTEGRITY)
            sl_error_prefix("audit log %s: line %" PRId64, path, n + 1);
        SL_CALL(st);
        if (res == LINE_END)
            break;
        SL_CHECK(res == LINE_FULL, SL_ERR_INTEGRITY,
                 "audit log %s: line %" PRId64 " is partial (no trailing newline)", path, n + 1);
        memcpy(prev_hash, hash, sizeof hash);
        st = verify_line(&m, r.line, r.len, n + 1, hash, visit ? &entry : NULL);
        if (st != SL_OK) {
            sl_error_prefix("audit log %s: line %" PRId64, path, n + 1);
            goto cleanup;
        }
        n++;
        if (visit) {
            bad = 0;
            st = visit(ctx, n, entry, hash);
            json_decref(entry);
            entry = NULL;
            SL_CALL(st);
        }
    }

    /* Faults in LOG.head itself are reported as line 0. */
    bad = 0;
    SL_CHECK(n == 0 || h.present, SL_ERR_INTEGRITY,
             "audit head %s is missing but the log has %" PRId64 " lines", head_path, n);
    if (!h.present)
        goto cleanup;
    SL_CALL(head_check(head_path, &m, &h));
    if (n == h.seq && CRYPTO_memcmp(hash, h.hash, sizeof hash) == 0)
        goto cleanup;
    /* One line ahead of the head is a crash between fsyncing a line and
     * renaming the new head into place; that line was fully checked above
     * (MAC and chain), and the next append rewrites the head. */
    if (n == h.seq + 1 && CRYPTO_memcmp(prev_hash, h.hash, sizeof hash) == 0)
        goto cleanup;
    bad = n + 1;
    SL_CHECK(n >= h.seq, SL_ERR_INTEGRITY,
             "audit log %s: truncated: the head says %" PRId64 " lines, the log has %" PRId64,
             path, h.seq, n);
    bad = h.seq + 2;
    SL_CHECK(n <= h.seq + 1, SL_ERR_INTEGRITY,
             "audit log %s: %" PRId64 " lines, but the head says %" PRId64
             "; lines after %" PRId64 " were never recorded in the head",
             path, n, h.seq, h.seq + 1);
    bad = n;
    SL_FAIL(SL_ERR_INTEGRITY,
            "audit log %s: line %" PRId64 " does not match the head (lines were replaced)", path,
            n);
cleanup:
    json_decref(entry);
    if (st == SL_OK && nlines)
        *nlines = n;
    if (st == SL_ERR_INTEGRITY && bad_line)
        *bad_line = bad;
    if (r.fd >= 0)
        close(r.fd);
    if (lock_fd >= 0)
        close(lock_fd);
    audit_mac_fini(&m);
    sl_free(r.chunk);
    sl_free(r.line);
    sl_free(head_path);
    sl_free(lock_path);
    return st;
}

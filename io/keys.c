/*
 * keys.c: the centre key-encryption key (KEK): its file, its public
 * fingerprint, HKDF sub-keys, and AES key wrap of per-file data keys.
 *
 * The KEK is the one secret an operator holds; every cohort's data key is
 * stored only wrapped under a sub-key of it. So the file is created 0600 and
 * never overwritten, loading refuses a file others could read, and the key
 * bytes live only in OpenSSL's secure heap (or a locked secbuf when the
 * process has not set one up) and on the stack of the function using them,
 * wiped before it returns.
 */
#include "io/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/format.h"
#include "io/ssl_impl.h"

#define SL_KEK_MAGIC "sluice-kek 1\n"
#define SL_KEK_MAGIC_PREFIX "sluice-kek "
#define SL_KEK_FILE_MAX 256
#define SL_KEK_ID_LABEL "sluice kek id"
#define SL_KDF_SALT "sluice"
#define SL_WRAP_LABEL "dek-wrap"

struct sl_kek {
    unsigned char *key;       /* secret: SL_KEY_BYTES, in the secure heap or in sb */
    struct sl_secbuf *sb;     /* holds key when no secure heap is configured */
    char id[17];
    char *path;
};

static const char hexdigits[] = "0123456789abcdef";

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static sl_status kek_alloc(const char *path, struct sl_kek **out)
{
    sl_status st = SL_OK;
    struct sl_kek *k = NULL;

    k = sl_calloc(1, sizeof *k);
    SL_CHECK(k, SL_ERR_NOMEM, "out of memory");
    k->path = sl_strdup(path);
    SL_CHECK(k->path, SL_ERR_NOMEM, "out of memory");
    if (CRYPTO_secure_malloc_initialized()) {
        k->key = OPENSSL_secure_zalloc(SL_KEY_BYTES);
        SL_CHECK(k->key, SL_ERR_NOMEM, "OpenSSL secure heap exhausted while loading key %s",
                 path);
    } else {
        SL_CALL(sl_secbuf_create(SL_KEY_BYTES, &k->sb));
        k->key = k->sb->data;
    }
    *out = k;
    k = NULL;
cleanup:
    sl_kek_destroy(&k);
    return st;
}

void sl_kek_destroy(struct sl_kek **kek)
{
    struct sl_kek *k;
    if (!kek || !*kek)
        return;
    k = *kek;
    if (k->sb)
        sl_secbuf_destroy(&k->sb);
    else if (k->key)
        OPENSSL_secure_clear_free(k->key, SL_KEY_BYTES);
    sl_free(k->path);
    sl_free(k);
    *kek = NULL;
}

static sl_status kek_set_id(struct sl_kek *k)
{
    sl_status st = SL_OK;
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    static const char label[] = SL_KEK_ID_LABEL;

    SL_CALL_SSL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->key, SL_KEY_BYTES,
                          (const unsigned char *)label, sizeof label - 1, mac, sizeof mac,
                          &maclen) != NULL,
                SL_ERR_CRYPTO, "cannot compute the fingerprint of key %s", k->path);
    SL_CHECK(maclen >= 8, SL_ERR_INTERNAL, "short HMAC");
    hex_encode(mac, 8, k->id);
cleanup:
    sl_wipe(mac, sizeof mac);
    return st;
}

static sl_status write_all(int fd, const char *buf, size_t n, const char *path)
{
    sl_status st = SL_OK;
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        SL_CHECK(w > 0, SL_ERR_IO, "cannot write key file %s: %s", path, strerror(errno));
        buf += w;
        n -= (size_t)w;
    }
cleanup:
    return st;
}

sl_status sl_kek_generate_file(const char *path)
{
    sl_status st = SL_OK;
    unsigned char key[SL_KEY_BYTES];
    char text[sizeof SL_KEK_MAGIC + 2 * SL_KEY_BYTES + 1];
    size_t magic_len = sizeof SL_KEK_MAGIC - 1;
    int fd = -1;
    int created = 0;

    SL_CHECK(path && path[0], SL_ERR_ARG, "no key file path given");
    SL_CALL_SSL(RAND_priv_bytes(key, sizeof key), SL_ERR_CRYPTO,
                "cannot draw random bytes for key %s", path);
    memcpy(text, SL_KEK_MAGIC, magic_len);
    hex_encode(key, sizeof key, text + magic_len);
    text[magic_len + 2 * SL_KEY_BYTES] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        SL_FAIL(SL_ERR_EXISTS, "key file %s already exists; sluice never overwrites a key file",
                path);
    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot create key file %s: %s", path, strerror(errno));
    created = 1;
    SL_CHECK(fchmod(fd, 0600) == 0, SL_ERR_IO, "cannot set mode 0600 on key file %s: %s", path,
             strerror(errno));
    SL_CALL(write_all(fd, text, magic_len + 2 * SL_KEY_BYTES + 1, path));
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync key file %s: %s", path, strerror(errno));
    SL_CHECK(close(fd) == 0, SL_ERR_IO, "cannot close key file %s: %s", path, strerror(errno));
    fd = -1;
cleanup:
    if (fd >= 0)
        (void)close(fd);
    if (st != SL_OK && created)
        (void)unlink(path);
    sl_wipe(key, sizeof key);
    sl_wipe(text, sizeof text);
    return st;
}

/* Reads the whole (small) key file behind fd into buf; *n gets its length. */
static sl_status read_key_text(int fd, const char *path, char *buf, size_t cap, size_t *n)
{
    sl_status st = SL_OK;
    size_t used = 0;

    for (;;) {
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0 && errno == EINTR)
            continue;
        SL_CHECK(r >= 0, SL_ERR_IO, "cannot read key file %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        used += (size_t)r;
        SL_CHECK(used < cap, SL_ERR_KEY,
                 "key file %s is too large to be a sluice key file (expected 2 lines, %zu bytes)",
                 path, sizeof SL_KEK_MAGIC + 2 * (size_t)SL_KEY_BYTES);
    }
    *n = used;
cleanup:
    return st;
}

static sl_status parse_key_text(const char *text, size_t n, const char *path, unsigned char *key)
{
    sl_status st = SL_OK;
    size_t magic_len = sizeof SL_KEK_MAGIC - 1;
    size_t digits = 0;
    const char *hex;

    if (n < magic_len || memcmp(text, SL_KEK_MAGIC, magic_len) != 0) {
        SL_CHECK(!(n >= sizeof SL_KEK_MAGIC_PREFIX - 1 &&
                   memcmp(text, SL_KEK_MAGIC_PREFIX, sizeof SL_KEK_MAGIC_PREFIX - 1) == 0),
                 SL_ERR_KEY, "key file %s has a key file version this sluice does not support "
                 "(expected first line 'sluice-kek 1')", path);
        SL_FAIL(SL_ERR_KEY, "%s is not a sluice key file (expected first line 'sluice-kek 1'; "
                "create one with 'sluice keygen')", path);
    }
    hex = text + magic_len;
    while (magic_len + digits < n && hex_value(hex[digits]) >= 0)
        digits++;
    SL_CHECK(digits == 2 * SL_KEY_BYTES, SL_ERR_KEY,
             "key file %s, line 2: expected %d lowercase hex digits (a %d-byte key), found %zu",
             path, 2 * SL_KEY_BYTES, SL_KEY_BYTES, digits);
    SL_CHECK(magic_len + digits == n || (magic_len + digits + 1 == n && hex[digits] == '\n'),
             SL_ERR_KEY, "key file %s, line 2: unexpected characters after the %d hex digits",
             path, 2 * SL_KEY_BYTES);
    for (size_t i = 0; i < SL_KEY_BYTES; i++)
        key[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
cleanup:
    return st;
}

sl_status sl_kek_load(const char *path, struct sl_kek **out)
{
    sl_status st = SL_OK;
    struct sl_kek *k = NULL;
    char text[SL_KEK_FILE_MAX];
    size_t n = 0;
    struct stat sb;
    int fd = -1;

    *out = NULL;
    SL_CHECK(path && path[0], SL_ERR_ARG, "no key file path given");
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    SL_CHECK(fd >= 0, SL_ERR_KEY, "cannot open key file %s: %s", path, strerror(errno));
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "cannot stat key file %s: %s", path,
             strerror(errno));
    SL_CHECK(S_ISREG(sb.st_mode), SL_ERR_KEY, "key file %s is not a regular file", path);
    SL_CHECK((sb.st_mode & (S_IRWXG | S_IRWXO)) == 0, SL_ERR_KEY,
             "key file %s is accessible by group or others (mode %04o); a key file must be "
             "private to its owner: run 'chmod 600 %s'",
             path, (unsigned)(sb.st_mode & 07777), path);
    SL_CHECK(sb.st_uid == geteuid(), SL_ERR_KEY,
             "key file %s belongs to uid %u, not to the user running sluice (uid %u); use a key "
             "file you own",
             path, (unsigned)sb.st_uid, (unsigned)geteuid());
    SL_CALL(read_key_text(fd, path, text, sizeof text, &n));
    SL_CALL(kek_alloc(path, &k));
    SL_CALL(parse_key_text(text, n, path, k->key));
    SL_CALL(kek_set_id(k));
    *out = k;
    k = NULL;
cleanup:
    if (fd >= 0)
        (void)close(fd);
    sl_wipe(text, sizeof text);
    sl_kek_destroy(&k);
    return st;
}

const char *sl_kek_id(const struct sl_kek *kek) { return kek->id; }

const char *sl_kek_path(const struct sl_kek *kek) { return kek->path; }

sl_status sl_kek_derive(const struct sl_kek *kek, const char *label, unsigned char out[32])
{
    sl_status st = SL_OK;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    char digest[] = "SHA256";
    char salt[] = SL_KDF_SALT;

    SL_CHECK(kek && label && out, SL_ERR_ARG, "key derivation needs a key, a label and an output");
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    SL_CHECK(kdf, SL_ERR_CRYPTO, "HKDF is not available in this OpenSSL");
    kctx = EVP_KDF_CTX_new(kdf);
    SL_CHECK(kctx, SL_ERR_NOMEM, "out of memory");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, kek->key, SL_KEY_BYTES);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof salt - 1);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *)label,
                                                  strlen(label));
    params[4] = OSSL_PARAM_construct_end();
    SL_CALL_SSL(EVP_KDF_derive(kctx, out, 32, params), SL_ERR_CRYPTO,
                "cannot derive the '%s' key from key %s", label, kek->path);
cleanup:
    if (st != SL_OK && out)
        sl_wipe(out, 32);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return st;
}

/* Runs AES-256 key wrap (enc = 1) or unwrap (enc = 0) of `in` into `out`
 * under the KEK's wrapping sub-key; *ok is 1 when the cipher accepted the
 * input (for unwrap: the integrity check passed). */
static sl_status kek_wrap_run(const struct sl_kek *kek, int enc, const unsigned char *in,
                              int inlen, unsigned char *out, int outlen, int *ok)
{
    sl_status st = SL_OK;
    unsigned char wkey[32];
    EVP_CIPHER_CTX *ctx = NULL;
    int n1 = 0;
    int n2 = 0;

    *ok = 0;
    SL_CALL(sl_kek_derive(kek, SL_WRAP_LABEL, wkey));
    ctx = EVP_CIPHER_CTX_new();
    SL_CHECK(ctx, SL_ERR_NOMEM, "out of memory");
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    SL_CALL_SSL(EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, wkey, NULL, enc), SL_ERR_CRYPTO,
                "cannot set up AES key wrap with key %s", kek->path);
    if (EVP_CipherUpdate(ctx, out, &n1, in, inlen) == 1 &&
        EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1 && n1 + n2 == outlen)
        *ok = 1;
    ERR_clear_error();
cleanup:
    sl_wipe(wkey, sizeof wkey);
    EVP_CIPHER_CTX_free(ctx);
    return st;
}

sl_status sl_kek_wrap(const struct sl_kek *kek, const unsigned char dek[32],
                      unsigned char wrapped[40])
{
    sl_status st = SL_OK;
    int ok = 0;

    SL_CHECK(kek && dek && wrapped, SL_ERR_ARG, "key wrap needs a key, a data key and an output");
    SL_CALL(kek_wrap_run(kek, 1, dek, SL_KEY_BYTES, wrapped, SL_WRAPPED_KEY_BYTES, &ok));
    SL_CHECK(ok, SL_ERR_CRYPTO, "AES key wrap under key %s failed", kek->path);
cleanup:
    return st;
}

sl_status sl_kek_unwrap(const struct sl_kek *kek, const unsigned char wrapped[40],
                        unsigned char dek[32])
{
    sl_status st = SL_OK;
    unsigned char buf[SL_WRAPPED_KEY_BYTES];
    int ok = 0;

    SL_CHECK(kek && wrapped && dek, SL_ERR_ARG,
             "key unwrap needs a key, a wrapped key and an output");
    SL_CALL(kek_wrap_run(kek, 0, wrapped, SL_WRAPPED_KEY_BYTES, buf, SL_KEY_BYTES, &ok));
    SL_CHECK(ok, SL_ERR_KEY,
             "the data key does not unwrap under key %s from %s (wrong key, or the wrapped key "
             "is damaged)",
             kek->id, kek->path);
    memcpy(dek, buf, SL_KEY_BYTES);
cleanup:
    sl_wipe(buf, sizeof buf);
    if (st != SL_OK && dek)
        sl_wipe(dek, SL_KEY_BYTES);
    return st;
}

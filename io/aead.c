/*
 * aead.c: AES-256-GCM sealing and opening of cohort chunks (layout in
 * format.h and aead_impl.h).
 *
 * This is the only place where chunk plaintext meets the cipher. Each chunk is
 * bound to its file, dataset, position and length through the nonce and the
 * additional data, so moved, swapped, foreign or shortened chunks fail to
 * open. Contexts are keyed once per file and only re-nonced per chunk, which
 * keeps the per-chunk cost to the cipher itself.
 */
#include "io/aead_impl.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/format.h"
#include "io/ssl_impl.h"

#define SL_AEAD_MAX_PATH 1024

struct sl_aead {
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *enc;   /* keyed for sealing */
    EVP_CIPHER_CTX *dec;   /* keyed for opening */
};

sl_status sl_aead_create(const unsigned char *key, struct sl_aead **out)
{
    sl_status st = SL_OK;
    struct sl_aead *a = NULL;

    *out = NULL;
    a = sl_calloc(1, sizeof *a);
    SL_CHECK(a, SL_ERR_NOMEM, "out of memory");
    a->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    SL_CHECK(a->cipher, SL_ERR_CRYPTO, "AES-256-GCM is not available in this OpenSSL");
    a->enc = EVP_CIPHER_CTX_new();
    a->dec = EVP_CIPHER_CTX_new();
    SL_CHECK(a->enc && a->dec, SL_ERR_NOMEM, "out of memory");
    SL_CALL_SSL(EVP_EncryptInit_ex(a->enc, a->cipher, NULL, key, NULL), SL_ERR_CRYPTO,
                "cannot set up AES-256-GCM sealing");
    SL_CALL_SSL(EVP_DecryptInit_ex(a->dec, a->cipher, NULL, key, NULL), SL_ERR_CRYPTO,
                "cannot set up AES-256-GCM opening");
    *out = a;
    a = NULL;
cleanup:
    sl_aead_destroy(&a);
    return st;
}

sl_status sl_aead_clone(const struct sl_aead *a, struct sl_aead **out)
{
    sl_status st = SL_OK;
    struct sl_aead *b = NULL;

    *out = NULL;
    b = sl_calloc(1, sizeof *b);
    SL_CHECK(b, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(EVP_CIPHER_up_ref(a->cipher) == 1, SL_ERR_CRYPTO, "cannot share the cipher");
    b->cipher = a->cipher;
    b->enc = EVP_CIPHER_CTX_new();
    b->dec = EVP_CIPHER_CTX_new();
    SL_CHECK(b->enc && b->dec, SL_ERR_NOMEM, "out of memory");
    SL_CALL_SSL(EVP_CIPHER_CTX_copy(b->enc, a->enc), SL_ERR_CRYPTO,
                "cannot copy the AES-256-GCM sealing context");
    SL_CALL_SSL(EVP_CIPHER_CTX_copy(b->dec, a->dec), SL_ERR_CRYPTO,
                "cannot copy the AES-256-GCM opening context");
    *out = b;
    b = NULL;
cleanup:
    sl_aead_destroy(&b);
    return st;
}

void sl_aead_destroy(struct sl_aead **a)
{
    if (!a || !*a)
        return;
    EVP_CIPHER_CTX_free((*a)->enc);
    EVP_CIPHER_CTX_free((*a)->dec);
    EVP_CIPHER_free((*a)->cipher);
    sl_free(*a);
    *a = NULL;
}

static void put_u32be(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static void put_u64be(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* Builds nonce and AAD for `ref` and plaintext length `len`; *aadlen gets the
 * AAD length. SL_ERR_ARG when the dataset path is too long. */
static sl_status chunk_bind(const struct sl_chunk_ref *ref, size_t len,
                            unsigned char nonce[SL_GCM_NONCE_BYTES], unsigned char *aad,
                            size_t *aadlen)
{
    sl_status st = SL_OK;
    size_t label_len = sizeof SL_AEAD_LABEL - 1;
    size_t plen = strlen(ref->dset);
    size_t n = 0;

    SL_CHECK(plen < SL_AEAD_MAX_PATH, SL_ERR_ARG, "%s: dataset path is longer than %d bytes",
             ref->file, SL_AEAD_MAX_PATH);
    put_u32be(nonce, ref->col);
    put_u64be(nonce + 4, ref->chunk);
    memcpy(aad + n, SL_AEAD_LABEL, label_len);
    n += label_len;
    put_u32be(aad + n, ref->version);
    n += 4;
    memcpy(aad + n, ref->uuid, 16);
    n += 16;
    memcpy(aad + n, ref->dset, plen + 1);
    n += plen + 1;
    put_u64be(aad + n, ref->chunk);
    n += 8;
    put_u64be(aad + n, (uint64_t)len);
    n += 8;
    *aadlen = n;
cleanup:
    return st;
}

enum { SL_AAD_CAP = sizeof SL_AEAD_LABEL + 4 + 16 + SL_AEAD_MAX_PATH + 16 };

sl_status sl_aead_seal(struct sl_aead *a, const struct sl_chunk_ref *ref, const void *pt,
                       size_t len, unsigned char *out)
{
    sl_status st = SL_OK;
    unsigned char nonce[SL_GCM_NONCE_BYTES];
    unsigned char aad[SL_AAD_CAP];
    size_t aadlen = 0;
    int n = 0;
    int fin = 0;

    SL_CHECK(len <= SL_AEAD_MAX_PLAIN, SL_ERR_ARG,
             "%s: dataset %s chunk %llu: %zu bytes is more than one chunk may hold", ref->file,
             ref->dset, (unsigned long long)ref->chunk, len);
    SL_CALL(chunk_bind(ref, len, nonce, aad, &aadlen));
    SL_CALL_SSL(EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce), SL_ERR_CRYPTO,
                "%s: cannot start sealing dataset %s chunk %llu", ref->file, ref->dset,
                (unsigned long long)ref->chunk);
    SL_CALL_SSL(EVP_EncryptUpdate(a->enc, NULL, &n, aad, (int)aadlen), SL_ERR_CRYPTO,
                "%s: cannot bind dataset %s chunk %llu", ref->file, ref->dset,
                (unsigned long long)ref->chunk);
    n = 0;
    if (len > 0)
        SL_CALL_SSL(EVP_EncryptUpdate(a->enc, out, &n, pt, (int)len), SL_ERR_CRYPTO,
                    "%s: cannot seal dataset %s chunk %llu", ref->file, ref->dset,
                    (unsigned long long)ref->chunk);
    SL_CALL_SSL(EVP_EncryptFinal_ex(a->enc, out + n, &fin), SL_ERR_CRYPTO,
                "%s: cannot finish sealing dataset %s chunk %llu", ref->file, ref->dset,
                (unsigned long long)ref->chunk);
    SL_CHECK((size_t)n + (size_t)fin == len, SL_ERR_INTERNAL,
             "AES-256-GCM produced %d bytes for %zu", n + fin, len);
    SL_CALL_SSL(EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, SL_GCM_TAG_BYTES, out + len),
                SL_ERR_CRYPTO, "%s: cannot get the tag of dataset %s chunk %llu", ref->file,
                ref->dset, (unsigned long long)ref->chunk);
cleanup:
    return st;
}

sl_status sl_aead_open(struct sl_aead *a, const struct sl_chunk_ref *ref, const unsigned char *in,
                       size_t inlen, void *pt, size_t len)
{
    sl_status st = SL_OK;
    unsigned char nonce[SL_GCM_NONCE_BYTES];
    unsigned char aad[SL_AAD_CAP];
    unsigned char tag[SL_GCM_TAG_BYTES];
    size_t aadlen = 0;
    int n = 0;
    int fin = 0;

    SL_CHECK(len <= SL_AEAD_MAX_PLAIN && inlen == len + SL_GCM_TAG_BYTES, SL_ERR_CRYPTO,
             "%s: dataset %s chunk %llu: sealed chunk is %zu bytes, expected %zu (truncated or "
             "tampered)",
             ref->file, ref->dset, (unsigned long long)ref->chunk, inlen,
             len + SL_GCM_TAG_BYTES);
    SL_CALL(chunk_bind(ref, len, nonce, aad, &aadlen));
    memcpy(tag, in + len, SL_GCM_TAG_BYTES);
    SL_CALL_SSL(EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce), SL_ERR_CRYPTO,
                "%s: cannot start opening dataset %s chunk %llu", ref->file, ref->dset,
                (unsigned long long)ref->chunk);
    SL_CALL_SSL(EVP_DecryptUpdate(a->dec, NULL, &n, aad, (int)aadlen), SL_ERR_CRYPTO,
                "%s: cannot bind dataset %s chunk %llu", ref->file, ref->dset,
                (unsigned long long)ref->chunk);
    n = 0;
    if (len > 0)
        SL_CALL_SSL(EVP_DecryptUpdate(a->dec, pt, &n, in, (int)len), SL_ERR_CRYPTO,
                    "%s: cannot open dataset %s chunk %llu", ref->file, ref->dset,
                    (unsigned long long)ref->chunk);
    SL_CALL_SSL(EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, SL_GCM_TAG_BYTES, tag),
                SL_ERR_CRYPTO, "%s: cannot set the tag of dataset %s chunk %llu", ref->file,
                ref->dset, (unsigned long long)ref->chunk);
    if (EVP_DecryptFinal_ex(a->dec, (unsigned char *)pt + n, &fin) != 1) {
        ERR_clear_error();
        SL_FAIL(SL_ERR_CRYPTO,
                "%s: dataset %s chunk %llu failed authentication: the chunk was tampered with, "
                "moved or copied from another file, or the file is damaged",
                ref->file, ref->dset, (unsigned long long)ref->chunk);
    }
    SL_CHECK((size_t)n + (size_t)fin == len, SL_ERR_INTERNAL,
             "AES-256-GCM produced %d bytes for %zu", n + fin, len);
cleanup:
    if (st != SL_OK && pt)
        sl_wipe(pt, len);
    return st;
}

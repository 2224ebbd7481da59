/*
 * pseudonym.c: keyed HMAC-SHA-256 pseudonyms of patient ids
 * (pseudonym_impl.h).
 */
#include "io/pseudonym_impl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/format.h"
#include "io/ssl_impl.h"

struct sl_pseudonymizer {
    EVP_MAC *mac;
    EVP_MAC_CTX *mctx; /* secret: keyed with the pseudonym key */
};

bool sl_project_name_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

sl_status sl_pseudonymizer_create(const struct sl_kek *kek, const char *project,
                                  struct sl_pseudonymizer **out)
{
    sl_status st = SL_OK;
    char label[96];
    OSSL_PARAM params[2];
    struct sl_secbuf *pkey = NULL;
    struct sl_pseudonymizer *p = NULL;

    *out = NULL;
    SL_CHECK(!project || sl_project_name_ok(project), SL_ERR_ARG,
             "project name must be 1 to 64 letters, digits, '.', '_' or '-'");
    if (project)
        snprintf(label, sizeof label, "pseudonym:%s", project);
    else
        snprintf(label, sizeof label, "pseudonym");
    p = sl_calloc(1, sizeof *p);
    SL_CHECK(p, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create(SL_KEY_BYTES, &pkey));
    SL_CALL(sl_kek_derive(kek, label, pkey->data));
    p->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    SL_CHECK(p->mac, SL_ERR_CRYPTO, "HMAC is not available from OpenSSL");
    p->mctx = EVP_MAC_CTX_new(p->mac);
    SL_CHECK(p->mctx, SL_ERR_NOMEM, "out of memory");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    SL_CALL_SSL(EVP_MAC_init(p->mctx, pkey->data, SL_KEY_BYTES, params), SL_ERR_CRYPTO,
                "cannot key the pseudonym HMAC");
    *out = p;
    p = NULL;
cleanup:
    sl_secbuf_destroy(&pkey);
    sl_pseudonymizer_destroy(&p);
    return st;
}

sl_status sl_pseudonym(struct sl_pseudonymizer *p, const char *id, size_t n, unsigned char *out)
{
    sl_status st = SL_OK;
    size_t outl = 0;
    SL_CALL_SSL(EVP_MAC_init(p->mctx, NULL, 0, NULL), SL_ERR_CRYPTO, "cannot start HMAC");
    SL_CALL_SSL(EVP_MAC_update(p->mctx, (const unsigned char *)id, n), SL_ERR_CRYPTO,
                "cannot compute HMAC");
    SL_CALL_SSL(EVP_MAC_final(p->mctx, out, &outl, SL_ID_BYTES), SL_ERR_CRYPTO,
                "cannot finish HMAC");
    SL_CHECK(outl == SL_ID_BYTES, SL_ERR_INTERNAL, "HMAC length %zu", outl);
cleanup:
    return st;
}

void sl_pseudonymizer_destroy(struct sl_pseudonymizer **p)
{
    if (!p || !*p)
        return;
    EVP_MAC_CTX_free((*p)->mctx);
    EVP_MAC_free((*p)->mac);
    sl_free(*p);
    *p = NULL;
}

/*
 * aead_impl.h: sealing and opening cohort chunks with AES-256-GCM (private).
 *
 * One sl_aead holds an OpenSSL cipher context keyed once with a cohort's data
 * key and reused for every chunk, so the key schedule is computed once per
 * file. The nonce and the additional data follow format.h exactly:
 *   nonce = column index (u32 BE) || chunk index (u64 BE)
 *   aad   = "sluice-chunk" || version (u32 BE) || uuid (16 bytes) ||
 *           dataset path || 0 || chunk index (u64 BE) || plaintext length (u64 BE)
 * A stored chunk is ciphertext(len) || tag(16).
 */
#ifndef SL_IO_AEAD_IMPL_H
#define SL_IO_AEAD_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

#define SL_AEAD_LABEL "sluice-chunk"

/* Largest plaintext of one chunk: EVP takes int lengths. */
#define SL_AEAD_MAX_PLAIN ((size_t)1 << 30)

/* Where a chunk belongs; everything here is bound into the nonce or the AAD. */
struct sl_chunk_ref {
    uint32_t version;            /* format version of the file */
    const unsigned char *uuid;   /* 16 raw bytes, the file's UUID */
    const char *dset;            /* dataset path, e.g. "/patients/age" */
    uint32_t col;                /* column index (sluice_index) */
    uint64_t chunk;              /* chunk index */
    const char *file;            /* file name, only for messages */
};

struct sl_aead;

/* Keys a new context with the 32-byte data key `key` (secret, borrowed; the
 * caller may wipe it on return). SL_ERR_CRYPTO if OpenSSL cannot set up
 * AES-256-GCM. Not collective. */
sl_status sl_aead_create(const unsigned char *key, struct sl_aead **out);

/* A second context keyed like `a` (the key schedule is copied; the key is
 * not needed again), for opening chunks on another thread: one context must
 * not be used by two threads at once. SL_ERR_CRYPTO or SL_ERR_NOMEM. */
sl_status sl_aead_clone(const struct sl_aead *a, struct sl_aead **out);

/* Frees the context; OpenSSL wipes its copy of the key. NULL-safe. */
void sl_aead_destroy(struct sl_aead **a);

/* Seals `len` bytes of plaintext `pt` (secret, borrowed) into `out`, which
 * must hold len + SL_GCM_TAG_BYTES bytes. SL_ERR_ARG if len exceeds
 * SL_AEAD_MAX_PLAIN, SL_ERR_CRYPTO if OpenSSL fails. Not collective. */
sl_status sl_aead_seal(struct sl_aead *a, const struct sl_chunk_ref *ref, const void *pt,
                       size_t len, unsigned char *out);

/* Opens the sealed chunk `in` of `inlen` bytes into `pt` (secret, `len` bytes:
 * the plaintext length the caller expects). Lengths are checked before any
 * EVP call. Fails closed: on any failure, SL_ERR_CRYPTO naming the file,
 * dataset and chunk, and `pt` wiped. Not collective. */
sl_status sl_aead_open(struct sl_aead *a, const struct sl_chunk_ref *ref, const unsigned char *in,
                       size_t inlen, void *pt, size_t len);

#endif

/*
 * keys.h: the centre key-encryption key (KEK) and keys derived from it.
 *
 * A KEK file holds 32 random bytes. Its format is text:
 *   line 1: "sluice-kek 1"
 *   line 2: 64 lowercase hex digits
 * It is created with mode 0600 and never overwritten; loading refuses a file
 * that group or others can read, or whose owner is not the caller. The key
 * lives in OpenSSL's secure heap (or a secbuf when no secure heap is
 * configured) and is wiped on destroy.
 *
 * Sub-keys are derived with HKDF-SHA-256 (salt "sluice", info = label), so a
 * single operator-held file gives the DEK-wrapping key, the pseudonym HMAC key
 * ("pseudonym" or "pseudonym:<project>") and the audit MAC key ("audit").
 */
#ifndef SL_IO_KEYS_H
#define SL_IO_KEYS_H

#include <stddef.h>

#include "engine/core/status.h"

struct sl_kek;

/* Writes a fresh random KEK to `path` with mode 0600. SL_ERR_EXISTS if the
 * file exists. Not collective. */
sl_status sl_kek_generate_file(const char *path);

/* Loads a KEK file. SL_ERR_KEY with a clear message for bad permissions,
 * bad format or wrong length. *out is secret; release with sl_kek_destroy. */
sl_status sl_kek_load(const char *path, struct sl_kek **out);

void sl_kek_destroy(struct sl_kek **kek);

/* Public 16-hex-digit fingerprint of the key (HMAC of a fixed label), safe
 * to store and print. */
const char *sl_kek_id(const struct sl_kek *kek);

/* The path the key was loaded from (for messages; not secret). */
const char *sl_kek_path(const struct sl_kek *kek);

/* Derives 32 bytes for `label` into `out` (secret, caller wipes). */
sl_status sl_kek_derive(const struct sl_kek *kek, const char *label, unsigned char out[32]);

/* Wraps a 32-byte DEK (RFC 3394) into 40 bytes, and unwraps it. The wrapping
 * key is the sub-key derived for the label "dek-wrap". Unwrap with the wrong
 * KEK returns SL_ERR_KEY and leaves dek wiped. */
sl_status sl_kek_wrap(const struct sl_kek *kek, const unsigned char dek[32],
                      unsigned char wrapped[40]);
sl_status sl_kek_unwrap(const struct sl_kek *kek, const unsigned char wrapped[40],
                        unsigned char dek[32]);

#endif

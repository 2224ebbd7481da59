/*
 * pseudonym_impl.h: patient id pseudonyms, shared by the ingest paths
 * (private to io/).
 *
 * A pseudonym is HMAC-SHA-256(pseudonym key, id text). The pseudonym key is
 * derived from the centre KEK with the label "pseudonym", or
 * "pseudonym:<project>" for per-project pseudonyms that do not link across
 * projects, so the same id text gets the same pseudonym whichever export it
 * came from.
 */
#ifndef SL_IO_PSEUDONYM_IMPL_H
#define SL_IO_PSEUDONYM_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/core/status.h"
#include "io/keys.h"

struct sl_pseudonymizer;

/* True when `project` is a valid project name: 1 to 64 letters, digits, '.',
 * '_' or '-'. */
bool sl_project_name_ok(const char *project);

/* Derives the pseudonym key (project may be NULL) and keys an HMAC context
 * with it; no copy of the key stays outside OpenSSL. */
sl_status sl_pseudonymizer_create(const struct sl_kek *kek, const char *project,
                                  struct sl_pseudonymizer **out);

/* HMAC-SHA-256(pseudonym key, id[0, n)) into out (SL_ID_BYTES, secret). */
sl_status sl_pseudonym(struct sl_pseudonymizer *p, const char *id, size_t n, unsigned char *out);

/* Frees the context (OpenSSL wipes the key). NULL-safe; NULLs *p. */
void sl_pseudonymizer_destroy(struct sl_pseudonymizer **p);

#endif

/*
 * secbuf.h: memory for secrets (keys, decrypted rows, per-patient values).
 *
 * A secbuf is page-aligned anonymous memory, locked against swapping where the
 * system allows (RLIMIT_MEMLOCK), excluded from core dumps (MADV_DONTDUMP),
 * and wiped before it is returned to the system. sl_process_harden() turns
 * core dumps off for the whole process; every sluice command that touches
 * secrets calls it first.
 */
#ifndef SL_CORE_SECBUF_H
#define SL_CORE_SECBUF_H

#include <stddef.h>

#include "status.h"

struct sl_secbuf {
    void *data;   /* secret; page aligned; size bytes usable */
    size_t size;  /* bytes requested */
    size_t mapped;/* bytes mapped (multiple of the page size) */
    int locked;   /* 1 if mlock succeeded */
};

/* Maps `size` bytes (0 allowed) of zeroed secret memory into *out.
 * Returns SL_ERR_NOMEM when mapping fails. Not collective. */
sl_status sl_secbuf_create(size_t size, struct sl_secbuf **out);

/* Wipes, unlocks and unmaps; NULL-safe; NULLs *buf. */
void sl_secbuf_destroy(struct sl_secbuf **buf);

/* Wipes `len` bytes at `p` in a way the compiler cannot elide. */
void sl_wipe(void *p, size_t len);

/* Disables core dumps and ptrace attach for this process (RLIMIT_CORE = 0,
 * PR_SET_DUMPABLE = 0). Returns SL_ERR_IO if the limit cannot be set. */
sl_status sl_process_harden(void);

/* ---- the pool (secpool.c) ---- */

/* A zeroed secret buffer of at least `bytes`, reused from the pool when one
 * is big enough (the smallest such), else newly created. SL_ERR_NOMEM.
 * Thread-safe. For scratch that comes and goes (kernels, sorts, indexes). */
sl_status sl_secpool_get(size_t bytes, struct sl_secbuf **out);

/* The same without zeroing a reused buffer: its first `bytes` hold earlier
 * secret scratch of this process. For buffers the caller overwrites before
 * reading (a pass over `bytes` saved). */
sl_status sl_secpool_take(size_t bytes, struct sl_secbuf **out);

/* Hands a buffer back to the pool (kept, still secret memory, up to 512 MiB
 * in all) or wipes and frees it; NULL-safe; NULLs *buf. */
void sl_secpool_put(struct sl_secbuf **buf);

/* Wipes and frees every pooled buffer (at backend shutdown). */
void sl_secpool_drain(void);

/* Number of live secbufs (for leak tests). */
long sl_secbuf_live(void);

#endif

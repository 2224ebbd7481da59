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

/* Number of live secbufs (for leak tests). */
long sl_secbuf_live(void);

#endif

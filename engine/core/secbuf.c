/*
 * secbuf.c: locked, dump-excluded, wiped-on-free memory for secrets.
 */
#define _GNU_SOURCE
#include "secbuf.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"

static atomic_long g_live;

void sl_wipe(void *p, size_t len)
{
    if (!p)
        return;
    /* explicit_bzero is never elided; the barrier documents the intent. */
    explicit_bzero(p, len);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

sl_status sl_secbuf_create(size_t size, struct sl_secbuf **out)
{
    sl_status st = SL_OK;
    struct sl_secbuf *b = NULL;
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096u;
    size_t mapped;

    *out = NULL;
    SL_CHECK(size <= SIZE_MAX - pg, SL_ERR_NOMEM, "secret buffer of %zu bytes is too large", size);
    mapped = ((size + pg - 1) / pg) * pg;
    if (mapped == 0)
        mapped = pg;
    b = sl_calloc(1, sizeof *b);
    SL_CHECK(b, SL_ERR_NOMEM, "out of memory");
    b->data = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->data == MAP_FAILED) {
        b->data = NULL;
        SL_FAIL(SL_ERR_NOMEM, "cannot map %zu bytes of secret memory: %s", mapped, strerror(errno));
    }
    b->size = size;
    b->mapped = mapped;
    (void)madvise(b->data, mapped, MADV_DONTDUMP);
    /* Large buffers fault in far faster as huge pages (and lock faster). */
    if (mapped >= (size_t)4 << 20)
        (void)madvise(b->data, mapped, MADV_HUGEPAGE);
    b->locked = mlock(b->data, mapped) == 0;
    atomic_fetch_add(&g_live, 1);
    *out = b;
    b = NULL;
cleanup:
    sl_free(b);
    return st;
}

void sl_secbuf_destroy(struct sl_secbuf **buf)
{
    struct sl_secbuf *b;
    if (!buf || !*buf)
        return;
    b = *buf;
    if (b->data) {
        sl_wipe(b->data, b->mapped);
        if (b->locked)
            (void)munlock(b->data, b->mapped);
        (void)munmap(b->data, b->mapped);
    }
    atomic_fetch_sub(&g_live, 1);
    sl_free(b);
    *buf = NULL;
}

sl_status sl_process_harden(void)
{
    sl_status st = SL_OK;
    struct rlimit rl = {0, 0};
    SL_CHECK(setrlimit(RLIMIT_CORE, &rl) == 0, SL_ERR_IO, "cannot disable core dumps: %s",
             strerror(errno));
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
cleanup:
    return st;
}

long sl_secbuf_live(void) { return atomic_load(&g_live); }

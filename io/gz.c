/*
 * gz.c: gzip-compressed exports read as text (gz_impl.h), with zlib's state
 * and window in a secret arena.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/gz_impl.h"

#define GZ_ARENA (256 << 10) /* inflate's state and 32 KiB window fit with room */
#define GZ_IN (1 << 20)

struct sl_gz {
    const char *path;
    int fd;
    z_stream z;
    struct sl_secbuf *arena, *in;
    size_t arena_used;
    int64_t read_total; /* compressed bytes read from the file */
    int in_eof, done;   /* no more compressed bytes; the last member ended */
};

/* zlib's allocations, from the stream's secret arena (freed with it). */
static voidpf gz_alloc(voidpf opaque, uInt items, uInt size)
{
    struct sl_gz *gz = opaque;
    size_t want = ((size_t)items * size + 63) & ~(size_t)63;
    if (items == 0 || size > GZ_ARENA / items || want > gz->arena->size - gz->arena_used)
        return Z_NULL;
    gz->arena_used += want;
    return (char *)gz->arena->data + gz->arena_used - want;
}

static void gz_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    (void)p;
}

int sl_gz_magic(int fd)
{
    unsigned char magic[2] = {0, 0};
    return pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

sl_status sl_gz_open(const char *path, int fd, struct sl_gz **out)
{
    sl_status st = SL_OK;
    struct sl_gz *gz = sl_calloc(1, sizeof *gz);

    *out = NULL;
    SL_CHECK(gz, SL_ERR_NOMEM, "out of memory");
    gz->path = path;
    gz->fd = fd;
    SL_CALL(sl_secbuf_create(GZ_ARENA, &gz->arena));
    SL_CALL(sl_secbuf_create(GZ_IN, &gz->in));
    gz->z.zalloc = gz_alloc;
    gz->z.zfree = gz_free;
    gz->z.opaque = gz;
    /* 16 + 15: gzip members, the largest window */
    if (inflateInit2(&gz->z, 16 + 15) != Z_OK) {
        gz->z.zalloc = NULL; /* nothing for inflateEnd to free */
        SL_FAIL(SL_ERR_NOMEM, "%s: cannot start inflating it", path);
    }
    *out = gz;
    gz = NULL;
cleanup:
    sl_gz_close(&gz);
    return st;
}

void sl_gz_close(struct sl_gz **gzp)
{
    struct sl_gz *gz = *gzp;
    if (!gz)
        return;
    if (gz->z.zalloc)
        inflateEnd(&gz->z);
    sl_secbuf_destroy(&gz->arena);
    sl_secbuf_destroy(&gz->in);
    sl_free(gz);
    *gzp = NULL;
}

/* More compressed bytes, when the stream has taken all it had. */
static sl_status more_in(struct sl_gz *gz)
{
    sl_status st = SL_OK;
    ssize_t got;
    if (gz->z.avail_in > 0 || gz->in_eof)
        return SL_OK;
    do
        got = read(gz->fd, gz->in->data, gz->in->size);
    while (got < 0 && errno == EINTR);
    SL_CHECK(got >= 0, SL_ERR_IO, "%s: read failed: %s", gz->path, strerror(errno));
    gz->z.next_in = gz->in->data;
    gz->z.avail_in = (uInt)got;
    gz->in_eof = got == 0;
    gz->read_total += got;
cleanup:
    return st;
}

sl_status sl_gz_read(struct sl_gz *gz, char *dst, size_t cap, size_t *k)
{
    sl_status st = SL_OK;

    *k = 0;
    gz->z.next_out = (Bytef *)dst;
    gz->z.avail_out = (uInt)(cap < UINT_MAX ? cap : UINT_MAX);
    while (gz->z.avail_out > 0 && !gz->done) {
        int ret;
        SL_CALL(more_in(gz));
        ret = inflate(&gz->z, Z_NO_FLUSH);
        if (ret == Z_STREAM_END) {
            /* another member may follow (files written in parts) */
            SL_CALL(more_in(gz));
            if (gz->z.avail_in == 0)
                gz->done = 1;
            else
                SL_CHECK(inflateReset(&gz->z) == Z_OK, SL_ERR_FORMAT,
                         "%s: cannot inflate the next gzip member", gz->path);
            continue;
        }
        SL_CHECK(ret != Z_BUF_ERROR || !gz->in_eof, SL_ERR_FORMAT,
                 "%s: the gzip file ends before its compressed stream does", gz->path);
        SL_CHECK(ret == Z_OK || ret == Z_BUF_ERROR, SL_ERR_FORMAT,
                 "%s: not a valid gzip file (compressed byte %lld)", gz->path,
                 (long long)(gz->read_total - gz->z.avail_in));
    }
    *k = (size_t)(gz->z.next_out - (Bytef *)dst);
cleanup:
    return st;
}

int64_t sl_gz_consumed(const struct sl_gz *gz)
{
    return gz->read_total - (int64_t)gz->z.avail_in;
}

sl_status sl_gz_restart(struct sl_gz *gz)
{
    sl_status st = SL_OK;
    SL_CHECK(lseek(gz->fd, 0, SEEK_SET) == 0, SL_ERR_IO, "%s: cannot seek: %s", gz->path,
             strerror(errno));
    SL_CHECK(inflateReset(&gz->z) == Z_OK, SL_ERR_FORMAT, "%s: cannot inflate it again",
             gz->path);
    gz->z.avail_in = 0;
    gz->read_total = 0;
    gz->in_eof = gz->done = 0;
cleanup:
    return st;
}

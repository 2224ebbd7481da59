/*
 * secpool.c: a pool of secret buffers for scratch that comes and goes.
 *
 * Kernels pack and sort row values and analyses index and sort them, so
 * their scratch is secret and lives in secbufs (locked, excluded from dumps,
 * wiped when released). Mapping, locking and zeroing fresh pages costs as
 * much as a small kernel call, and on virtual machines that hand freed
 * memory back to the host far more (about 1-2 GB/s), so buffers handed back
 * are kept (still secret memory, zeroed again when taken) and reused;
 * sl_secpool_drain, called when the backends shut down, wipes and unmaps
 * them.
 */
#include <pthread.h>
#include <string.h>

#include "secbuf.h"

#define POOL_SLOTS 32
#define POOL_MAX_BYTES ((size_t)512 * 1024 * 1024)

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_secbuf *g_pool[POOL_SLOTS];
static size_t g_pool_bytes;

static sl_status pool_get(size_t bytes, int zero, struct sl_secbuf **out)
{
    sl_status st = SL_OK;
    struct sl_secbuf *found = NULL;
    int best = -1;

    *out = NULL;
    (void)pthread_mutex_lock(&g_pool_lock);
    for (int i = 0; i < POOL_SLOTS; i++)
        if (g_pool[i] && g_pool[i]->mapped >= bytes &&
            (best < 0 || g_pool[i]->mapped < g_pool[best]->mapped))
            best = i;
    if (best >= 0) {
        found = g_pool[best];
        g_pool[best] = NULL;
        g_pool_bytes -= found->mapped;
    }
    (void)pthread_mutex_unlock(&g_pool_lock);
    if (!found)
        SL_CALL(sl_secbuf_create(bytes, &found));
    else if (zero)
        memset(found->data, 0, bytes);
    found->size = bytes;
    *out = found;
cleanup:
    return st;
}

sl_status sl_secpool_get(size_t bytes, struct sl_secbuf **out)
{
    return pool_get(bytes, 1, out);
}

sl_status sl_secpool_take(size_t bytes, struct sl_secbuf **out)
{
    return pool_get(bytes, 0, out);
}

void sl_secpool_put(struct sl_secbuf **buf)
{
    struct sl_secbuf *b;
    if (!buf || !*buf)
        return;
    b = *buf;
    *buf = NULL;
    (void)pthread_mutex_lock(&g_pool_lock);
    for (int i = 0; i < POOL_SLOTS && b; i++)
        if (!g_pool[i] && g_pool_bytes + b->mapped <= POOL_MAX_BYTES) {
            g_pool[i] = b;
            g_pool_bytes += b->mapped;
            b = NULL;
        }
    (void)pthread_mutex_unlock(&g_pool_lock);
    sl_secbuf_destroy(&b);
}

void sl_secpool_drain(void)
{
    (void)pthread_mutex_lock(&g_pool_lock);
    for (int i = 0; i < POOL_SLOTS; i++)
        sl_secbuf_destroy(&g_pool[i]);
    g_pool_bytes = 0;
    (void)pthread_mutex_unlock(&g_pool_lock);
}

/*
 * registry.c: the built-in kernel backends and their lifetime.
 *
 * Backends are listed in order of preference, accelerators first and the CPU
 * last, so "auto" picks the first one that can run on this machine. Each is
 * created lazily on first lookup under a lock and lives until
 * sl_backends_shutdown; callers hold borrowed handles.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/parallel.h"
#include "kernels/backend_impl.h"
#include "kernels/cpu/cpu_impl.h"
#ifdef SL_HAVE_CUDA
#include "kernels/gpu/gpu.h"
#endif

/* Order of preference; an accelerator's table goes before "cpu". */
static struct sl_backend g_backends[] = {
#ifdef SL_HAVE_CUDA
    {&sl_backend_gpu_ops, NULL, 0},
#endif
    {&sl_backend_cpu_ops, NULL, 0},
    {&sl_backend_cpu_ref_ops, NULL, 0},
};
enum { NBACKENDS = (int)(sizeof g_backends / sizeof g_backends[0]) };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* Initialises b if needed; caller holds g_lock. */
static sl_status backend_ready(struct sl_backend *b)
{
    sl_status st = SL_OK;
    SL_CHECK(b->ops->api_version == SL_BACKEND_API_VERSION, SL_ERR_VERSION,
             "kernel backend %s was built for interface version %d, this build has %d",
             b->ops->name, b->ops->api_version, SL_BACKEND_API_VERSION);
    if (!b->ready) {
        if (b->ops->init)
            SL_CALL(b->ops->init(b));
        b->ready = 1;
    }
cleanup:
    return st;
}

sl_status sl_backend_get(const char *name, struct sl_backend **out)
{
    sl_status st = SL_OK;
    struct sl_backend *found = NULL;
    int locked = 0;

    SL_CHECK(out, SL_ERR_ARG, "sl_backend_get: out is NULL");
    *out = NULL;
    SL_CHECK(name, SL_ERR_ARG, "sl_backend_get: name is NULL");
    SL_CHECK(pthread_mutex_lock(&g_lock) == 0, SL_ERR_INTERNAL, "cannot lock the backend registry");
    locked = 1;
    if (strcmp(name, "auto") == 0) {
        /* The reference backend is never chosen automatically. */
        for (int i = 0; i < NBACKENDS && !found; i++) {
            if (g_backends[i].ops == &sl_backend_cpu_ref_ops)
                continue;
            if (backend_ready(&g_backends[i]) == SL_OK)
                found = &g_backends[i];
            else
                sl_error_clear();
        }
        SL_CHECK(found, SL_ERR_INTERNAL, "no kernel backend can run on this machine");
    } else {
        for (int i = 0; i < NBACKENDS && !found; i++)
            if (strcmp(g_backends[i].ops->name, name) == 0)
                found = &g_backends[i];
        if (!found && strcmp(name, "gpu") == 0)
            SL_FAIL(SL_ERR_UNSUPPORTED, "the gpu kernel backend is not built into this sluice "
                                        "(CUDA was not found at build time)");
        SL_CHECK(found, SL_ERR_ARG,
                 "unknown kernel backend \"%s\" (expected auto, cpu, cpu_ref or gpu)", name);
        SL_CALL(backend_ready(found));
    }
    *out = found;
cleanup:
    if (locked)
        (void)pthread_mutex_unlock(&g_lock);
    return st;
}

const char *sl_backend_name(const struct sl_backend *b)
{
    return b && b->ops && b->ops->name ? b->ops->name : "none";
}

static struct sl_backend *builtin(const struct sl_backend_ops *ops)
{
    struct sl_backend *found = NULL;
    sl_status st;
    for (int i = 0; i < NBACKENDS; i++)
        if (g_backends[i].ops == ops)
            found = &g_backends[i];
    SL_ASSERT(found);
    (void)pthread_mutex_lock(&g_lock);
    st = backend_ready(found);
    (void)pthread_mutex_unlock(&g_lock);
    SL_ASSERT(st == SL_OK);
    return found;
}

struct sl_backend *sl_backend_cpu(void) { return builtin(&sl_backend_cpu_ops); }

struct sl_backend *sl_backend_cpu_ref(void) { return builtin(&sl_backend_cpu_ref_ops); }

void sl_backends_shutdown(void)
{
    (void)pthread_mutex_lock(&g_lock);
    for (int i = 0; i < NBACKENDS; i++) {
        struct sl_backend *b = &g_backends[i];
        if (b->ready && b->ops->fini)
            b->ops->fini(b);
        b->state = NULL;
        b->ready = 0;
    }
    (void)pthread_mutex_unlock(&g_lock);
}

sl_status sl_backend_keep(struct sl_backend *b, const void *host, size_t bytes)
{
    sl_status st = SL_OK;
    SL_CHECK(b && b->ready, SL_ERR_ARG, "sl_backend_keep: no backend");
    SL_CHECK(host || bytes == 0, SL_ERR_ARG, "sl_backend_keep: host is NULL");
    if (b->ops->keep)
        SL_CALL(b->ops->keep(b, host, bytes));
cleanup:
    return st;
}

void sl_backend_forget(struct sl_backend *b, const void *host)
{
    if (b && b->ready && b->ops->forget)
        b->ops->forget(b, host);
}

sl_status sl_backend_sync(struct sl_backend *b)
{
    sl_status st = SL_OK;
    SL_CHECK(b && b->ready, SL_ERR_ARG, "sl_backend_sync: no backend");
    if (b->ops->sync)
        SL_CALL(b->ops->sync(b));
cleanup:
    return st;
}

int sl_kernel_threads(void) { return sl_max_threads(); }

const char *sl_kernels_config(void)
{
    static _Thread_local char line[256];
    size_t used = (size_t)snprintf(line, sizeof line, "kernels: backends");
    for (int i = 0; i < NBACKENDS && used < sizeof line; i++)
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", i ? "," : " ",
                                 g_backends[i].ops->name);
    if (used < sizeof line)
        used += (size_t)snprintf(line + used, sizeof line - used, "; %s", sl_cpu_describe());
#ifdef SL_HAVE_CUDA
    if (used < sizeof line)
        (void)snprintf(line + used, sizeof line - used, "; %s", sl_gpu_describe());
#endif
    return line;
}

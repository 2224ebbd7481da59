/*
 * alloc.c: counted wrappers over the C allocator.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_llong g_live;

void *sl_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p)
        atomic_fetch_add(&g_live, 1);
    return p;
}

void *sl_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p)
        atomic_fetch_add(&g_live, 1);
    return p;
}

void *sl_realloc(void *ptr, size_t size)
{
    void *p;
    if (!ptr)
        return sl_malloc(size);
    p = realloc(ptr, size ? size : 1);
    return p;
}

void sl_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&g_live, 1);
    free(ptr);
}

char *sl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sl_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int64_t sl_alloc_live(void) { return (int64_t)atomic_load(&g_live); }

int sl_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

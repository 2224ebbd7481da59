/*
 * alloc.h: counted heap allocation for ordinary (non-secret) memory.
 *
 * All sluice heap memory goes through these so tests can check that nothing
 * leaks (sl_alloc_live() returns to its starting value). Secret memory uses
 * secbuf.h instead.
 */
#ifndef SL_CORE_ALLOC_H
#define SL_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *sl_malloc(size_t size);
void *sl_calloc(size_t count, size_t size);
void *sl_realloc(void *ptr, size_t size);
void sl_free(void *ptr);
char *sl_strdup(const char *s);

/* Number of live allocations made through this API (all threads). */
int64_t sl_alloc_live(void);

/* Multiplies with overflow check; returns 0 and sets *out on success, -1 on overflow. */
int sl_size_mul(size_t a, size_t b, size_t *out);

#endif

/*
 * context.cu: the CUDA backend's device context (see gpu_impl.cuh).
 *
 * Everything an op needs besides its own kernels lives here, so that the
 * rules for row data on the device are enforced in one place: row data
 * reaches the device only through the pinned staging buffers (wiped after
 * each call) into scratch memory (zeroed after each call) or into kept
 * copies (zeroed when forgotten); copies run on their own streams so that
 * the next chunk moves while the current one is computed; and block
 * partials are reduced in a fixed tree so results do not depend on how the
 * device scheduled the blocks.
 */
#include <atomic>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/gpu/gpu_impl.cuh"

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/gpu/gpu.h"
}

/* Pinned staging per slot by default: large enough that a copy runs at the
 * link's speed, small enough to pin cheaply (sl_gpu_set_stage_bytes). */
#define STAGE_BYTES ((size_t)64 << 20)
#define STAGE_MIN ((size_t)1 << 20)
/* Smallest scratch block, and the most the arena keeps between calls. */
#define ARENA_MIN ((size_t)64 << 20)
#define ARENA_KEEP ((size_t)256 << 20)
/* Host-to-staging copies are split into pieces of this size across threads. */
#define COPY_PIECE ((size_t)1 << 20)

static std::atomic<size_t> g_stage_bytes(STAGE_BYTES);

size_t sl_gpu_set_stage_bytes(size_t bytes)
{
    return g_stage_bytes.exchange(bytes < STAGE_MIN ? STAGE_MIN : bytes);
}

#ifdef _OPENMP
#define SL_GPU_OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define SL_GPU_OMP_FOR
#endif

sl_status sl_gpu_cuda_error(cudaError_t err, const char *call, const char *file, int line,
                            const char *func)
{
    sl_status code = err == cudaErrorMemoryAllocation ? SL_ERR_UNSUPPORTED : SL_ERR_CUDA;
    (void)cudaGetLastError();
    return sl_error_set(code, file, line, func, "CUDA call %s failed: %s (%s)", call,
                        cudaGetErrorString(err), cudaGetErrorName(err));
}

sl_status sl_gpu_cublas_error(cublasStatus_t err, const char *call, const char *file, int line,
                              const char *func)
{
    sl_status code = err == CUBLAS_STATUS_ALLOC_FAILED ? SL_ERR_UNSUPPORTED : SL_ERR_CUDA;
    return sl_error_set(code, file, line, func, "cuBLAS call %s failed: %s", call,
                        sl_cublas.status_string(err));
}

struct sl_cublas sl_cublas;

static pthread_once_t g_cublas_once = PTHREAD_ONCE_INIT;
static char g_cublas_failure[512];

/* The symbol `name` of `lib` into *fn (its type taken from fn). */
template <class F> static bool cublas_sym(void *lib, const char *name, F *fn)
{
    void *p = dlsym(lib, name);
    memcpy(fn, &p, sizeof p);
    return p != NULL;
}

static void cublas_open(void)
{
    static const char *const names[] = {SL_CUBLAS_PATH, SL_CUBLAS_SONAME};
    void *lib = NULL;
    struct sl_cublas api;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(g_cublas_failure, sizeof g_cublas_failure, "cannot open cuBLAS (%s): %s",
                 SL_CUBLAS_SONAME, dlerror());
        return;
    }
    if (!(cublas_sym(lib, "cublasCreate_v2", &api.create) &&
          cublas_sym(lib, "cublasDestroy_v2", &api.destroy) &&
          cublas_sym(lib, "cublasGetStatusString", &api.status_string) &&
          cublas_sym(lib, "cublasSetStream_v2", &api.set_stream) &&
          cublas_sym(lib, "cublasSetAtomicsMode", &api.set_atomics_mode) &&
          cublas_sym(lib, "cublasSetWorkspace_v2", &api.set_workspace) &&
          cublas_sym(lib, "cublasDsyrk_v2", &api.dsyrk))) {
        snprintf(g_cublas_failure, sizeof g_cublas_failure, "cuBLAS (%s) lacks an entry point: %s",
                 SL_CUBLAS_SONAME, dlerror());
        return;
    }
    sl_cublas = api;
}

sl_status sl_gpu_cublas_load(void)
{
    sl_status st = SL_OK;
    SL_CHECK(pthread_once(&g_cublas_once, cublas_open) == 0, SL_ERR_INTERNAL,
             "gpu backend: cannot open cuBLAS once");
    SL_CHECK(sl_cublas.create, SL_ERR_UNSUPPORTED, "gpu backend: %s", g_cublas_failure);
cleanup:
    return st;
}

sl_status sl_gpu_blas_open(void) { return sl_gpu_cublas_load(); }

sl_status sl_gpu_check_cells(const char *op, unsigned long long flag, int64_t ncells)
{
    if (flag == ~0ULL)
        return SL_OK;
    return sl_cell_error(op, (int64_t)flag, ncells);
}

int sl_gpu_grid(const struct sl_gpu *g, int64_t items)
{
    int64_t blocks = (items + SL_GPU_THREADS - 1) / SL_GPU_THREADS;
    int64_t cap = (int64_t)g->multiprocessors * 8;
    if (blocks > cap)
        blocks = cap;
    return blocks < 1 ? 1 : (int)blocks;
}

int sl_gpu_key_bits(uint64_t maxkey)
{
    int bits = 1;
    while (bits < 64 && (maxkey >> bits) != 0)
        bits++;
    return bits;
}

/* ---- staging buffers ---- */

static void pinned_free(struct sl_gpu *g)
{
    for (int s = 0; s < 2; s++) {
        if (g->pinned[s]) {
            sl_wipe(g->pinned[s], g->pinned_bytes);
            (void)cudaFreeHost(g->pinned[s]);
        }
        g->pinned[s] = NULL;
        g->pinned_dirty[s] = 0;
    }
    g->pinned_bytes = 0;
}

/* Makes both slots at least `bytes` long (waiting for copies in flight). */
static sl_status pinned_reserve(struct sl_gpu *g, size_t bytes)
{
    sl_status st = SL_OK;
    size_t stage = g_stage_bytes.load(), want = bytes > stage ? bytes : stage;
    long page = sysconf(_SC_PAGESIZE);

    if (g->pinned[0] && g->pinned_bytes >= want)
        goto cleanup;
    SL_CALL_CUDA(cudaStreamSynchronize(g->copy[0]));
    SL_CALL_CUDA(cudaStreamSynchronize(g->copy[1]));
    pinned_free(g);
    for (int s = 0; s < 2; s++) {
        void *p = NULL;
        SL_CALL_CUDA(cudaHostAlloc(&p, want, cudaHostAllocDefault));
        g->pinned[s] = (unsigned char *)p;
        /* staged rows are secret: keep them out of core dumps (best effort) */
        if (page > 0 && (uintptr_t)p % (uintptr_t)page == 0)
            (void)madvise(p, want, MADV_DONTDUMP);
    }
    g->pinned_bytes = want;
cleanup:
    if (st != SL_OK)
        pinned_free(g);
    return st;
}

struct copy_piece {
    unsigned char *dst;
    const unsigned char *src;
    size_t bytes;
};

/* Appends the pieces of one copy to `list`. */
static size_t add_pieces(struct copy_piece *list, size_t n, unsigned char *dst,
                         const unsigned char *src, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += COPY_PIECE) {
        size_t len = bytes - off < COPY_PIECE ? bytes - off : COPY_PIECE;
        list[n++] = (struct copy_piece){dst + off, src + off, len};
    }
    return n;
}

static void run_pieces(const struct copy_piece *list, size_t n)
{
    int64_t count = (int64_t)n;
    SL_GPU_OMP_FOR
    for (int64_t i = 0; i < count; i++)
        memcpy(list[i].dst, list[i].src, list[i].bytes);
}

/* ---- context ---- */

sl_status sl_gpu_create(int device, struct sl_gpu **out)
{
    sl_status st = SL_OK;
    struct sl_gpu *g = (struct sl_gpu *)sl_calloc(1, sizeof *g);
    int sms = 0;

    SL_CHECK(g, SL_ERR_NOMEM, "gpu backend: out of memory");
    g->device = device;
    SL_CALL_CUDA(cudaSetDevice(device));
    SL_CALL_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    g->multiprocessors = sms > 0 ? sms : 1;
    SL_CALL_CUDA(cudaStreamCreateWithFlags(&g->compute, cudaStreamNonBlocking));
    for (int s = 0; s < 2; s++) {
        SL_CALL_CUDA(cudaStreamCreateWithFlags(&g->copy[s], cudaStreamNonBlocking));
        SL_CALL_CUDA(cudaEventCreateWithFlags(&g->copied[s], cudaEventDisableTiming));
        SL_CALL_CUDA(cudaEventCreateWithFlags(&g->consumed[s], cudaEventDisableTiming));
    }
    SL_CALL(sl_gpu_cublas_load());
    SL_CALL_CUBLAS(sl_cublas.create(&g->blas));
    SL_CALL_CUBLAS(sl_cublas.set_stream(g->blas, g->compute));
    /* the default already; stated because determinism depends on it */
    SL_CALL_CUBLAS(sl_cublas.set_atomics_mode(g->blas, CUBLAS_ATOMICS_NOT_ALLOWED));
    *out = g;
    g = NULL;
cleanup:
    sl_gpu_destroy(&g);
    return st;
}

static void zero_free(void *dev, size_t bytes)
{
    if (!dev)
        return;
    (void)cudaMemset(dev, 0, bytes);
    (void)cudaFree(dev);
}

void sl_gpu_destroy(struct sl_gpu **gp)
{
    struct sl_gpu *g = gp ? *gp : NULL;
    if (!g)
        return;
    (void)cudaSetDevice(g->device);
    (void)cudaDeviceSynchronize();
    for (size_t i = 0; i < g->nkept; i++)
        zero_free(g->kept[i].dev, g->kept[i].bytes);
    sl_free(g->kept);
    for (int i = 0; i < g->nblocks; i++)
        zero_free(g->blocks[i].base, g->blocks[i].bytes);
    (void)cudaDeviceSynchronize();
    pinned_free(g);
    if (g->blas)
        (void)sl_cublas.destroy(g->blas);
    for (int s = 0; s < 2; s++) {
        if (g->copied[s])
            (void)cudaEventDestroy(g->copied[s]);
        if (g->consumed[s])
            (void)cudaEventDestroy(g->consumed[s]);
        if (g->copy[s])
            (void)cudaStreamDestroy(g->copy[s]);
    }
    if (g->compute)
        (void)cudaStreamDestroy(g->compute);
    (void)cudaGetLastError();
    sl_free(g);
    *gp = NULL;
}

/* ---- scratch ---- */

sl_status sl_gpu_alloc(struct sl_gpu *g, size_t bytes, void **out)
{
    sl_status st = SL_OK;
    size_t need = (bytes + 255) & ~(size_t)255, size;
    void *p = NULL;

    if (need == 0)
        need = 256;
    for (int i = 0; i < g->nblocks; i++) {
        struct sl_gpu_block *b = &g->blocks[i];
        if (b->bytes - b->used >= need) {
            *out = b->base + b->used;
            b->used += need;
            goto cleanup;
        }
    }
    SL_CHECK(g->nblocks < SL_GPU_MAX_BLOCKS, SL_ERR_UNSUPPORTED,
             "gpu backend: too many scratch blocks in one call");
    size = need > g->arena_hint ? need : g->arena_hint;
    size = size > ARENA_MIN ? size : ARENA_MIN;
    SL_CALL_CUDA(cudaMalloc(&p, size));
    g->blocks[g->nblocks++] = (struct sl_gpu_block){(unsigned char *)p, size, need};
    *out = p;
cleanup:
    return st;
}

sl_status sl_gpu_call_end(struct sl_gpu *g)
{
    sl_status st = SL_OK, first = SL_OK;
    size_t total = 0;
    int keep;

#define SL_GPU_NOTE(expr)                                                                    \
    do {                                                                                     \
        cudaError_t e_ = (expr);                                                             \
        if (e_ != cudaSuccess && first == SL_OK)                                             \
            first = sl_gpu_cuda_error(e_, #expr, __FILE__, __LINE__, __func__);              \
    } while (0)
    SL_GPU_NOTE(cudaStreamSynchronize(g->copy[0]));
    SL_GPU_NOTE(cudaStreamSynchronize(g->copy[1]));
    SL_GPU_NOTE(cudaStreamSynchronize(g->compute));
    for (int i = 0; i < g->nblocks; i++) {
        if (g->blocks[i].used)
            SL_GPU_NOTE(cudaMemsetAsync(g->blocks[i].base, 0, g->blocks[i].used, g->compute));
        total += g->blocks[i].bytes;
    }
    SL_GPU_NOTE(cudaStreamSynchronize(g->compute));
#undef SL_GPU_NOTE
    for (int s = 0; s < 2; s++) {
        if (g->pinned[s] && g->pinned_dirty[s])
            sl_wipe(g->pinned[s], g->pinned_dirty[s]);
        g->pinned_dirty[s] = 0;
    }
    /* one block of at most ARENA_KEEP stays for the next call */
    keep = g->nblocks == 1 && total <= ARENA_KEEP;
    g->arena_hint = total <= ARENA_KEEP ? total : 0;
    for (int i = 0; i < g->nblocks; i++) {
        g->blocks[i].used = 0;
        if (!keep) {
            (void)cudaFree(g->blocks[i].base);
            g->blocks[i] = (struct sl_gpu_block){NULL, 0, 0};
        }
    }
    if (!keep)
        g->nblocks = 0;
    st = first;
    return st;
}

sl_status sl_gpu_flag_new(struct sl_gpu *g, unsigned long long **flag)
{
    sl_status st = SL_OK;
    void *p = NULL;
    SL_CALL(sl_gpu_alloc(g, sizeof(unsigned long long), &p));
    SL_CALL_CUDA(cudaMemsetAsync(p, 0xff, sizeof(unsigned long long), g->compute));
    *flag = (unsigned long long *)p;
cleanup:
    return st;
}

sl_status sl_gpu_download(struct sl_gpu *g, void *host, const void *dev, size_t bytes)
{
    sl_status st = SL_OK;
    if (bytes)
        SL_CALL_CUDA(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, g->compute));
    SL_CALL_CUDA(cudaStreamSynchronize(g->compute));
cleanup:
    return st;
}

sl_status sl_gpu_upload(struct sl_gpu *g, void *dev, const void *host, size_t bytes)
{
    sl_status st = SL_OK;
    struct copy_piece *list = NULL;
    size_t off = 0;
    int k = 0;

    if (bytes == 0)
        goto cleanup;
    SL_CALL(pinned_reserve(g, 0));
    list = (struct copy_piece *)sl_malloc((g->pinned_bytes / COPY_PIECE + 1) * sizeof *list);
    SL_CHECK(list, SL_ERR_NOMEM, "gpu backend: out of memory");
    for (off = 0; off < bytes; off += g->pinned_bytes, k++) {
        int s = k & 1;
        size_t len = bytes - off < g->pinned_bytes ? bytes - off : g->pinned_bytes;
        SL_CALL_CUDA(cudaEventSynchronize(g->copied[s]));
        run_pieces(list, add_pieces(list, 0, g->pinned[s], (const unsigned char *)host + off, len));
        if (len > g->pinned_dirty[s])
            g->pinned_dirty[s] = len;
        SL_CALL_CUDA(cudaMemcpyAsync((unsigned char *)dev + off, g->pinned[s], len,
                                     cudaMemcpyHostToDevice, g->copy[s]));
        SL_CALL_CUDA(cudaEventRecord(g->copied[s], g->copy[s]));
    }
    SL_CALL_CUDA(cudaStreamSynchronize(g->copy[0]));
    SL_CALL_CUDA(cudaStreamSynchronize(g->copy[1]));
cleanup:
    sl_free(list);
    return st;
}

/* ---- residency ---- */

const void *sl_gpu_resident(const struct sl_gpu *g, const void *host, size_t bytes, size_t align)
{
    uintptr_t h = (uintptr_t)host;
    for (size_t i = 0; i < g->nkept; i++) {
        uintptr_t k = (uintptr_t)g->kept[i].host;
        if (h >= k && h - k <= g->kept[i].bytes && bytes <= g->kept[i].bytes - (h - k) &&
            (h - k) % align == 0 && k % align == 0)
            return (const unsigned char *)g->kept[i].dev + (h - k);
    }
    return NULL;
}

sl_status sl_gpu_keep(struct sl_gpu *g, const void *host, size_t bytes)
{
    sl_status st = SL_OK;
    void *dev = NULL;

    sl_gpu_forget(g, host);
    if (bytes == 0)
        goto cleanup;
    if (g->nkept == g->kept_cap) {
        size_t cap = g->kept_cap ? 2 * g->kept_cap : 8;
        struct sl_gpu_kept *k =
            (struct sl_gpu_kept *)sl_realloc(g->kept, cap * sizeof *g->kept);
        SL_CHECK(k, SL_ERR_NOMEM, "gpu backend: out of memory");
        g->kept = k;
        g->kept_cap = cap;
    }
    SL_CALL_CUDA(cudaMalloc(&dev, bytes));
    SL_CALL(sl_gpu_upload(g, dev, host, bytes));
    g->kept[g->nkept++] = (struct sl_gpu_kept){host, bytes, dev};
    dev = NULL;
cleanup:
    zero_free(dev, bytes);
    return st;
}

void sl_gpu_forget(struct sl_gpu *g, const void *host)
{
    for (size_t i = 0; i < g->nkept; i++) {
        if (g->kept[i].host != host)
            continue;
        (void)cudaDeviceSynchronize();
        zero_free(g->kept[i].dev, g->kept[i].bytes);
        g->kept[i] = g->kept[--g->nkept];
        break;
    }
}

/* ---- the transfer pipeline ---- */

/* A group given as array pointers that are in fact equally spaced (columns
 * of one host matrix) becomes a strided group, which can be resident. */
static struct sl_gpu_col col_normalise(struct sl_gpu_col c, int64_t n)
{
    const char *a0;
    ptrdiff_t step;
    if (!c.arrays || !c.host)
        return c;
    if (c.count == 1) {
        c.arrays = NULL;
        return c;
    }
    a0 = (const char *)c.arrays[0];
    step = (const char *)c.arrays[1] - a0;
    if (step <= 0 || step % (ptrdiff_t)c.elem != 0 || step / (ptrdiff_t)c.elem < n)
        return c;
    for (int64_t k = 2; k < c.count; k++)
        if ((const char *)c.arrays[k] - a0 != (ptrdiff_t)k * step)
            return c;
    c.stride = step / (ptrdiff_t)c.elem;
    c.arrays = NULL;
    return c;
}

/* Host address of row r0 of array j of a group. */
static const unsigned char *col_host(const struct sl_gpu_col *c, int64_t j, int64_t r0)
{
    if (c->arrays)
        return (const unsigned char *)c->arrays[j] + (size_t)r0 * c->elem;
    return (const unsigned char *)c->host + (size_t)(j * c->stride + r0) * c->elem;
}

sl_status sl_gpu_pipe_run(struct sl_gpu *g, int64_t n, const struct sl_gpu_col *given, int ncols,
                          int64_t granule, int whole, sl_gpu_chunk_fn *fn, void *ctx,
                          struct sl_gpu_view *whole_views)
{
    sl_status st = SL_OK;
    struct sl_gpu_col *cols = (struct sl_gpu_col *)sl_calloc((size_t)ncols, sizeof *cols);
    struct sl_gpu_view *views = (struct sl_gpu_view *)sl_calloc((size_t)ncols, sizeof *views);
    const unsigned char **res =
        (const unsigned char **)sl_calloc((size_t)ncols, sizeof *res);
    unsigned char **wdev = (unsigned char **)sl_calloc((size_t)ncols, sizeof *wdev);
    size_t *off = (size_t *)sl_calloc((size_t)ncols, sizeof *off);
    struct copy_piece *list = NULL;
    unsigned char *slot[2] = {NULL, NULL};
    size_t row_bytes = 0, npieces = 0, used = 0;
    int64_t chunk = n, k = 0, r0 = 0;

    SL_CHECK(cols && views && res && wdev && off, SL_ERR_NOMEM, "gpu backend: out of memory");
    SL_ASSERT(granule >= 1);
    for (int c = 0; c < ncols; c++) {
        const struct sl_gpu_col *col = &cols[c];
        size_t span;
        cols[c] = col_normalise(given[c], n);
        span = (size_t)(((col->count > 1 ? (col->count - 1) * col->stride : 0) + n)) * col->elem;
        if (!col->host)
            continue;
        /* scattered arrays are always copied */
        res[c] = n > 0 && !col->arrays ? (const unsigned char *)sl_gpu_resident(g, col->host, span,
                                                                                col->elem)
                                       : NULL;
        if (!res[c])
            row_bytes += (size_t)col->count * col->elem;
    }
    if (n == 0)
        goto cleanup;
    if (row_bytes > 0) {
        size_t stage = g_stage_bytes.load();
        int64_t cap = (int64_t)(stage / row_bytes) / granule * granule;
        if (cap < granule)
            cap = granule;
        SL_CALL(pinned_reserve(g, (size_t)cap * row_bytes));
        chunk = (n + granule - 1) / granule * granule;
        if (chunk > cap)
            chunk = cap;
        for (int c = 0; c < ncols; c++) {
            if (!cols[c].host || res[c])
                continue;
            off[c] = used;
            used += (size_t)cols[c].count * cols[c].elem * (size_t)chunk;
            npieces += (size_t)cols[c].count * ((size_t)chunk * cols[c].elem / COPY_PIECE + 1);
            if (whole)
                SL_CALL(sl_gpu_alloc(g, (size_t)cols[c].count * cols[c].elem * (size_t)n,
                                     (void **)&wdev[c]));
        }
        list = (struct copy_piece *)sl_malloc(npieces * sizeof *list);
        SL_CHECK(list, SL_ERR_NOMEM, "gpu backend: out of memory");
        if (!whole) {
            SL_CALL(sl_gpu_alloc(g, used, (void **)&slot[0]));
            SL_CALL(sl_gpu_alloc(g, used, (void **)&slot[1]));
        }
    }
    for (int c = 0; c < ncols && whole_views; c++) {
        if (!cols[c].host)
            whole_views[c] = (struct sl_gpu_view){NULL, 0};
        else if (res[c])
            whole_views[c] = (struct sl_gpu_view){res[c], cols[c].stride};
        else
            whole_views[c] = (struct sl_gpu_view){wdev[c], n};
    }
    for (r0 = 0, k = 0; r0 < n; r0 += chunk, k++) {
        int s = (int)(k & 1);
        int64_t nr = n - r0 < chunk ? n - r0 : chunk;
        if (row_bytes > 0) {
            size_t np = 0;
            SL_CALL_CUDA(cudaEventSynchronize(g->copied[s]));
            for (int c = 0; c < ncols; c++) {
                const struct sl_gpu_col *col = &cols[c];
                if (!col->host || res[c])
                    continue;
                for (int64_t j = 0; j < col->count; j++)
                    np = add_pieces(list, np,
                                    g->pinned[s] + off[c] + (size_t)(j * chunk) * col->elem,
                                    col_host(col, j, r0), (size_t)nr * col->elem);
            }
            run_pieces(list, np);
            if (used > g->pinned_dirty[s])
                g->pinned_dirty[s] = used;
            if (!whole)
                SL_CALL_CUDA(cudaStreamWaitEvent(g->copy[s], g->consumed[s], 0));
            for (int c = 0; c < ncols; c++) {
                const struct sl_gpu_col *col = &cols[c];
                size_t width = (size_t)nr * col->elem, spitch = (size_t)chunk * col->elem;
                if (!col->host || res[c])
                    continue;
                if (!whole) {
                    SL_CALL_CUDA(cudaMemcpy2DAsync(slot[s] + off[c], spitch, g->pinned[s] + off[c],
                                                   spitch, width, (size_t)col->count,
                                                   cudaMemcpyHostToDevice, g->copy[s]));
                    continue;
                }
                for (int64_t j = 0; j < col->count; j++)
                    SL_CALL_CUDA(cudaMemcpyAsync(
                        wdev[c] + (size_t)(j * n + r0) * col->elem,
                        g->pinned[s] + off[c] + (size_t)j * spitch, width, cudaMemcpyHostToDevice,
                        g->copy[s]));
            }
            SL_CALL_CUDA(cudaEventRecord(g->copied[s], g->copy[s]));
            SL_CALL_CUDA(cudaStreamWaitEvent(g->compute, g->copied[s], 0));
        }
        for (int c = 0; c < ncols; c++) {
            const struct sl_gpu_col *col = &cols[c];
            if (!col->host)
                views[c] = (struct sl_gpu_view){NULL, 0};
            else if (res[c])
                views[c] = (struct sl_gpu_view){res[c] + (size_t)r0 * col->elem, col->stride};
            else if (whole)
                views[c] = (struct sl_gpu_view){wdev[c] + (size_t)r0 * col->elem, n};
            else
                views[c] = (struct sl_gpu_view){slot[s] + off[c], chunk};
        }
        SL_CALL(fn(g, ctx, r0, nr, views));
        SL_CALL_CUDA(cudaEventRecord(g->consumed[s], g->compute));
    }
cleanup:
    sl_free(cols);
    sl_free(views);
    sl_free(res);
    sl_free(wdev);
    sl_free(off);
    sl_free(list);
    return st;
}

/* ---- ordered reduction ---- */

#define FOLD_ROWS 64

__global__ void fold_rows(const double *SL_GPU_RESTRICT in, int64_t rows, int64_t width,
                          double *SL_GPU_RESTRICT out)
{
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t groups = (rows + FOLD_ROWS - 1) / FOLD_ROWS;
    if (e >= width)
        return;
    for (int64_t grp = blockIdx.y; grp < groups; grp += gridDim.y) {
        int64_t r = grp * FOLD_ROWS, end = r + FOLD_ROWS < rows ? r + FOLD_ROWS : rows;
        double s = in[r * width + e];
        for (r++; r < end; r++)
            s += in[r * width + e];
        out[grp * width + e] = s;
    }
}

sl_status sl_gpu_ordered_sum(struct sl_gpu *g, const double *part, int64_t rows, int64_t width,
                             double *out)
{
    sl_status st = SL_OK;
    double *tmp[2] = {NULL, NULL};
    const double *in = part;
    int which = 0;

    if (width == 0)
        goto cleanup;
    if (rows == 0) {
        SL_CALL_CUDA(cudaMemsetAsync(out, 0, (size_t)width * sizeof(double), g->compute));
        goto cleanup;
    }
    if (rows == 1) {
        SL_CALL_CUDA(cudaMemcpyAsync(out, part, (size_t)width * sizeof(double),
                                     cudaMemcpyDeviceToDevice, g->compute));
        goto cleanup;
    }
    {
        size_t bytes = (size_t)((rows + FOLD_ROWS - 1) / FOLD_ROWS) * (size_t)width * sizeof(double);
        SL_CALL(sl_gpu_alloc(g, bytes, (void **)&tmp[0]));
        SL_CALL(sl_gpu_alloc(g, bytes, (void **)&tmp[1]));
    }
    while (rows > 1) {
        int64_t groups = (rows + FOLD_ROWS - 1) / FOLD_ROWS;
        double *dst = groups == 1 ? out : tmp[which];
        dim3 grid((unsigned)((width + SL_GPU_THREADS - 1) / SL_GPU_THREADS),
                  (unsigned)(groups < 65535 ? groups : 65535));
        fold_rows<<<grid, SL_GPU_THREADS, 0, g->compute>>>(in, rows, width, dst);
        SL_CHECK_LAUNCH();
        in = dst;
        rows = groups;
        which ^= 1;
    }
cleanup:
    return st;
}

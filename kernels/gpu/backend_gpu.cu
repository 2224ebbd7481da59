/*
 * backend_gpu.cu: the "gpu" kernel backend (CUDA + cuBLAS).
 *
 * The table the registry lists first, so that "auto" prefers the GPU where
 * one is usable. It picks the device by the process's local rank (so the
 * ranks of a node spread over its GPUs), declines work too small to repay a
 * device round trip (the dispatcher then runs it on the CPU), serialises
 * calls on one device context, and ends every call by zeroing the device
 * scratch and wiping the staging buffers, because both held row data. The
 * kernels themselves live in <op>.cu; the shared machinery in context.cu.
 */
#include <atomic>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gpu/gpu_impl.cuh"
#include "kernels/gpu/gram.cuh"
#include "kernels/gpu/gram_engine.cuh"
#include "kernels/gpu/group_count.cuh"
#include "kernels/gpu/group_moments.cuh"
#include "kernels/gpu/histogram.cuh"
#include "kernels/gpu/irls_step.cuh"
#include "kernels/gpu/sort_f64.cuh"

extern "C" {
#include "engine/core/alloc.h"
#include "kernels/gpu/gpu.h"
}

/* Largest per-call counter arrays (grouped count, histogram) and cell
 * counts (moments, sort) the device takes; larger calls run on the CPU. */
#define MAX_COUNTERS ((int64_t)1 << 27)
#define MAX_SORT_CELLS ((int64_t)1 << 24)

static std::atomic<int64_t> g_min_rows(SL_GPU_MIN_ROWS_DEFAULT);
static std::atomic<int64_t> g_served(0);

/* The result of looking for a device, made once per process: the CUDA
 * runtime sees the same devices for the process's whole life. */
static pthread_once_t g_probe_once = PTHREAD_ONCE_INIT;
static int g_probe_device = -1; /* device this process uses, or -1 */
static cudaError_t g_probe_error = cudaSuccess;
static int g_probe_count = 0;
static struct cudaDeviceProp g_probe_prop;

/* The local rank from the launcher's environment (Open MPI, Slurm, MPICH),
 * 0 when there is none. */
static int local_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        char *end = NULL;
        long r;
        if (!v || !*v)
            continue;
        r = strtol(v, &end, 10);
        if (*end == '\0' && r >= 0 && r <= 1000000)
            return (int)r;
    }
    return 0;
}

static char g_probe_reason[512]; /* why there is no usable device */

static void probe(void)
{
    g_probe_error = cudaGetDeviceCount(&g_probe_count);
    if (g_probe_error != cudaSuccess || g_probe_count <= 0) {
        (void)cudaGetLastError();
        (void)snprintf(g_probe_reason, sizeof g_probe_reason, "no usable CUDA device (%s)",
                       g_probe_error != cudaSuccess ? cudaGetErrorString(g_probe_error)
                                                    : "none found");
        g_probe_count = 0;
        return;
    }
    g_probe_device = local_rank() % g_probe_count;
    g_probe_error = cudaGetDeviceProperties(&g_probe_prop, g_probe_device);
    if (g_probe_error != cudaSuccess) {
        (void)cudaGetLastError();
        (void)snprintf(g_probe_reason, sizeof g_probe_reason, "cannot query CUDA device %d (%s)",
                       g_probe_device, cudaGetErrorString(g_probe_error));
        g_probe_device = -1;
    } else if (g_probe_prop.major < 9) {
        (void)snprintf(g_probe_reason, sizeof g_probe_reason,
                       "device %d (%s) has compute capability %d.%d; this build carries code for "
                       "9.0 (Hopper) and later",
                       g_probe_device, g_probe_prop.name, g_probe_prop.major, g_probe_prop.minor);
        g_probe_device = -1;
    }
}

/* Whether this process has a usable device; *reason says why not. */
static bool probe_ok(const char **reason)
{
    (void)pthread_once(&g_probe_once, probe);
    *reason = g_probe_reason;
    return g_probe_device >= 0;
}

/* SL_OK, or SL_ERR_UNSUPPORTED saying why there is no usable device. */
static sl_status probe_status(void)
{
    sl_status st = SL_OK;
    const char *why = NULL;
    SL_CHECK(probe_ok(&why), SL_ERR_UNSUPPORTED, "gpu backend: %s", why);
cleanup:
    return st;
}

struct gpu_state {
    pthread_mutex_t lock;
    struct sl_gpu *gpu;
};

static sl_status gpu_init(struct sl_backend *b)
{
    sl_status st = SL_OK;
    struct gpu_state *s = NULL;

    SL_CALL(probe_status());
    s = (struct gpu_state *)sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "gpu backend: out of memory");
    SL_CHECK(pthread_mutex_init(&s->lock, NULL) == 0, SL_ERR_INTERNAL,
             "gpu backend: cannot create a lock");
    st = sl_gpu_create(g_probe_device, &s->gpu);
    if (st != SL_OK) {
        char why[256];
        (void)snprintf(why, sizeof why, "%s", sl_error_message());
        (void)pthread_mutex_destroy(&s->lock);
        /* a device that cannot give a context is no usable device */
        SL_FAIL(SL_ERR_UNSUPPORTED, "gpu backend: cannot use device %d (%s): %s", g_probe_device,
                g_probe_prop.name, why);
    }
    b->state = s;
    s = NULL;
cleanup:
    sl_free(s);
    return st;
}

static void gpu_fini(struct sl_backend *b)
{
    struct gpu_state *s = (struct gpu_state *)b->state;
    if (!s)
        return;
    sl_gpu_destroy(&s->gpu);
    (void)pthread_mutex_destroy(&s->lock);
    sl_free(s);
    b->state = NULL;
}

/* Work below g_min_rows rows is declined (see SL_GPU_MIN_ROWS_DEFAULT), and
 * so is what the device does not hold: counter arrays over MAX_COUNTERS,
 * more than MAX_SORT_CELLS cells to sort or summarise, Gram matrices wider
 * than SL_GRAM_BLAS_QMAX. */
static bool gpu_supports(const struct sl_backend *b, enum sl_op op, const void *args)
{
    int64_t min_rows = g_min_rows.load();
    (void)b;
    switch (op) {
    case SL_OP_GROUP_COUNT: {
        const struct sl_group_count_args *a = (const struct sl_group_count_args *)args;
        return a->n >= min_rows && a->ncells <= MAX_COUNTERS;
    }
    case SL_OP_HISTOGRAM: {
        const struct sl_histogram_args *a = (const struct sl_histogram_args *)args;
        return a->n >= min_rows && a->nedges + 2 <= MAX_COUNTERS &&
               a->ncells <= MAX_COUNTERS / (a->nedges + 2);
    }
    case SL_OP_GROUP_MOMENTS: {
        const struct sl_group_moments_args *a = (const struct sl_group_moments_args *)args;
        return a->n >= min_rows && a->ncells <= MAX_SORT_CELLS;
    }
    case SL_OP_SORT_F64: {
        const struct sl_sort_f64_args *a = (const struct sl_sort_f64_args *)args;
        return a->n >= min_rows && a->ncells <= MAX_SORT_CELLS;
    }
    case SL_OP_GRAM: {
        const struct sl_gram_args *a = (const struct sl_gram_args *)args;
        return a->n >= min_rows && a->p >= 1 && a->p <= SL_GRAM_BLAS_QMAX;
    }
    case SL_OP_IRLS_STEP: {
        const struct sl_irls_step_args *a = (const struct sl_irls_step_args *)args;
        return a->n >= min_rows && a->p + 1 <= SL_GRAM_BLAS_QMAX;
    }
    case SL_OP_COUNT:
        break;
    }
    return false;
}

static sl_status run_op(struct sl_gpu *g, enum sl_op op, void *args)
{
    switch (op) {
    case SL_OP_GROUP_COUNT: return sl_group_count_gpu(g, (const struct sl_group_count_args *)args);
    case SL_OP_GROUP_MOMENTS:
        return sl_group_moments_gpu(g, (const struct sl_group_moments_args *)args);
    case SL_OP_HISTOGRAM: return sl_histogram_gpu(g, (const struct sl_histogram_args *)args);
    case SL_OP_GRAM: return sl_gram_gpu(g, (const struct sl_gram_args *)args);
    case SL_OP_IRLS_STEP: return sl_irls_step_gpu(g, (const struct sl_irls_step_args *)args);
    case SL_OP_SORT_F64: return sl_sort_f64_gpu(g, (const struct sl_sort_f64_args *)args);
    case SL_OP_COUNT: break;
    }
    return sl_error_set(SL_ERR_UNSUPPORTED, __FILE__, __LINE__, __func__, "unknown kernel op %d",
                        (int)op);
}

static sl_status gpu_run(struct sl_backend *b, enum sl_op op, void *args)
{
    sl_status st = SL_OK, end;
    cudaError_t err;
    struct gpu_state *s = (struct gpu_state *)b->state;

    SL_CHECK(pthread_mutex_lock(&s->lock) == 0, SL_ERR_INTERNAL, "gpu backend: cannot lock");
    err = cudaSetDevice(s->gpu->device);
    if (err == cudaSuccess)
        st = run_op(s->gpu, op, args);
    else
        st = sl_gpu_cuda_error(err, "cudaSetDevice", __FILE__, __LINE__, __func__);
    /* always: the scratch and staging held row data */
    end = sl_gpu_call_end(s->gpu);
    if (st == SL_OK)
        st = end;
    if (st == SL_OK)
        g_served.fetch_add(1);
    (void)pthread_mutex_unlock(&s->lock);
cleanup:
    return st;
}

static sl_status gpu_sync(struct sl_backend *b)
{
    sl_status st = SL_OK;
    struct gpu_state *s = (struct gpu_state *)b->state;
    SL_CHECK(pthread_mutex_lock(&s->lock) == 0, SL_ERR_INTERNAL, "gpu backend: cannot lock");
    st = sl_gpu_call_end(s->gpu);
    (void)pthread_mutex_unlock(&s->lock);
cleanup:
    return st;
}

static sl_status gpu_keep(struct sl_backend *b, const void *host, size_t bytes)
{
    sl_status st = SL_OK, end;
    struct gpu_state *s = (struct gpu_state *)b->state;
    SL_CHECK(pthread_mutex_lock(&s->lock) == 0, SL_ERR_INTERNAL, "gpu backend: cannot lock");
    (void)cudaSetDevice(s->gpu->device);
    st = sl_gpu_keep(s->gpu, host, bytes);
    end = sl_gpu_call_end(s->gpu);
    (void)pthread_mutex_unlock(&s->lock);
    /* a hint the device has no room for is dropped: calls stream as usual */
    if (st == SL_ERR_UNSUPPORTED) {
        sl_error_clear();
        st = SL_OK;
    }
    if (st == SL_OK)
        st = end;
cleanup:
    return st;
}

static void gpu_forget(struct sl_backend *b, const void *host)
{
    struct gpu_state *s = (struct gpu_state *)b->state;
    if (pthread_mutex_lock(&s->lock) != 0)
        return;
    (void)cudaSetDevice(s->gpu->device);
    sl_gpu_forget(s->gpu, host);
    (void)pthread_mutex_unlock(&s->lock);
}

extern "C" const struct sl_backend_ops sl_backend_gpu_ops = {
    SL_BACKEND_API_VERSION, "gpu", gpu_init, gpu_fini, gpu_supports, gpu_run, gpu_sync, gpu_keep,
    gpu_forget,
};

/* ---- gpu.h ---- */

int64_t sl_gpu_set_min_rows(int64_t rows) { return g_min_rows.exchange(rows < 0 ? 0 : rows); }

int64_t sl_gpu_calls_served(void) { return g_served.load(); }

/* The gpu backend's state, initialising it. */
static sl_status gpu_backend(struct gpu_state **out)
{
    sl_status st = SL_OK;
    struct sl_backend *b = NULL;
    SL_CALL(sl_backend_get("gpu", &b));
    *out = (struct gpu_state *)b->state;
cleanup:
    return st;
}

sl_status sl_gpu_info_get(struct sl_gpu_info *out)
{
    sl_status st = SL_OK;
    struct gpu_state *s = NULL;
    const struct cudaDeviceProp *p = &g_probe_prop;
    int clock_khz = 0, mem_khz = 0, bus_bits = 0, runtime = 0, units;

    SL_CHECK(out, SL_ERR_ARG, "sl_gpu_info_get: out is NULL");
    SL_CALL(gpu_backend(&s));
    SL_CALL_CUDA(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, s->gpu->device));
    SL_CALL_CUDA(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, s->gpu->device));
    SL_CALL_CUDA(
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, s->gpu->device));
    SL_CALL_CUDA(cudaRuntimeGetVersion(&runtime));
    memset(out, 0, sizeof *out);
    (void)snprintf(out->name, sizeof out->name, "%.255s", p->name);
    out->device = s->gpu->device;
    out->cc_major = p->major;
    out->cc_minor = p->minor;
    out->multiprocessors = p->multiProcessorCount;
    out->memory_gib = (double)p->totalGlobalMem / (1024.0 * 1024.0 * 1024.0);
    out->peak_bandwidth_gbs = 2.0 * (double)mem_khz * 1e3 * (double)bus_bits / 8.0 / 1e9;
    units = p->major == 9 ? 64 : (p->major == 8 && p->minor == 0 ? 32 : 0);
    out->fp64_peak_gflops = (double)p->multiProcessorCount * units * 2.0 * clock_khz * 1e3 / 1e9;
    out->fp64_tensor_peak_gflops = p->major == 9 ? 2 * out->fp64_peak_gflops : 0;
    out->runtime_version = runtime;
cleanup:
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

sl_status sl_gpu_measure_copy_bandwidth(size_t bytes, int reps, double *gbs)
{
    sl_status st = SL_OK;
    struct gpu_state *s = NULL;
    void *src = NULL, *dst = NULL;
    cudaEvent_t ev[2] = {NULL, NULL};
    double *times = NULL;
    int locked = 0;

    SL_CHECK(gbs && bytes > 0 && reps >= 1, SL_ERR_ARG,
             "sl_gpu_measure_copy_bandwidth: need bytes > 0, reps >= 1 and an output");
    SL_CALL(gpu_backend(&s));
    times = (double *)sl_malloc((size_t)reps * sizeof *times);
    SL_CHECK(times, SL_ERR_NOMEM, "sl_gpu_measure_copy_bandwidth: out of memory");
    SL_CHECK(pthread_mutex_lock(&s->lock) == 0, SL_ERR_INTERNAL, "gpu backend: cannot lock");
    locked = 1;
    SL_CALL_CUDA(cudaSetDevice(s->gpu->device));
    SL_CALL_CUDA(cudaMalloc(&src, bytes));
    SL_CALL_CUDA(cudaMalloc(&dst, bytes));
    SL_CALL_CUDA(cudaEventCreate(&ev[0]));
    SL_CALL_CUDA(cudaEventCreate(&ev[1]));
    SL_CALL_CUDA(cudaMemsetAsync(src, 0x5a, bytes, s->gpu->compute));
    SL_CALL_CUDA(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->gpu->compute)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        float ms = 0;
        SL_CALL_CUDA(cudaEventRecord(ev[0], s->gpu->compute));
        SL_CALL_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->gpu->compute));
        SL_CALL_CUDA(cudaEventRecord(ev[1], s->gpu->compute));
        SL_CALL_CUDA(cudaEventSynchronize(ev[1]));
        SL_CALL_CUDA(cudaEventElapsedTime(&ms, ev[0], ev[1]));
        times[r] = (double)ms * 1e-3;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    *gbs = 2.0 * (double)bytes / times[reps / 2] / 1e9;
cleanup:
    for (int i = 0; i < 2; i++)
        if (ev[i])
            (void)cudaEventDestroy(ev[i]);
    if (src)
        (void)cudaFree(src);
    if (dst)
        (void)cudaFree(dst);
    if (locked)
        (void)pthread_mutex_unlock(&s->lock);
    sl_free(times);
    return st;
}

const char *sl_gpu_describe(void)
{
    static thread_local char line[640];
    const char *why = NULL;
    int rt = 0;
    (void)cudaRuntimeGetVersion(&rt);
    if (!probe_ok(&why)) {
        (void)snprintf(line, sizeof line, "gpu built (CUDA %d.%d, sm_90): %s", rt / 1000,
                       rt % 1000 / 10, why);
    } else {
        (void)snprintf(line, sizeof line, "gpu %d: %s (cc %d.%d, %d SMs, CUDA %d.%d)",
                       g_probe_device, g_probe_prop.name, g_probe_prop.major, g_probe_prop.minor,
                       g_probe_prop.multiProcessorCount, rt / 1000, rt % 1000 / 10);
    }
    return line;
}

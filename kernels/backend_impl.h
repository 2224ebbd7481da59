/*
 * backend_impl.h: what a kernel backend implements (private to kernels/).
 *
 * A backend is a table of functions plus its state. The registry
 * (registry.c) lists the built-in tables, GPU first and CPU last, creates each
 * backend on first use and hands out borrowed handles; the dispatcher
 * (dispatch.c) validates every call before a backend sees it. Keeping the
 * table private lets a new backend (CUDA, another accelerator) be added by
 * writing one table and one registry line, with no change to kernel.h.
 *
 * Contract for run():
 * - args have passed sl_kernel_validate (pointers present, sizes in range,
 *   edges sorted); the backend still checks the data-dependent rules each op
 *   documents (cell range, weights, responses) and reports them with the same
 *   status codes as the reference backend.
 * - The result must be a deterministic function of the inputs, and the
 *   outputs must be updated only on success, by folding the chunk partial in
 *   once (kernel.h). Integer outputs must equal the reference exactly.
 * - Returning SL_ERR_UNSUPPORTED (for instance a device allocation that
 *   failed) makes the dispatcher rerun the call on the CPU; every other
 *   failure is reported to the caller.
 */
#ifndef SL_KERNELS_BACKEND_IMPL_H
#define SL_KERNELS_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/kernel.h"

/* Bumped whenever the table below or an argument struct changes. */
#define SL_BACKEND_API_VERSION 1

struct sl_backend;

struct sl_backend_ops {
    int api_version;  /* SL_BACKEND_API_VERSION the backend was written for */
    const char *name; /* unique, lower case: "cpu", "cpu_ref", "gpu" */
    /* Creates the backend's state in b->state on first use. Returns
     * SL_ERR_UNSUPPORTED when it cannot run on this machine (no device).
     * NULL when there is nothing to prepare. */
    sl_status (*init)(struct sl_backend *b);
    /* Releases the state (wiping device copies). NULL-safe on an
     * uninitialised backend; NULL when there is nothing to release. */
    void (*fini)(struct sl_backend *b);
    /* Whether run() serves this validated call (an op the backend has, sizes
     * it handles well). Fast and without side effects. */
    bool (*supports)(const struct sl_backend *b, enum sl_op op, const void *args);
    /* Executes the call synchronously; see the contract above. */
    sl_status (*run)(struct sl_backend *b, enum sl_op op, void *args);
    /* Waits for outstanding work; NULL for synchronous backends. */
    sl_status (*sync)(struct sl_backend *b);
    /* Residency hints (sl_backend_keep/forget); NULL for host backends. */
    sl_status (*keep)(struct sl_backend *b, const void *host, size_t bytes);
    void (*forget)(struct sl_backend *b, const void *host);
};

struct sl_backend {
    const struct sl_backend_ops *ops;
    void *state; /* owned by the backend; set by init, cleared by fini */
    int ready;   /* init has succeeded */
};

/* Built-in backends (kernels/cpu/backend_cpu.c). */
extern const struct sl_backend_ops sl_backend_cpu_ops;
extern const struct sl_backend_ops sl_backend_cpu_ref_ops;
#ifdef SL_HAVE_CUDA
/* kernels/gpu/backend_gpu.cu, built when CUDA is found */
extern const struct sl_backend_ops sl_backend_gpu_ops;
#endif

/* Checks the O(1) and O(nedges) rules of an op's arguments (non-NULL arrays
 * where n > 0, sizes, leading dimensions, overflow of the array extents,
 * sorted edges, known family). SL_ERR_ARG with a message naming the field. */
sl_status sl_kernel_validate(enum sl_op op, const void *args);

/* The CPU backends, initialised (for fallback). Never fails. */
struct sl_backend *sl_backend_cpu(void);
struct sl_backend *sl_backend_cpu_ref(void);

#endif

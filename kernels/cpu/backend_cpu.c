/*
 * backend_cpu.c: the two CPU backends, "cpu" (fast) and "cpu_ref" (plain C).
 *
 * Both run on host memory and share the secret buffer pool (engine/core/secpool.c),
 * drained when they shut down. "cpu_ref" serves every call;
 * "cpu" declines only Gram-family calls too wide for its tile kernel, which
 * the dispatcher then hands to "cpu_ref".
 */
#include "kernels/backend_impl.h"
#include "kernels/cpu/cpu_impl.h"

static bool ref_supports(const struct sl_backend *b, enum sl_op op, const void *args)
{
    (void)b;
    (void)args;
    return (int)op >= 0 && (int)op < (int)SL_OP_COUNT;
}

static sl_status ref_run(struct sl_backend *b, enum sl_op op, void *args)
{
    (void)b;
    switch (op) {
    case SL_OP_GROUP_COUNT: return sl_group_count_cpu_ref(args);
    case SL_OP_GROUP_MOMENTS: return sl_group_moments_cpu_ref(args);
    case SL_OP_HISTOGRAM: return sl_histogram_cpu_ref(args);
    case SL_OP_GRAM: return sl_gram_cpu_ref(args);
    case SL_OP_IRLS_STEP: return sl_irls_step_cpu_ref(args);
    case SL_OP_SORT_F64: return sl_sort_f64_cpu_ref(args);
    case SL_OP_COUNT: break;
    }
    return sl_error_set(SL_ERR_UNSUPPORTED, __FILE__, __LINE__, __func__, "unknown kernel op %d",
                        (int)op);
}

static bool fast_supports(const struct sl_backend *b, enum sl_op op, const void *args)
{
    (void)b;
    if (op == SL_OP_GRAM)
        return ((const struct sl_gram_args *)args)->p <= SL_GRAM_FAST_PMAX;
    if (op == SL_OP_IRLS_STEP)
        return ((const struct sl_irls_step_args *)args)->p + 1 <= SL_GRAM_FAST_PMAX;
    return (int)op >= 0 && (int)op < (int)SL_OP_COUNT;
}

static sl_status fast_run(struct sl_backend *b, enum sl_op op, void *args)
{
    (void)b;
    switch (op) {
    case SL_OP_GROUP_COUNT: return sl_group_count_cpu_fast(args);
    case SL_OP_GROUP_MOMENTS: return sl_group_moments_cpu_fast(args);
    case SL_OP_HISTOGRAM: return sl_histogram_cpu_fast(args);
    case SL_OP_GRAM: return sl_gram_cpu_fast(args);
    case SL_OP_IRLS_STEP: return sl_irls_step_cpu_fast(args);
    case SL_OP_SORT_F64: return sl_sort_f64_cpu_fast(args);
    case SL_OP_COUNT: break;
    }
    return sl_error_set(SL_ERR_UNSUPPORTED, __FILE__, __LINE__, __func__, "unknown kernel op %d",
                        (int)op);
}

static sl_status fast_init(struct sl_backend *b)
{
    (void)b;
    (void)sl_cpu_isa_current();
    return SL_OK;
}

/* Both CPU backends share the scratch pool; either shutting down drains it. */
static void cpu_fini(struct sl_backend *b)
{
    (void)b;
    sl_secpool_drain();
}

const struct sl_backend_ops sl_backend_cpu_ops = {
    .api_version = SL_BACKEND_API_VERSION,
    .name = "cpu",
    .init = fast_init,
    .fini = cpu_fini,
    .supports = fast_supports,
    .run = fast_run,
};

const struct sl_backend_ops sl_backend_cpu_ref_ops = {
    .api_version = SL_BACKEND_API_VERSION,
    .name = "cpu_ref",
    .fini = cpu_fini,
    .supports = ref_supports,
    .run = ref_run,
};

/*
 * dispatch.c: the one entry point for kernel calls.
 *
 * Every call is validated here once, so backends see only well-formed
 * arguments and report the same errors for the same mistakes. The call then
 * goes to the requested backend if it supports it, else to the optimised CPU
 * backend, else to the reference backend, which serves every valid call.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "kernels/backend_impl.h"

const char *sl_op_name(enum sl_op op)
{
    switch (op) {
    case SL_OP_GROUP_COUNT: return "group_count";
    case SL_OP_GROUP_MOMENTS: return "group_moments";
    case SL_OP_HISTOGRAM: return "histogram";
    case SL_OP_GRAM: return "gram";
    case SL_OP_IRLS_STEP: return "irls_step";
    case SL_OP_SORT_F64: return "sort_f64";
    case SL_OP_COUNT: break;
    }
    return "unknown";
}

/* Checks that `count` elements of `elem` bytes can be addressed. */
static sl_status check_extent(const char *op, const char *what, int64_t count, size_t elem)
{
    sl_status st = SL_OK;
    size_t bytes;
    SL_CHECK(count >= 0 && (uint64_t)count <= SIZE_MAX &&
                 sl_size_mul((size_t)count, elem, &bytes) == 0 && bytes <= (size_t)PTRDIFF_MAX,
             SL_ERR_ARG, "%s: %s is too large", op, what);
cleanup:
    return st;
}

/* Rules shared by the grouped ops: n, the values array (when the op reads
 * one), ncells. */
static sl_status check_rows(const char *op, int64_t n, int has_values, int64_t ncells)
{
    sl_status st = SL_OK;
    SL_CHECK(n >= 0, SL_ERR_ARG, "%s: n = %lld is negative", op, (long long)n);
    SL_CHECK(n == 0 || has_values, SL_ERR_ARG, "%s: values is NULL for %lld rows", op,
             (long long)n);
    SL_CHECK(ncells >= 1 && ncells <= (int64_t)INT32_MAX + 1, SL_ERR_ARG,
             "%s: ncells = %lld is outside [1, 2^31]", op, (long long)ncells);
    SL_CALL(check_extent(op, "n", n, sizeof(double)));
cleanup:
    return st;
}

/* X: n x p, p column pointers. */
static sl_status check_matrix(const char *op, int64_t n, int64_t p, const double *const *x)
{
    sl_status st = SL_OK;
    SL_CHECK(n >= 0, SL_ERR_ARG, "%s: n = %lld is negative", op, (long long)n);
    SL_CHECK(p >= 0, SL_ERR_ARG, "%s: p = %lld is negative", op, (long long)p);
    SL_CALL(check_extent(op, "n", n, sizeof(double)));
    SL_CHECK(p <= INT64_MAX / (p > 0 ? p : 1), SL_ERR_ARG, "%s: p * p overflows", op);
    SL_CALL(check_extent(op, "p * p", p * p, sizeof(double)));
    SL_CHECK(p == 0 || x, SL_ERR_ARG, "%s: x is NULL for %lld columns", op, (long long)p);
    for (int64_t j = 0; n > 0 && j < p; j++)
        SL_CHECK(x[j], SL_ERR_ARG, "%s: column %lld of x is NULL", op, (long long)j);
cleanup:
    return st;
}

static sl_status validate_histogram(const struct sl_histogram_args *a)
{
    sl_status st = SL_OK;
    const char *op = "histogram";
    SL_CALL(check_rows(op, a->n, a->values != NULL, a->ncells));
    SL_CHECK(a->edges && a->nedges >= 2, SL_ERR_ARG, "%s: at least two edges are needed", op);
    for (int64_t i = 0; i < a->nedges; i++) {
        SL_CHECK(isfinite(a->edges[i]), SL_ERR_ARG, "%s: edge %lld is not finite", op,
                 (long long)i);
        SL_CHECK(i == 0 || a->edges[i] > a->edges[i - 1], SL_ERR_ARG,
                 "%s: edges must be strictly increasing (edge %lld is not above edge %lld)", op,
                 (long long)i, (long long)(i - 1));
    }
    SL_CHECK(a->ncells <= INT64_MAX / (a->nedges - 1), SL_ERR_ARG, "%s: ncells * nbins overflows",
             op);
    SL_CALL(check_extent(op, "ncells * nbins", a->ncells * (a->nedges - 1), sizeof(int64_t)));
    SL_CHECK(a->counts, SL_ERR_ARG, "%s: counts is NULL", op);
cleanup:
    return st;
}

sl_status sl_kernel_validate(enum sl_op op, const void *args)
{
    sl_status st = SL_OK;
    SL_CHECK(args, SL_ERR_ARG, "kernel %s: args is NULL", sl_op_name(op));
    switch (op) {
    case SL_OP_GROUP_COUNT: {
        const struct sl_group_count_args *a = args;
        SL_CALL(check_rows("group_count", a->n, 1, a->ncells));
        SL_CHECK(a->counts, SL_ERR_ARG, "group_count: counts is NULL");
        break;
    }
    case SL_OP_GROUP_MOMENTS: {
        const struct sl_group_moments_args *a = args;
        SL_CALL(check_rows("group_moments", a->n, a->values != NULL, a->ncells));
        SL_CHECK(a->out, SL_ERR_ARG, "group_moments: out is NULL");
        break;
    }
    case SL_OP_HISTOGRAM:
        SL_CALL(validate_histogram(args));
        break;
    case SL_OP_GRAM: {
        const struct sl_gram_args *a = args;
        SL_CALL(check_matrix("gram", a->n, a->p, a->x));
        SL_CHECK(a->p == 0 || a->g, SL_ERR_ARG, "gram: g is NULL");
        break;
    }
    case SL_OP_IRLS_STEP: {
        const struct sl_irls_step_args *a = args;
        SL_CALL(check_matrix("irls_step", a->n, a->p, a->x));
        SL_CHECK(a->p >= 1, SL_ERR_ARG, "irls_step: p must be at least 1");
        SL_CHECK(a->n == 0 || a->y, SL_ERR_ARG, "irls_step: y is NULL");
        SL_CHECK(a->beta && a->xtwx && a->xtwz && a->sums, SL_ERR_ARG,
                 "irls_step: beta, xtwx, xtwz and sums are required");
        SL_CHECK(a->family == SL_GLM_GAUSSIAN_IDENTITY || a->family == SL_GLM_BINOMIAL_LOGIT,
                 SL_ERR_ARG, "irls_step: unknown family %d", (int)a->family);
        for (int64_t j = 0; j < a->p; j++)
            SL_CHECK(isfinite(a->beta[j]), SL_ERR_ARG, "irls_step: beta[%lld] is not finite",
                     (long long)j);
        break;
    }
    case SL_OP_SORT_F64: {
        const struct sl_sort_f64_args *a = args;
        SL_CALL(check_rows("sort_f64", a->n, a->values != NULL, a->ncells));
        SL_CHECK(a->n == 0 || a->sorted, SL_ERR_ARG, "sort_f64: sorted is NULL");
        SL_CHECK(a->cell_start, SL_ERR_ARG, "sort_f64: cell_start is NULL");
        break;
    }
    default:
        SL_FAIL(SL_ERR_ARG, "unknown kernel op %d", (int)op);
    }
cleanup:
    return st;
}

sl_status sl_kernel_run(struct sl_backend *b, enum sl_op op, void *args)
{
    sl_status st = SL_OK;
    struct sl_backend *chain[3];
    int nchain = 0;

    SL_CHECK(b && b->ready, SL_ERR_ARG, "kernel %s: no backend (use sl_backend_get)",
             sl_op_name(op));
    SL_CALL(sl_kernel_validate(op, args));
    chain[nchain++] = b;
    if (b != sl_backend_cpu())
        chain[nchain++] = sl_backend_cpu();
    if (b != sl_backend_cpu_ref())
        chain[nchain++] = sl_backend_cpu_ref();
    st = SL_ERR_UNSUPPORTED;
    for (int i = 0; i < nchain && st == SL_ERR_UNSUPPORTED; i++) {
        struct sl_backend *t = chain[i];
        if (!t->ops->supports(t, op, args))
            continue;
        if (t != b)
            sl_log_debug("kernel %s: backend %s declined the call, running on %s",
                         sl_op_name(op), sl_backend_name(b), sl_backend_name(t));
        sl_error_clear();
        st = t->ops->run(t, op, args);
    }
    if (st != SL_OK)
        sl_error_trace(__FILE__, __LINE__, __func__);
cleanup:
    return st;
}

/*
 * glm_fit.c: the IRLS driver (see glm_fit.h).
 *
 * Passes over the data are kernel calls per block: SL_OP_GRAM for R's start
 * (working weights and responses from mustart, written by this file into
 * the block's scratch column) and SL_OP_IRLS_STEP for every later iteration.
 * Everything between passes works on p x p folds that are identical on every
 * process, so every decision (convergence, step-halving, aliasing) is taken
 * identically everywhere without further communication.
 */
#include "jobs/glm_fit.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "jobs/glm_linalg.h"

#define SL_PI 3.141592653589793

/* Scalar slots after X'WX and X'Wz in an IRLS pass partial. */
enum { S_NUSED, S_NBOUND, S_DEV, S_M2LL, S_SLOGW, S_SW, S_SWY, S_BAD, NS };

/* ---- R's logit link and binomial deviance (R's family.c) ---- */

static double logit_linkinv(double eta)
{
    double t = eta < -30 ? DBL_EPSILON : (eta > 30 ? 1 / DBL_EPSILON : exp(eta));
    return t / (1 + t);
}

static double logit_mu_eta(double eta)
{
    double opexp = 1 + exp(eta);
    return (eta > 30 || eta < -30) ? DBL_EPSILON : exp(eta) / (opexp * opexp);
}

static double y_log_y(double y, double mu)
{
    return y != 0 ? y * log(y / mu) : 0;
}

static double binomial_unit_dev(double y, double mu)
{
    return 2 * (y_log_y(y, mu) + y_log_y(1 - y, 1 - mu));
}

static double linkfun(enum sl_glm_family fam, double mu)
{
    return fam == SL_GLM_BINOMIAL_LOGIT ? log(mu / (1 - mu)) : mu;
}

/* ---- passes ---- */

struct driver {
    const struct sl_glm_problem *pr;
    double *local;              /* nblocks * max width */
    struct sl_secbuf *wbuf;     /* working weights of the start pass (secret) */
    const double **cols;        /* nblocks * (p + 1): a block's design columns, then its
                                   scratch column */
};

/* Block b's columns: the p design columns, then the scratch column. */
static const double *const *block_cols(const struct driver *d, int64_t b)
{
    return d->cols + b * (d->pr->p + 1);
}

static sl_status gather_fold(const struct driver *d, int64_t width, double *tot)
{
    sl_status st = SL_OK;
    const struct sl_glm_problem *pr = d->pr;
    double *all = NULL;
    int64_t nall = 0;

    SL_CALL(pr->gather(pr->gather_ctx, d->local, pr->nblocks, width, &all, &nall));
    for (int64_t k = 0; k < width; k++)
        tot[k] = 0;
    for (int64_t b = 0; b < nall; b++)
        for (int64_t k = 0; k < width; k++)
            tot[k] += all[b * width + k];
cleanup:
    sl_free(all);
    return st;
}

/* R's start: working weights and responses at mustart, X'WX and X'Wz of the
 * augmented Gram [X z], and the deviance at mustart. tot: (p+1)^2 + 1. */
static sl_status pass_start(const struct driver *d, double *tot)
{
    sl_status st = SL_OK;
    const struct sl_glm_problem *pr = d->pr;
    int64_t p = pr->p, q = p + 1, width = q * q + 1;
    double *w = d->wbuf->data;

    memset(d->local, 0, (size_t)(pr->nblocks * width) * sizeof *d->local);
    for (int64_t b = 0; b < pr->nblocks; b++) {
        const struct sl_glm_block *bl = &pr->blocks[b];
        double *z = bl->z, dev = 0;
        double *slot = d->local + b * width;
        struct sl_gram_args g;
        for (int64_t i = 0; i < bl->n; i++) {
            double a = bl->prior_w ? bl->prior_w[i] : 1.0;
            double off = bl->offset ? bl->offset[i] : 0.0, y = bl->y[i];
            if ((bl->mask && !bl->mask[i]) || !(a > 0)) {
                z[i] = 0;
                w[i] = 0;
                continue;
            }
            if (pr->family == SL_GLM_BINOMIAL_LOGIT) {
                double mustart = (a * y + 0.5) / (a + 1);
                double eta = log(mustart / (1 - mustart));
                double mu = logit_linkinv(eta), me = logit_mu_eta(eta);
                z[i] = eta - off + (y - mu) / me;
                w[i] = a * me * me / (mu * (1 - mu));
                dev += a * binomial_unit_dev(y, mu);
            } else {
                z[i] = y - off;
                w[i] = a;
            }
        }
        g = (struct sl_gram_args){.n = bl->n, .p = q, .x = block_cols(d, b), .w = w,
                                  .mask = bl->mask, .g = slot};
        SL_CALL(sl_kernel_run(pr->backend, SL_OP_GRAM, &g));
        slot[q * q] = dev;
    }
    SL_CALL(gather_fold(d, width, tot));
cleanup:
    sl_wipe(d->wbuf->data, d->wbuf->size);
    return st;
}

/* One IRLS pass at beta over p columns starting at column c0 of every block.
 * tot: p*p + p + NS. A block whose linear predictor is not finite is marked
 * in S_BAD instead of failing, so that every process sees the same fold and
 * takes the same step-halving decision. */
static sl_status pass_irls(const struct driver *d, int64_t c0, int64_t p, const double *beta,
                           double *tot)
{
    sl_status st = SL_OK;
    const struct sl_glm_problem *pr = d->pr;
    int64_t width = p * p + p + NS;

    memset(d->local, 0, (size_t)(pr->nblocks * width) * sizeof *d->local);
    for (int64_t b = 0; b < pr->nblocks; b++) {
        const struct sl_glm_block *bl = &pr->blocks[b];
        double *slot = d->local + b * width;
        struct sl_irls_sums s;
        struct sl_irls_step_args a;
        sl_status rc;
        memset(&s, 0, sizeof s);
        a = (struct sl_irls_step_args){.n = bl->n, .p = p, .x = block_cols(d, b) + c0,
                                       .y = bl->y, .prior_w = bl->prior_w,
                                       .offset = bl->offset, .mask = bl->mask, .beta = beta,
                                       .family = pr->family, .xtwx = slot, .xtwz = slot + p * p,
                                       .sums = &s};
        rc = sl_kernel_run(pr->backend, SL_OP_IRLS_STEP, &a);
        if (rc == SL_ERR_NUMERIC) {
            sl_error_clear();
            slot[p * p + p + S_BAD] = 1;
            continue;
        }
        SL_CALL(rc);
        slot[p * p + p + S_NUSED] = (double)s.n_used;
        slot[p * p + p + S_NBOUND] = (double)s.n_boundary;
        slot[p * p + p + S_DEV] = s.deviance;
        slot[p * p + p + S_M2LL] = s.minus2_loglik;
        slot[p * p + p + S_SLOGW] = s.sum_log_w;
        slot[p * p + p + S_SW] = s.sum_w;
        slot[p * p + p + S_SWY] = s.sum_wy;
    }
    SL_CALL(gather_fold(d, width, tot));
cleanup:
    return st;
}

static int pass_bad(const double *tot, int64_t p)
{
    const double *s = tot + p * p + p;
    return s[S_BAD] > 0 || !isfinite(s[S_DEV]);
}

/* ---- the iteration ---- */

struct irls_state {
    int64_t p;
    double *beta, *beta_old;
    double *step;      /* beta minus the previous accepted beta */
    double *A, *b;     /* system of the next solve */
    double *A_used;    /* system behind beta */
    double *tot;       /* pass at beta */
    uint8_t *aliased;
    int64_t rank;
    int iterations, halvings;
    bool converged, halving_failed, has_old;
};

static void irls_state_free(struct irls_state *s)
{
    sl_free(s->beta);
    sl_free(s->beta_old);
    sl_free(s->step);
    sl_free(s->A);
    sl_free(s->b);
    sl_free(s->A_used);
    sl_free(s->tot);
    sl_free(s->aliased);
    memset(s, 0, sizeof *s);
}

static sl_status irls_state_init(struct irls_state *s, int64_t p)
{
    sl_status st = SL_OK;
    size_t pp = (size_t)(p * p), width = (size_t)(p * p + p + NS);
    memset(s, 0, sizeof *s);
    s->p = p;
    s->beta = sl_calloc((size_t)p, sizeof *s->beta);
    s->beta_old = sl_calloc((size_t)p, sizeof *s->beta_old);
    s->step = sl_calloc((size_t)p, sizeof *s->step);
    s->A = sl_calloc(pp, sizeof *s->A);
    s->b = sl_calloc((size_t)p, sizeof *s->b);
    s->A_used = sl_calloc(pp, sizeof *s->A_used);
    s->tot = sl_calloc(width, sizeof *s->tot);
    s->aliased = sl_calloc((size_t)p, sizeof *s->aliased);
    SL_CHECK(s->beta && s->beta_old && s->step && s->A && s->b && s->A_used && s->tot && s->aliased,
             SL_ERR_NOMEM, "out of memory");
cleanup:
    return st;
}

/* Relative deviance change as R's glm.fit measures it. */
static double rel_change(double dev, double devold)
{
    return fabs(dev - devold) / (fabs(dev) + 0.1);
}

/* IRLS on p columns from column c0. With beta0 == NULL it starts as R does
 * (pass_start; then c0 must be 0 and p the problem's p), else from beta0.
 * null_model is passed to the progress callback. */
static sl_status irls(const struct driver *d, int64_t c0, int64_t p, const double *beta0,
                      bool null_model, struct irls_state *s)
{
    sl_status st = SL_OK;
    const struct sl_glm_problem *pr = d->pr;
    double *start = NULL, devold;
    const double eps = pr->epsilon;

    if (!beta0) {
        int64_t q = p + 1;
        start = sl_malloc((size_t)(q * q + 1) * sizeof *start);
        SL_CHECK(start, SL_ERR_NOMEM, "out of memory");
        SL_CALL(pass_start(d, start));
        for (int64_t j = 0; j < p; j++) {
            for (int64_t i = 0; i < p; i++)
                s->A[i + j * p] = start[i + j * q];
            s->b[j] = start[j + p * q];
        }
        devold = start[q * q];
        s->has_old = false;
    } else {
        memcpy(s->beta_old, beta0, (size_t)p * sizeof *beta0);
        SL_CALL(pass_irls(d, c0, p, beta0, s->tot));
        SL_CHECK(!pass_bad(s->tot, p), SL_ERR_NUMERIC,
                 "the deviance is not finite at the starting values");
        memcpy(s->A, s->tot, (size_t)(p * p) * sizeof *s->A);
        memcpy(s->b, s->tot + p * p, (size_t)p * sizeof *s->b);
        devold = s->tot[p * p + p + S_DEV];
        s->has_old = true;
    }

    for (int iter = 1; iter <= pr->maxit; iter++) {
        double dev;
        int bad, rises, halved;
        s->iterations = iter;
        {
            struct sl_glm_chol ch;
            SL_CALL(sl_glm_chol_factor(p, s->A, SL_GLM_ALIAS_TOL, s->aliased, &ch));
            sl_glm_chol_solve(&ch, s->b, s->beta);
            s->rank = ch.rank;
            sl_glm_chol_free(&ch);
        }
        for (int64_t j = 0; j < p; j++)
            SL_CHECK(isfinite(s->beta[j]), SL_ERR_NUMERIC,
                     "non-finite coefficients at iteration %d", iter);
        memcpy(s->A_used, s->A, (size_t)(p * p) * sizeof *s->A);
        SL_CALL(pass_irls(d, c0, p, s->beta, s->tot));
        bad = pass_bad(s->tot, p);
        dev = s->tot[p * p + p + S_DEV];
        rises = !bad && s->has_old && (dev - devold) / (fabs(dev) + 0.1) >= eps;
        halved = bad || rises;
        if (halved) {
            SL_CHECK(s->has_old, SL_ERR_NUMERIC,
                     "no valid set of coefficients: the deviance is not finite after the "
                     "first iteration");
            for (int h = 1;; h++) {
                if (h > pr->maxit) {
                    SL_CHECK(!bad, SL_ERR_NUMERIC,
                             "step-halving could not make the deviance finite at iteration %d",
                             iter);
                    s->halving_failed = true;
                    break;
                }
                for (int64_t j = 0; j < p; j++)
                    s->beta[j] = (s->beta[j] + s->beta_old[j]) / 2;
                s->halvings++;
                SL_CALL(pass_irls(d, c0, p, s->beta, s->tot));
                bad = pass_bad(s->tot, p);
                dev = s->tot[p * p + p + S_DEV];
                rises = !bad && (dev - devold) / (fabs(dev) + 0.1) >= eps;
                if (!bad && !rises)
                    break;
            }
            if (s->halving_failed)
                break;
        }
        for (int64_t j = 0; j < p; j++)
            s->step[j] = s->has_old ? s->beta[j] - s->beta_old[j] : 0;
        if (pr->progress)
            pr->progress(pr->progress_ctx, null_model, iter, dev);
        /* A halved step moves little by construction: the change it makes
         * says nothing about convergence, so only a full step may end the
         * fit (else a fit stalled by halving would pass as converged). */
        if (!halved && rel_change(dev, devold) < eps) {
            s->converged = true;
            break;
        }
        devold = dev;
        memcpy(s->beta_old, s->beta, (size_t)p * sizeof *s->beta);
        s->has_old = true;
        memcpy(s->A, s->tot, (size_t)(p * p) * sizeof *s->A);
        memcpy(s->b, s->tot + p * p, (size_t)p * sizeof *s->b);
    }
cleanup:
    sl_free(start);
    return st;
}

/* ---- the fit ---- */

void sl_glm_fit_destroy(struct sl_glm_fit **f)
{
    if (!f || !*f)
        return;
    sl_free((*f)->beta);
    sl_free((*f)->cov_unscaled);
    sl_free((*f)->aliased);
    sl_free((*f)->diverging);
    sl_free(*f);
    *f = NULL;
}

sl_status sl_glm_gather_self(void *ctx, const double *local, int64_t nlocal, int64_t width,
                             double **all, int64_t *nall)
{
    sl_status st = SL_OK;
    double *out = NULL;
    (void)ctx;
    *all = NULL;
    *nall = 0;
    out = sl_malloc((size_t)(nlocal * width + 1) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    memcpy(out, local, (size_t)(nlocal * width) * sizeof *out);
    *all = out;
    *nall = nlocal;
cleanup:
    return st;
}

/* Deviance of the model with the intercept alone (or nothing), as R's glm
 * computes null.deviance, into f->null_deviance, with the outcome of the
 * null model's IRLS fit where one is needed (intercept and offset). */
static sl_status null_deviance(const struct driver *d, const double *tot_fit,
                               struct sl_glm_fit *f)
{
    sl_status st = SL_OK;
    const struct sl_glm_problem *pr = d->pr;
    const double *s = tot_fit + pr->p * pr->p + pr->p;
    double sw = s[S_SW], swy = s[S_SWY], beta0, *tot = NULL;
    struct irls_state ns;

    memset(&ns, 0, sizeof ns);
    f->null_iterations = 0;
    f->null_converged = true;
    f->null_halving_failed = false;
    tot = sl_malloc((1 + 1 + NS) * sizeof *tot);
    SL_CHECK(tot, SL_ERR_NOMEM, "out of memory");
    if (!pr->intercept) {
        /* mu = linkinv(offset): a zero coefficient on the (zeroed) scratch column */
        double zero = 0;
        for (int64_t b = 0; b < pr->nblocks; b++) {
            const struct sl_glm_block *bl = &pr->blocks[b];
            memset(bl->z, 0, (size_t)bl->n * sizeof(double));
        }
        SL_CALL(pass_irls(d, pr->p, 1, &zero, tot));
        f->null_deviance = tot[1 + 1 + S_DEV];
        goto cleanup;
    }
    if (pr->family == SL_GLM_BINOMIAL_LOGIT && (swy <= 0 || swy >= sw)) {
        f->null_deviance = 0; /* every response equal: the null model fits exactly */
        goto cleanup;
    }
    beta0 = linkfun(pr->family, swy / sw);
    if (!pr->has_offset) {
        SL_CALL(pass_irls(d, 0, 1, &beta0, tot));
        f->null_deviance = tot[1 + 1 + S_DEV];
    } else {
        SL_CALL(irls_state_init(&ns, 1));
        st = irls(d, 0, 1, &beta0, true, &ns);
        if (st != SL_OK) {
            sl_error_prefix("the null model (intercept and offset)");
            goto cleanup;
        }
        f->null_deviance = ns.tot[1 + 1 + S_DEV];
        f->null_iterations = ns.iterations;
        f->null_converged = ns.converged;
        f->null_halving_failed = ns.halving_failed;
    }
cleanup:
    irls_state_free(&ns);
    sl_free(tot);
    return st;
}

sl_status sl_glm_fit_run(const struct sl_glm_problem *pr, struct sl_glm_fit **out)
{
    sl_status st = SL_OK;
    struct driver d = {pr, NULL, NULL, NULL};
    struct sl_glm_chol chol = {0, 0, NULL, NULL};
    struct irls_state s;
    struct sl_glm_fit *f = NULL;
    int64_t p = pr->p, maxn = 1, width;
    double *inv = NULL;
    const double *sums;

    *out = NULL;
    memset(&s, 0, sizeof s);
    SL_CHECK(p >= 1 && p <= 1 << 20, SL_ERR_ARG, "glm: %lld columns", (long long)p);
    SL_CHECK(pr->maxit >= 1 && pr->epsilon > 0, SL_ERR_ARG,
             "glm: maxit must be >= 1 and epsilon > 0");
    SL_CHECK(pr->family == SL_GLM_GAUSSIAN_IDENTITY || pr->family == SL_GLM_BINOMIAL_LOGIT,
             SL_ERR_ARG, "glm: unknown family");
    d.cols = sl_malloc((size_t)(pr->nblocks * (p + 1) + 1) * sizeof *d.cols);
    SL_CHECK(d.cols, SL_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < pr->nblocks; b++) {
        const struct sl_glm_block *bl = &pr->blocks[b];
        SL_CHECK(bl->n >= 0 && (bl->n == 0 || (bl->x && bl->z && bl->y)), SL_ERR_ARG,
                 "glm: block %lld has a bad size or no data", (long long)b);
        for (int64_t j = 0; j < p; j++)
            d.cols[b * (p + 1) + j] = bl->n > 0 ? bl->x[j] : NULL;
        d.cols[b * (p + 1) + p] = bl->z;
        if (bl->n > maxn)
            maxn = bl->n;
    }
    width = (p + 1) * (p + 1) + 1;
    if (p * p + p + NS > width)
        width = p * p + p + NS;
    d.local = sl_malloc((size_t)(width * pr->nblocks + 1) * sizeof *d.local);
    SL_CHECK(d.local, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create((size_t)maxn * sizeof(double), &d.wbuf));
    SL_CALL(irls_state_init(&s, p));
    SL_CALL(irls(&d, 0, p, NULL, false, &s));

    f = sl_calloc(1, sizeof *f);
    SL_CHECK(f, SL_ERR_NOMEM, "out of memory");
    f->beta = sl_malloc((size_t)p * sizeof *f->beta);
    f->cov_unscaled = sl_malloc((size_t)(p * p) * sizeof *f->cov_unscaled);
    f->aliased = sl_calloc((size_t)p, sizeof *f->aliased);
    f->diverging = sl_calloc((size_t)p, sizeof *f->diverging);
    inv = sl_malloc((size_t)(p * p) * sizeof *inv);
    SL_CHECK(f->beta && f->cov_unscaled && f->aliased && f->diverging && inv, SL_ERR_NOMEM,
             "out of memory");
    f->p = p;
    SL_CALL(sl_glm_chol_factor(p, s.A_used, SL_GLM_ALIAS_TOL, f->aliased, &chol));
    f->rank = chol.rank;
    SL_CALL(sl_glm_chol_inverse(&chol, inv));
    for (int64_t j = 0; j < p; j++) {
        f->beta[j] = f->aliased[j] ? NAN : s.beta[j];
        for (int64_t i = 0; i < p; i++)
            f->cov_unscaled[i + j * p] = f->aliased[i] || f->aliased[j] ? NAN : inv[i + j * p];
        if (!f->aliased[j])
            f->diverging[j] = fabs(s.step[j]) > 1e-3 * fabs(s.beta[j]);
    }
    sums = s.tot + p * p + p;
    f->deviance = sums[S_DEV];
    f->n_used = (int64_t)sums[S_NUSED];
    f->n_boundary = (int64_t)sums[S_NBOUND];
    f->df_residual = f->n_used - f->rank;
    f->df_null = f->n_used - (pr->intercept ? 1 : 0);
    f->iterations = s.iterations;
    f->converged = s.converged;
    f->halving_failed = s.halving_failed;
    f->halvings = s.halvings;
    if (pr->family == SL_GLM_BINOMIAL_LOGIT) {
        f->aic = sums[S_M2LL] + 2.0 * (double)f->rank;
        f->dispersion = 1;
    } else {
        double n = (double)f->n_used;
        f->aic = n * (log(2 * SL_PI * f->deviance / n) + 1) + 2 - sums[S_SLOGW] +
                 2.0 * (double)f->rank;
        f->dispersion = f->df_residual > 0 ? f->deviance / (double)f->df_residual : NAN;
    }
    SL_CALL(null_deviance(&d, s.tot, f));
    *out = f;
    f = NULL;
cleanup:
    sl_glm_chol_free(&chol);
    irls_state_free(&s);
    sl_secbuf_destroy(&d.wbuf);
    sl_free(d.local);
    sl_free(d.cols);
    sl_free(inv);
    sl_glm_fit_destroy(&f);
    return st;
}

/*
 * synth.c: sluice-synth, a deterministic generator of realistic synthetic
 * patient cohorts as CSV, for the demo, the tests and the benchmarks.
 *
 *   sluice-synth --rows N --out FILE.csv [--seed S] [--wide K] [--force]
 *
 * One row per patient: patient_id (P + 8 digits, a seeded permutation so ids
 * are unique but not in row order), age (0..100, children plus a skewed adult
 * distribution), sex (F/M), region (nine regions, one of them, "Islands", with
 * a share of 0.05% so finer cross-tabulations have small cells), diagnosis
 * (ICD-10 chapter codes with skewed frequencies), admission_date (2015..2024),
 * bmi (about 5% empty), systolic_bp (integer, about 4% empty), hba1c (higher
 * for E11 diabetics, NA when not measured), smoker (yes/no/former, about 5%
 * NA), outcome (0/1 from a logistic model in age, bmi, smoking, diabetes and
 * sex, so regressions recover known effects) and cost (log-normal,
 * non-negative, higher with the outcome). --wide K appends K standard normal
 * columns x1..xK for benchmarks.
 *
 * The same arguments always give the same bytes: the generator is
 * xoshiro256** seeded through splitmix64, and numbers are formatted with a
 * fixed number of decimals by integer arithmetic (fast and locale-free).
 * The output file is not overwritten unless --force is given, and is removed
 * if writing fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/status.h"

#define SYNTH_MAX_ROWS 1000000000LL
#define SYNTH_MAX_WIDE 10000
#define SYNTH_BUF (1 << 20)

/* ---- random numbers ---- */

struct rng {
    uint64_t s[4];
    int has_spare;
    double spare;
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
    r->has_spare = 0;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(struct rng *r) { return (double)(next_u64(r) >> 11) * 0x1.0p-53; }

/* Standard normal (Marsaglia polar method; pairs are cached). */
static double normal(struct rng *r)
{
    double u, v, s;
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    do {
        u = 2.0 * uniform(r) - 1.0;
        v = 2.0 * uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    s = sqrt(-2.0 * log(s) / s);
    r->spare = v * s;
    r->has_spare = 1;
    return u * s;
}

static double clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Index drawn from cumulative weights cum[0..n-1] (cum[n-1] is the total). */
static int pick(struct rng *r, const double *cum, int n)
{
    double u = uniform(r) * cum[n - 1];
    for (int i = 0; i < n - 1; i++)
        if (u < cum[i])
            return i;
    return n - 1;
}

/* ---- buffered output ---- */

struct out {
    int fd;
    char *buf;
    size_t used;
    const char *path;
};

static sl_status out_flush(struct out *o)
{
    sl_status st = SL_OK;
    size_t done = 0;
    while (done < o->used) {
        ssize_t n = write(o->fd, o->buf + done, o->used - done);
        if (n < 0 && errno == EINTR)
            continue;
        SL_CHECK(n > 0, SL_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
        done += (size_t)n;
    }
    o->used = 0;
cleanup:
    return st;
}

static void put_str(struct out *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o->buf + o->used, s, n);
    o->used += n;
}

static void put_char(struct out *o, char c) { o->buf[o->used++] = c; }

static void put_uint(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        o->buf[o->used++] = tmp[--n];
}

/* Writes x with exactly `dec` decimals (x is finite and below 1e15). */
static void put_fixed(struct out *o, double x, int dec)
{
    static const double p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    double scaled = nearbyint(fabs(x) * p10[dec]);
    uint64_t q = (uint64_t)scaled;
    uint64_t ip = q / (uint64_t)p10[dec], fp = q % (uint64_t)p10[dec];
    if (x < 0 && q != 0)
        put_char(o, '-');
    put_uint(o, ip, 1);
    if (dec > 0) {
        put_char(o, '.');
        put_uint(o, fp, dec);
    }
}

static void put_date(struct out *o, int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    put_uint(o, (uint64_t)y, 4);
    put_char(o, '-');
    put_uint(o, m, 2);
    put_char(o, '-');
    put_uint(o, d, 2);
}

/* ---- the cohort model ---- */

static const char *const regions[] = {"North", "South",   "East",      "West",   "Central",
                                      "Capital", "Coast", "Highlands", "Islands"};
static const double region_w[] = {0.17, 0.16, 0.14, 0.13, 0.12, 0.15, 0.08, 0.0495, 0.0005};

static const char *const diagnoses[] = {"I10", "E11", "J45", "I25", "J44", "E78", "F32",
                                        "M54", "N18", "I48", "K21", "E66", "C50", "I63",
                                        "C34", "G40", "C18", "N39"};
static const double diagnosis_w[] = {0.20, 0.14, 0.09, 0.08, 0.07, 0.07, 0.06, 0.06, 0.05,
                                     0.04, 0.04, 0.03, 0.03, 0.02, 0.015, 0.015, 0.01, 0.01};

#define NREG ((int)(sizeof regions / sizeof regions[0]))
#define NDIAG ((int)(sizeof diagnoses / sizeof diagnoses[0]))

struct model {
    double region_cum[NREG];
    double diag_cum[NDIAG];
    uint64_t id_mod, id_mul, id_add; /* id = (mul * row + add) mod id_mod */
    int id_width;
    int64_t day0, ndays;
};

static void model_init(struct model *m, struct rng *r, int64_t rows)
{
    double c = 0;
    for (int i = 0; i < NREG; i++)
        m->region_cum[i] = (c += region_w[i]);
    c = 0;
    for (int i = 0; i < NDIAG; i++)
        m->diag_cum[i] = (c += diagnosis_w[i]);
    m->id_width = rows <= 100000000LL ? 8 : 9;
    m->id_mod = m->id_width == 8 ? 100000000ull : 1000000000ull;
    m->id_mul = (next_u64(r) % m->id_mod) | 1;
    if (m->id_mul % 5 == 0)
        m->id_mul += 2;
    m->id_mul %= m->id_mod;
    m->id_add = next_u64(r) % m->id_mod;
    m->day0 = 16436; /* 2015-01-01 */
    m->ndays = 3653; /* to 2024-12-31 */
}

static void write_row(struct out *o, struct rng *r, const struct model *m, int64_t row, int wide)
{
    uint64_t id = (m->id_mul * (uint64_t)row + m->id_add) % m->id_mod;
    int child = uniform(r) < 0.12;
    double age = child ? floor(uniform(r) * 18.0)
                       : nearbyint(clamp(57.0 + 17.0 * normal(r), 18, 100));
    int male = uniform(r) >= 0.51;
    int region = pick(r, m->region_cum, NREG);
    int diag = pick(r, m->diag_cum, NDIAG);
    int diabetic = diag == 1;
    int64_t day = m->day0 + (int64_t)(uniform(r) * (double)m->ndays);
    double bmi = child ? clamp(17.5 + 0.2 * age + 3.0 * normal(r), 12, 45)
                       : clamp(26.0 + 0.04 * (age - 50) + 2.5 * diabetic + 4.6 * normal(r), 14,
                               65);
    double sbp = clamp(112.0 + 0.45 * (age > 30 ? age - 30 : 0) + 0.6 * (bmi - 26) +
                           14.0 * normal(r),
                       75, 230);
    double hba1c = diabetic ? clamp(7.6 + 1.2 * normal(r), 5, 15)
                            : clamp(5.4 + 0.45 * normal(r), 4, 9);
    double us = uniform(r);
    /* children: "no"; adults: 5% NA, 17% yes (2), 24% former (1), else no (0) */
    int smoker = child ? 0 : us < 0.05 ? -1 : us < 0.22 ? 2 : us < 0.46 ? 1 : 0;
    double eta = -5.6 + 0.045 * age + 0.07 * (bmi - 26) + 0.75 * (smoker == 2) +
                 0.35 * (smoker == 1) + 0.5 * diabetic + 0.3 * male;
    int outcome = uniform(r) < 1.0 / (1.0 + exp(-eta));
    double cost = exp(7.0 + 0.012 * age + 0.8 * outcome + 0.9 * normal(r));
    int bmi_missing = uniform(r) < 0.05;
    int sbp_missing = uniform(r) < 0.04;
    int hba1c_missing = uniform(r) < (diabetic ? 0.05 : 0.35);

    put_char(o, 'P');
    put_uint(o, id, m->id_width);
    put_char(o, ',');
    put_uint(o, (uint64_t)age, 1);
    put_str(o, male ? ",M," : ",F,");
    put_str(o, regions[region]);
    put_char(o, ',');
    put_str(o, diagnoses[diag]);
    put_char(o, ',');
    put_date(o, day);
    put_char(o, ',');
    if (!bmi_missing)
        put_fixed(o, bmi, 1);
    put_char(o, ',');
    if (!sbp_missing)
        put_uint(o, (uint64_t)nearbyint(sbp), 1);
    put_char(o, ',');
    if (hba1c_missing)
        put_str(o, "NA");
    else
        put_fixed(o, hba1c, 1);
    put_char(o, ',');
    put_str(o, smoker == -1 ? "NA" : smoker == 2 ? "yes" : smoker == 1 ? "former" : "no");
    put_str(o, outcome ? ",1," : ",0,");
    put_fixed(o, cost, 2);
    for (int k = 0; k < wide; k++) {
        put_char(o, ',');
        put_fixed(o, normal(r), 4);
    }
    put_char(o, '\n');
}

static sl_status generate(const char *path, int64_t rows, uint64_t seed, int wide, int force)
{
    sl_status st = SL_OK;
    struct out o = {-1, NULL, 0, path};
    struct rng r;
    struct model m;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int created = 0;

    o.buf = sl_malloc(SYNTH_BUF);
    SL_CHECK(o.buf, SL_ERR_NOMEM, "out of memory");
    o.fd = open(path, flags, 0600);
    if (o.fd < 0 && errno == EEXIST)
        SL_FAIL(SL_ERR_EXISTS, "%s already exists; refusing to overwrite it (use --force)", path);
    SL_CHECK(o.fd >= 0, SL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    created = 1;
    rng_seed(&r, seed);
    model_init(&m, &r, rows);
    put_str(&o, "patient_id,age,sex,region,diagnosis,admission_date,bmi,systolic_bp,hba1c,"
                "smoker,outcome,cost");
    for (int k = 1; k <= wide; k++) {
        put_str(&o, ",x");
        put_uint(&o, (uint64_t)k, 1);
    }
    put_char(&o, '\n');
    for (int64_t i = 0; i < rows; i++) {
        /* a row is at most ~140 bytes plus 12 per wide column */
        if (o.used + 256 + 16 * (size_t)wide > SYNTH_BUF)
            SL_CALL(out_flush(&o));
        write_row(&o, &r, &m, i, wide);
    }
    SL_CALL(out_flush(&o));
    SL_CHECK(fsync(o.fd) == 0 || errno == EINVAL, SL_ERR_IO, "%s: sync failed: %s", path,
             strerror(errno));
    SL_CHECK(close(o.fd) == 0, SL_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    o.fd = -1;
cleanup:
    if (o.fd >= 0)
        close(o.fd);
    if (st != SL_OK && created)
        unlink(path);
    sl_free(o.buf);
    return st;
}

static void usage(FILE *f)
{
    fputs("usage: sluice-synth --rows N --out FILE.csv [--seed S] [--wide K] [--force]\n"
          "  Writes N synthetic patients as CSV (deterministic for a given seed).\n"
          "  --wide K  adds K standard normal columns x1..xK (benchmarks)\n"
          "  --force   overwrite FILE.csv if it exists\n",
          f);
}

/* Parses a non-negative decimal integer up to max; -1 on error. */
static long long parse_count(const char *s, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return -1;
    return v;
}

int main(int argc, char **argv)
{
    long long rows = -1, wide = 0;
    unsigned long long seed = 1;
    const char *out = NULL;
    int force = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--rows") == 0 && v) {
            rows = parse_count(v, SYNTH_MAX_ROWS);
            if (rows < 1) {
                fprintf(stderr, "sluice-synth: --rows expects an integer from 1 to %lld\n",
                        SYNTH_MAX_ROWS);
                return 2;
            }
            i++;
        } else if (strcmp(a, "--wide") == 0 && v) {
            wide = parse_count(v, SYNTH_MAX_WIDE);
            if (wide < 0) {
                fprintf(stderr, "sluice-synth: --wide expects an integer from 0 to %d\n",
                        SYNTH_MAX_WIDE);
                return 2;
            }
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "sluice-synth: --seed expects a non-negative integer\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--out") == 0 && v) {
            out = v;
            i++;
        } else {
            fprintf(stderr, "sluice-synth: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (rows < 1 || !out) {
        fprintf(stderr, "sluice-synth: --rows and --out are required\n");
        usage(stderr);
        return 2;
    }
    sl_status st = generate(out, rows, (uint64_t)seed, (int)wide, force);
    if (st != SL_OK) {
        fprintf(stderr, "sluice-synth: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}

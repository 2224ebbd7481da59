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
#include <sys/stat.h>
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

/* ---- OMOP CDM tables ---- */

/* One table being written: its file and buffer. */
struct table_out {
    struct out o;
    char path[4096];
    int created;
};

static sl_status table_open(struct table_out *t, const char *dir, const char *name,
                            const char *header, int force)
{
    sl_status st = SL_OK;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);

    snprintf(t->path, sizeof t->path, "%s/%s.csv", dir, name);
    t->o = (struct out){-1, NULL, 0, t->path};
    t->o.buf = sl_malloc(SYNTH_BUF);
    SL_CHECK(t->o.buf, SL_ERR_NOMEM, "out of memory");
    t->o.fd = open(t->path, flags, 0600);
    if (t->o.fd < 0 && errno == EEXIST)
        SL_FAIL(SL_ERR_EXISTS, "%s already exists; refusing to overwrite it (use --force)",
                t->path);
    SL_CHECK(t->o.fd >= 0, SL_ERR_IO, "%s: cannot create: %s", t->path, strerror(errno));
    t->created = 1;
    put_str(&t->o, header);
cleanup:
    return st;
}

/* Flushes when fewer than 512 bytes are left (a row is shorter). */
static sl_status table_room(struct table_out *t)
{
    return t->o.used + 512 > SYNTH_BUF ? out_flush(&t->o) : SL_OK;
}

static sl_status table_close(struct table_out *t, int ok)
{
    sl_status st = SL_OK;
    if (ok && t->o.fd >= 0) {
        SL_CALL(out_flush(&t->o));
        SL_CHECK(close(t->o.fd) == 0, SL_ERR_IO, "%s: close failed: %s", t->path,
                 strerror(errno));
        t->o.fd = -1;
    }
cleanup:
    if (t->o.fd >= 0)
        close(t->o.fd);
    t->o.fd = -1;
    if ((!ok || st != SL_OK) && t->created)
        unlink(t->path);
    sl_free(t->o.buf);
    t->o.buf = NULL;
    return st;
}

enum { T_PERSON, T_OBS, T_MEAS, T_COND, T_DRUG, T_DEATH, T_COHORT, NTABLES };

/* OMOP standard concepts used by the generator. */
enum {
    C_MALE = 8507, C_FEMALE = 8532, C_WHITE = 8527, C_BLACK = 8516, C_ASIAN = 8515,
    C_HBA1C = 3004410, C_BMI = 3038553, C_SBP = 3004249,
    C_PERCENT = 8554, C_MMOL_MOL = 9579, C_KG_M2 = 9531, C_MMHG = 8876,
    C_T2DM = 201826, C_HYPERTENSION = 320128, C_ASTHMA = 317009, C_METFORMIN = 1503297,
    C_EHR = 32817
};

static void put_i64(struct out *o, int64_t v)
{
    if (v < 0) {
        put_char(o, '-');
        v = -v;
    }
    put_uint(o, (uint64_t)v, 1);
}

/* The start of an event row: id, person, concept, date. */
static void put_event_head(struct out *o, int64_t *id, int64_t person, int concept, int64_t day)
{
    put_i64(o, ++*id);
    put_char(o, ',');
    put_i64(o, person);
    put_char(o, ',');
    put_i64(o, concept);
    put_char(o, ',');
    put_date(o, day);
}

/* A measurement row: id, person, concept, date, value (NaN: empty), unit. */
static void put_measurement(struct out *o, int64_t *id, int64_t person, int concept,
                            int64_t day, double value, int dec, int unit)
{
    put_event_head(o, id, person, concept, day);
    put_char(o, ',');
    if (!isnan(value))
        put_fixed(o, value, dec);
    put_char(o, ',');
    put_i64(o, unit);
    put_str(o, ",32817\n");
}

/* An event row of condition_occurrence or drug_exposure. */
static void put_event(struct out *o, int64_t *id, int64_t person, int concept, int64_t day)
{
    put_event_head(o, id, person, concept, day);
    put_str(o, ",32817\n");
}

/* One person and their events: diabetics have higher HbA1c and BMI, get
 * metformin and die more often; about 1 in 50 persons has no observation
 * period; 1 in 10 HbA1c results is reported in mmol/mol. */
static sl_status omop_person(struct table_out *t, struct rng *r, int64_t person, int64_t *ids)
{
    sl_status st = SL_OK;
    int male = uniform(r) >= 0.51;
    double ur = uniform(r);
    int race = ur < 0.7 ? C_WHITE : ur < 0.85 ? C_BLACK : ur < 0.95 ? C_ASIAN : 0;
    int64_t yob = (int64_t)nearbyint(clamp(1960.0 + 16.0 * normal(r), 1920, 2005));
    int64_t start = 14610 + (int64_t)(uniform(r) * 2922.0); /* 2010..2017 */
    int64_t end = start + 365 + (int64_t)(uniform(r) * 2500.0);
    int diabetic = uniform(r) < 0.12 + 0.004 * (double)(2005 - yob > 40 ? 2005 - yob - 40 : 0);
    int hypertensive = uniform(r) < 0.25;
    int asthmatic = uniform(r) < 0.08;
    int observed = uniform(r) >= 0.02;

    SL_CALL(table_room(&t[T_PERSON]));
    put_i64(&t[T_PERSON].o, person);
    put_char(&t[T_PERSON].o, ',');
    put_i64(&t[T_PERSON].o, male ? C_MALE : C_FEMALE);
    put_char(&t[T_PERSON].o, ',');
    put_i64(&t[T_PERSON].o, yob);
    put_char(&t[T_PERSON].o, ',');
    put_i64(&t[T_PERSON].o, race);
    put_str(&t[T_PERSON].o, ",0\n");
    if (!observed)
        goto cleanup;
    SL_CALL(table_room(&t[T_OBS]));
    put_i64(&t[T_OBS].o, ++ids[T_OBS]);
    put_char(&t[T_OBS].o, ',');
    put_i64(&t[T_OBS].o, person);
    put_char(&t[T_OBS].o, ',');
    put_date(&t[T_OBS].o, start);
    put_char(&t[T_OBS].o, ',');
    put_date(&t[T_OBS].o, end);
    put_str(&t[T_OBS].o, ",32817\n");

    int nm = (int)(uniform(r) * (diabetic ? 7.0 : 4.0));
    for (int k = 0; k < nm; k++) {
        int64_t day = start - 700 + (int64_t)(uniform(r) * (double)(end - start + 700));
        double hba1c = diabetic ? clamp(7.6 + 1.2 * normal(r), 5, 15)
                                : clamp(5.4 + 0.45 * normal(r), 4, 9);
        int mmol = uniform(r) < 0.1;
        double value = uniform(r) < 0.05 ? NAN : mmol ? 10.929 * hba1c - 23.5 : hba1c;
        SL_CALL(table_room(&t[T_MEAS]));
        put_measurement(&t[T_MEAS].o, &ids[T_MEAS], person, C_HBA1C, day, value, 1,
                        mmol ? C_MMOL_MOL : C_PERCENT);
        SL_CALL(table_room(&t[T_MEAS]));
        put_measurement(&t[T_MEAS].o, &ids[T_MEAS], person, C_BMI, day,
                        clamp(26.0 + 2.5 * diabetic + 4.6 * normal(r), 14, 65), 1, C_KG_M2);
        SL_CALL(table_room(&t[T_MEAS]));
        put_measurement(&t[T_MEAS].o, &ids[T_MEAS], person, C_SBP, day,
                        nearbyint(clamp(125.0 + 12.0 * hypertensive + 14.0 * normal(r), 75, 230)),
                        0, C_MMHG);
    }
    const int conds[3] = {C_T2DM, C_HYPERTENSION, C_ASTHMA};
    const int has[3] = {diabetic, hypertensive, asthmatic};
    for (int c = 0; c < 3; c++) {
        if (!has[c])
            continue;
        int64_t onset = start - 2000 + (int64_t)(uniform(r) * (double)(end - start + 2000));
        int repeats = 1 + (int)(uniform(r) * 3.0);
        for (int k = 0; k < repeats; k++) {
            SL_CALL(table_room(&t[T_COND]));
            put_event(&t[T_COND].o, &ids[T_COND], person, conds[c], onset + 180 * k);
        }
        /* cohort definitions 1 and 2: diabetes and hypertension from the
         * first diagnosis to the end of observation */
        if (c < 2 && onset <= end) {
            SL_CALL(table_room(&t[T_COHORT]));
            put_i64(&t[T_COHORT].o, c + 1);
            put_char(&t[T_COHORT].o, ',');
            put_i64(&t[T_COHORT].o, person);
            put_char(&t[T_COHORT].o, ',');
            put_date(&t[T_COHORT].o, onset);
            put_char(&t[T_COHORT].o, ',');
            put_date(&t[T_COHORT].o, end);
            put_char(&t[T_COHORT].o, '\n');
        }
        if (c == 0 && uniform(r) < 0.8) {
            SL_CALL(table_room(&t[T_DRUG]));
            put_event(&t[T_DRUG].o, &ids[T_DRUG], person, C_METFORMIN, onset + 30);
        }
    }
    if (uniform(r) < 0.03 + 0.05 * diabetic) {
        SL_CALL(table_room(&t[T_DEATH]));
        put_i64(&t[T_DEATH].o, person);
        put_char(&t[T_DEATH].o, ',');
        put_date(&t[T_DEATH].o, start + (int64_t)(uniform(r) * (double)(end - start)));
        put_str(&t[T_DEATH].o, ",32817,\n");
    }
cleanup:
    return st;
}

static sl_status generate_omop(const char *dir, int64_t persons, uint64_t seed, int force)
{
    static const char *const names[NTABLES] = {"person",         "observation_period",
                                               "measurement",    "condition_occurrence",
                                               "drug_exposure",  "death",
                                               "cohort"};
    static const char *const headers[NTABLES] = {
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n",
        "observation_period_id,person_id,observation_period_start_date,"
        "observation_period_end_date,period_type_concept_id\n",
        "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
        "unit_concept_id,measurement_type_concept_id\n",
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,"
        "condition_type_concept_id\n",
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
        "drug_type_concept_id\n",
        "person_id,death_date,death_type_concept_id,cause_concept_id\n",
        "cohort_definition_id,subject_id,cohort_start_date,cohort_end_date\n"};
    sl_status st = SL_OK;
    struct table_out t[NTABLES];
    int64_t ids[NTABLES] = {0};
    struct rng r;
    struct stat sb;

    memset(t, 0, sizeof t);
    for (int k = 0; k < NTABLES; k++)
        t[k].o.fd = -1;
    SL_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), SL_ERR_IO, "%s: not a folder", dir);
    for (int k = 0; k < NTABLES; k++)
        SL_CALL(table_open(&t[k], dir, names[k], headers[k], force));
    rng_seed(&r, seed);
    /* person ids: a seeded stride through 1..10*persons, unique, not in order */
    uint64_t span = (uint64_t)persons * 10, mul = (next_u64(&r) % span) | 1;
    while (mul % 2 == 0 || mul % 5 == 0)
        mul = (mul + 2) % span;
    for (int64_t i = 0; i < persons; i++)
        SL_CALL(omop_person(t, &r, (int64_t)((mul * (uint64_t)i) % span) + 1, ids));
cleanup:
    for (int k = 0; k < NTABLES; k++) {
        sl_status c = table_close(&t[k], st == SL_OK);
        if (st == SL_OK)
            st = c;
    }
    return st;
}

static void usage(FILE *f)
{
    fputs("usage: sluice-synth --rows N --out FILE.csv [--seed S] [--wide K] [--force]\n"
          "       sluice-synth --rows N --omop DIR [--seed S] [--force]\n"
          "  Writes N synthetic patients as CSV (deterministic for a given seed).\n"
          "  --omop DIR  writes them as OMOP CDM v5.4 tables instead: person,\n"
          "              observation_period, measurement, condition_occurrence,\n"
          "              drug_exposure, death and cohort (definitions 1 and 2:\n"
          "              type 2 diabetes and hypertension from the first\n"
          "              diagnosis) .csv in DIR (which must exist)\n"
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
    const char *out = NULL, *omop = NULL;
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
        } else if (strcmp(a, "--omop") == 0 && v) {
            omop = v;
            i++;
        } else {
            fprintf(stderr, "sluice-synth: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (rows < 1 || !out == !omop || (omop && wide)) {
        fprintf(stderr, "sluice-synth: --rows and one of --out and --omop are required "
                        "(--wide only with --out)\n");
        usage(stderr);
        return 2;
    }
    sl_status st = omop ? generate_omop(omop, rows, (uint64_t)seed, force)
                        : generate(out, rows, (uint64_t)seed, (int)wide, force);
    if (st != SL_OK) {
        fprintf(stderr, "sluice-synth: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}

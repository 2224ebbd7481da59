/*
 * synth.c: sluice-synth, a deterministic generator of realistic synthetic
 * patient cohorts as CSV, for the demo, the tests and the benchmarks.
 *
 *   sluice-synth --rows N --out FILE.csv [--seed S] [--wide K] [--force]
 *   sluice-synth --rows N --omop DIR [--seed S] [--force]
 *   sluice-synth --rows N --fhir DIR [--seed S] [--force]
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
 * --omop DIR and --fhir DIR write the patients' events instead, as OMOP CDM
 * tables or as a FHIR R4 Bulk Data export (NDJSON), for `sluice ingest
 * --omop` and `--fhir` and their demo feature specs (the models are at
 * omop_person and fhir_patient).
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
                            const char *ext, const char *header, int force)
{
    sl_status st = SL_OK;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);

    snprintf(t->path, sizeof t->path, "%s/%s%s", dir, name, ext);
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
        SL_CALL(table_open(&t[k], dir, names[k], ".csv", headers[k], force));
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

/* ---- FHIR R4 Bulk Data export ---- */

#define FHIR_SLOTS 64  /* lines held back per file, so that patients' resources mix */
#define FHIR_LINE 4096 /* room for one resource (the longest is about 1 KB) */

#define LOINC "http://loinc.org"
#define SCT "http://snomed.info/sct"
#define ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define CVX "http://hl7.org/fhir/sid/cvx"
#define UCUM "http://unitsofmeasure.org"
#define LOCAL "http://lab.example.org/codes"
#define HL7CS "http://terminology.hl7.org/CodeSystem/"
#define USCORE "http://hl7.org/fhir/us/core/StructureDefinition/"
#define OMB "urn:oid:2.16.840.1.113883.6.238"

enum {
    F_PATIENT,
    F_ENCOUNTER,
    F_OBSERVATION,
    F_CONDITION,
    F_MEDICATION,
    F_STATEMENT,
    F_ADMINISTRATION,
    F_DISPENSE,
    F_IMMUNIZATION,
    NFHIR
};

/* One NDJSON file. A finished line waits in a random one of FHIR_SLOTS slots
 * and is written when the next line drawn to that slot arrives. */
struct fhir_file {
    struct table_out t;
    char *slot;
    size_t len[FHIR_SLOTS];
};

struct fhir {
    struct fhir_file f[NFHIR];
    struct out l; /* the resource being built */
    struct rng r;
    char pid[37];   /* the patient's id */
    const char *tz; /* the UTC offset of the patient's site */
};

enum { O_HBA1C, O_BMI, O_SBP, O_SMOKING };

static const struct {
    const char *code, *display, *category, *local, *unit, *ucum;
    int dec;
} obs_kinds[] = {
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "laboratory", "HBA1C", "%", "%", 1},
    {"39156-5", "Body mass index (BMI) [Ratio]", "vital-signs", "BMI", "kg/m2", "kg/m2", 1},
    {"8480-6", "Systolic blood pressure", "vital-signs", "SBP", "mmHg", "mm[Hg]", 0},
    {"72166-2", "Tobacco smoking status", "social-history", "SMOK", NULL, NULL, 0}};

static const char *const smoking[3][2] = {
    {"266919005", "Never smoked tobacco"}, {"8517006", "Ex-smoker"}, {"77176002", "Smoker"}};

static const char *const conditions[5][3] = {{"44054006", "Diabetes mellitus type 2", "E11.9"},
                                             {"59621000", "Essential hypertension", "I10"},
                                             {"195967001", "Asthma", "J45.909"},
                                             {"55822004", "Hyperlipidemia", "E78.5"},
                                             {"35489007", "Depressive disorder", "F32.A"}};

static const char *const medications[4][2] = {
    {"860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"},
    {"314076", "lisinopril 10 MG Oral Tablet"},
    {"745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"},
    {"617312", "atorvastatin 20 MG Oral Tablet"}};

/* A version 4 UUID from the generator, as 36 characters and a NUL. */
static void make_uuid(char *s, struct rng *r)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = (next_u64(r) & ~0xF000ull) | 0x4000ull;
    uint64_t b = (next_u64(r) >> 2) | (2ull << 62);
    int n = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            s[n++] = '-';
        s[n++] = hex[((i < 16 ? a : b) >> (60 - 4 * (i % 16))) & 15];
    }
    s[n] = '\0';
}

static sl_status fhir_write(struct fhir_file *f, const char *s, size_t n)
{
    sl_status st = SL_OK;
    if (f->t.o.used + n > SYNTH_BUF)
        SL_CALL(out_flush(&f->t.o));
    memcpy(f->t.o.buf + f->t.o.used, s, n);
    f->t.o.used += n;
cleanup:
    return st;
}

/* Ends the resource being built and hands it to file k. */
static sl_status fhir_emit(struct fhir *x, int k)
{
    sl_status st = SL_OK;
    struct fhir_file *f = &x->f[k];
    int i = (int)(next_u64(&x->r) % FHIR_SLOTS);
    char *s = f->slot + (size_t)i * FHIR_LINE;
    put_str(&x->l, "}\n");
    if (f->len[i])
        SL_CALL(fhir_write(f, s, f->len[i]));
    memcpy(s, x->l.buf, x->l.used);
    f->len[i] = x->l.used;
    x->l.used = 0;
cleanup:
    return st;
}

/* A quoted date, or with probability p_time a dateTime on that date as
 * written (local time and the site's offset). */
static void put_time(struct fhir *x, int64_t day, double p_time)
{
    struct out *l = &x->l;
    put_char(l, '"');
    put_date(l, day);
    if (uniform(&x->r) < p_time) {
        uint64_t sec = next_u64(&x->r) % 86400;
        put_char(l, 'T');
        put_uint(l, sec / 3600, 2);
        put_char(l, ':');
        put_uint(l, sec / 60 % 60, 2);
        put_char(l, ':');
        put_uint(l, sec % 60, 2);
        put_str(l, x->tz);
    }
    put_char(l, '"');
}

/* {"resourceType":T,"id":id (NULL: a new one) */
static void put_head(struct fhir *x, const char *type, const char *id)
{
    char fresh[37];
    if (!id)
        make_uuid(fresh, &x->r);
    put_str(&x->l, "{\"resourceType\":\"");
    put_str(&x->l, type);
    put_str(&x->l, "\",\"id\":\"");
    put_str(&x->l, id ? id : fresh);
    put_char(&x->l, '"');
}

static void put_coding(struct out *l, const char *system, const char *code, const char *display)
{
    put_str(l, "{\"system\":\"");
    put_str(l, system);
    put_str(l, "\",\"code\":\"");
    put_str(l, code);
    if (display) {
        put_str(l, "\",\"display\":\"");
        put_str(l, display);
    }
    put_str(l, "\"}");
}

/* "subject": mostly Patient/<id>, sometimes an absolute URL or urn:uuid. */
/* ,"<key>":{"reference":<the patient>}, the reference in one of its forms */
static void put_patient(struct fhir *x, const char *key)
{
    double u = uniform(&x->r);
    put_str(&x->l, ",\"");
    put_str(&x->l, key);
    put_str(&x->l, "\":{\"reference\":\"");
    put_str(&x->l, u < 0.02   ? "https://ehr.example.org/fhir/R4/Patient/"
                   : u < 0.03 ? "urn:uuid:"
                              : "Patient/");
    put_str(&x->l, x->pid);
    put_str(&x->l, "\"}");
}

static void put_category(struct out *l, const char *system, const char *code)
{
    put_str(l, ",\"category\":[{\"coding\":[{\"system\":\"" HL7CS);
    put_str(l, system);
    put_str(l, "\",\"code\":\"");
    put_str(l, code);
    put_str(l, "\"}]}]");
}

/* An Observation of kind k on `day`: the value v (NaN: not performed) in
 * the kind's unit (mmol: HbA1c in mmol/mol), or smoking status s (>= 0);
 * enc: the encounter's id or NULL. 2 in 100 are entered in error, 1 in 200
 * cancelled (with their values still there, as a careless export may). The LOINC
 * coding is sometimes second to a local one, and 2 in 100 have only a local
 * coding, with the LOINC code's text (which must not match). */
static sl_status fhir_obs(struct fhir *x, int k, int64_t day, double v, int mmol, int s,
                          const char *enc)
{
    struct out *l = &x->l;
    double u = uniform(&x->r);
    put_head(x, "Observation", NULL);
    put_str(l, u < 0.02    ? ",\"status\":\"entered-in-error\""
               : u < 0.025 ? ",\"status\":\"cancelled\""
               : u < 0.06  ? ",\"status\":\"amended\""
                           : ",\"status\":\"final\"");
    put_category(l, "observation-category", obs_kinds[k].category);
    put_str(l, ",\"code\":{\"coding\":[");
    u = uniform(&x->r);
    if (u < 0.02) {
        put_coding(l, LOCAL, obs_kinds[k].code, NULL);
    } else {
        if (u < 0.1) {
            put_coding(l, LOCAL, obs_kinds[k].local, NULL);
            put_char(l, ',');
        }
        put_coding(l, LOINC, obs_kinds[k].code, obs_kinds[k].display);
    }
    put_str(l, "]}");
    put_patient(x, "subject");
    if (enc) {
        put_str(l, ",\"encounter\":{\"reference\":\"Encounter/");
        put_str(l, enc);
        put_str(l, "\"}");
    }
    u = uniform(&x->r);
    put_str(l, u < 0.08 ? ",\"effectivePeriod\":{\"start\":"
               : u < 0.1 ? ",\"effectiveInstant\":"
                         : ",\"effectiveDateTime\":");
    put_time(x, day, u < 0.1 ? 1.0 : 0.8);
    if (u < 0.08)
        put_char(l, '}');
    if (s >= 0) {
        put_str(l, ",\"valueCodeableConcept\":{\"coding\":[");
        put_coding(l, SCT, smoking[s][0], smoking[s][1]);
        put_str(l, "]}");
    } else if (isnan(v)) {
        put_str(l, ",\"dataAbsentReason\":{\"coding\":[{\"system\":\"" HL7CS
                   "data-absent-reason\",\"code\":\"not-performed\"}]}");
    } else {
        /* the unit's code, where given, decides: its display text varies,
         * and 1 in 20 values come with the display text only */
        int coded = k == O_SBP || uniform(&x->r) >= 0.05;
        const char *unit = mmol ? "mmol/mol" : obs_kinds[k].unit;
        if (coded && k == O_BMI && uniform(&x->r) < 0.3)
            unit = "kg/m^2";
        put_str(l, ",\"valueQuantity\":{\"value\":");
        put_fixed(l, v, mmol ? 0 : obs_kinds[k].dec);
        put_str(l, ",\"unit\":\"");
        put_str(l, unit);
        if (coded) {
            put_str(l, "\",\"system\":\"" UCUM "\",\"code\":\"");
            put_str(l, mmol ? "mmol/mol" : obs_kinds[k].ucum);
        }
        put_str(l, "\"}");
    }
    return fhir_emit(x, F_OBSERVATION);
}

/* A blood pressure panel, as US Core has it: systolic and diastolic as
 * components, which features on 8480-6 read like observations of their own. */
static sl_status fhir_bp_panel(struct fhir *x, int64_t day, double sbp, const char *enc)
{
    struct out *l = &x->l;
    put_head(x, "Observation", NULL);
    put_str(l, ",\"status\":\"final\"");
    put_category(l, "observation-category", "vital-signs");
    put_str(l, ",\"code\":{\"coding\":[{\"system\":\"" LOINC "\",\"code\":\"85354-9\","
               "\"display\":\"Blood pressure panel with all children optional\"}]}");
    put_patient(x, "subject");
    put_str(l, ",\"encounter\":{\"reference\":\"Encounter/");
    put_str(l, enc);
    put_str(l, "\"},\"effectiveDateTime\":");
    put_time(x, day, 1.0);
    for (int c = 0; c < 2; c++) {
        put_str(l, c ? ",{" : ",\"component\":[{");
        put_str(l, c ? "\"code\":{\"coding\":[{\"system\":\"" LOINC "\",\"code\":\"8462-4\"}]}"
                     : "\"code\":{\"coding\":[{\"system\":\"" LOINC "\",\"code\":\"8480-6\"}]}");
        put_str(l, ",\"valueQuantity\":{\"value\":");
        put_fixed(l, c ? nearbyint(0.6 * sbp + 4.0 * normal(&x->r)) : sbp, 0);
        put_str(l, ",\"unit\":\"mmHg\",\"system\":\"" UCUM "\",\"code\":\"mm[Hg]\"}}");
    }
    put_char(l, ']');
    return fhir_emit(x, F_OBSERVATION);
}

/* HbA1c around `level` (%): 1 in 10 reported in mmol/mol, 3 in 100 not
 * performed, and 6 in 100 repeated on the same day. */
static sl_status fhir_hba1c(struct fhir *x, int64_t day, double level, const char *enc)
{
    sl_status st = SL_OK;
    int n = uniform(&x->r) < 0.06 ? 2 : 1;
    for (int k = 0; k < n; k++) {
        double v = clamp(level + 0.5 * normal(&x->r), 4, 15);
        int mmol = uniform(&x->r) < 0.1;
        if (uniform(&x->r) < 0.03)
            v = NAN;
        SL_CALL(fhir_obs(x, O_HBA1C, day, mmol ? 10.929 * v - 23.5 : v, mmol, -1, enc));
    }
cleanup:
    return st;
}

/* An Encounter of class cls (ambulatory, emergency, inpatient) on `day`,
 * with `status`. */
static sl_status fhir_encounter(struct fhir *x, const char *id, int64_t day, int cls,
                                const char *status)
{
    static const char *const codes[3][2] = {
        {"AMB", "ambulatory"}, {"EMER", "emergency"}, {"IMP", "inpatient encounter"}};
    struct out *l = &x->l;
    put_head(x, "Encounter", id);
    put_str(l, ",\"status\":\"");
    put_str(l, status);
    put_str(l, "\",\"class\":");
    put_coding(l, "http://terminology.hl7.org/CodeSystem/v3-ActCode", codes[cls][0],
               codes[cls][1]);
    put_patient(x, "subject");
    put_str(l, ",\"period\":{\"start\":");
    put_time(x, day, 0.95);
    if (cls == 2) {
        put_str(l, ",\"end\":");
        put_time(x, day + 1 + (int64_t)(uniform(&x->r) * 9.0), 0.95);
    }
    put_char(l, '}');
    return fhir_emit(x, F_ENCOUNTER);
}

/* Condition c on `day`: as a problem-list item or an encounter diagnosis,
 * dated by onsetDateTime (recordedDate later), onsetPeriod.start or
 * recordedDate alone; eie: 1 entered in error, 2 refuted. */
static sl_status fhir_condition(struct fhir *x, int c, int64_t day, int eie, int dx)
{
    struct out *l = &x->l;
    double u = uniform(&x->r);
    put_head(x, "Condition", NULL);
    if (!eie) {
        put_str(l, ",\"clinicalStatus\":{\"coding\":[{\"system\":\"" HL7CS
                   "condition-clinical\",\"code\":\"");
        put_str(l, c >= 2 && u < 0.3 ? "resolved\"}]}" : "active\"}]}");
    }
    put_str(l, ",\"verificationStatus\":{\"coding\":[{\"system\":\"" HL7CS
               "condition-ver-status\",\"code\":\"");
    put_str(l, eie == 1 ? "entered-in-error\"}]}" : eie ? "refuted\"}]}" : "confirmed\"}]}");
    put_category(l, "condition-category", dx ? "encounter-diagnosis" : "problem-list-item");
    put_str(l, ",\"code\":{\"coding\":[");
    u = uniform(&x->r);
    if (u >= 0.8) {
        put_coding(l, ICD10CM, conditions[c][2], NULL);
        put_char(l, ',');
    }
    put_coding(l, SCT, conditions[c][0], conditions[c][1]);
    if (u >= 0.5 && u < 0.8) {
        put_char(l, ',');
        put_coding(l, ICD10CM, conditions[c][2], NULL);
    }
    put_str(l, "],\"text\":\"");
    put_str(l, conditions[c][1]);
    put_str(l, "\"}");
    put_patient(x, "subject");
    u = uniform(&x->r);
    if (u < 0.78) {
        put_str(l, u < 0.7 ? ",\"onsetDateTime\":" : ",\"onsetPeriod\":{\"start\":");
        put_time(x, day, 0.5);
        put_str(l, u < 0.7 ? ",\"recordedDate\":" : "},\"recordedDate\":");
        put_time(x, day + (int64_t)(uniform(&x->r) * 60.0), 0.9);
    } else {
        put_str(l, ",\"recordedDate\":");
        put_time(x, day, 0.9);
    }
    return fhir_emit(x, F_CONDITION);
}

/* ,"medicationCodeableConcept":{...} of medication m, and the subject */
static void put_medication(struct fhir *x, int m)
{
    put_str(&x->l, ",\"medicationCodeableConcept\":{\"coding\":[");
    put_coding(&x->l, RXNORM, medications[m][0], medications[m][1]);
    put_str(&x->l, "]}");
    put_patient(x, "subject");
}

static sl_status fhir_medication(struct fhir *x, int m, int64_t day, int eie)
{
    struct out *l = &x->l;
    put_head(x, "MedicationRequest", NULL);
    put_str(l, eie                          ? ",\"status\":\"entered-in-error\""
               : uniform(&x->r) < 0.6 ? ",\"status\":\"active\""
                                            : ",\"status\":\"completed\"");
    put_str(l, ",\"intent\":\"order\"");
    put_medication(x, m);
    put_str(l, ",\"authoredOn\":");
    put_time(x, day, 0.9);
    return fhir_emit(x, F_MEDICATION);
}

/* A medication the patient says they take (MedicationStatement: its
 * effective dateTime or period, or only the date it was asserted) or that
 * was given (MedicationAdministration: R4 effectiveDateTime, or R5's
 * medication.concept and occurenceDateTime, spelt as R5 spells it). */
static sl_status fhir_medication_taken(struct fhir *x, int given, int m, int64_t day, int eie)
{
    struct out *l = &x->l;
    double u = uniform(&x->r);
    put_head(x, given ? "MedicationAdministration" : "MedicationStatement", NULL);
    put_str(l, eie ? ",\"status\":\"entered-in-error\""
                   : given ? ",\"status\":\"completed\"" : ",\"status\":\"active\"");
    put_str(l, given && u < 0.5 ? ",\"medication\":{\"concept\":{\"coding\":["
                                : ",\"medicationCodeableConcept\":{\"coding\":[");
    put_coding(l, RXNORM, medications[m][0], medications[m][1]);
    put_str(l, given && u < 0.5 ? "]}}" : "]}");
    put_patient(x, "subject");
    if (given) {
        put_str(l, u < 0.5 ? ",\"occurenceDateTime\":" : ",\"effectiveDateTime\":");
        put_time(x, day, 1.0);
    } else if (u < 0.5) {
        put_str(l, ",\"effectiveDateTime\":");
        put_time(x, day, 0.3);
    } else if (u < 0.75) {
        put_str(l, ",\"effectivePeriod\":{\"start\":");
        put_time(x, day, 0.3);
        put_char(l, '}');
    } else {
        put_str(l, ",\"dateAsserted\":");
        put_time(x, day, 0.3);
    }
    return fhir_emit(x, given ? F_ADMINISTRATION : F_STATEMENT);
}

/* A medication handed over at a pharmacy (MedicationDispense: when it was
 * prepared, and mostly when it was handed over; a few declined). */
static sl_status fhir_dispense(struct fhir *x, int m, int64_t day)
{
    struct out *l = &x->l;
    double u = uniform(&x->r);
    put_head(x, "MedicationDispense", NULL);
    put_str(l, u < 0.05 ? ",\"status\":\"declined\"" : ",\"status\":\"completed\"");
    put_medication(x, m);
    put_str(l, ",\"whenPrepared\":");
    put_time(x, day, 0.5);
    if (u < 0.8) {
        put_str(l, ",\"whenHandedOver\":");
        put_time(x, day + 1 + (int64_t)(uniform(&x->r) * 3.0), 0.5);
    }
    return fhir_emit(x, F_DISPENSE);
}

/* A seasonal influenza vaccine (Immunization: vaccineCode in CVX, the
 * patient in patient.reference; a few not done). */
static sl_status fhir_immunization(struct fhir *x, int64_t day)
{
    struct out *l = &x->l;
    put_head(x, "Immunization", NULL);
    put_str(l, uniform(&x->r) < 0.05 ? ",\"status\":\"not-done\""
                                     : ",\"status\":\"completed\"");
    put_str(l, ",\"vaccineCode\":{\"coding\":[");
    put_coding(l, CVX, "140", "Influenza, seasonal, injectable, preservative free");
    put_str(l, "]}");
    put_patient(x, "patient");
    put_str(l, ",\"occurrenceDateTime\":");
    put_time(x, day, 0.5);
    return fhir_emit(x, F_IMMUNIZATION);
}

/* One patient and their resources. The index date is the first encounter
 * (2010..2019; 3 in 100 patients have none, some of them only one entered
 * in error); later encounters run to 2022, and laboratory history reaches
 * some 3 years before the first. Diabetics have higher HbA1c and BMI, get
 * metformin on or after the diagnosis and die more often; a few records
 * of every type are entered in error, some of them before the index date. */
static sl_status fhir_patient(struct fhir *x)
{
    static const char *const tzs[] = {"-05:00", "-04:00", "-06:00", "-07:00",
                                      "Z",      "+01:00", "+02:00"};
    static const char *const races[3][2] = {
        {"2106-3", "White"}, {"2054-5", "Black or African American"}, {"2028-9", "Asian"}};
    static const char *const ethnicities[2][2] = {{"2135-2", "Hispanic or Latino"},
                                                  {"2186-5", "Not Hispanic or Latino"}};
    static const int treat[5] = {0, 1, 2, 3, -1};
    static const double p_treat[5] = {0.8, 0.6, 0.5, 0.7, 0};
    sl_status st = SL_OK;
    struct rng *r = &x->r;
    struct out *l = &x->l;
    char enc[37];

    make_uuid(x->pid, r);
    x->tz = tzs[next_u64(r) % 7];
    double ug = uniform(r), ur = uniform(r), ue = uniform(r), ub = uniform(r), us = uniform(r);
    int64_t yob = (int64_t)nearbyint(clamp(1960.0 + 16.0 * normal(r), 1920, 2005));
    int64_t first = 14610 + (int64_t)(uniform(r) * 3652.0); /* 2010-01-01..2019-12-31 */
    int64_t last = first + (int64_t)(uniform(r) * (double)(19357 - first)); /* ..2022 */
    int diabetic = uniform(r) < 0.12 + 0.004 * (double)(2005 - yob > 40 ? 2005 - yob - 40 : 0);
    int hypertensive = uniform(r) < 0.25;
    int smoke = us < 0.15 ? -1 : us < 0.62 ? 0 : us < 0.83 ? 1 : 2;
    int nenc = uniform(r) < 0.03 ? 0 : 1 + (int)(8.0 * pow(uniform(r), 2.0));
    double p_death = 0.03 + 0.05 * diabetic, ud = uniform(r);
    double a1c = diabetic ? clamp(7.6 + 1.1 * normal(r), 5, 14)
                          : clamp(5.4 + 0.4 * normal(r), 4, 8);
    double bmi = clamp(26.0 + 2.5 * diabetic + 4.4 * normal(r), 15, 60);
    double sbp = 125.0 + 12.0 * hypertensive + 10.0 * normal(r);

    /* Patient: US Core race and ethnicity (10% without), gender (3% other
     * or unknown), birthDate (1 in 10 only YYYY or YYYY-MM), death */
    put_head(x, "Patient", x->pid);
    put_str(l, ",\"meta\":{\"profile\":[\"" USCORE "us-core-patient\"]},\"extension\":[");
    int comma = 0;
    for (int k = 0; k < 2; k++) {
        double u = k ? ue : ur;
        int c = k ? (u < 0.15 ? 0 : 1) : (u < 0.68 ? 0 : u < 0.82 ? 1 : 2);
        const char *const *v = k ? ethnicities[c] : races[c];
        if (u >= 0.9)
            continue;
        put_str(l, comma ? ",{\"url\":\"" USCORE : "{\"url\":\"" USCORE);
        put_str(l, k ? "us-core-ethnicity" : "us-core-race");
        put_str(l, "\",\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":");
        put_coding(l, OMB, v[0], v[1]);
        put_str(l, "},{\"url\":\"text\",\"valueString\":\"");
        put_str(l, v[1]);
        put_str(l, "\"}]}");
        comma = 1;
    }
    put_str(l, ug < 0.49   ? "],\"gender\":\"female\""
               : ug < 0.97 ? "],\"gender\":\"male\""
               : ug < 0.985 ? "],\"gender\":\"other\""
                            : "],\"gender\":\"unknown\"");
    put_str(l, ",\"birthDate\":\"");
    put_uint(l, (uint64_t)yob, 4);
    if (ub >= 0.07) {
        put_char(l, '-');
        put_uint(l, 1 + next_u64(r) % 12, 2);
    }
    if (ub >= 0.1) {
        put_char(l, '-');
        put_uint(l, 1 + next_u64(r) % 28, 2);
    }
    put_char(l, '"');
    if (ud < 0.85 * p_death) {
        put_str(l, ",\"deceasedDateTime\":");
        put_time(x, last + 1 + (int64_t)(uniform(r) * 365.0), 1.0);
    } else {
        put_str(l, ud < p_death ? ",\"deceasedBoolean\":true"
                   : ud > 0.7   ? ",\"deceasedBoolean\":false"
                                : "");
    }
    SL_CALL(fhir_emit(x, F_PATIENT));

    /* encounters, with vital signs and laboratory results; before the
     * first, sometimes one that did not take place */
    if (uniform(r) < (nenc ? 0.02 : 0.3)) {
        static const char *const gone[3] = {"entered-in-error", "cancelled", "planned"};
        SL_CALL(fhir_encounter(x, NULL, first - 1 - (int64_t)(uniform(r) * 400.0), 0,
                               gone[(int)(uniform(r) * 3.0)]));
    }
    for (int e = 0; e < nenc; e++) {
        int64_t day = e ? first + (int64_t)(uniform(r) * (double)(last - first + 1)) : first;
        double u = uniform(r);
        make_uuid(enc, r);
        SL_CALL(fhir_encounter(x, enc, day, u < 0.1 ? 2 : u < 0.22 ? 1 : 0, "finished"));
        if (uniform(r) < 0.6)
            SL_CALL(fhir_obs(x, O_BMI, day, clamp(bmi + normal(r), 14, 65), 0, -1, enc));
        if (uniform(r) < 0.7) {
            double v = nearbyint(clamp(sbp + 12.0 * normal(r), 75, 230));
            SL_CALL(uniform(r) < 0.25 ? fhir_bp_panel(x, day, v, enc)
                                      : fhir_obs(x, O_SBP, day, v, 0, -1, enc));
        }
        if (uniform(r) < (diabetic ? 0.5 : 0.12))
            SL_CALL(fhir_hba1c(x, day, a1c, enc));
        if (smoke >= 0 && uniform(r) < 0.3)
            SL_CALL(fhir_obs(x, O_SMOKING, day, 0, 0, smoke, enc));
    }
    int nh = (int)(uniform(r) * (diabetic ? 5.0 : 2.5));
    for (int k = 0; k < nh; k++)
        SL_CALL(fhir_hba1c(x, first - (int64_t)(uniform(r) * 1200.0), a1c, NULL));
    nh = (int)(uniform(r) * 3.0);
    for (int k = 0; k < nh; k++) {
        int64_t day = first - (int64_t)(uniform(r) * 1200.0);
        SL_CALL(fhir_obs(x, O_BMI, day, clamp(bmi + normal(r), 14, 65), 0, -1, NULL));
        SL_CALL(fhir_obs(x, O_SBP, day, nearbyint(clamp(sbp + 12.0 * normal(r), 75, 230)), 0,
                         -1, NULL));
    }
    if (smoke >= 0) /* former smokers were sometimes recorded as smokers */
        SL_CALL(fhir_obs(x, O_SMOKING, first - (int64_t)(uniform(r) * 1000.0), 0, 0,
                         smoke == 1 && uniform(r) < 0.4 ? 2 : smoke, NULL));

    /* conditions from years before the index date to the last encounter,
     * with repeated encounter diagnoses and their medications */
    const int has[5] = {diabetic, hypertensive, uniform(r) < 0.08, uniform(r) < 0.2,
                        uniform(r) < 0.1};
    for (int c = 0; c < 5; c++) {
        if (!has[c]) {
            if (c < 2 && uniform(r) < 0.015)
                SL_CALL(fhir_condition(x, c, first - (int64_t)(uniform(r) * 500.0),
                                       uniform(r) < 0.5 ? 1 : 2, 0));
            if (c == 0 && uniform(r) < 0.005)
                SL_CALL(fhir_medication(x, 0, first - (int64_t)(uniform(r) * 300.0), 1));
            continue;
        }
        int64_t onset = first - 2500 + (int64_t)(uniform(r) * (double)(last - first + 2500));
        SL_CALL(fhir_condition(x, c, onset, 0, 0));
        int n = (int)(uniform(r) * 3.0);
        for (int k = 0; k < n; k++)
            SL_CALL(fhir_condition(x, c, onset + (int64_t)(uniform(r) * 700.0), 0, 1));
        if (uniform(r) < p_treat[c]) {
            int64_t day = onset + (int64_t)(uniform(r) * 60.0);
            n = 1 + (int)(uniform(r) * 4.0);
            for (int k = 0; k < n; k++)
                SL_CALL(fhir_medication(x, treat[c], day + 180 * k, 0));
            /* some say they took it between the diagnosis and the first
             * order, some had it given in hospital; a few statements were
             * entered in error */
            if (uniform(r) < 0.3)
                SL_CALL(fhir_medication_taken(
                    x, 0, treat[c], onset + (int64_t)(uniform(r) * (double)(day - onset)),
                    uniform(r) < 0.05));
            if (uniform(r) < 0.2)
                SL_CALL(fhir_medication_taken(x, 1, treat[c], day + (int64_t)(uniform(r) * 30.0),
                                              0));
            if (uniform(r) < 0.25)
                SL_CALL(fhir_dispense(x, treat[c], day + (int64_t)(uniform(r) * 10.0)));
        }
    }
    /* influenza vaccines, some within the year before the index date */
    for (int k = (int)(uniform(r) * 4.0); k > 0; k--)
        SL_CALL(fhir_immunization(x, first - 900 + (int64_t)(uniform(r) * 1200.0)));
cleanup:
    return st;
}

static sl_status generate_fhir(const char *dir, int64_t patients, uint64_t seed, int force)
{
    static const char *const names[NFHIR] = {
        "Patient",           "Encounter",           "Observation",
        "Condition",         "MedicationRequest",   "MedicationStatement",
        "MedicationAdministration", "MedicationDispense", "Immunization"};
    sl_status st = SL_OK;
    struct fhir *x = sl_malloc(sizeof *x);
    struct stat sb;

    SL_CHECK(x, SL_ERR_NOMEM, "out of memory");
    memset(x, 0, sizeof *x);
    for (int k = 0; k < NFHIR; k++)
        x->f[k].t.o.fd = -1;
    SL_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), SL_ERR_IO, "%s: not a folder", dir);
    x->l = (struct out){-1, sl_malloc(FHIR_LINE), 0, NULL};
    SL_CHECK(x->l.buf, SL_ERR_NOMEM, "out of memory");
    for (int k = 0; k < NFHIR; k++) {
        x->f[k].slot = sl_malloc((size_t)FHIR_SLOTS * FHIR_LINE);
        SL_CHECK(x->f[k].slot, SL_ERR_NOMEM, "out of memory");
        SL_CALL(table_open(&x->f[k].t, dir, names[k], ".ndjson", "", force));
    }
    rng_seed(&x->r, seed);
    for (int64_t i = 0; i < patients; i++)
        SL_CALL(fhir_patient(x));
    for (int k = 0; k < NFHIR; k++)
        for (int i = 0; i < FHIR_SLOTS; i++)
            SL_CALL(fhir_write(&x->f[k], x->f[k].slot + (size_t)i * FHIR_LINE, x->f[k].len[i]));
cleanup:
    if (x) {
        for (int k = 0; k < NFHIR; k++) {
            sl_status c = table_close(&x->f[k].t, st == SL_OK);
            if (st == SL_OK)
                st = c;
            sl_free(x->f[k].slot);
        }
        sl_free(x->l.buf);
        sl_free(x);
    }
    return st;
}

/* ---- PLINK 1 genotypes ---- */

#define PLINK_VARIANTS 20

/* PREFIX.fam/.bim/.bed: `samples` samples, PLINK_VARIANTS variants in Hardy-
 * Weinberg equilibrium (allele 1 the minor one, frequency 0.05 to 0.5, 1% of
 * calls missing), sex, and case/control status drawn from a logistic model
 * in which rs1000003 (odds ratio 1.8 per copy of allele 1) and rs1000007
 * (1.35) matter and the others do not; 1% of phenotypes missing. */
static sl_status generate_plink(const char *prefix, int64_t samples, uint64_t seed, int force)
{
    static const char *const alleles[4][2] = {{"A", "G"}, {"C", "T"}, {"G", "A"}, {"T", "C"}};
    sl_status st = SL_OK;
    struct table_out t[3];
    struct rng r;
    double maf[PLINK_VARIANTS];
    unsigned char *calls = NULL; /* copies of allele 1, 3 = missing; [sample][variant] */
    char dir[4096], name[4096];
    const char *slash = strrchr(prefix, '/');

    for (int k = 0; k < 3; k++)
        t[k] = (struct table_out){.o = {.fd = -1}};
    SL_CHECK(strlen(prefix) < sizeof dir, SL_ERR_ARG, "the prefix is too long");
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) : 1, slash ? prefix : ".");
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : prefix);
    SL_CHECK(name[0], SL_ERR_ARG, "%s: expected a prefix such as out/chip", prefix);
    calls = sl_malloc((size_t)samples * PLINK_VARIANTS);
    SL_CHECK(calls, SL_ERR_NOMEM, "out of memory for %lld samples", (long long)samples);
    SL_CALL(table_open(&t[0], dir, name, ".fam", "", force));
    SL_CALL(table_open(&t[1], dir, name, ".bim", "", force));
    SL_CALL(table_open(&t[2], dir, name, ".bed", "\x6c\x1b\x01", force));
    rng_seed(&r, seed);
    for (int v = 0; v < PLINK_VARIANTS; v++)
        maf[v] = 0.05 + 0.45 * uniform(&r);
    for (int64_t i = 0; i < samples; i++) {
        unsigned char *c = calls + (size_t)i * PLINK_VARIANTS;
        for (int v = 0; v < PLINK_VARIANTS; v++)
            c[v] = uniform(&r) < 0.01 ? 3
                                      : (unsigned char)((uniform(&r) < maf[v]) +
                                                        (uniform(&r) < maf[v]));
        double u = uniform(&r);
        int sex = u < 0.005 ? 0 : u < 0.5 ? 1 : 2;
        double d3 = c[2] == 3 ? 2 * maf[2] : c[2], d7 = c[6] == 3 ? 2 * maf[6] : c[6];
        double eta = -1.2 + log(1.8) * d3 + log(1.35) * d7 + 0.2 * (sex == 1);
        SL_CALL(table_room(&t[0]));
        put_str(&t[0].o, "F");
        put_uint(&t[0].o, (uint64_t)i + 1, 8);
        put_str(&t[0].o, " S");
        put_uint(&t[0].o, (uint64_t)i + 1, 8);
        put_str(&t[0].o, " 0 0 ");
        put_char(&t[0].o, (char)('0' + sex));
        put_str(&t[0].o, uniform(&r) < 0.01                   ? " -9\n"
                         : uniform(&r) < 1 / (1 + exp(-eta)) ? " 2\n"
                                                              : " 1\n");
    }
    for (int v = 0; v < PLINK_VARIANTS; v++) {
        put_str(&t[1].o, v < PLINK_VARIANTS / 2 ? "1 rs" : "2 rs");
        put_uint(&t[1].o, 1000001 + (uint64_t)v, 0);
        put_str(&t[1].o, " 0 ");
        put_uint(&t[1].o, 10000 * ((uint64_t)v % (PLINK_VARIANTS / 2) + 1), 0);
        put_char(&t[1].o, ' ');
        put_str(&t[1].o, alleles[v % 4][0]);
        put_char(&t[1].o, ' ');
        put_str(&t[1].o, alleles[v % 4][1]);
        put_char(&t[1].o, '\n');
        /* two bits a sample, first in the lowest: 00 two copies of allele 1,
         * 10 one, 11 none, 01 missing */
        static const unsigned char code[4] = {3, 2, 0, 1};
        for (int64_t i = 0; i < samples; i += 4) {
            unsigned char byte = 0;
            for (int k = 0; k < 4 && i + k < samples; k++)
                byte |= (unsigned char)(code[calls[(size_t)(i + k) * PLINK_VARIANTS + (size_t)v]]
                                        << (2 * k));
            if (t[2].o.used == SYNTH_BUF)
                SL_CALL(out_flush(&t[2].o));
            t[2].o.buf[t[2].o.used++] = (char)byte;
        }
    }
cleanup:
    for (int k = 0; k < 3; k++) {
        sl_status c = table_close(&t[k], st == SL_OK);
        if (st == SL_OK)
            st = c;
    }
    sl_free(calls);
    return st;
}

static void usage(FILE *f)
{
    fputs("usage: sluice-synth --rows N --out FILE.csv [--seed S] [--wide K] [--force]\n"
          "       sluice-synth --rows N --omop DIR [--seed S] [--force]\n"
          "       sluice-synth --rows N --fhir DIR [--seed S] [--force]\n"
          "       sluice-synth --rows N --plink PREFIX [--seed S] [--force]\n"
          "  Writes N synthetic patients as CSV (deterministic for a given seed).\n"
          "  --omop DIR  writes them as OMOP CDM v5.4 tables instead: person,\n"
          "              observation_period, measurement, condition_occurrence,\n"
          "              drug_exposure, death and cohort (definitions 1 and 2:\n"
          "              type 2 diabetes and hypertension from the first\n"
          "              diagnosis) .csv in DIR (which must exist)\n"
          "  --fhir DIR  writes them as a FHIR R4 Bulk Data export instead:\n"
          "              Patient, Encounter, Observation (HbA1c in % and mmol/mol,\n"
          "              BMI, blood pressure, smoking status), Condition,\n"
          "              MedicationRequest, MedicationStatement,\n"
          "              MedicationAdministration, MedicationDispense and\n"
          "              Immunization .ndjson in DIR (which must\n"
          "              exist), one resource a line, the patients' resources mixed\n"
          "  --plink PREFIX  writes N genotyped samples as a PLINK 1 fileset\n"
          "              instead: PREFIX.fam, .bim, .bed with 20 variants, case/\n"
          "              control status depending on rs1000003 and rs1000007\n"
          "  --wide K  adds K standard normal columns x1..xK (benchmarks)\n"
          "  --force   overwrite the files written if they exist\n",
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
    const char *out = NULL, *omop = NULL, *fhir = NULL, *plink = NULL;
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
        } else if (strcmp(a, "--fhir") == 0 && v) {
            fhir = v;
            i++;
        } else if (strcmp(a, "--plink") == 0 && v) {
            plink = v;
            i++;
        } else {
            fprintf(stderr, "sluice-synth: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (rows < 1 || !!out + !!omop + !!fhir + !!plink != 1 || (!out && wide)) {
        fprintf(stderr, "sluice-synth: --rows and one of --out, --omop, --fhir and --plink are "
                        "required "
                        "(--wide only with --out)\n");
        usage(stderr);
        return 2;
    }
    sl_status st = omop   ? generate_omop(omop, rows, (uint64_t)seed, force)
                   : fhir ? generate_fhir(fhir, rows, (uint64_t)seed, force)
                   : plink ? generate_plink(plink, rows, (uint64_t)seed, force)
                          : generate(out, rows, (uint64_t)seed, (int)wide, force);
    if (st != SL_OK) {
        fprintf(stderr, "sluice-synth: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}

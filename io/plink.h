/*
 * plink.h: PLINK 1 binary genotypes (.bed/.bim/.fam) -> encrypted cohort.
 *
 * Genotyping centres hand over a fileset per chip run: PREFIX.fam (one line
 * per sample: family id, sample id, father, mother, sex, phenotype),
 * PREFIX.bim (one line per variant: chromosome, id, centimorgans, position,
 * allele 1, allele 2) and PREFIX.bed (two bits per sample and variant,
 * variant-major). Ingest takes the variants a study lists and writes one row
 * per sample: person_id (the pseudonym of the sample id, as every ingest
 * path makes it), sex, phenotype, and per variant the number of copies of
 * allele 1 (0 to 2; PLINK's --recode A convention) and/or the call as a
 * category (A1/A1, A1/A2, A2/A2), missing where the call is. Sample ids and genotypes stay in secret memory. docs/plink.md.
 *
 * Errors are SL_ERR_FORMAT naming the file and line (for .bed, the variant
 * and its .bim line) and what was expected, never a sample id or genotype;
 * SL_ERR_IO for files that cannot be read, SL_ERR_EXISTS when the output
 * exists, SL_ERR_ARG for bad options. On any error nothing is left behind.
 */
#ifndef SL_IO_PLINK_H
#define SL_IO_PLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/keys.h"

/* Most variants one cohort takes, and most taken without a list. */
#define SL_PLINK_MAX_VARIANTS 10000
#define SL_PLINK_MAX_ALL 1000

/* What a variant's columns hold. */
enum sl_plink_genotypes {
    SL_PLINK_DOSAGE,            /* integer: copies of allele 1, 0 to 2 (for regressions) */
    SL_PLINK_CALLS,             /* categorical A1/A1, A1/A2, A2/A2 with the alleles of .bim
                                   (for tables) */
    SL_PLINK_BOTH               /* both: ID the dosage, ID_gt the calls */
};

struct sl_plink_opts {
    const char *prefix;         /* PREFIX of PREFIX.bed/.bim/.fam (borrowed) */
    const char *variants;       /* file of variant ids to take, one a line, or NULL: all */
    const char *out;            /* cohort to create; must not exist (borrowed) */
    const struct sl_kek *kek;   /* centre key (secret, borrowed) */
    const char *project;        /* per-project pseudonyms, or NULL */
    int64_t chunk_rows;         /* rows per cohort chunk; <= 0: SL_DEFAULT_CHUNK_ROWS */
    enum sl_plink_genotypes genotypes;
    bool check;                 /* read .fam, .bim and the list, check .bed's size; write
                                   nothing (out and kek may be NULL) */
};

struct sl_plink_stats {
    int64_t samples;            /* rows written (with check: samples in .fam) */
    int64_t variants_in_bim;
    int variants;               /* variant columns */
    int ncols;                  /* columns, person_id included */
    int quantitative;           /* 1 when the phenotype is a quantitative trait */
    int64_t missing_calls;      /* of samples x variants taken */
    double seconds;
};

/* Ingests o->prefix into the encrypted cohort o->out (stats may be NULL;
 * written on success only). Not collective; call sl_process_harden() first. */
sl_status sl_plink_ingest(const struct sl_plink_opts *o, struct sl_plink_stats *stats);

#endif

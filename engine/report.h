/*
 * report.h: the human-readable release report (report.html) of a job.
 *
 * results.json is for programs; checkers and researchers read this. The
 * report is one self-contained HTML file built only from a results.json
 * document: inline CSS, no scripts, no images, no external assets and a
 * Content-Security-Policy that forbids loading anything, so it opens offline
 * and cannot call out. Every text from the document (labels, names, reasons,
 * the analysis as written) is HTML-escaped.
 *
 * Per output: its status and where it went, the analysis as written, the
 * reasons, the mitigation applied, a table of its cells (levels, count,
 * statistics, per-cell status and the rules that did not pass) with failing
 * cells (class "cell-fail"), cells needing review ("cell-review") and
 * mitigated cells ("cell-mitigated") highlighted, the rules with their
 * parameters, and the files with their SHA-256. Values appear only where the
 * document has them: the released report shows what was released; the
 * operator copy in held/ (built from the operator results.json) also shows
 * held outputs' values and the full evidence, for reviewers.
 */
#ifndef SL_ENGINE_REPORT_H
#define SL_ENGINE_REPORT_H

#include <jansson.h>

#include "engine/core/status.h"

/* Renders `results` (a results.json document, borrowed) as HTML into *html
 * (malloc'd, NUL-terminated; the caller frees it with free()). With
 * `operator_copy` the report is marked operator-only and lists the per-cell
 * evidence. Tables longer than 5000 cells show their first 5000 and say so.
 * SL_ERR_NOMEM, SL_ERR_ARG (not a results document). Not collective. */
sl_status sl_report_html(const json_t *results, int operator_copy, char **html);

#endif

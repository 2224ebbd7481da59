/*
 * report.c: report.html from a results.json document (see report.h).
 *
 * The page is written into a memory stream piece by piece; every string that
 * comes from the document goes through put_text, which escapes it.
 */
#include "engine/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL_REPORT_MAX_CELLS 5000
#define SL_REPORT_MAX_EVIDENCE 200

static const char *css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0;background:#f6f7f9;color:#1d2430;font-size:15px;line-height:1.45}"
    "header{background:#1f3a5f;color:#fff;padding:18px 28px}"
    "header h1{margin:0 0 6px;font-size:22px}"
    "header dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0;"
    "font-size:13px}header dt{opacity:.75}header dd{margin:0;word-break:break-all}"
    "main{padding:8px 28px 40px;max-width:1280px}"
    "section{background:#fff;border:1px solid #d9dee6;border-radius:6px;margin:18px 0;"
    "padding:14px 18px}"
    "h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:14px 0 6px}"
    ".operator{background:#7a1f1f;color:#fff;padding:8px 28px;font-weight:600}"
    "table{border-collapse:collapse;margin:6px 0;font-size:13.5px}"
    "th,td{border:1px solid #d9dee6;padding:4px 9px;text-align:left;vertical-align:top}"
    "th{background:#eef1f5;font-weight:600}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12.5px;"
    "font-weight:600;color:#fff;vertical-align:middle}"
    ".badge.pass{background:#2e7d32}.badge.review{background:#b26a00}"
    ".badge.fail{background:#b3261e}"
    "td.cell-fail{background:#fbe1df;color:#7a1610;font-weight:600}"
    "td.cell-review{background:#fff1d6}"
    "td.cell-mitigated{background:#e3ecfa;font-style:italic}"
    "ul.reasons{margin:6px 0;padding-left:20px}ul.reasons li{margin:2px 0}"
    "code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12.5px}"
    "pre{background:#f3f5f8;padding:8px;overflow:auto;max-height:320px}"
    ".muted{color:#5b6575}.legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;"
    "vertical-align:-1px;border:1px solid #c5ccd6}"
    "footer{color:#5b6575;font-size:12px;padding:0 28px 24px}";

/* Writes s with &, <, >, " and ' escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Writes a JSON value for people, escaped: strings as they are, null as a
 * dash, arrays as comma lists, objects as "key value" lists, numbers and
 * booleans as JSON writes them. */
static void put_json(FILE *f, const json_t *v)
{
    char *text;
    const char *key;
    json_t *x;
    size_t i, k = 0;

    if (!v || json_is_null(v)) {
        fputs("&#8212;", f);
    } else if (json_is_string(v)) {
        put_text(f, json_string_value(v));
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (i)
                fputs(", ", f);
            put_json(f, x);
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, x) {
            if (k++)
                fputs("; ", f);
            put_text(f, key);
            fputs(" ", f);
            put_json(f, x);
        }
    } else {
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
        put_text(f, text ? text : "");
        free(text);
    }
}

/* Writes a JSON value as compact JSON text, escaped (the analysis as
 * written, evidence). */
static void put_raw_json(FILE *f, const json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10))
                   : NULL;
    put_text(f, text ? text : "");
    free(text);
}

static void put_badge(FILE *f, const char *status)
{
    const char *cls = strcmp(status, "pass") == 0     ? "pass"
                      : strcmp(status, "review") == 0 ? "review"
                                                      : "fail";
    fprintf(f, "<span class=\"badge %s\">", cls);
    put_text(f, status);
    fputs("</span>", f);
}

static void put_row(FILE *f, const char *key, const json_t *value)
{
    fputs("<dt>", f);
    put_text(f, key);
    fputs("</dt><dd>", f);
    put_json(f, value);
    fputs("</dd>", f);
}

static void header(FILE *f, const json_t *doc, int operator_copy)
{
    const json_t *job = json_object_get(doc, "job"), *policy = json_object_get(doc, "policy");
    const json_t *cohort = json_object_get(job, "cohort");
    fputs("<header><h1>Release report: job ", f);
    put_text(f, str(job, "id"));
    fputs("</h1><dl>", f);
    put_row(f, "job", json_object_get(job, "name"));
    put_row(f, "job file", json_object_get(job, "file"));
    put_row(f, "user", json_object_get(job, "user"));
    put_row(f, "project", json_object_get(job, "project"));
    put_row(f, "cohort", json_object_get(cohort, "path"));
    put_row(f, "cohort uuid", json_object_get(cohort, "uuid"));
    put_row(f, "filter", json_object_get(job, "filter"));
    put_row(f, "finished", json_object_get(job, "finished"));
    put_row(f, "policy", json_object_get(policy, "file"));
    put_row(f, "policy sha256", json_object_get(policy, "sha256"));
    put_row(f, "profile", json_object_get(policy, "profile"));
    fputs("</dl></header>\n", f);
    if (operator_copy)
        fputs("<div class=\"operator\">Operator copy: shows values of outputs held for "
              "review and the gate's evidence. Do not pass it to researchers.</div>\n",
              f);
}

static void summary(FILE *f, const json_t *outputs)
{
    size_t i;
    json_t *o;
    fputs("<section><h2>Outputs</h2><table><thead><tr><th>output</th><th>analysis</th>"
          "<th>status</th><th>location</th><th>review</th></tr></thead><tbody>\n",
          f);
    json_array_foreach(outputs, i, o) {
        const json_t *rv = json_object_get(o, "review");
        fputs("<tr><td><a href=\"#out-", f);
        fprintf(f, "%zu", i);
        fputs("\">", f);
        put_text(f, str(o, "name"));
        fputs("</a></td><td>", f);
        put_text(f, str(o, "analysis"));
        fputs("</td><td>", f);
        put_badge(f, str(o, "status"));
        fputs("</td><td>", f);
        put_text(f, json_is_string(json_object_get(o, "location")) ? str(o, "location")
                                                                   : "withheld");
        fputs("</td><td>", f);
        if (rv) {
            put_text(f, str(rv, "state"));
            fprintf(f, " (%lld of %lld approvals)",
                    (long long)json_array_size(json_object_get(rv, "approvals")),
                    (long long)json_integer_value(json_object_get(rv, "required")));
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table></section>\n", f);
}

static void policy_rules(FILE *f, const json_t *policy)
{
    const char *key;
    json_t *v;
    fputs("<section><h2>Rules in force</h2><table><tbody>\n", f);
    json_object_foreach((json_t *)json_object_get(policy, "rules"), key, v) {
        fputs("<tr><th>", f);
        put_text(f, key);
        fputs("</th><td>", f);
        put_json(f, v);
        fputs("</td></tr>\n", f);
    }
    if (json_object_get(policy, "reviewers_required")) {
        fputs("<tr><th>reviewers_required</th><td>", f);
        put_json(f, json_object_get(policy, "reviewers_required"));
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table></section>\n", f);
}

static void put_value(FILE *f, const json_t *cell, const json_t *v, int has_values,
                      const char *cls)
{
    fprintf(f, "<td class=\"num%s%s\">", cls[0] ? " " : "", cls);
    if (!has_values)
        fputs("<span class=\"muted\">&#8212;</span>", f);
    else if (json_is_null(v) && json_object_get(cell, "mitigation"))
        fputs("withheld", f);
    else if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v))
        fprintf(f, "%.10g", json_number_value(v));
    else
        fputs("NA", f);
    fputs("</td>", f);
}

/* The names of the statistic columns: those of the first cell with stats. */
static const json_t *stat_names(const json_t *cells)
{
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c) {
        if (json_object_get(c, "stats"))
            return json_object_get(c, "stats");
    }
    return NULL;
}

static void cells_table(FILE *f, const json_t *o)
{
    const json_t *dims = json_object_get(o, "dimensions"), *cells = json_object_get(o, "cells");
    const json_t *names = stat_names(cells);
    const char *key;
    json_t *d, *c, *v;
    size_t i, k, ncells = json_array_size(cells);

    fputs("<h3>Cells</h3><p class=\"legend\"><span><i style=\"background:#fbe1df\"></i>fails "
          "a rule</span><span><i style=\"background:#fff1d6\"></i>needs review</span><span><i "
          "style=\"background:#e3ecfa\"></i>mitigated</span></p>\n<table><thead><tr>",
          f);
    json_array_foreach(dims, i, d) {
        fputs("<th>", f);
        put_text(f, str(d, "name"));
        fputs("</th>", f);
    }
    fputs("<th>n</th>", f);
    json_object_foreach((json_t *)names, key, v) {
        fputs("<th>", f);
        put_text(f, key);
        fputs("</th>", f);
    }
    fputs("<th>status</th><th>rules not passed</th><th>mitigation</th></tr></thead><tbody>\n", f);
    json_array_foreach(cells, i, c) {
        const char *status = str(c, "status");
        const char *cls = json_object_get(c, "mitigation")  ? "cell-mitigated"
                          : strcmp(status, "fail") == 0     ? "cell-fail"
                          : strcmp(status, "review") == 0   ? "cell-review"
                                                            : "";
        const char *status_cls = strcmp(status, "fail") == 0     ? "cell-fail"
                                 : strcmp(status, "review") == 0 ? "cell-review"
                                                                 : "";
        int has_values = json_object_get(c, "stats") != NULL || json_object_get(c, "n") != NULL;
        if (i >= SL_REPORT_MAX_CELLS)
            break;
        fputs("<tr>", f);
        json_array_foreach(json_object_get(c, "levels"), k, v) {
            fputs("<td>", f);
            put_text(f, json_string_value(v));
            fputs("</td>", f);
        }
        put_value(f, c, json_object_get(c, "n"), has_values, cls);
        json_object_foreach((json_t *)names, key, v) {
            put_value(f, c, json_object_get(json_object_get(c, "stats"), key), has_values, cls);
        }
        fprintf(f, "<td class=\"%s\">", status_cls);
        put_text(f, status);
        fputs("</td><td>", f);
        json_array_foreach(json_object_get(c, "rules"), k, v) {
            if (k)
                fputs(", ", f);
            put_text(f, json_string_value(v));
        }
        fputs("</td><td>", f);
        put_text(f, str(c, "mitigation"));
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
    if (ncells > SL_REPORT_MAX_CELLS)
        fprintf(f, "<p class=\"muted\">First %d of %zu cells; the CSV has them all.</p>\n",
                SL_REPORT_MAX_CELLS, ncells);
}

static void rules_table(FILE *f, const json_t *o, int operator_copy)
{
    size_t i;
    json_t *r;
    fputs("<h3>Rules</h3><table><thead><tr><th>rule</th><th>status</th><th>scope</th>"
          "<th>parameters</th><th>reason</th></tr></thead><tbody>\n",
          f);
    json_array_foreach(json_object_get(o, "rules"), i, r) {
        const char *scope = str(r, "scope");
        fputs("<tr><td>", f);
        put_text(f, str(r, "rule"));
        fputs("</td><td>", f);
        put_badge(f, str(r, "status"));
        fputs("</td><td>", f);
        put_text(f, scope[0] ? scope : "cell");
        fputs("</td><td>", f);
        put_json(f, json_object_get(r, "parameters"));
        fputs("</td><td>", f);
        put_text(f, str(r, "reason"));
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
    if (!operator_copy)
        return;
    json_array_foreach(json_object_get(o, "rules"), i, r) {
        json_t *ev = json_object_get(r, "evidence");
        if (!json_is_array(ev))
            continue;
        fputs("<details><summary>evidence of ", f);
        put_text(f, str(r, "rule"));
        fputs(" (per cell; withheld for failing cells)</summary><pre>", f);
        for (size_t c = 0; c < json_array_size(ev) && c < SL_REPORT_MAX_EVIDENCE; c++) {
            fprintf(f, "%zu: ", c);
            put_raw_json(f, json_array_get(ev, c));
            fputc('\n', f);
        }
        fputs("</pre></details>\n", f);
    }
}

static void output_section(FILE *f, const json_t *o, size_t index, int operator_copy)
{
    const json_t *m = json_object_get(o, "mitigation"), *rv = json_object_get(o, "review");
    const json_t *reasons = json_object_get(o, "reasons"), *files = json_object_get(o, "files");
    size_t i;
    json_t *v;

    fprintf(f, "<section id=\"out-%zu\"><h2>", index);
    put_text(f, str(o, "name"));
    fputs(" ", f);
    put_badge(f, str(o, "status"));
    fputs("</h2>\n<p>analysis <code>", f);
    put_text(f, str(o, "analysis"));
    fputs("</code>", f);
    if (json_object_get(o, "spec")) {
        fputs(" as written: <code>", f);
        put_raw_json(f, json_object_get(o, "spec"));
        fputs("</code>", f);
    }
    fputs("<br>", f);
    if (json_is_string(json_object_get(o, "location")))
        fprintf(f, "location: %s", strcmp(str(o, "location"), "released") == 0
                                       ? "released"
                                       : "held for review (operator only)");
    else
        fputs("withheld: the output fails and nothing of it is released", f);
    fputs("</p>\n", f);
    if (rv) {
        fputs("<p>review: ", f);
        put_text(f, str(rv, "state"));
        fprintf(f, ", %lld approval(s) required", (long long)json_integer_value(
                                                      json_object_get(rv, "required")));
        if (json_array_size(json_object_get(rv, "approvals"))) {
            fputs("; approved by ", f);
            json_array_foreach(json_object_get(rv, "approvals"), i, v) {
                if (i)
                    fputs(", ", f);
                put_text(f, json_string_value(v));
            }
        }
        fputs("</p>\n", f);
    }
    if (json_array_size(reasons)) {
        fputs("<h3>Reasons</h3><ul class=\"reasons\">", f);
        json_array_foreach(reasons, i, v) {
            fputs("<li>", f);
            put_text(f, json_string_value(v));
            fputs("</li>", f);
        }
        fputs("</ul>\n", f);
    }
    if (m) {
        const char *key;
        fputs("<h3>Mitigation</h3><table><tbody>", f);
        json_object_foreach((json_t *)m, key, v) {
            fputs("<tr><th>", f);
            put_text(f, key);
            fputs("</th><td>", f);
            put_json(f, v);
            fputs("</td></tr>", f);
        }
        fputs("</tbody></table>\n", f);
    }
    cells_table(f, o);
    rules_table(f, o, operator_copy);
    if (json_array_size(files)) {
        fputs("<h3>Files</h3><table><thead><tr><th>file</th><th>sha256</th></tr></thead><tbody>",
              f);
        json_array_foreach(files, i, v) {
            fputs("<tr><td>", f);
            put_text(f, str(v, "name"));
            fputs("</td><td><code>", f);
            put_text(f, str(v, "sha256"));
            fputs("</code></td></tr>", f);
        }
        fputs("</tbody></table>\n", f);
    }
    fputs("</section>\n", f);
}

sl_status sl_report_html(const json_t *results, int operator_copy, char **html)
{
    sl_status st = SL_OK;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    const json_t *outputs = json_object_get(results, "outputs");
    size_t i;
    json_t *o;

    *html = NULL;
    SL_CHECK(json_is_array(outputs), SL_ERR_ARG, "report: not a results document");
    f = open_memstream(&buf, &len);
    SL_CHECK(f, SL_ERR_NOMEM, "out of memory");
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<meta name=\"viewport\" "
          "content=\"width=device-width, initial-scale=1\">\n<title>sluice release report: ",
          f);
    put_text(f, str(json_object_get(results, "job"), "id"));
    fprintf(f, "%s</title>\n<style>%s</style>\n</head>\n<body>\n",
            operator_copy ? " (operator copy)" : "", css);
    header(f, results, operator_copy);
    fputs("<main>\n", f);
    summary(f, outputs);
    json_array_foreach(outputs, i, o) {
        output_section(f, o, i, operator_copy);
    }
    policy_rules(f, json_object_get(results, "policy"));
    fputs("</main>\n<footer>Written by sluice's release gate. Counts are distinct patients. "
          "Withheld values are never stored in released files.</footer>\n</body>\n</html>\n",
          f);
    {
        int rc = fclose(f);
        f = NULL;
        SL_CHECK(rc == 0, SL_ERR_NOMEM, "out of memory");
    }
    *html = buf;
    buf = NULL;
cleanup:
    if (f)
        fclose(f);
    free(buf);
    return st;
}

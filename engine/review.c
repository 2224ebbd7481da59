/*
 * review.c: `sluice review` and the vote bookkeeping behind it (see
 * review.h). The held area's operator results.json says which outputs wait
 * for review; votes.json beside it holds the votes; a release copies the
 * held files into released/ and rewrites results.json and report.html there.
 */
#include "engine/review.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/cli.h"
#include "engine/config.h"
#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/secbuf.h"
#include "engine/ledger.h"
#include "engine/release.h"
#include "engine/report.h"
#include "engine/run.h"

#define SL_REASON_MAX 2000

/* A job id or output name usable as one path component. */
static int valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 200 || s[0] == '.')
        return 0;
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void utc_now(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sl_status sl_review_identity(struct sl_reviewer *who)
{
    sl_status st = SL_OK;
    uid_t uid = getuid();
    struct passwd *pw = getpwuid(uid);
    const char *sudo_user = getenv("SUDO_USER"), *sudo_uid = getenv("SUDO_UID");

    memset(who, 0, sizeof *who);
    if (uid == 0 && sudo_user && sudo_uid) {
        struct passwd *sp = getpwnam(sudo_user);
        char *end = NULL;
        long id = strtol(sudo_uid, &end, 10);
        if (sp && end && *end == '\0' && sp->pw_uid != 0 && (long)sp->pw_uid == id) {
            snprintf(who->name, sizeof who->name, "%s", sp->pw_name);
            who->uid = id;
            who->via_sudo = 1;
            goto cleanup;
        }
    }
    SL_CHECK(pw && pw->pw_name, SL_ERR_DENIED, "the real user id %ld has no user name; a vote "
             "must name its reviewer", (long)uid);
    snprintf(who->name, sizeof who->name, "%s", pw->pw_name);
    who->uid = (long)uid;
cleanup:
    return st;
}

static sl_status load_json(const char *path, json_t **out)
{
    sl_status st = SL_OK;
    json_error_t err;
    *out = json_load_file(path, 0, &err);
    SL_CHECK(*out, errno == ENOENT ? SL_ERR_IO : SL_ERR_FORMAT, "%s:%d:%d: %s", path, err.line,
             err.column, err.text);
cleanup:
    return st;
}

static sl_status save_json(const char *path, const json_t *doc, unsigned int mode)
{
    sl_status st = SL_OK;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_write_atomic(path, text, mode));
cleanup:
    free(text);
    return st;
}

static sl_status save_report(const char *path, const json_t *doc, int operator_copy)
{
    sl_status st = SL_OK;
    char *html = NULL;
    SL_CALL(sl_report_html(doc, operator_copy, &html));
    SL_CALL(sl_write_atomic(path, html, 0640));
cleanup:
    free(html);
    return st;
}

static json_t *find_output(const json_t *doc, const char *name, size_t *index)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, "outputs"), i, o) {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n && strcmp(n, name) == 0) {
            if (index)
                *index = i;
            return o;
        }
    }
    return NULL;
}

/* The state of one output's votes (see review.h); the users who approved and
 * rejected go to *approvals and *rejections (new references). */
static const char *tally(const json_t *rec, int required, json_t **approvals, json_t **rejections)
{
    const char *stored = json_string_value(json_object_get(rec, "state"));
    size_t i;
    json_t *v;

    *approvals = json_array();
    *rejections = json_array();
    json_array_foreach(json_object_get(rec, "votes"), i, v) {
        const char *vote = json_string_value(json_object_get(v, "vote"));
        json_t *user = json_object_get(v, "user");
        if (vote && strcmp(vote, "approve") == 0)
            json_array_append(*approvals, user);
        else if (vote && strcmp(vote, "reject") == 0)
            json_array_append(*rejections, user);
    }
    if (stored && strcmp(stored, "released") == 0)
        return "released";
    if (json_array_size(*rejections))
        return json_array_size(*approvals) ? "conflicted" : "rejected";
    if ((int)json_array_size(*approvals) >= required)
        return stored && strcmp(stored, "blocked") == 0 ? "blocked" : "approved";
    return "pending";
}

/* An output held for review: loads the operator document and the entry, or
 * says precisely why there is none. */
static sl_status held_output(const struct sl_review_ctx *ctx, const char *job_id,
                             const char *output, json_t **doc, json_t **entry)
{
    sl_status st = SL_OK;
    char path[4096];
    json_t *pub = NULL, *e;
    const char *status;

    *doc = NULL;
    *entry = NULL;
    SL_CHECK(valid_name(job_id) && valid_name(output), SL_ERR_ARG,
             "expected JOB/OUTPUT naming a job id and one of its outputs");
    snprintf(path, sizeof path, "%s/%s/results.json", ctx->held_dir, job_id);
    if (load_json(path, doc) != SL_OK) {
        snprintf(path, sizeof path, "%s/%s/results.json", ctx->released_dir, job_id);
        SL_CHECK(load_json(path, &pub) == SL_OK, SL_ERR_ARG, "no job %s in %s or %s", job_id,
                 ctx->held_dir, ctx->released_dir);
        e = find_output(pub, output, NULL);
        SL_CHECK(e, SL_ERR_ARG, "job %s has no output '%s'", job_id, output);
        status = json_string_value(json_object_get(e, "status"));
        SL_CHECK(!status || strcmp(status, "fail") != 0, SL_ERR_DENIED,
                 "output %s/%s failed the gate; failing outputs cannot be approved", job_id,
                 output);
        SL_FAIL(SL_ERR_ARG, "output %s/%s passed the gate and was released without review",
                job_id, output);
    }
    e = find_output(*doc, output, NULL);
    SL_CHECK(e, SL_ERR_ARG, "job %s has no output '%s'", job_id, output);
    status = json_string_value(json_object_get(e, "status"));
    SL_CHECK(status && strcmp(status, "fail") != 0, SL_ERR_DENIED,
             "output %s/%s failed the gate; failing outputs cannot be approved", job_id, output);
    SL_CHECK(strcmp(status, "review") == 0, SL_ERR_ARG,
             "output %s/%s passed the gate and was released without review", job_id, output);
    *entry = e;
cleanup:
    json_decref(pub);
    if (st != SL_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    return st;
}

static sl_status load_votes(const char *path, const char *job_id, json_t **votes)
{
    sl_status st = SL_OK;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        *votes = json_pack("{s:i,s:s,s:{}}", "format", 1, "job_id", job_id, "outputs");
        SL_CHECK(*votes, SL_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    SL_CALL(load_json(path, votes));
    SL_CHECK(json_is_object(json_object_get(*votes, "outputs")), SL_ERR_INTEGRITY,
             "%s: not a votes file", path);
cleanup:
    return st;
}

/* Copies one held file into released/, checking it is what the gate wrote. */
static sl_status copy_file(const char *from, const char *to, const char *sha256)
{
    sl_status st = SL_OK;
    char hex[65];
    FILE *f = NULL;
    char *text = NULL;
    long len;

    SL_CALL(sl_sha256_file(from, hex));
    SL_CHECK(sha256 && strcmp(hex, sha256) == 0, SL_ERR_INTEGRITY,
             "%s changed since the gate wrote it (SHA-256 differs); it is not released", from);
    f = fopen(from, "rb");
    SL_CHECK(f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
                 fseek(f, 0, SEEK_SET) == 0,
             SL_ERR_IO, "%s: cannot read: %s", from, strerror(errno));
    text = sl_malloc((size_t)len + 1);
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(fread(text, 1, (size_t)len, f) == (size_t)len, SL_ERR_IO, "%s: cannot read", from);
    text[len] = '\0';
    SL_CHECK(strlen(text) == (size_t)len, SL_ERR_FORMAT, "%s: not a text file", from);
    SL_CALL(sl_write_atomic(to, text, 0640));
cleanup:
    if (f)
        fclose(f);
    sl_free(text);
    return st;
}

/* Appends an audit event; takes ownership of `fields`. */
static sl_status audit(const struct sl_review_ctx *ctx, const char *event, json_t *fields)
{
    sl_status st = SL_OK;
    SL_CHECK(fields, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_audit_append(ctx->audit, event, fields));
cleanup:
    json_decref(fields);
    return st;
}

/* Releases an approved output (every step idempotent). Sets rec's state to
 * "released", or to "blocked" when the differencing ledger refuses. */
static sl_status release_output(const struct sl_review_ctx *ctx, const char *job_id,
                                json_t *doc, json_t *entry, const json_t *approvals, json_t *rec)
{
    sl_status st = SL_OK;
    struct sl_ledger *ledger = NULL;
    const json_t *job = json_object_get(doc, "job");
    const json_t *lentry = json_object_get(entry, "ledger_entry");
    const json_t *rules = json_object_get(json_object_get(doc, "policy"), "rules");
    const char *output = json_string_value(json_object_get(entry, "name"));
    json_t *rdoc = NULL, *review = NULL, *full = NULL, *state = NULL;
    json_t *files = json_object_get(entry, "files");
    json_int_t min = json_integer_value(json_object_get(rules, "min_safe_count"));
    char path[4096], to[4096], now[32];
    size_t i, index = 0;
    json_t *f;
    const char *note = NULL;

    utc_now(now, sizeof now);
    if (lentry) {
        const json_t *hit = NULL;
        char why[512];
        SL_CALL(sl_ledger_open(ctx->ledger_dir,
                               json_string_value(json_object_get(json_object_get(job, "cohort"),
                                                                 "uuid")),
                               json_string_value(json_object_get(job, "project")),
                               ctx->ledger_key, &ledger));
        SL_CALL(sl_ledger_check_audited(ledger, ctx->audit, &note));
        if (note)
            sl_log_warn("release ledger of job %s: %s", job_id, note);
        SL_CALL(sl_ledger_conflict(ledger, lentry, min > 0 ? min : 1, &hit, why, sizeof why));
        if (hit) {
            char reason[600];
            snprintf(reason, sizeof reason, "differencing: %s", why);
            SL_CALL(audit(ctx, "review_blocked",
                          json_pack("{s:s,s:s,s:s}", "job_id", job_id, "output", output,
                                    "reason", reason)));
            json_object_set_new(rec, "state", json_string("blocked"));
            json_object_set_new(rec, "blocked_reason", json_string(reason));
            goto cleanup;
        }
        SL_CALL(sl_ledger_record(ledger, lentry));
        SL_CALL(sl_ledger_commit(ledger));
        state = sl_ledger_state(ledger);
        SL_CHECK(state && json_object_set_new(state, "job_id", json_string(job_id)) == 0 &&
                     json_object_set_new(state, "recorded", json_integer(1)) == 0,
                 SL_ERR_NOMEM, "out of memory");
        {
            json_t *fields = state; /* audit() takes it */
            state = NULL;
            SL_CALL(audit(ctx, "ledger", fields));
        }
    }
    SL_CALL(audit(ctx, "review_release",
                  json_pack("{s:s,s:s,s:O,s:o}", "job_id", job_id, "output", output, "approvals",
                            approvals, "files", files ? json_deep_copy(files) : json_array())));
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        SL_CHECK(name && valid_name(name), SL_ERR_INTEGRITY, "held results.json names a bad file");
        snprintf(path, sizeof path, "%s/%s/%s", ctx->held_dir, job_id, name);
        snprintf(to, sizeof to, "%s/%s/%s", ctx->released_dir, job_id, name);
        SL_CALL(copy_file(path, to, json_string_value(json_object_get(f, "sha256"))));
    }
    review = json_pack("{s:I,s:s,s:O,s:s}", "required", (json_int_t)ctx->reviewers_required,
                       "state", "released", "approvals", approvals, "released", now);
    SL_CHECK(review, SL_ERR_NOMEM, "out of memory");
    json_object_set_new(entry, "location", json_string("released"));
    json_object_set(entry, "review", review);

    snprintf(path, sizeof path, "%s/%s/results.json", ctx->released_dir, job_id);
    SL_CALL(load_json(path, &rdoc));
    SL_CHECK(find_output(rdoc, output, &index), SL_ERR_INTEGRITY,
             "%s does not list output '%s'", path, output);
    full = sl_results_public_entry(entry);
    SL_CHECK(full && json_array_set_new(json_object_get(rdoc, "outputs"), index, full) == 0,
             SL_ERR_NOMEM, "out of memory");
    SL_CALL(save_json(path, rdoc, 0640));
    snprintf(path, sizeof path, "%s/%s/report.html", ctx->released_dir, job_id);
    SL_CALL(save_report(path, rdoc, 0));

    snprintf(path, sizeof path, "%s/%s/results.json", ctx->held_dir, job_id);
    SL_CALL(save_json(path, doc, 0640));
    snprintf(path, sizeof path, "%s/%s/report.html", ctx->held_dir, job_id);
    SL_CALL(save_report(path, doc, 1));
    json_object_set_new(rec, "state", json_string("released"));
    json_object_set_new(rec, "released", json_string(now));
cleanup:
    sl_ledger_close(&ledger);
    json_decref(state);
    json_decref(rdoc);
    json_decref(review);
    return st;
}

static json_t *result_json(const char *state, json_t *approvals, json_t *rejections,
                           int required, const char *message)
{
    return json_pack("{s:s,s:O,s:O,s:i,s:s}", "state", state, "approvals", approvals,
                     "rejections", rejections, "required", required, "message", message);
}

sl_status sl_review_vote(const struct sl_review_ctx *ctx, const char *job_id, const char *output,
                         const struct sl_reviewer *who, int approve, const char *reason,
                         json_t **result)
{
    sl_status st = SL_OK;
    json_t *doc = NULL, *entry = NULL, *votes = NULL, *rec, *list, *vote = NULL;
    json_t *approvals = NULL, *rejections = NULL;
    const char *state, *user;
    const char *previous = NULL;
    char path[4096], lock[4096], now[32], message[512];
    int fd = -1;
    size_t i;
    json_t *v;

    *result = NULL;
    SL_CHECK(approve || (reason && *reason), SL_ERR_ARG, "a rejection needs --reason TEXT");
    SL_CHECK(!reason || strlen(reason) <= SL_REASON_MAX, SL_ERR_ARG,
             "the reason is longer than %d bytes", SL_REASON_MAX);
    SL_CALL(held_output(ctx, job_id, output, &doc, &entry));
    user = json_string_value(json_object_get(json_object_get(doc, "job"), "user"));
    SL_CHECK(!user || strcmp(user, who->name) != 0, SL_ERR_DENIED,
             "%s ran job %s; its outputs need other reviewers", who->name, job_id);

    snprintf(lock, sizeof lock, "%s/%s/.lock", ctx->held_dir, job_id);
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot open: %s", lock, strerror(errno));
    while (flock(fd, LOCK_EX) != 0)
        SL_CHECK(errno == EINTR, SL_ERR_IO, "%s: cannot lock: %s", lock, strerror(errno));
    /* Read again under the lock: another release of this job may have
     * rewritten the operator document meanwhile. */
    json_decref(doc);
    SL_CALL(held_output(ctx, job_id, output, &doc, &entry));
    snprintf(path, sizeof path, "%s/%s/votes.json", ctx->held_dir, job_id);
    SL_CALL(load_votes(path, job_id, &votes));
    rec = json_object_get(json_object_get(votes, "outputs"), output);
    if (!rec) {
        rec = json_pack("{s:[]}", "votes");
        SL_CHECK(rec && json_object_set_new(json_object_get(votes, "outputs"), output, rec) == 0,
                 SL_ERR_NOMEM, "out of memory");
    }
    state = tally(rec, ctx->reviewers_required, &approvals, &rejections);
    if (strcmp(state, "released") == 0) {
        SL_CHECK(approve, SL_ERR_DENIED, "output %s/%s has been released; it takes no more votes",
                 job_id, output);
        *result = result_json(state, approvals, rejections, ctx->reviewers_required,
                              "already released");
        goto cleanup;
    }
    list = json_object_get(rec, "votes");
    json_array_foreach(list, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "user")), who->name) == 0) {
            previous = json_string_value(json_object_get(v, "vote"));
            break;
        }
    }
    utc_now(now, sizeof now);
    vote = json_pack("{s:s,s:I,s:b,s:s,s:s}", "user", who->name, "uid", (json_int_t)who->uid,
                     "via_sudo", who->via_sudo, "vote", approve ? "approve" : "reject", "time",
                     now);
    SL_CHECK(vote, SL_ERR_NOMEM, "out of memory");
    if (reason && *reason) {
        json_t *r = json_string(reason);
        SL_CHECK(r, SL_ERR_ARG, "the reason is not valid UTF-8");
        json_object_set_new(vote, "reason", r);
    }
    /* Write-ahead: the audit log has the vote before votes.json does. */
    SL_CALL(audit(ctx, "review_vote",
                  json_pack("{s:s,s:s,s:s,s:I,s:b,s:s,s:O?,s:s?}", "job_id", job_id, "output",
                            output, "user", who->name, "uid", (json_int_t)who->uid, "via_sudo",
                            who->via_sudo, "vote", approve ? "approve" : "reject", "reason",
                            json_object_get(vote, "reason"), "previous", previous)));
    if (previous)
        json_array_set(list, i, vote);
    else
        SL_CHECK(json_array_append(list, vote) == 0, SL_ERR_NOMEM, "out of memory");
    SL_CALL(save_json(path, votes, 0600));
    json_decref(approvals);
    json_decref(rejections);
    state = tally(rec, ctx->reviewers_required, &approvals, &rejections);
    if (strcmp(state, "approved") == 0) {
        SL_CALL(release_output(ctx, job_id, doc, entry, approvals, rec));
        SL_CALL(save_json(path, votes, 0600));
        json_decref(approvals);
        json_decref(rejections);
        state = tally(rec, ctx->reviewers_required, &approvals, &rejections);
    }
    if (strcmp(state, "released") == 0)
        snprintf(message, sizeof message, "released to %s/%s/", ctx->released_dir, job_id);
    else if (strcmp(state, "blocked") == 0)
        snprintf(message, sizeof message, "approved but not released: %s",
                 json_string_value(json_object_get(rec, "blocked_reason")));
    else if (strcmp(state, "pending") == 0)
        snprintf(message, sizeof message, "%zu of %d approvals; still held",
                 json_array_size(approvals), ctx->reviewers_required);
    else
        snprintf(message, sizeof message, "%s; stays held", state);
    *result = result_json(state, approvals, rejections, ctx->reviewers_required, message);
    SL_CHECK(*result, SL_ERR_NOMEM, "out of memory");
cleanup:
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
    json_decref(doc);
    json_decref(votes);
    json_decref(vote);
    json_decref(approvals);
    json_decref(rejections);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One output's review summary. */
static json_t *review_item(const struct sl_review_ctx *ctx, const char *job_id,
                           const char *output, const json_t *votes)
{
    json_t *rec = json_object_get(json_object_get(votes, "outputs"), output);
    json_t *approvals, *rejections, *item;
    const char *state = tally(rec, ctx->reviewers_required, &approvals, &rejections);
    json_t *list = rec ? json_incref(json_object_get(rec, "votes")) : NULL;
    item = json_pack("{s:s,s:s,s:s,s:o,s:o,s:i,s:o}", "job_id", job_id, "output", output,
                     "state", state, "approvals", approvals, "rejections", rejections,
                     "required", ctx->reviewers_required, "votes", list ? list : json_array());
    if (item && rec && json_object_get(rec, "blocked_reason"))
        json_object_set(item, "blocked_reason", json_object_get(rec, "blocked_reason"));
    return item;
}

static json_t *read_votes(const struct sl_review_ctx *ctx, const char *job_id)
{
    char path[4096];
    json_t *votes = NULL;
    snprintf(path, sizeof path, "%s/%s/votes.json", ctx->held_dir, job_id);
    if (load_votes(path, job_id, &votes) != SL_OK)
        return NULL;
    return votes;
}

sl_status sl_review_list(const struct sl_review_ctx *ctx, json_t **out)
{
    sl_status st = SL_OK;
    DIR *dir = NULL;
    struct dirent *de;
    char **names = NULL, path[4096];
    size_t count = 0, cap = 0;
    json_t *list = json_array(), *doc = NULL, *votes = NULL;

    *out = NULL;
    SL_CHECK(list, SL_ERR_NOMEM, "out of memory");
    dir = opendir(ctx->held_dir);
    if (!dir && errno == ENOENT)
        goto done;
    SL_CHECK(dir, SL_ERR_IO, "%s: cannot read: %s", ctx->held_dir, strerror(errno));
    while ((de = readdir(dir)) != NULL) {
        if (!valid_name(de->d_name))
            continue;
        if (count == cap) {
            char **grown = sl_realloc(names, (cap ? cap * 2 : 16) * sizeof *names);
            SL_CHECK(grown, SL_ERR_NOMEM, "out of memory");
            names = grown;
            cap = cap ? cap * 2 : 16;
        }
        names[count] = sl_strdup(de->d_name);
        SL_CHECK(names[count], SL_ERR_NOMEM, "out of memory");
        count++;
    }
    if (count)
        qsort(names, count, sizeof *names, cmp_str);
    for (size_t k = 0; k < count; k++) {
        size_t i;
        json_t *o;
        snprintf(path, sizeof path, "%s/%s/results.json", ctx->held_dir, names[k]);
        if (load_json(path, &doc) != SL_OK)
            continue;
        votes = read_votes(ctx, names[k]);
        json_array_foreach(json_object_get(doc, "outputs"), i, o) {
            const char *status = json_string_value(json_object_get(o, "status"));
            const char *name = json_string_value(json_object_get(o, "name"));
            if (!status || !name || strcmp(status, "review") != 0)
                continue;
            SL_CHECK(json_array_append_new(list, review_item(ctx, names[k], name, votes)) == 0,
                     SL_ERR_NOMEM, "out of memory");
        }
        json_decref(doc);
        json_decref(votes);
        doc = votes = NULL;
    }
done:
    *out = list;
    list = NULL;
cleanup:
    if (dir)
        closedir(dir);
    for (size_t k = 0; k < count; k++)
        sl_free(names[k]);
    sl_free(names);
    json_decref(list);
    json_decref(doc);
    json_decref(votes);
    return st;
}

sl_status sl_review_show(const struct sl_review_ctx *ctx, const char *job_id, const char *output,
                         json_t **out)
{
    sl_status st = SL_OK;
    json_t *doc = NULL, *entry = NULL, *votes = NULL, *item = NULL, *copy;

    *out = NULL;
    SL_CALL(held_output(ctx, job_id, output, &doc, &entry));
    votes = read_votes(ctx, job_id);
    item = review_item(ctx, job_id, output, votes);
    copy = json_deep_copy(entry);
    SL_CHECK(item && copy, SL_ERR_NOMEM, "out of memory");
    json_object_del(copy, "ledger_entry");
    json_object_set(copy, "votes", json_object_get(item, "votes"));
    json_object_set(copy, "state", json_object_get(item, "state"));
    json_object_set(copy, "approvals", json_object_get(item, "approvals"));
    json_object_set(copy, "rejections", json_object_get(item, "rejections"));
    *out = copy;
cleanup:
    json_decref(doc);
    json_decref(votes);
    json_decref(item);
    return st;
}

/* ---- the command ---- */

static const char *usage_text =
    "usage: sluice review list [--policy POLICY]\n"
    "       sluice review show JOB/OUTPUT [--policy POLICY]\n"
    "       sluice review approve JOB/OUTPUT [--reason TEXT] [--policy POLICY]\n"
    "       sluice review reject JOB/OUTPUT --reason TEXT [--policy POLICY]\n"
    "\n"
    "Human review of outputs the release gate held (status review). An output is\n"
    "released into released/JOB/ once the policy's reviewers_required distinct\n"
    "users have approved it and nobody has rejected it; a rejection keeps it\n"
    "held, and approvals with rejections leave it conflicted. Failing outputs\n"
    "cannot be approved, and the user who ran a job cannot vote on it.\n"
    "\n"
    "The reviewer is the real user running the command (with sudo: SUDO_USER);\n"
    "voting again replaces your earlier vote. Every vote goes to the audit log.\n"
    "\n"
    "  --policy FILE   operator's policy (default: $SLUICE_POLICY)\n"
    "  --reason TEXT   why (required to reject)\n"
    "  -h, --help      this text\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 bad usage or no such output, 3 refused\n"
    "(failing output, own job, vote on a released output), 4 integrity failure.\n";

static void print_item(const json_t *item)
{
    size_t i;
    json_t *v;
    printf("%s/%s  %s  %zu/%lld approvals", json_string_value(json_object_get(item, "job_id")),
           json_string_value(json_object_get(item, "output")),
           json_string_value(json_object_get(item, "state")),
           json_array_size(json_object_get(item, "approvals")),
           (long long)json_integer_value(json_object_get(item, "required")));
    json_array_foreach(json_object_get(item, "votes"), i, v) {
        printf("%s %s %s", i ? "," : " ", json_string_value(json_object_get(v, "user")),
               json_string_value(json_object_get(v, "vote")));
    }
    printf("\n");
}

static void print_show(const struct sl_review_ctx *ctx, const char *job_id, const json_t *o)
{
    const json_t *m = json_object_get(o, "mitigation");
    char *spec = json_dumps(json_object_get(o, "spec"), JSON_COMPACT | JSON_ENCODE_ANY);
    size_t i, k;
    json_t *v, *c;

    printf("%s/%s: status %s, %s (%zu of %d approvals)\n", job_id,
           json_string_value(json_object_get(o, "name")),
           json_string_value(json_object_get(o, "status")),
           json_string_value(json_object_get(o, "state")),
           json_array_size(json_object_get(o, "approvals")), ctx->reviewers_required);
    printf("analysis: %s %s\n", json_string_value(json_object_get(o, "analysis")),
           spec ? spec : "");
    free(spec);
    json_array_foreach(json_object_get(o, "reasons"), i, v)
        printf("  reason: %s\n", json_string_value(v));
    if (m) {
        char *text = json_dumps(m, JSON_COMPACT);
        printf("mitigation: %s\n", text ? text : "");
        free(text);
    }
    printf("cells (level..., n, status, mitigation):\n");
    json_array_foreach(json_object_get(o, "cells"), i, c) {
        json_t *n = json_object_get(c, "n");
        printf(" ");
        json_array_foreach(json_object_get(c, "levels"), k, v)
            printf(" %s", json_string_value(v));
        if (json_is_integer(n))
            printf("  %lld", (long long)json_integer_value(n));
        else
            printf("  withheld");
        printf("  %s", json_string_value(json_object_get(c, "status")));
        if (json_object_get(c, "mitigation"))
            printf("  %s", json_string_value(json_object_get(c, "mitigation")));
        printf("\n");
    }
    printf("votes:\n");
    json_array_foreach(json_object_get(o, "votes"), i, v) {
        printf("  %s (uid %lld) %s at %s%s%s\n", json_string_value(json_object_get(v, "user")),
               (long long)json_integer_value(json_object_get(v, "uid")),
               json_string_value(json_object_get(v, "vote")),
               json_string_value(json_object_get(v, "time")),
               json_object_get(v, "reason") ? ": " : "",
               json_object_get(v, "reason") ? json_string_value(json_object_get(v, "reason"))
                                            : "");
    }
    json_array_foreach(json_object_get(o, "files"), i, v)
        printf("file: %s/%s/%s  sha256 %s\n", ctx->held_dir, job_id,
               json_string_value(json_object_get(v, "name")),
               json_string_value(json_object_get(v, "sha256")));
    printf("report: %s/%s/report.html\n", ctx->held_dir, job_id);
}

/* The audit log, and the ledger key (secret, the caller wipes it), both
 * derived from the audit key. */
static sl_status open_audit(const struct sl_policy *p, struct sl_audit **audit,
                            unsigned char ledger_key[32])
{
    sl_status st = SL_OK;
    const char *path = p->audit_key_file ? p->audit_key_file : p->key_file;

    SL_CHECK(path, SL_ERR_ARG, "%s: the policy names no key_file or audit_key_file; votes "
             "must be audited", p->path);
    SL_CALL(sl_ledger_audit_open(path, p->audit_log, p->audit_witness, audit, ledger_key));
cleanup:
    return st;
}

/* Splits "JOB/OUTPUT" in place. */
static sl_status split_target(char *target, char **job, char **output)
{
    sl_status st = SL_OK;
    char *slash = strchr(target, '/');
    SL_CHECK(slash && slash != target && slash[1], SL_ERR_ARG,
             "review: expected JOB/OUTPUT, got '%s'", target);
    *slash = '\0';
    *job = target;
    *output = slash + 1;
cleanup:
    return st;
}

static sl_status review_main(const char *cmd, const char *policy_path, const char *target_arg,
                             const char *reason)
{
    sl_status st = SL_OK;
    struct sl_policy *policy = NULL;
    struct sl_audit *audit = NULL;
    struct sl_review_ctx ctx;
    struct sl_reviewer who;
    json_t *out = NULL;
    char *target = NULL, *job = NULL, *output = NULL;
    unsigned char ledger_key[32];
    size_t i;
    json_t *v;

    SL_CHECK(policy_path, SL_ERR_ARG, "review: --policy FILE is required (or set SLUICE_POLICY)");
    SL_CALL(sl_policy_load(policy_path, &policy));
    ctx = (struct sl_review_ctx){policy->held_dir, policy->released_dir, policy->ledger_dir,
                                 policy->reviewers_required, NULL, NULL};
    if (strcmp(cmd, "list") == 0) {
        SL_CHECK(!target_arg, SL_ERR_ARG, "review list takes no JOB/OUTPUT");
        SL_CALL(sl_review_list(&ctx, &out));
        if (json_array_size(out) == 0)
            printf("no outputs held for review in %s\n", ctx.held_dir);
        json_array_foreach(out, i, v)
            print_item(v);
        goto cleanup;
    }
    SL_CHECK(target_arg, SL_ERR_ARG, "review %s: expected JOB/OUTPUT", cmd);
    target = sl_strdup(target_arg);
    SL_CHECK(target, SL_ERR_NOMEM, "out of memory");
    SL_CALL(split_target(target, &job, &output));
    if (strcmp(cmd, "show") == 0) {
        SL_CALL(sl_review_show(&ctx, job, output, &out));
        print_show(&ctx, job, out);
        goto cleanup;
    }
    SL_CALL(sl_review_identity(&who));
    SL_CALL(open_audit(policy, &audit, ledger_key));
    ctx.audit = audit;
    ctx.ledger_key = ledger_key;
    SL_CALL(sl_review_vote(&ctx, job, output, &who, strcmp(cmd, "approve") == 0, reason, &out));
    printf("%s %s %s/%s: %s\n", who.name, strcmp(cmd, "approve") == 0 ? "approved" : "rejected",
           job, output, json_string_value(json_object_get(out, "message")));
cleanup:
    json_decref(out);
    sl_free(target);
    sl_audit_close(&audit);
    sl_wipe(ledger_key, sizeof ledger_key);
    sl_policy_destroy(&policy);
    return st;
}

int sl_cmd_review(int argc, char **argv)
{
    static const struct option longs[] = {{"policy", required_argument, NULL, 'p'},
                                          {"reason", required_argument, NULL, 'r'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *policy = getenv("SLUICE_POLICY"), *reason = NULL, *cmd, *target = NULL;
    sl_status st;
    int c;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    if (strcmp(cmd, "list") != 0 && strcmp(cmd, "show") != 0 && strcmp(cmd, "approve") != 0 &&
        strcmp(cmd, "reject") != 0) {
        fprintf(stderr, "sluice review: unknown subcommand '%s'\n%s", cmd, usage_text);
        return 2;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': policy = optarg; break;
        case 'r': reason = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            fprintf(stderr, "sluice review: unknown or incomplete option '%s'\n%s",
                    argv[optind], usage_text);
            return 2;
        }
    }
    if (optind < argc - 1)
        target = argv[1 + optind++];
    if (optind < argc - 1) {
        fprintf(stderr, "sluice review: unexpected argument '%s'\n%s", argv[1 + optind],
                usage_text);
        return 2;
    }
    if (reason && strcmp(cmd, "approve") != 0 && strcmp(cmd, "reject") != 0) {
        fprintf(stderr, "sluice review: --reason goes with approve or reject\n%s", usage_text);
        return 2;
    }
    st = review_main(cmd, policy, target, reason);
    if (st != SL_OK) {
        fprintf(stderr, "sluice review: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    return 0;
}

/*
 * report.c - scoring from Criterion JSON reports (rules in report.h),
 * the state of an exercise's results, and the terminal report. The report
 * files are written by report_files.c.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPORT_MAX_JSON_BYTES (32L * 1024 * 1024)
#define REPORT_TAIL_BYTES 65536
#define REPORT_INDENT "            "

#define REPORT_WHY_NO_ASSERT \
    "passed without running any assertion (did the code exit early?)"
#define REPORT_WHY_NO_TIMING \
    "not measured: every functional test must pass first"
#define REPORT_WHY_TIMEOUT \
    "the test did not finish in time (endless loop, or waiting for an " \
    "event that never comes?)"
#define REPORT_WHY_CRASH \
    "the test crashed (invalid memory access, abort() or a sanitizer " \
    "error?); details in"

/* ------------------------------------------------------------------ */
/* Text helpers                                                        */
/* ------------------------------------------------------------------ */

/* Formats an error message into err (truncated to REPORT_ERR_LEN bytes). */
static void report_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, REPORT_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t report_utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/*
 * Makes s safe to print and to store in JSON, in place: invalid UTF-8
 * bytes and control characters other than '\n' and '\t' become '?'.
 */
static void report_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s), n;

    while (left > 0) {
        n = report_utf8_seq(p, left);
        if (n == 0 || (n == 1 && *p < 0x20 && *p != '\n' && *p != '\t') ||
            *p == 0x7f)
            *p = '?', n = 1;
        p += n;
        left -= n;
    }
}

static int report_set_string(char **dst, const char *src)
{
    char *copy = NULL;

    if (src != NULL && (copy = strdup(src)) == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

/* Number of lines in text (a final '\n' does not start a new line). */
static size_t report_count_lines(const char *text)
{
    size_t n = 0;

    for (; *text != '\0'; text++)
        if (*text == '\n' && text[1] != '\0')
            n++;
    return n + 1;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static int report_read_fd(int fd, char *buf, size_t want, size_t *got)
{
    ssize_t n;

    *got = 0;
    while (*got < want) {
        n = read(fd, buf + *got, want - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

/* Reads a whole file of at most max bytes; malloc'd, NUL-terminated. */
static char *report_read_file(const char *path, long max, size_t *len,
                              char err[REPORT_ERR_LEN])
{
    struct stat st;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
        report_seterr(err, "%s was not written", path);
        goto err;
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        report_seterr(err, "%s: %s", path, strerror(errno));
        goto err;
    }
    if (st.st_size > max) {
        report_seterr(err, "%s is larger than %ld bytes", path, max);
        goto err;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL || report_read_fd(fd, buf, (size_t)st.st_size, len) < 0) {
        report_seterr(err, "cannot read %s", path);
        goto err;
    }
    buf[*len] = '\0';
    close(fd);
    return buf;

err:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

/* Returns where the last `lines` lines of buf (len bytes) start. */
static char *report_tail_start(char *buf, size_t len, int lines)
{
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    while (len > 0) {
        if (buf[len - 1] == '\n' && --lines == 0)
            break;
        len--;
    }
    return buf + len;
}

/* Last lines of a log, sanitized; NULL when unreadable or empty. */
static char *report_read_tail(const char *path, int lines)
{
    char *buf = NULL, *tail = NULL;
    struct stat st;
    off_t off = 0;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0 || lines <= 0)
        goto out;
    if (st.st_size > REPORT_TAIL_BYTES)
        off = st.st_size - REPORT_TAIL_BYTES;
    buf = malloc(REPORT_TAIL_BYTES + 1);
    if (buf == NULL || lseek(fd, off, SEEK_SET) < 0 ||
        report_read_fd(fd, buf, REPORT_TAIL_BYTES, &got) < 0)
        goto out;
    buf[got] = '\0';
    tail = report_tail_start(buf, got, lines);
    tail = *tail != '\0' ? strdup(tail) : NULL;
    if (tail != NULL)
        report_sanitize(tail);

out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return tail;
}

/* ------------------------------------------------------------------ */
/* Criterion JSON: loading                                             */
/* ------------------------------------------------------------------ */

/*
 * Criterion 2.x writes assertion and skip messages into its JSON report
 * verbatim, without escaping quotes, backslashes, control characters or
 * invalid UTF-8 (see src/io/json.c upstream). Its layout is fixed, so the
 * message strings can be recognised line by line:
 *     12 spaces, '"', text, '"' [','] (one line of a failure message)
 *     10 spaces, "messages": ["text"] (crash/timeout/skip message)
 * report_repair_line re-escapes the text of such lines so that jansson
 * can parse the report. Other lines are copied unchanged.
 */
static const char report_msg_line[] = "            \"";
static const char report_msg_inline[] = "          \"messages\": [\"";

static int report_has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);

    return len >= plen && memcmp(s, prefix, plen) == 0;
}

static int report_has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t slen = strlen(suffix);

    return len >= slen && memcmp(s + len - slen, suffix, slen) == 0;
}

static void report_json_escape(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    while (len > 0) {
        n = report_utf8_seq(p, len);
        if (n == 0)
            fputc('?', out), n = 1;
        else if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fwrite(p, 1, n, out);
        p += n;
        len -= n;
    }
}

static void report_repair_line(FILE *out, const char *line, size_t len)
{
    size_t pre = 0, suf = 0;

    if (report_has_prefix(line, len, report_msg_line)) {
        pre = sizeof(report_msg_line) - 1;
        suf = report_has_suffix(line, len, "\",") ? 2
              : report_has_suffix(line, len, "\"") ? 1 : 0;
    } else if (report_has_prefix(line, len, report_msg_inline) &&
               report_has_suffix(line, len, "\"]")) {
        pre = sizeof(report_msg_inline) - 1;
        suf = 2;
    }
    if (suf == 0 || pre + suf > len) {
        fwrite(line, 1, len, out);
        return;
    }
    fwrite(line, 1, pre, out);
    report_json_escape(out, line + pre, len - pre - suf);
    fwrite(line + len - suf, 1, suf, out);
}

/* Returns a repaired, malloc'd copy of a Criterion 2.x report, or NULL. */
static char *report_repair_criterion(const char *text, size_t len,
                                     size_t *outlen)
{
    char *buf = NULL;
    const char *end = text + len, *eol;
    FILE *out = open_memstream(&buf, outlen);

    if (out == NULL)
        return NULL;
    while (text < end) {
        eol = memchr(text, '\n', (size_t)(end - text));
        if (eol == NULL)
            eol = end;
        report_repair_line(out, text, (size_t)(eol - text));
        if (eol < end)
            fputc('\n', out);
        text = eol + 1;
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int report_is_criterion_v2(const char *text)
{
    static const char id[] = "  \"id\": \"Criterion v2.";
    const char *nl = strchr(text, '\n');

    return nl != NULL && strncmp(nl + 1, id, sizeof(id) - 1) == 0;
}

/* Loads a Criterion JSON report; NULL with err set when unusable. */
static json_t *report_load_criterion(const char *path, char err[REPORT_ERR_LEN])
{
    char *text = NULL, *fixed = NULL;
    size_t len = 0, flen = 0;
    json_error_t jerr;
    json_t *root = NULL;

    text = report_read_file(path, REPORT_MAX_JSON_BYTES, &len, err);
    if (text == NULL)
        goto out;
    if (report_is_criterion_v2(text)) {
        fixed = report_repair_criterion(text, len, &flen);
        if (fixed == NULL) {
            report_seterr(err, "out of memory reading %s", path);
            goto out;
        }
    }
    root = json_loadb(fixed ? fixed : text, fixed ? flen : len, 0, &jerr);
    if (root == NULL)
        report_seterr(err, "%s:%d:%d: %s", path, jerr.line,
                      jerr.column, jerr.text);

out:
    free(text);
    free(fixed);
    return root;
}

/* Checks the shape that scoring relies on, so scoring cannot fail half-way. */
static int report_check_test(json_t *t)
{
    json_t *msgs = json_object_get(t, "messages");

    return json_is_object(t) && json_is_string(json_object_get(t, "name")) &&
           json_is_string(json_object_get(t, "status")) &&
           json_is_integer(json_object_get(t, "assertions")) &&
           (msgs == NULL || json_is_array(msgs));
}

static int report_check_shape(json_t *root, char err[REPORT_ERR_LEN])
{
    json_t *suites = json_object_get(root, "test_suites"), *suite, *t;
    size_t i, j;

    if (!json_is_array(suites))
        goto err;
    json_array_foreach(suites, i, suite) {
        if (!json_is_object(suite) ||
            !json_is_string(json_object_get(suite, "name")) ||
            !json_is_array(json_object_get(suite, "tests")))
            goto err;
        json_array_foreach(json_object_get(suite, "tests"), j, t)
            if (!report_check_test(t))
                goto err;
    }
    return 0;

err:
    report_seterr(err, "the test report does not have the "
                  "expected Criterion layout");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Scoring                                                             */
/* ------------------------------------------------------------------ */

static int report_result_set(struct report_result *res,
                             enum report_status status, int score,
                             const char *reason, const char *messages)
{
    res->status = status;
    res->score = score;
    if (report_set_string(&res->reason, reason) < 0 ||
        report_set_string(&res->messages, messages) < 0)
        return -1;
    return 0;
}

/* Removes from text (in place) the lines where a judge says how to rerun
 * the test: the report prints that line itself, after the messages, so
 * that the cut to REPORT_SHOWN_LINES never hides it. */
static void report_drop_rerun(char *text)
{
    char *in = text, *out = text;

    while (*in != '\0') {
        size_t len = strcspn(in, "\n"), lead = strspn(in, " ");
        int drop = strncmp(in + lead, REPORT_RERUN_PREFIX, strlen(REPORT_RERUN_PREFIX)) == 0;

        if (!drop) {
            if (out != text)
                *out++ = '\n';
            memmove(out, in, len);
            out += len;
        }
        in += len + (in[len] == '\n');
    }
    *out = '\0';
}

/* Joins the strings of a JSON array with '\n'; NULL when there are none. */
static char *report_join_messages(json_t *msgs)
{
    char *buf = NULL;
    size_t len = 0, i;
    int first = 1;
    json_t *m;
    FILE *out;

    if (json_array_size(msgs) == 0)
        return NULL;
    out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    json_array_foreach(msgs, i, m) {
        if (!json_is_string(m))
            continue;
        fprintf(out, "%s%s", first ? "" : "\n", json_string_value(m));
        first = 0;
    }
    if (fclose(out) != 0 || first) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL) {
        report_sanitize(buf); /* no terminal escapes from test output */
        report_drop_rerun(buf);
    }
    if (buf != NULL && buf[0] == '\0') {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Maps an ERRORED test to TIMEOUT or CRASH. */
static enum report_status report_errored(const char *msgs, int *keep)
{
    *keep = 0;
    if (msgs != NULL && strstr(msgs, "timed out") != NULL)
        return REPORT_TIMEOUT;
    if (msgs == NULL || strstr(msgs, "crashed") == NULL)
        *keep = 1;
    return REPORT_CRASH;
}

static int report_classify(struct report_result *res, json_t *t, int points,
                           const char *test_log)
{
    const char *status = json_string_value(json_object_get(t, "status"));
    json_int_t asserts = json_integer_value(json_object_get(t, "assertions"));
    char *msgs = report_join_messages(json_object_get(t, "messages"));
    enum report_status st = REPORT_FAIL;
    const char *reason = NULL;
    char why[PATH_MAX + 128];
    int keep = 0, score = 0, rc;

    if (strcmp(status, "PASSED") == 0 && asserts > 0)
        st = REPORT_OK, score = points;
    else if (strcmp(status, "PASSED") == 0)
        reason = REPORT_WHY_NO_ASSERT;
    else if (strcmp(status, "FAILED") == 0)
        keep = 1, reason = msgs == NULL ? "an assertion failed" : NULL;
    else if (strcmp(status, "ERRORED") == 0)
        st = report_errored(msgs, &keep);
    else if (strcmp(status, "SKIPPED") == 0)
        keep = 1, reason = "skipped";
    else
        reason = "unknown status in the test report";
    if (st == REPORT_TIMEOUT)
        reason = REPORT_WHY_TIMEOUT;
    if (st == REPORT_CRASH) {
        snprintf(why, sizeof(why), "%s %s", REPORT_WHY_CRASH, test_log);
        reason = why;
    }
    rc = report_result_set(res, st, score, reason, keep ? msgs : NULL);
    res->rerun = st != REPORT_OK;
    free(msgs);
    return rc;
}

/* Counts the entries of suite::test in the report; *entry is the last. */
static size_t report_find_entry(json_t *root, const char *suite,
                                const char *test, json_t **entry)
{
    json_t *s, *t;
    size_t i, j, n = 0;

    *entry = NULL;
    json_array_foreach(json_object_get(root, "test_suites"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), suite) != 0)
            continue;
        json_array_foreach(json_object_get(s, "tests"), j, t) {
            if (strcmp(json_string_value(json_object_get(t, "name")),
                       test) != 0)
                continue;
            *entry = t;
            n++;
        }
    }
    return n;
}

static int report_twice(struct report_exercise *ex, size_t idx,
                        char err[REPORT_ERR_LEN])
{
    const struct rubric_test *t = &ex->rubric->tests[idx];
    char msg[REPORT_ERR_LEN];

    snprintf(msg, sizeof(msg), "test report error: test %s::%s is reported "
             "twice (parameterized tests and theories are not supported)",
             t->suite, t->test);
    if (report_result_set(&ex->results[idx], REPORT_FAIL, 0, "reported twice",
                          NULL) < 0) {
        report_seterr(err, "out of memory");
        return -1;
    }
    return report_add_error(ex, msg, err);
}

static void report_sum(struct report_exercise *ex)
{
    size_t i;

    ex->score = 0;
    for (i = 0; i < ex->rubric->ntests; i++)
        ex->score += ex->results[i].score;
    if (ex->rubric->timing != NULL)
        ex->score += ex->timing.score;
    if (ex->rubric->memcheck != NULL)
        ex->score += ex->memcheck.score;
}

int report_score_test(struct report_exercise *ex, size_t idx,
                      const char *json_path, const char *test_log,
                      char err[REPORT_ERR_LEN])
{
    const struct rubric_test *t = &ex->rubric->tests[idx];
    json_t *root = NULL, *entry = NULL;
    size_t n;
    int rc = -1;

    root = report_load_criterion(json_path, err);
    if (root == NULL || report_check_shape(root, err) < 0)
        goto out;
    n = report_find_entry(root, t->suite, t->test, &entry);
    if (n > 1)
        rc = report_twice(ex, idx, err);
    else if (n == 0)
        rc = report_result_set(&ex->results[idx], REPORT_FAIL, 0,
                               "missing from the test report", NULL);
    else
        rc = report_classify(&ex->results[idx], entry, t->points, test_log);
    if (rc < 0 && n <= 1)
        report_seterr(err, "out of memory");

out:
    report_sum(ex);
    if (root != NULL)
        json_decref(root);
    return rc;
}

int report_set_result(struct report_exercise *ex, size_t idx,
                      enum report_status status, int score,
                      const char *reason, const char *messages,
                      char err[REPORT_ERR_LEN])
{
    int rc = report_result_set(&ex->results[idx], status, score, reason,
                               messages);

    if (rc < 0)
        report_seterr(err, "out of memory");
    report_sum(ex);
    return rc;
}

int report_set_coverage(struct report_exercise *ex,
                        const struct report_coverage *c,
                        char err[REPORT_ERR_LEN])
{
    char *reason = NULL;

    if (c->reason != NULL && (reason = strdup(c->reason)) == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    free(ex->coverage.reason);
    ex->coverage = *c;
    ex->coverage.reason = reason;
    return 0;
}

void report_coverage_text(const struct report_exercise *ex, char *buf,
                          size_t len)
{
    const struct report_coverage *c = &ex->coverage;

    if (c->measured)
        snprintf(buf, len, "%.1f%% of the lines of your TODO files ran during "
                 "the tests (%ld of %ld)", c->percent, c->covered, c->total);
    else
        snprintf(buf, len, "not measured: %s",
                 c->reason != NULL ? c->reason : "unknown reason");
}

int report_set_timing(struct report_exercise *ex,
                      const struct report_timing *t,
                      char err[REPORT_ERR_LEN])
{
    char *reason = NULL;

    if (t->reason != NULL && (reason = strdup(t->reason)) == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    free(ex->timing.reason);
    ex->timing = *t;
    ex->timing.reason = reason;
    report_sum(ex);
    return 0;
}

int report_set_memcheck(struct report_exercise *ex, const struct report_memcheck *m,
                        char err[REPORT_ERR_LEN])
{
    char *reason = NULL;

    if (m->reason != NULL && (reason = strdup(m->reason)) == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    free(ex->memcheck.reason);
    ex->memcheck = *m;
    ex->memcheck.reason = reason;
    report_sum(ex);
    return 0;
}

void report_memcheck_text(const struct report_exercise *ex, char *buf, size_t len)
{
    const struct report_memcheck *m = &ex->memcheck;

    if (!m->checked)
        snprintf(buf, len, "not checked: %s", m->reason ? m->reason : "unknown reason");
    else if (m->clean == m->passed)
        snprintf(buf, len, "no memory error or leak in the %d test%s that pass%s, run again "
                 "with ASan, UBSan and LeakSanitizer", m->passed, m->passed == 1 ? "" : "s",
                 m->passed == 1 ? "es" : "");
    else
        snprintf(buf, len, "the sanitizers found a problem in %d of the %d tests that pass: %s",
                 m->passed - m->clean, m->passed, m->reason ? m->reason : "");
}

int report_all_passed(const struct report_exercise *ex)
{
    size_t i;

    for (i = 0; i < ex->rubric->ntests; i++)
        if (ex->results[i].status != REPORT_OK)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Exercise state                                                      */
/* ------------------------------------------------------------------ */

int report_exercise_init(struct report_exercise *ex, const struct rubric *r,
                         char err[REPORT_ERR_LEN])
{
    memset(ex, 0, sizeof(*ex));
    ex->rubric = r;
    ex->status = REPORT_EX_GRADED;
    ex->results = calloc(r->ntests, sizeof(*ex->results));
    if (ex->results == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    return 0;
}

void report_exercise_clear(struct report_exercise *ex)
{
    size_t i;

    if (ex->results != NULL && ex->rubric != NULL) {
        for (i = 0; i < ex->rubric->ntests; i++) {
            free(ex->results[i].reason);
            free(ex->results[i].messages);
        }
    }
    free(ex->results);
    free(ex->timing.reason);
    free(ex->memcheck.reason);
    free(ex->coverage.reason);
    free(ex->note);
    free(ex->log_path);
    free(ex->log_tail);
    free(ex->errors);
    free(ex->info);
    memset(ex, 0, sizeof(*ex));
}

int report_fail_all(struct report_exercise *ex, enum report_ex_status ex_status,
                    enum report_status status, const char *note,
                    const char *log_path, int tail_lines,
                    char err[REPORT_ERR_LEN])
{
    size_t i;

    for (i = 0; i < ex->rubric->ntests; i++)
        if (report_result_set(&ex->results[i], status, 0, NULL, NULL) < 0)
            goto oom;
    if (report_set_string(&ex->note, note) < 0 ||
        report_set_string(&ex->log_path, log_path) < 0)
        goto oom;
    free(ex->log_tail);
    ex->log_tail = log_path != NULL ? report_read_tail(log_path, tail_lines)
                                    : NULL;
    free(ex->timing.reason);
    memset(&ex->timing, 0, sizeof(ex->timing));
    if (ex->rubric->timing != NULL &&
        report_set_string(&ex->timing.reason, REPORT_WHY_NO_TIMING) < 0)
        goto oom;
    free(ex->memcheck.reason);
    memset(&ex->memcheck, 0, sizeof(ex->memcheck));
    if (ex->rubric->memcheck != NULL &&
        report_set_string(&ex->memcheck.reason, "no test ran") < 0)
        goto oom;
    if (ex->status != REPORT_EX_ERROR)
        ex->status = ex_status;
    ex->score = 0;
    return 0;

oom:
    report_seterr(err, "out of memory");
    return -1;
}

int report_add_info(struct report_exercise *ex, const char *msg,
                    char err[REPORT_ERR_LEN])
{
    size_t old = ex->info ? strlen(ex->info) : 0, add = strlen(msg);
    char *grown = realloc(ex->info, old + add + 2);

    if (grown == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    if (old > 0)
        grown[old++] = '\n';
    memcpy(grown + old, msg, add + 1);
    ex->info = grown;
    return 0;
}

int report_add_error(struct report_exercise *ex, const char *msg,
                     char err[REPORT_ERR_LEN])
{
    size_t old = ex->errors != NULL ? strlen(ex->errors) : 0;
    char *grown = realloc(ex->errors, old + strlen(msg) + 2);

    if (grown == NULL) {
        report_seterr(err, "out of memory");
        return -1;
    }
    if (old > 0)
        grown[old++] = '\n';
    strcpy(grown + old, msg);
    ex->errors = grown;
    ex->status = REPORT_EX_ERROR;
    return 0;
}

void report_totals(const struct report_run *run, int *score, int *max_score)
{
    size_t i;

    *score = 0;
    *max_score = 0;
    for (i = 0; i < run->count; i++) {
        *score += run->exercises[i].score;
        *max_score += run->exercises[i].rubric->max_score;
    }
}

const char *report_status_name(enum report_status status)
{
    switch (status) {
    case REPORT_OK: return "OK";
    case REPORT_FAIL: return "FAIL";
    case REPORT_TIMEOUT: return "TIMEOUT";
    case REPORT_CRASH: return "CRASH";
    case REPORT_REJECTED: return "REJECTED";
    default: return "UNGRADABLE";
    }
}

const char *report_ex_status_name(enum report_ex_status status)
{
    switch (status) {
    case REPORT_EX_GRADED: return "graded";
    case REPORT_EX_UNGRADABLE: return "ungradable";
    case REPORT_EX_REJECTED: return "rejected";
    default: return "error";
    }
}

void report_timing_text(const struct report_exercise *ex, char *buf,
                        size_t len)
{
    const struct report_timing *t = &ex->timing;
    int n = 0;

    if (t->measured)
        n = snprintf(buf, len, "yours %.1f ms, reference %.1f ms (medians of %d runs "
                     "in turns), ratio %.2f", t->sub_ms, t->ref_ms, t->rounds,
                     t->ratio);
    if (n < 0 || (size_t)n >= len)
        return;
    if (t->reason != NULL)
        snprintf(buf + n, len - (size_t)n, "%s%s", t->measured ? ": " : "",
                 t->reason);
    else if (!t->measured)
        snprintf(buf, len, "not measured");
}

/* ------------------------------------------------------------------ */
/* Terminal report                                                     */
/* ------------------------------------------------------------------ */

struct report_style {
    const char *bold, *green, *red, *reset;
};

static struct report_style report_style_for(int colour)
{
    struct report_style on = { "\033[1m", "\033[32m", "\033[31m", "\033[0m" };
    struct report_style off = { "", "", "", "" };

    return colour ? on : off;
}

const char *report_rerun_line(const struct report_exercise *ex, size_t i)
{
    static char line[512];
    const struct rubric_test *t = &ex->rubric->tests[i];

    snprintf(line, sizeof(line), REPORT_RERUN_PREFIX "make %s TEST=%s::%s (under valgrind or "
             "gdb: docs/en/grading.md#debugging-a-failing-test)", ex->rubric->id, t->suite,
             t->test);
    return line;
}

void report_print_lines(FILE *out, const char *indent, const char *text,
                               size_t max)
{
    size_t total = report_count_lines(text), shown = 0, len;

    while (*text != '\0' && (max == 0 || shown < max)) {
        len = strcspn(text, "\n");
        fprintf(out, "%s%.*s\n", indent, (int)len, text);
        text += len + (text[len] == '\n');
        shown++;
    }
    if (shown < total)
        fprintf(out, "%s... (%zu more line%s)\n", indent, total - shown,
                total - shown == 1 ? "" : "s");
}

static void report_print_test(FILE *out, const struct report_exercise *ex,
                              size_t i, int brief, const struct report_style *st)
{
    const struct report_result *res = &ex->results[i];
    const struct rubric_test *t = &ex->rubric->tests[i];
    char pts[32];

    snprintf(pts, sizeof(pts), "%d/%d", res->score, t->points);
    fprintf(out, "  %s%-9s%s %s  %s\n",
            res->status == REPORT_OK ? st->green : st->red,
            report_status_name(res->status), st->reset, pts, t->title);
    if (res->status == REPORT_OK || brief)
        return;
    if (res->reason != NULL)
        report_print_lines(out, REPORT_INDENT, res->reason, 0);
    if (res->messages != NULL)
        report_print_lines(out, REPORT_INDENT, res->messages,
                           REPORT_SHOWN_LINES);
    if (res->rerun)
        fprintf(out, "%s%s\n", REPORT_INDENT, report_rerun_line(ex, i));
    if (t->hint != NULL && res->status != REPORT_UNGRADABLE &&
        res->status != REPORT_REJECTED)
        fprintf(out, "%shint: %s\n", REPORT_INDENT, t->hint);
}

static void report_print_timing(FILE *out, const struct report_exercise *ex,
                                const struct report_style *st)
{
    const struct rubric_timing *rt = ex->rubric->timing;
    char pts[32], text[512];

    if (rt == NULL)
        return;
    snprintf(pts, sizeof(pts), "%d/%d", ex->timing.score, rt->points);
    report_timing_text(ex, text, sizeof(text));
    fprintf(out, "  %s%-9s%s %s  %s: %s\n",
            ex->timing.score == rt->points ? st->green : st->red, "TIMING",
            st->reset, pts, rt->title, text);
}

static void report_print_memcheck(FILE *out, const struct report_exercise *ex,
                                  const struct report_style *st)
{
    const struct rubric_memcheck *rm = ex->rubric->memcheck;
    char pts[32], text[1024];

    if (rm == NULL)
        return;
    snprintf(pts, sizeof(pts), "%d/%d", ex->memcheck.score, rm->points);
    report_memcheck_text(ex, text, sizeof(text));
    fprintf(out, "  %s%-9s%s %s  %s: ", ex->memcheck.score == rm->points ? st->green : st->red,
            "MEMCHECK", st->reset, pts, rm->title);
    /* The first line inline, the rest (a sanitizer's report) indented. */
    fprintf(out, "%.*s\n", (int)strcspn(text, "\n"), text);
    if (strchr(text, '\n') != NULL)
        report_print_lines(out, REPORT_INDENT, strchr(text, '\n') + 1, REPORT_SHOWN_LINES + 2);
    if (ex->memcheck.score < rm->points && rm->hint != NULL && ex->memcheck.checked)
        fprintf(out, "%shint: %s\n", REPORT_INDENT, rm->hint);
}

static void report_print_notes(FILE *out, const struct report_exercise *ex,
                               const struct report_style *st)
{
    if (ex->errors != NULL) {
        fprintf(out, "%s%s", st->bold, st->red);
        report_print_lines(out, "  ", ex->errors, 0);
        fprintf(out, "%s", st->reset);
    }
    if (ex->info != NULL)
        report_print_lines(out, "  ", ex->info, 0);
    if (ex->note == NULL)
        return;
    fprintf(out, "%s", st->red);
    report_print_lines(out, "  ", ex->note, 0);
    fprintf(out, "%s", st->reset);
    if (ex->log_tail != NULL)
        report_print_lines(out, "    | ", ex->log_tail, 0);
    if (ex->log_path != NULL)
        fprintf(out, "    (full log: %s)\n", ex->log_path);
}

void report_print_exercise(FILE *out, const struct report_exercise *ex,
                           int colour)
{
    struct report_style st = report_style_for(colour);
    size_t i;

    fprintf(out, "%s== %s: %s ==%s\n", st.bold, ex->rubric->exdir,
            ex->rubric->title, st.reset);
    report_print_notes(out, ex, &st);
    /* While no test passes, the details of the first failure are enough:
     * the others fail for the same reason, a TODO not written yet. */
    size_t passed = 0, shown = 0;
    for (i = 0; i < ex->rubric->ntests; i++)
        passed += ex->results[i].status == REPORT_OK;
    for (i = 0; i < ex->rubric->ntests; i++) {
        int failed_run = ex->results[i].status == REPORT_FAIL ||
                         ex->results[i].status == REPORT_TIMEOUT ||
                         ex->results[i].status == REPORT_CRASH;
        report_print_test(out, ex, i, passed == 0 && failed_run && shown > 0, &st);
        shown += failed_run;
    }
    if (passed == 0 && shown > 1)
        fprintf(out, "  (no test passes yet: the details of the first failure only; make %s "
                "shows them all)\n", ex->rubric->id);
    report_print_memcheck(out, ex, &st);
    report_print_timing(out, ex, &st);
    if (ex->coverage.asked) {
        char text[512];
        report_coverage_text(ex, text, sizeof(text));
        fprintf(out, "  %-9s       %s\n", "COVERAGE", text);
    }
    fprintf(out, "  %sExercise score: %d/%d%s\n\n", st.bold, ex->score,
            ex->rubric->max_score, st.reset);
}


void report_print_next_step(FILE *out, const struct report_run *run, int colour)
{
    struct report_style st = report_style_for(colour);

    for (size_t e = 0; e < run->count; e++) {
        const struct report_exercise *ex = &run->exercises[e];
        const struct rubric *r = ex->rubric;
        if (ex->score >= r->max_score || ex->status == REPORT_EX_ERROR)
            continue;
        fprintf(out, "%sNext step%s (%s, %d/%d):\n", st.bold, st.reset, r->exdir, ex->score,
                r->max_score);
        if (ex->status != REPORT_EX_GRADED) {
            fprintf(out, "  make it %s first: see the message under its heading above\n",
                    ex->status == REPORT_EX_REJECTED ? "pass the static check" : "compile");
            return;
        }
        for (size_t i = 0; i < r->ntests; i++) {
            const struct rubric_test *t = &r->tests[i];
            if (ex->results[i].status == REPORT_OK)
                continue;
            fprintf(out, "  the first test that does not pass: %s (%s::%s)\n", t->title, t->suite,
                    t->test);
            if (t->hint != NULL)
                fprintf(out, "  read: %s\n", t->hint);
            fprintf(out, "  run it alone: make %s TEST=%s::%s\n", r->id, t->suite, t->test);
            return;
        }
        if (r->memcheck != NULL && ex->memcheck.score < r->memcheck->points) {
            fprintf(out, "  every test passes; the memory check does not: see its line above%s%s\n",
                    r->memcheck->hint ? ", and " : "", r->memcheck->hint ? r->memcheck->hint : "");
            return;
        }
        fprintf(out, "  every test passes; the timing does not yet: see its line above\n");
        return;
    }
}

void report_print_warning(FILE *out, const char *text, int colour)
{
    struct report_style st = report_style_for(colour);

    if (text == NULL)
        return;
    fprintf(out, "%s%s", st.bold, st.red);
    report_print_lines(out, "!! ", text, 0);
    fprintf(out, "%s\n", st.reset);
}

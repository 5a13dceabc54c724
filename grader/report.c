/*
 * report.c - scoring from Criterion JSON reports and report output.
 *
 * Scoring rules, per rubric test (suite + test name), from the test's own
 * entry in the Criterion JSON report (top-level counters are ignored):
 *   PASSED with assertions > 0     OK, full points
 *   PASSED with no assertion       FAIL (the code probably exited early)
 *   FAILED                         FAIL, messages kept
 *   ERRORED "...timed out..."      TIMEOUT
 *   ERRORED "...crashed..."/other  CRASH
 *   SKIPPED                        FAIL, messages kept
 *   absent from the report         FAIL
 *   reported twice                 FAIL, and a grading error
 *   in the report, not the rubric  grading error (rubric bug)
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
#define REPORT_JSON_MAX_LINES 60 /* message lines kept in results.json */
#define REPORT_INDENT "            "

#define REPORT_WHY_NO_ASSERT \
    "passed without running any assertion (did the code exit early?)"
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

/* Writes data to path through a temporary file and rename(). */
static int report_write_atomic(const char *path, const char *data,
                               char err[REPORT_ERR_LEN])
{
    char tmp[PATH_MAX];
    size_t len = strlen(data);
    FILE *f = NULL;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        report_seterr(err, "path too long: %s", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        report_seterr(err, "cannot write %s: %s", tmp,
                      strerror(errno));
        goto err;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        f = NULL;
        report_seterr(err, "cannot write %s: %s", path,
                      strerror(errno));
        goto err;
    }
    return 0;

err:
    if (f != NULL)
        fclose(f);
    unlink(tmp);
    return -1;
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
    if (buf != NULL)
        report_sanitize(buf); /* no terminal escapes from test output */
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
    free(msgs);
    return rc;
}

static int report_apply_test(struct report_exercise *ex, const char *suite,
                             json_t *t, unsigned char *seen,
                             const char *test_log, char err[REPORT_ERR_LEN])
{
    const char *name = json_string_value(json_object_get(t, "name"));
    long idx = rubric_find_test(ex->rubric, suite, name);
    char msg[REPORT_ERR_LEN];

    if (idx < 0) {
        snprintf(msg, sizeof(msg), "rubric error: test %s::%s is not in "
                 "rubric.json", suite, name);
        return report_add_error(ex, msg, err);
    }
    if (seen[idx]) {
        snprintf(msg, sizeof(msg), "test report error: test %s::%s is "
                 "reported twice (parameterized tests and theories are not "
                 "supported)", suite, name);
        if (report_result_set(&ex->results[idx], REPORT_FAIL, 0,
                              "reported twice", NULL) < 0)
            goto oom;
        return report_add_error(ex, msg, err);
    }
    seen[idx] = 1;
    if (report_classify(&ex->results[idx], t,
                        ex->rubric->tests[idx].points, test_log) < 0)
        goto oom;
    return 0;

oom:
    report_seterr(err, "out of memory");
    return -1;
}

static int report_apply(struct report_exercise *ex, json_t *root,
                        unsigned char *seen, const char *test_log,
                        char err[REPORT_ERR_LEN])
{
    json_t *suite, *t;
    const char *name;
    size_t i, j;

    json_array_foreach(json_object_get(root, "test_suites"), i, suite) {
        name = json_string_value(json_object_get(suite, "name"));
        json_array_foreach(json_object_get(suite, "tests"), j, t)
            if (report_apply_test(ex, name, t, seen, test_log, err) < 0)
                return -1;
    }
    for (i = 0; i < ex->rubric->ntests; i++) {
        if (!seen[i] &&
            report_result_set(&ex->results[i], REPORT_FAIL, 0,
                              "missing from the test report", NULL) < 0) {
            report_seterr(err, "out of memory");
            return -1;
        }
    }
    return 0;
}

static void report_sum(struct report_exercise *ex)
{
    size_t i;

    ex->score = 0;
    for (i = 0; i < ex->rubric->ntests; i++)
        ex->score += ex->results[i].score;
}

int report_score_criterion(struct report_exercise *ex, const char *json_path,
                           const char *test_log, char err[REPORT_ERR_LEN])
{
    unsigned char *seen = NULL;
    json_t *root = NULL;
    int rc = -1;

    root = report_load_criterion(json_path, err);
    if (root == NULL || report_check_shape(root, err) < 0)
        goto out;
    seen = calloc(ex->rubric->ntests, 1);
    if (seen == NULL) {
        report_seterr(err, "out of memory");
        goto out;
    }
    if (report_apply(ex, root, seen, test_log, err) < 0)
        goto out;
    if (ex->status != REPORT_EX_ERROR)
        ex->status = REPORT_EX_GRADED;
    rc = 0;

out:
    report_sum(ex);
    free(seen);
    if (root != NULL)
        json_decref(root);
    return rc;
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
    free(ex->note);
    free(ex->log_path);
    free(ex->log_tail);
    free(ex->errors);
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
    if (ex->status != REPORT_EX_ERROR)
        ex->status = ex_status;
    ex->score = 0;
    return 0;

oom:
    report_seterr(err, "out of memory");
    return -1;
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
    default: return "UNGRADABLE";
    }
}

static const char *report_ex_status_name(enum report_ex_status status)
{
    switch (status) {
    case REPORT_EX_GRADED: return "graded";
    case REPORT_EX_UNGRADABLE: return "ungradable";
    default: return "error";
    }
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

/*
 * Prints the lines of text, each prefixed by indent; at most max lines
 * (0: all), followed by a count of the lines left out.
 */
static void report_print_lines(FILE *out, const char *indent, const char *text,
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
                              size_t i, const struct report_style *st)
{
    const struct report_result *res = &ex->results[i];
    const struct rubric_test *t = &ex->rubric->tests[i];
    char pts[32];

    snprintf(pts, sizeof(pts), "%d/%d", res->score, t->points);
    fprintf(out, "  %s%-9s%s %s  %s\n",
            res->status == REPORT_OK ? st->green : st->red,
            report_status_name(res->status), st->reset, pts, t->title);
    if (res->status == REPORT_OK)
        return;
    if (res->reason != NULL)
        report_print_lines(out, REPORT_INDENT, res->reason, 0);
    if (res->messages != NULL)
        report_print_lines(out, REPORT_INDENT, res->messages,
                           REPORT_SHOWN_LINES);
    if (t->hint != NULL && res->status != REPORT_UNGRADABLE)
        fprintf(out, "%shint: %s\n", REPORT_INDENT, t->hint);
}

static void report_print_notes(FILE *out, const struct report_exercise *ex,
                               const struct report_style *st)
{
    if (ex->errors != NULL) {
        fprintf(out, "%s%s", st->bold, st->red);
        report_print_lines(out, "  ", ex->errors, 0);
        fprintf(out, "%s", st->reset);
    }
    if (ex->note == NULL)
        return;
    fprintf(out, "  %s%s%s\n", st->red, ex->note, st->reset);
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
    for (i = 0; i < ex->rubric->ntests; i++)
        report_print_test(out, ex, i, &st);
    fprintf(out, "  %sExercise score: %d/%d%s\n\n", st.bold, ex->score,
            ex->rubric->max_score, st.reset);
}

/* ------------------------------------------------------------------ */
/* results.json                                                        */
/* ------------------------------------------------------------------ */

/* Text of a test for results.json: explanation, messages, hint. */
static char *report_test_output(const struct report_exercise *ex, size_t i)
{
    const struct report_result *res = &ex->results[i];
    const char *hint = ex->rubric->tests[i].hint;
    int whole = res->reason == NULL && res->messages == NULL; /* fail_all */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    if (res->status != REPORT_OK) {
        if (res->reason != NULL)
            report_print_lines(out, "", res->reason, 0);
        if (res->messages != NULL)
            report_print_lines(out, "", res->messages, REPORT_JSON_MAX_LINES);
        if (whole && ex->note != NULL)
            fprintf(out, "%s\n", ex->note);
        if (whole && ex->log_tail != NULL)
            fprintf(out, "%s\n", ex->log_tail);
        if (hint != NULL && res->status != REPORT_UNGRADABLE)
            fprintf(out, "hint: %s\n", hint);
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static json_t *report_json_test(const struct report_exercise *ex, size_t exi,
                                size_t i)
{
    const struct rubric_test *t = &ex->rubric->tests[i];
    char name[512], number[48];
    char *output = report_test_output(ex, i);
    json_t *obj = NULL;

    if (output == NULL)
        return NULL;
    snprintf(name, sizeof(name), "%s \xc2\xb7 %s", ex->rubric->id, t->title);
    snprintf(number, sizeof(number), "%zu.%zu", exi + 1, i + 1);
    /* "status" is Gradescope's passed/failed; "result" is our finer verdict. */
    obj = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:[s,s], s:s}",
                    "name", name, "number", number,
                    "score", ex->results[i].score, "max_score", t->points,
                    "status", ex->results[i].status == REPORT_OK ? "passed" : "failed",
                    "result", report_status_name(ex->results[i].status),
                    "output", output, "tags", ex->rubric->id, t->suite,
                    "visibility", "visible");
    free(output);
    return obj;
}

/* Text of an exercise for results.json: grading errors, note, log tail. */
static char *report_exercise_output(const struct report_exercise *ex)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    if (ex->errors != NULL)
        fprintf(out, "%s\n", ex->errors);
    if (ex->note != NULL)
        fprintf(out, "%s\n", ex->note);
    if (ex->log_tail != NULL)
        fprintf(out, "%s\n", ex->log_tail);
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static json_t *report_json_exercise(const struct report_exercise *ex)
{
    char *output = report_exercise_output(ex);
    json_t *obj = NULL;

    if (output == NULL)
        return NULL;
    obj = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s}",
                    "id", ex->rubric->id, "dir", ex->rubric->exdir,
                    "title", ex->rubric->title, "score", ex->score,
                    "max_score", ex->rubric->max_score,
                    "status", report_ex_status_name(ex->status),
                    "output", output);
    free(output);
    return obj;
}

/* Short text summary: the total, then one line per exercise. */
static char *report_summary_text(const struct report_run *run)
{
    const struct report_exercise *ex;
    char *buf = NULL;
    size_t len = 0, i;
    int score, max;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    report_totals(run, &score, &max);
    fprintf(out, "Score: %d/%d\n", score, max);
    for (i = 0; i < run->count; i++) {
        ex = &run->exercises[i];
        fprintf(out, "%s: %d/%d (%s)\n", ex->rubric->exdir, ex->score,
                ex->rubric->max_score, report_ex_status_name(ex->status));
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Appends to `array` the tests and the exercise entry of every exercise. */
static int report_json_fill(const struct report_run *run, json_t *tests,
                            json_t *exercises)
{
    const struct report_exercise *ex;
    size_t i, j;

    for (i = 0; i < run->count; i++) {
        ex = &run->exercises[i];
        for (j = 0; j < ex->rubric->ntests; j++)
            if (json_array_append_new(tests, report_json_test(ex, i, j)) < 0)
                return -1;
        if (json_array_append_new(exercises, report_json_exercise(ex)) < 0)
            return -1;
    }
    return 0;
}

static json_t *report_json_run(const struct report_run *run)
{
    json_t *root = NULL, *tests = json_array(), *exercises = json_array();
    char *summary = report_summary_text(run);
    int score, max;

    if (summary == NULL || tests == NULL || exercises == NULL ||
        report_json_fill(run, tests, exercises) < 0)
        goto out;
    report_totals(run, &score, &max);
    root = json_pack("{s:i, s:i, s:f, s:s, s:s, s:s, s:O, s:O}",
                     "score", score, "max_score", max,
                     "execution_time", run->execution_time,
                     "output", summary, "visibility", "visible",
                     "stdout_visibility", "visible",
                     "tests", tests, "exercises", exercises);

out:
    free(summary);
    json_decref(tests);
    json_decref(exercises);
    return root;
}

/* ------------------------------------------------------------------ */
/* summary.md                                                          */
/* ------------------------------------------------------------------ */

/* Writes s as the text of a Markdown table cell. */
static void report_md_cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else
            fputc(*s == '\n' ? ' ' : *s, out);
    }
}

static void report_md_exercise(FILE *out, const struct report_exercise *ex)
{
    const struct rubric_test *t;
    size_t i;

    for (i = 0; i < ex->rubric->ntests; i++) {
        t = &ex->rubric->tests[i];
        fprintf(out, "| %s | ", ex->rubric->id);
        report_md_cell(out, t->title);
        fprintf(out, " | %s | %d/%d |\n",
                report_status_name(ex->results[i].status),
                ex->results[i].score, t->points);
    }
}

static char *report_markdown(const struct report_run *run)
{
    char *buf = NULL;
    size_t len = 0, i;
    int score, max;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    report_totals(run, &score, &max);
    fprintf(out, "## Grading results\n\n");
    fprintf(out, "| Exercise | Test | Status | Points |\n");
    fprintf(out, "| --- | --- | --- | --- |\n");
    for (i = 0; i < run->count; i++)
        report_md_exercise(out, &run->exercises[i]);
    fprintf(out, "\n**Score: %d/%d**\n", score, max);
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int report_append_step_summary(const char *md, char err[REPORT_ERR_LEN])
{
    const char *path = getenv("GITHUB_STEP_SUMMARY");
    FILE *f;

    if (path == NULL || *path == '\0')
        return 0;
    f = fopen(path, "a");
    if (f == NULL) {
        report_seterr(err, "cannot append to %s: %s", path,
                      strerror(errno));
        return -1;
    }
    fputs(md, f);
    if (fclose(f) != 0) {
        report_seterr(err, "cannot write %s", path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Output files                                                        */
/* ------------------------------------------------------------------ */

static int report_path(char *buf, size_t len, const char *dir, const char *name,
                       char err[REPORT_ERR_LEN])
{
    int n = snprintf(buf, len, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= len) {
        report_seterr(err, "output path too long: %s", dir);
        return -1;
    }
    return 0;
}

int report_write_files(const struct report_run *run, char err[REPORT_ERR_LEN])
{
    char path[PATH_MAX];
    char *text = NULL, *md = NULL;
    json_t *root = report_json_run(run);
    int rc = -1;

    if (root == NULL ||
        (text = json_dumps(root, JSON_INDENT(2))) == NULL ||
        (md = report_markdown(run)) == NULL) {
        report_seterr(err, "cannot build the reports (out of "
                      "memory or invalid UTF-8)");
        goto out;
    }
    if (report_path(path, sizeof(path), run->out_dir, "results.json",
                    err) < 0 ||
        report_write_atomic(path, text, err) < 0 ||
        report_path(path, sizeof(path), run->out_dir, "summary.md",
                    err) < 0 ||
        report_write_atomic(path, md, err) < 0 ||
        report_append_step_summary(md, err) < 0)
        goto out;
    rc = 0;

out:
    free(text);
    free(md);
    if (root != NULL)
        json_decref(root);
    return rc;
}

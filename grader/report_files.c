/*
 * report_files.c - the report files of a grading run: results.json (a
 * superset of Gradescope's results.json: Gradescope's fields plus "result"
 * per test and "exercises"), summary.md (a Markdown table, also appended
 * to $GITHUB_STEP_SUMMARY) and junit.xml (for CI systems that draw it).
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPORT_JSON_MAX_LINES 60 /* message lines kept in results.json */
#define REPORT_TEXT_LEN 1024

static void report_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, REPORT_ERR_LEN, fmt, ap);
    va_end(ap);
}

/*
 * Closes the memstream out, which writes into *buf; returns the text, or
 * NULL (having freed it) on error.
 */
static char *report_close_text(FILE *out, char **buf)
{
    if (fclose(out) != 0) {
        free(*buf);
        *buf = NULL;
    }
    return *buf;
}

/* Is the explanation of test i the exercise's (report_fail_all)? */
static int report_whole(const struct report_exercise *ex, size_t i)
{
    return ex->results[i].reason == NULL && ex->results[i].messages == NULL;
}

/* Text of a test: explanation, messages (at most max lines), hint. */
static char *report_test_output(const struct report_exercise *ex, size_t i,
                                size_t max)
{
    const struct report_result *res = &ex->results[i];
    const char *hint = ex->rubric->tests[i].hint;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    if (res->status != REPORT_OK) {
        if (res->reason != NULL)
            report_print_lines(out, "", res->reason, 0);
        if (res->messages != NULL)
            report_print_lines(out, "", res->messages, max);
        if (report_whole(ex, i) && ex->note != NULL)
            fprintf(out, "%s\n", ex->note);
        if (report_whole(ex, i) && ex->log_tail != NULL)
            fprintf(out, "%s\n", ex->log_tail);
        if (res->rerun)
            fprintf(out, "%s\n", report_rerun_line(ex, i));
        if (hint != NULL && res->status != REPORT_UNGRADABLE &&
            res->status != REPORT_REJECTED)
            fprintf(out, "hint: %s\n", hint);
    }
    return report_close_text(out, &buf);
}

/* ------------------------------------------------------------------ */
/* results.json                                                        */
/* ------------------------------------------------------------------ */

static json_t *report_json_test(const struct report_exercise *ex, size_t exi,
                                size_t i)
{
    const struct rubric_test *t = &ex->rubric->tests[i];
    const struct report_result *res = &ex->results[i];
    char name[512], number[48];
    char *output = report_test_output(ex, i, REPORT_JSON_MAX_LINES);
    json_t *obj = NULL;

    if (output == NULL)
        return NULL;
    snprintf(name, sizeof(name), "%s \xc2\xb7 %s", ex->rubric->id, t->title);
    snprintf(number, sizeof(number), "%zu.%zu", exi + 1, i + 1);
    /* "status" is Gradescope's passed/failed; "result" is our verdict. */
    obj = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:[s,s], s:s}",
                    "name", name, "number", number,
                    "score", res->score, "max_score", t->points,
                    "status", res->status == REPORT_OK ? "passed" : "failed",
                    "result", report_status_name(res->status),
                    "output", output, "tags", ex->rubric->id, t->suite,
                    "visibility", "visible");
    free(output);
    return obj;
}

static json_t *report_json_timing_data(const struct report_timing *t)
{
    if (!t->measured)
        return json_pack("{s:b}", "measured", 0);
    return json_pack("{s:b, s:f, s:f, s:f, s:i}", "measured", 1,
                     "submission_ms", t->sub_ms, "reference_ms", t->ref_ms,
                     "ratio", t->ratio, "rounds", t->rounds);
}

/* The timing criterion as one more Gradescope test. */
static json_t *report_json_timing(const struct report_exercise *ex,
                                  size_t exi)
{
    const struct rubric_timing *rt = ex->rubric->timing;
    char name[512], number[48], text[REPORT_TEXT_LEN];
    int full = ex->timing.score == rt->points;

    snprintf(name, sizeof(name), "%s \xc2\xb7 %s", ex->rubric->id, rt->title);
    snprintf(number, sizeof(number), "%zu.%zu", exi + 1,
             ex->rubric->ntests + 1 + (ex->rubric->memcheck != NULL));
    report_timing_text(ex, text, sizeof(text));
    return json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:[s,s], s:s, "
                     "s:o}",
                     "name", name, "number", number,
                     "score", ex->timing.score, "max_score", rt->points,
                     "status", full ? "passed" : "failed",
                     "result", full ? "OK" : "FAIL", "output", text,
                     "tags", ex->rubric->id, "timing", "visibility",
                     "visible", "timing",
                     report_json_timing_data(&ex->timing));
}

/* The memory check as one more Gradescope test (numbered after the tests,
 * before the timing). */
static json_t *report_json_memcheck(const struct report_exercise *ex, size_t exi)
{
    const struct rubric_memcheck *rm = ex->rubric->memcheck;
    char name[512], number[48], text[REPORT_TEXT_LEN];
    int full = ex->memcheck.score == rm->points;

    snprintf(name, sizeof(name), "%s \xc2\xb7 %s", ex->rubric->id, rm->title);
    snprintf(number, sizeof(number), "%zu.%zu", exi + 1, ex->rubric->ntests + 1);
    report_memcheck_text(ex, text, sizeof(text));
    return json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:[s,s], s:s, s:{s:b, s:i, s:i}}",
                     "name", name, "number", number, "score", ex->memcheck.score,
                     "max_score", rm->points, "status", full ? "passed" : "failed",
                     "result", full ? "OK" : "FAIL", "output", text, "tags", ex->rubric->id,
                     "memcheck", "visibility", "visible", "memcheck", "checked",
                     ex->memcheck.checked, "tests_run", ex->memcheck.passed, "tests_clean",
                     ex->memcheck.clean);
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
    if (ex->info != NULL)
        fprintf(out, "%s\n", ex->info);
    if (ex->note != NULL)
        fprintf(out, "%s\n", ex->note);
    if (ex->log_tail != NULL)
        fprintf(out, "%s\n", ex->log_tail);
    return report_close_text(out, &buf);
}

/* Our extension: how much of the TODO files the tests ran. */
static json_t *report_json_coverage(const struct report_coverage *c)
{
    if (!c->measured)
        return json_pack("{s:b, s:s}", "measured", 0, "reason",
                         c->reason != NULL ? c->reason : "");
    return json_pack("{s:b, s:I, s:I, s:f}", "measured", 1,
                     "covered", (json_int_t)c->covered,
                     "total", (json_int_t)c->total, "percent", c->percent);
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
    if (obj != NULL && ex->rubric->timing != NULL &&
        json_object_set_new(obj, "timing",
                            report_json_timing_data(&ex->timing)) < 0) {
        json_decref(obj);
        obj = NULL;
    }
    if (obj != NULL && ex->coverage.asked &&
        json_object_set_new(obj, "line_coverage",
                            report_json_coverage(&ex->coverage)) < 0) {
        json_decref(obj);
        obj = NULL;
    }
    free(output);
    return obj;
}

/* Short text summary: warning, total, then one line per exercise. */
static char *report_summary_text(const struct report_run *run)
{
    const struct report_exercise *ex;
    char *buf = NULL;
    size_t len = 0, i;
    int score, max;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    if (run->warning != NULL)
        fprintf(out, "%s\n\n", run->warning);
    report_totals(run, &score, &max);
    fprintf(out, "Score: %d/%d\n", score, max);
    for (i = 0; i < run->count; i++) {
        ex = &run->exercises[i];
        fprintf(out, "%s: %d/%d (%s)\n", ex->rubric->exdir, ex->score,
                ex->rubric->max_score, report_ex_status_name(ex->status));
    }
    return report_close_text(out, &buf);
}

/* Appends the tests and the exercise entry of every exercise. */
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
        if (ex->rubric->memcheck != NULL &&
            json_array_append_new(tests, report_json_memcheck(ex, i)) < 0)
            return -1;
        if (ex->rubric->timing != NULL &&
            json_array_append_new(tests, report_json_timing(ex, i)) < 0)
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

/* Writes len bytes of s as Markdown text on one line (a table cell). */
static void report_md_text(FILE *out, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len && s[i] != '\0'; i++) {
        if (strchr("|\\`<>*_[]", s[i]) != NULL)
            fputc('\\', out);
        fputc(s[i] == '\n' ? ' ' : s[i], out);
    }
}

static void report_md_cell(FILE *out, const char *s)
{
    report_md_text(out, s, strlen(s));
}

static void report_md_row(FILE *out, const char *id, const char *title,
                          const char *status, int score, int max)
{
    fprintf(out, "| %s | ", id);
    report_md_cell(out, title);
    fprintf(out, " | %s | %d/%d |\n", status, score, max);
}

static void report_md_exercise(FILE *out, const struct report_exercise *ex)
{
    const struct rubric_timing *rt = ex->rubric->timing;
    char text[REPORT_TEXT_LEN * 2], detail[REPORT_TEXT_LEN];
    size_t i;

    for (i = 0; i < ex->rubric->ntests; i++)
        report_md_row(out, ex->rubric->id, ex->rubric->tests[i].title,
                      report_status_name(ex->results[i].status),
                      ex->results[i].score, ex->rubric->tests[i].points);
    if (ex->rubric->memcheck != NULL) {
        report_memcheck_text(ex, detail, sizeof(detail));
        detail[strcspn(detail, "\n")] = '\0';
        snprintf(text, sizeof(text), "%s: %s", ex->rubric->memcheck->title, detail);
        report_md_row(out, ex->rubric->id, text, "MEMCHECK", ex->memcheck.score,
                      ex->rubric->memcheck->points);
    }
    if (rt == NULL)
        return;
    report_timing_text(ex, detail, sizeof(detail));
    snprintf(text, sizeof(text), "%s: %s", rt->title, detail);
    report_md_row(out, ex->rubric->id, text, "TIMING", ex->timing.score,
                  rt->points);
}

/*
 * Exercise-level notes (does not compile, rejected, ...) as a list; the
 * indented lines of a note (the reasons of a rejection) as a sub-list.
 */
static void report_md_notes(FILE *out, const struct report_run *run)
{
    const struct report_exercise *ex;
    const char *p;
    size_t i, len;

    for (i = 0; i < run->count; i++) {
        ex = &run->exercises[i];
        for (p = ex->note; p != NULL && *p != '\0'; p += len + (p[len] != 0)) {
            len = strcspn(p, "\n");
            if (p[0] == ' ') {
                fprintf(out, "  - ");
                report_md_text(out, p + strspn(p, " "), len - strspn(p, " "));
            } else {
                fprintf(out, "- **%s**: ", ex->rubric->id);
                report_md_text(out, p, len);
            }
            fputc('\n', out);
        }
    }
}

static void report_md_warning(FILE *out, const char *warning)
{
    if (warning == NULL)
        return;
    fprintf(out, "> [!WARNING]\n");
    report_print_lines(out, "> ", warning, 0);
    fprintf(out, "\n");
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
    report_md_warning(out, run->warning);
    fprintf(out, "| Exercise | Test | Status | Points |\n");
    fprintf(out, "| --- | --- | --- | --- |\n");
    for (i = 0; i < run->count; i++)
        report_md_exercise(out, &run->exercises[i]);
    fprintf(out, "\n");
    report_md_notes(out, run);
    fprintf(out, "\n**Score: %d/%d**\n", score, max);
    return report_close_text(out, &buf);
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
/* junit.xml                                                           */
/* ------------------------------------------------------------------ */

/* Writes s escaped for XML text and attributes (XML 1.0 characters). */
static void report_xml_text(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p != '\0'; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
                fputc('?', out);
            else
                fputc(*p, out);
        }
    }
}

/* First line of text, for a failure's message attribute. */
static void report_xml_first_line(FILE *out, const char *text)
{
    char line[REPORT_TEXT_LEN];
    size_t len = strcspn(text, "\n");

    snprintf(line, sizeof(line), "%.*s", (int)len, text);
    report_xml_text(out, line);
}

/* One <testcase>; failure is NULL when it passed, else its full text. */
static void report_xml_case(FILE *out, const char *classname,
                            const char *name, const char *type, int score,
                            int max, const char *failure)
{
    fprintf(out, "    <testcase classname=\"");
    report_xml_text(out, classname);
    fprintf(out, "\" name=\"");
    report_xml_text(out, name);
    fprintf(out, "\">\n      <properties><property name=\"points\" "
            "value=\"%d/%d\"/></properties>\n", score, max);
    if (failure != NULL) {
        fprintf(out, "      <failure type=\"%s\" message=\"", type);
        report_xml_first_line(out, failure[0] != '\0' ? failure : type);
        fprintf(out, "\">");
        report_xml_text(out, failure);
        fprintf(out, "</failure>\n");
    }
    fprintf(out, "    </testcase>\n");
}

static int report_xml_test(FILE *out, const struct report_exercise *ex,
                           size_t i)
{
    const struct rubric_test *t = &ex->rubric->tests[i];
    const struct report_result *res = &ex->results[i];
    char classname[512];
    char *text = NULL;

    snprintf(classname, sizeof(classname), "%s.%s", ex->rubric->exdir,
             t->suite);
    if (res->status != REPORT_OK &&
        (text = report_test_output(ex, i, 0)) == NULL)
        return -1;
    report_xml_case(out, classname, t->title, report_status_name(res->status),
                    res->score, t->points, text);
    free(text);
    return 0;
}

static void report_xml_timing(FILE *out, const struct report_exercise *ex)
{
    const struct rubric_timing *rt = ex->rubric->timing;
    char classname[512], text[REPORT_TEXT_LEN];

    snprintf(classname, sizeof(classname), "%s.timing", ex->rubric->exdir);
    report_timing_text(ex, text, sizeof(text));
    report_xml_case(out, classname, rt->title, "TIMING", ex->timing.score,
                    rt->points, ex->timing.score < rt->points ? text : NULL);
}

static void report_xml_memcheck(FILE *out, const struct report_exercise *ex)
{
    const struct rubric_memcheck *rm = ex->rubric->memcheck;
    char classname[512], text[REPORT_TEXT_LEN];

    snprintf(classname, sizeof(classname), "%s.memcheck", ex->rubric->exdir);
    report_memcheck_text(ex, text, sizeof(text));
    report_xml_case(out, classname, rm->title, "MEMCHECK", ex->memcheck.score, rm->points,
                    ex->memcheck.score < rm->points ? text : NULL);
}

static size_t report_xml_failures(const struct report_exercise *ex)
{
    size_t i, n = 0;

    for (i = 0; i < ex->rubric->ntests; i++)
        n += ex->results[i].status != REPORT_OK;
    if (ex->rubric->timing != NULL)
        n += ex->timing.score < ex->rubric->timing->points;
    if (ex->rubric->memcheck != NULL)
        n += ex->memcheck.score < ex->rubric->memcheck->points;
    return n;
}

static int report_xml_suite(FILE *out, const struct report_exercise *ex)
{
    size_t i, n = ex->rubric->ntests + (ex->rubric->timing != NULL) +
                  (ex->rubric->memcheck != NULL);

    fprintf(out, "  <testsuite name=\"");
    report_xml_text(out, ex->rubric->exdir);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\">\n", n,
            report_xml_failures(ex), ex->status == REPORT_EX_ERROR);
    for (i = 0; i < ex->rubric->ntests; i++)
        if (report_xml_test(out, ex, i) < 0)
            return -1;
    if (ex->rubric->memcheck != NULL)
        report_xml_memcheck(out, ex);
    if (ex->rubric->timing != NULL)
        report_xml_timing(out, ex);
    if (ex->note != NULL || ex->errors != NULL) {
        fprintf(out, "    <system-err>");
        report_xml_text(out, ex->errors != NULL ? ex->errors : "");
        report_xml_text(out, ex->note != NULL ? ex->note : "");
        fprintf(out, "</system-err>\n");
    }
    fprintf(out, "  </testsuite>\n");
    return 0;
}

static char *report_junit(const struct report_run *run)
{
    char *buf = NULL;
    size_t len = 0, i;
    int score, max;
    FILE *out = open_memstream(&buf, &len);

    if (out == NULL)
        return NULL;
    report_totals(run, &score, &max);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites name=\"grader: score %d/%d\" time=\"%.3f\">\n",
            score, max, run->execution_time);
    for (i = 0; i < run->count; i++) {
        if (report_xml_suite(out, &run->exercises[i]) < 0) {
            fclose(out);
            free(buf);
            return NULL;
        }
    }
    fprintf(out, "</testsuites>\n");
    return report_close_text(out, &buf);
}

/* ------------------------------------------------------------------ */
/* Output files                                                        */
/* ------------------------------------------------------------------ */

/* Writes data to dir/name through a temporary file and rename(). */
static int report_write_atomic(const char *dir, const char *name,
                               const char *data, char err[REPORT_ERR_LEN])
{
    char path[PATH_MAX], tmp[PATH_MAX];
    size_t len = strlen(data);
    FILE *f = NULL;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        report_seterr(err, "output path too long: %s", dir);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        report_seterr(err, "cannot write %s: %s", tmp, strerror(errno));
        goto err;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        f = NULL;
        report_seterr(err, "cannot write %s: %s", path, strerror(errno));
        goto err;
    }
    return 0;

err:
    if (f != NULL)
        fclose(f);
    unlink(tmp);
    return -1;
}

int report_write_files(const struct report_run *run, char err[REPORT_ERR_LEN])
{
    char *text = NULL, *md = NULL, *xml = NULL;
    json_t *root = report_json_run(run);
    int rc = -1;

    if (root == NULL ||
        (text = json_dumps(root, JSON_INDENT(2))) == NULL ||
        (md = report_markdown(run)) == NULL ||
        (xml = report_junit(run)) == NULL) {
        report_seterr(err, "cannot build the reports (out of "
                      "memory or invalid UTF-8)");
        goto out;
    }
    if (report_write_atomic(run->out_dir, "results.json", text, err) < 0 ||
        report_write_atomic(run->out_dir, "summary.md", md, err) < 0 ||
        report_write_atomic(run->out_dir, "junit.xml", xml, err) < 0 ||
        report_append_step_summary(md, err) < 0)
        goto out;
    rc = 0;

out:
    free(text);
    free(md);
    free(xml);
    if (root != NULL)
        json_decref(root);
    return rc;
}

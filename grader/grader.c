/*
 * grader.c - builds and tests each exercise of a submission, scores it
 * against the exercise's rubric and writes the reports.
 *
 *   grader [--root DIR] [--submission DIR] [--exercise exNN]... [--out DIR]
 *          [--expect-score N] [--min-score N] [--quiet]
 *
 * Exit status: 0 when grading ran (whatever the score); 1 when the score
 * misses --expect-score or --min-score; 2 on usage, rubric or internal
 * errors (a rubric error still lets the other exercises be graded).
 */
/* realpath() is only declared for X/Open in glibc's strict POSIX mode. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "rubric.h"
#include "runner.h"

#define GRADER_ERR_LEN 256
#define GRADER_BUILD_TIMEOUT_S 300
#define GRADER_BUILD_TAIL_LINES 40
#define GRADER_TEST_TAIL_LINES 20
#define GRADER_ARG_LEN (PATH_MAX + 32)

struct grader_opts {
    const char *root;
    const char *submission;
    const char *out;
    const char **only; /* --exercise values, pointers into argv */
    size_t nonly;
    int has_expect, expect;
    int has_min, min;
    int quiet;
};

struct grader {
    struct grader_opts opts;
    char root[PATH_MAX];       /* absolute */
    char submission[PATH_MAX]; /* absolute */
    char out[PATH_MAX];        /* absolute */
    char build[PATH_MAX];      /* OUT/build, absolute */
    struct rubric **rubrics;   /* selected exercises, sorted */
    struct report_exercise *exercises; /* same order as rubrics */
    size_t count;
};

/* Variables of an outer make that must not leak into the build. */
static const char *const grader_build_unset_env[] = {
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL
};

/* Criterion settings that would change which tests run or how. */
static const char *const grader_test_unset_env[] = {
    "CRITERION_TEST_PATTERN", "CRITERION_JOBS", "CRITERION_ALWAYS_SUCCEED",
    "CRITERION_FAIL_FAST", "CRITERION_NO_EARLY_EXIT", "CRITERION_OUTPUTS",
    "CRITERION_ENABLE_TAP", "CRITERION_SHORT_FILENAME", NULL
};

static const char *const grader_value_opts[] = {
    "--root", "--submission", "--exercise", "--out", "--expect-score",
    "--min-score", NULL
};

/* Formats an error message into err (truncated to GRADER_ERR_LEN bytes). */
static void grader_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, GRADER_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* Formats into buf; returns -1 when the text did not fit. */
static int grader_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static void grader_usage(FILE *out)
{
    fprintf(out,
            "usage: grader [--root DIR] [--submission DIR] "
            "[--exercise exNN]...\n"
            "              [--out DIR] [--expect-score N] [--min-score N] "
            "[--quiet]\n"
            "  --root DIR        workbook root (default .)\n"
            "  --submission DIR  directory with the code to grade "
            "(default skeletons)\n"
            "  --exercise ID     grade only this exercise (exNN or its "
            "directory name);\n"
            "                    repeatable (default: all)\n"
            "  --out DIR         where logs and reports go (default "
            "build/grade)\n"
            "  --expect-score N  exit 1 unless the score is exactly N\n"
            "  --min-score N     exit 1 if the score is below N\n"
            "  --quiet           print only the score line\n");
}

static int grader_parse_int(const char *name, const char *value, int *out,
                            char err[GRADER_ERR_LEN])
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < 0 || v > INT_MAX) {
        grader_seterr(err, "%s needs a non-negative integer, got "
                      "'%s'", name, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int grader_add_only(struct grader_opts *o, const char *value,
                           char err[GRADER_ERR_LEN])
{
    const char **grown = realloc(o->only, (o->nonly + 1) * sizeof(*grown));

    if (grown == NULL) {
        grader_seterr(err, "out of memory");
        return -1;
    }
    grown[o->nonly++] = value;
    o->only = grown;
    return 0;
}

static int grader_set_opt(struct grader_opts *o, const char *name,
                          const char *value, char err[GRADER_ERR_LEN])
{
    if (strcmp(name, "--root") == 0)
        o->root = value;
    else if (strcmp(name, "--submission") == 0)
        o->submission = value;
    else if (strcmp(name, "--out") == 0)
        o->out = value;
    else if (strcmp(name, "--exercise") == 0)
        return grader_add_only(o, value, err);
    else if (strcmp(name, "--expect-score") == 0) {
        o->has_expect = 1;
        return grader_parse_int(name, value, &o->expect, err);
    } else {
        o->has_min = 1;
        return grader_parse_int(name, value, &o->min, err);
    }
    return 0;
}

static int grader_is_value_opt(const char *name, size_t len)
{
    size_t i;

    for (i = 0; grader_value_opts[i] != NULL; i++)
        if (strlen(grader_value_opts[i]) == len &&
            strncmp(grader_value_opts[i], name, len) == 0)
            return 1;
    return 0;
}

/* Returns 0 to go on, 1 for --help, -1 on a usage error. */
static int grader_parse_args(struct grader_opts *o, int argc, char **argv,
                             char err[GRADER_ERR_LEN])
{
    char name[32];
    const char *arg, *eq, *value;
    size_t len;
    int i;

    for (i = 1; i < argc; i++) {
        arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strcmp(arg, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        eq = strchr(arg, '=');
        len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (!grader_is_value_opt(arg, len)) {
            grader_seterr(err, "unknown option '%s'", arg);
            return -1;
        }
        if (eq == NULL && i + 1 >= argc) {
            grader_seterr(err, "%s needs a value", arg);
            return -1;
        }
        value = eq != NULL ? eq + 1 : argv[++i];
        snprintf(name, sizeof(name), "%.*s", (int)len, arg);
        if (grader_set_opt(o, name, value, err) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */


static int grader_resolve(const char *what, const char *path,
                          char out[PATH_MAX], char err[GRADER_ERR_LEN])
{
    if (realpath(path, out) == NULL) {
        grader_seterr(err, "%s '%s': %s", what, path,
                      strerror(errno));
        return -1;
    }
    return 0;
}

static int grader_build_dir(struct grader *g, char err[GRADER_ERR_LEN])
{
    if (grader_fmt(g->build, sizeof(g->build), "%s/build", g->out) < 0) {
        grader_seterr(err, "output directory path is too long");
        return -1;
    }
    return 0;
}

static int grader_setup_dirs(struct grader *g, char err[GRADER_ERR_LEN])
{
    if (grader_resolve("submission directory", g->opts.submission,
                       g->submission, err) < 0 ||
        runner_mkdir_p(g->opts.out, err) < 0 ||
        grader_resolve("output directory", g->opts.out, g->out, err) < 0 ||
        grader_build_dir(g, err) < 0 ||
        runner_mkdir_p(g->build, err) < 0)
        return -1;
    return 0;
}

/* Does the --exercise value sel name the exercise directory exdir? */
static int grader_matches(const char *sel, const char *exdir)
{
    char id[64];

    rubric_short_id(exdir, id, sizeof(id));
    return strcmp(sel, exdir) == 0 || strcmp(sel, id) == 0;
}

static int grader_check_selection(const struct grader_opts *o, char **names,
                                  size_t n, char err[GRADER_ERR_LEN])
{
    size_t i, j;

    for (i = 0; i < o->nonly; i++) {
        for (j = 0; j < n && !grader_matches(o->only[i], names[j]); j++)
            ;
        if (j < n)
            continue;
        grader_seterr(err, "unknown exercise '%s'", o->only[i]);
        fprintf(stderr, "grader: known exercises:");
        for (j = 0; j < n; j++)
            fprintf(stderr, " %s", names[j]);
        fprintf(stderr, "\n");
        return -1;
    }
    return 0;
}

static int grader_selected(const struct grader_opts *o, const char *exdir)
{
    size_t i;

    if (o->nonly == 0)
        return 1;
    for (i = 0; i < o->nonly; i++)
        if (grader_matches(o->only[i], exdir))
            return 1;
    return 0;
}

/* Two exercises with the same short id would share targets and logs. */
static int grader_check_ids(const struct grader *g, char err[GRADER_ERR_LEN])
{
    size_t i, j;

    for (i = 0; i < g->count; i++) {
        for (j = i + 1; j < g->count; j++) {
            if (strcmp(g->rubrics[i]->id, g->rubrics[j]->id) != 0)
                continue;
            grader_seterr(err, "exercises %s and %s share the short id %s",
                          g->rubrics[i]->exdir, g->rubrics[j]->exdir,
                          g->rubrics[i]->id);
            return -1;
        }
    }
    return 0;
}

/* Loads the rubrics of the selected exercises, in name order. */
static int grader_load(struct grader *g, char err[GRADER_ERR_LEN])
{
    char **names = NULL;
    size_t n = 0, i;
    int rc = -1;

    if (rubric_discover(g->root, &names, &n, err) < 0 ||
        grader_check_selection(&g->opts, names, n, err) < 0)
        goto out;
    g->rubrics = calloc(n, sizeof(*g->rubrics));
    g->exercises = calloc(n, sizeof(*g->exercises));
    if (g->rubrics == NULL || g->exercises == NULL) {
        grader_seterr(err, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (!grader_selected(&g->opts, names[i]))
            continue;
        if (rubric_load(g->root, names[i], &g->rubrics[g->count], err) < 0)
            goto out;
        g->count++;
    }
    rc = grader_check_ids(g, err);

out:
    rubric_free_names(names, n);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Grading                                                             */
/* ------------------------------------------------------------------ */

/* Records an internal error: 0 points and exercise status "error". */
static int grader_internal(struct report_exercise *ex, const char *what,
                           const char *why)
{
    char note[GRADER_ERR_LEN * 2], err[REPORT_ERR_LEN];

    grader_fmt(note, sizeof(note), "internal error: %s: %s", what, why);
    return report_fail_all(ex, REPORT_EX_ERROR, REPORT_UNGRADABLE, note, NULL,
                           0, err);
}

static void grader_build_note(const struct grader *g, const struct rubric *r,
                              const struct runner_result *res, char *note,
                              size_t len)
{
    if (res->outcome == RUNNER_TIMED_OUT)
        grader_fmt(note, len, "the build did not finish within %d s and was "
                   "stopped (your files: %s/%s/)", GRADER_BUILD_TIMEOUT_S,
                   g->submission, r->exdir);
    else if (res->outcome == RUNNER_SIGNALED)
        grader_fmt(note, len, "the build was killed by signal %d (%s)",
                   res->status, strsignal(res->status));
    else
        grader_fmt(note, len, "does not compile: fix the errors below (your "
                   "files: %s/%s/)", g->submission, r->exdir);
}

/*
 * Builds the test binary of exercise i into bin. Returns 1 when it can be
 * run, 0 when the exercise was marked ungradable or in error, -1 on OOM.
 */
static int grader_build(const struct grader *g, size_t i, char *bin,
                        size_t binlen)
{
    const struct rubric *r = g->rubrics[i];
    struct report_exercise *ex = &g->exercises[i];
    char sub[GRADER_ARG_LEN], bdir[GRADER_ARG_LEN], target[80];
    char log[PATH_MAX], note[GRADER_ERR_LEN * 2], err[RUNNER_ERR_LEN];
    const char *argv[] = { "make", "-s", "--no-print-directory", "-C", g->root,
                           sub, bdir, target, NULL };
    struct runner_spec spec = { argv, NULL, log, GRADER_BUILD_TIMEOUT_S, 0, 0,
                                grader_build_unset_env };
    struct runner_result res;

    if (grader_fmt(sub, sizeof(sub), "SUBMISSION=%s", g->submission) < 0 ||
        grader_fmt(bdir, sizeof(bdir), "SUBBUILD=%s", g->build) < 0 ||
        grader_fmt(target, sizeof(target), "tests-%s", r->id) < 0 ||
        grader_fmt(log, sizeof(log), "%s/%s.build.log", g->out, r->id) < 0 ||
        grader_fmt(bin, binlen, "%s/bin/test-%s", g->build, r->id) < 0)
        return grader_internal(ex, "cannot build", "path too long") < 0 ? -1
                                                                        : 0;
    if (runner_run(&spec, &res, err) < 0)
        return grader_internal(ex, "cannot run make", err) < 0 ? -1 : 0;
    if (res.outcome == RUNNER_EXITED && res.status == 0) {
        if (access(bin, X_OK) == 0)
            return 1;
        return grader_internal(ex, "the build succeeded but did not produce",
                               bin) < 0 ? -1 : 0;
    }
    grader_build_note(g, r, &res, note, sizeof(note));
    if (report_fail_all(ex, REPORT_EX_UNGRADABLE, REPORT_UNGRADABLE, note, log,
                        GRADER_BUILD_TAIL_LINES, err) < 0)
        return -1;
    return 0;
}

/* Explains a test run that produced no report; empty when it did. */
static void grader_run_note(const struct rubric *r,
                            const struct runner_result *res, char *note,
                            size_t len, enum report_status *status)
{
    *status = REPORT_CRASH;
    note[0] = '\0';
    if (res->outcome == RUNNER_TIMED_OUT) {
        *status = REPORT_TIMEOUT;
        grader_fmt(note, len, "the test run exceeded %d s and was stopped",
                   r->timeout_s);
    } else if (res->outcome == RUNNER_SIGNALED && res->status == SIGXCPU) {
        *status = REPORT_TIMEOUT;
        grader_fmt(note, len, "the test run used more than %d s of CPU time "
                   "and was stopped", r->timeout_s);
    } else if (res->outcome == RUNNER_SIGNALED) {
        grader_fmt(note, len, "the test program was killed by signal %d (%s)",
                   res->status, strsignal(res->status));
    }
}

static int grader_prepare_run(const struct grader *g, const struct rubric *r,
                              char *json, char *scratch, size_t len,
                              char err[GRADER_ERR_LEN])
{
    if (grader_fmt(json, len, "%s/%s.criterion.json", g->out, r->id) < 0 ||
        grader_fmt(scratch, len, "%s/scratch-%s", g->out, r->id) < 0) {
        grader_seterr(err, "output directory path is too long");
        return -1;
    }
    if (unlink(json) < 0 && errno != ENOENT) {
        grader_seterr(err, "cannot remove %s: %s", json,
                      strerror(errno));
        return -1;
    }
    return runner_clear_dir(scratch, err);
}

/* Scores the report, or fails every test when there is no usable one. */
static int grader_score(struct report_exercise *ex, const char *json,
                        const char *log)
{
    char err[REPORT_ERR_LEN], note[REPORT_ERR_LEN + 64];

    if (report_score_criterion(ex, json, log, err) == 0)
        return 0;
    grader_fmt(note, sizeof(note), "the test program ended without a usable "
               "report (%s)", err);
    return report_fail_all(ex, REPORT_EX_GRADED, REPORT_CRASH, note, log,
                           GRADER_TEST_TAIL_LINES, err);
}

static int grader_test(const struct grader *g, size_t i, const char *bin)
{
    const struct rubric *r = g->rubrics[i];
    struct report_exercise *ex = &g->exercises[i];
    char json[PATH_MAX], scratch[PATH_MAX], log[PATH_MAX];
    char jarg[GRADER_ARG_LEN], jobs[32], note[GRADER_ERR_LEN];
    char err[GRADER_ERR_LEN];
    const char *argv[] = { bin, jarg, jobs, "--ascii", NULL };
    struct runner_spec spec = { argv, scratch, log, r->timeout_s, r->timeout_s,
                                1, grader_test_unset_env };
    struct runner_result res;
    enum report_status status;

    grader_fmt(jobs, sizeof(jobs), "-j%d", r->jobs);
    grader_seterr(err, "output directory path is too long");
    if (grader_prepare_run(g, r, json, scratch, sizeof(json), err) < 0 ||
        grader_fmt(log, sizeof(log), "%s/%s.test.log", g->out, r->id) < 0 ||
        grader_fmt(jarg, sizeof(jarg), "--json=%s", json) < 0)
        return grader_internal(ex, "cannot prepare the test run", err);
    if (runner_run(&spec, &res, err) < 0)
        return grader_internal(ex, "cannot run the tests", err);
    grader_run_note(r, &res, note, sizeof(note), &status);
    if (note[0] == '\0')
        return grader_score(ex, json, log);
    return report_fail_all(ex, REPORT_EX_GRADED, status, note, log,
                           GRADER_TEST_TAIL_LINES, err);
}

static int grader_grade(struct grader *g, size_t i)
{
    char bin[PATH_MAX], err[REPORT_ERR_LEN];
    int built;

    if (report_exercise_init(&g->exercises[i], g->rubrics[i], err) < 0)
        return -1;
    if (!g->opts.quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "grader: building and testing %s...\n",
                g->rubrics[i]->exdir);
    built = grader_build(g, i, bin, sizeof(bin));
    if (built <= 0)
        return built;
    return grader_test(g, i, bin);
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

static int grader_exit_status(const struct grader *g, int score)
{
    const struct report_exercise *ex;
    int rc = 0;
    size_t i;

    if (g->opts.has_expect && score != g->opts.expect) {
        fprintf(stderr, "expected score %d, got %d\n", g->opts.expect, score);
        rc = 1;
    }
    if (g->opts.has_min && score < g->opts.min) {
        fprintf(stderr, "score %d is below the minimum %d\n", score,
                g->opts.min);
        rc = 1;
    }
    for (i = 0; i < g->count; i++) {
        ex = &g->exercises[i];
        if (ex->status != REPORT_EX_ERROR)
            continue;
        fprintf(stderr, "grader: %s: %s\n", ex->rubric->exdir,
                ex->errors != NULL ? ex->errors : ex->note);
        rc = 2;
    }
    return rc;
}

static double grader_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int grader_finish(struct grader *g, double start)
{
    struct report_run run = { g->exercises, g->count, grader_now() - start,
                              g->out };
    char err[REPORT_ERR_LEN];
    int colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    int score, max, written;
    size_t i;

    for (i = 0; !g->opts.quiet && i < g->count; i++)
        report_print_exercise(stdout, &g->exercises[i], colour);
    written = report_write_files(&run, err) == 0;
    report_totals(&run, &score, &max);
    printf("Score: %d/%d\n", score, max);
    if (written && !g->opts.quiet)
        printf("Reports: %s/results.json %s/summary.md\n", g->out, g->out);
    fflush(stdout);
    if (!written) {
        fprintf(stderr, "grader: %s\n", err);
        return 2;
    }
    return grader_exit_status(g, score);
}

static void grader_free(struct grader *g)
{
    size_t i;

    for (i = 0; i < g->count; i++) {
        if (g->exercises != NULL)
            report_exercise_clear(&g->exercises[i]);
        rubric_free(g->rubrics[i]);
    }
    free(g->exercises);
    free(g->rubrics);
    free(g->opts.only);
}

int main(int argc, char **argv)
{
    struct grader g;
    char err[GRADER_ERR_LEN];
    double start = grader_now();
    size_t i;
    int rc = 2;

    memset(&g, 0, sizeof(g));
    g.opts.root = ".";
    g.opts.submission = "skeletons";
    g.opts.out = "build/grade";
    switch (grader_parse_args(&g.opts, argc, argv, err)) {
    case 1:
        grader_usage(stdout);
        rc = 0;
        goto out;
    case -1:
        fprintf(stderr, "grader: %s\n", err);
        grader_usage(stderr);
        goto out;
    }
    if (runner_init(err) < 0 ||
        grader_resolve("root directory", g.opts.root, g.root, err) < 0 ||
        grader_load(&g, err) < 0 || grader_setup_dirs(&g, err) < 0)
        goto err;
    for (i = 0; i < g.count; i++) {
        if (grader_grade(&g, i) < 0) {
            grader_seterr(err, "out of memory grading %s",
                          g.rubrics[i]->exdir);
            goto err;
        }
    }
    rc = grader_finish(&g, start);
    goto out;

err:
    fprintf(stderr, "grader: %s\n", err);
    rc = 2;
out:
    grader_free(&g);
    return rc;
}

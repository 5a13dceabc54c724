/*
 * grader.c - builds and tests each exercise of a submission, scores it
 * against the exercise's rubric and writes the reports. See `grader
 * --help` for the options; the steps of one exercise are in grade.h.
 *
 * Exit status: 0 when grading ran (whatever the score); 1 when the score
 * misses --expect-score or --min-score, or, with --ci, when a protected
 * file differs from the manifest (the score is still computed and
 * reported); 2 on usage, rubric or internal errors (a rubric error still
 * lets the other exercises be graded).
 */
/* realpath() is only declared for X/Open in glibc's strict POSIX mode. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "build.h"
#include "grade.h"
#include "manifest.h"
#include "report.h"
#include "rubric.h"
#include "runner.h"

#define GRADER_ERR_LEN 256
#define GRADER_MAX_CHILD_ARGS 48

struct grader_opts {
    const char *root;
    const char *submission;
    const char *subroot;    /* --submission-root; NULL: the root */
    const char *out;
    const char *reference;  /* NULL: ROOT/solutions */
    const char *ref_build;  /* NULL: OUT/ref-build */
    const char *batch;
    const char **only;      /* --exercise values, pointers into argv */
    size_t nonly;
    int has_expect, expect;
    int has_min, min;
    int jobs;
    int quiet, ci, no_timing, no_static, no_coverage, no_memcheck;
    int write_manifest, check_manifest;
    int trusted_built;      /* --trusted-built: ROOT/build is ready */
    int keep_workbooks;     /* --keep-workbooks (batch) */
    int budget, exercise_budget; /* --budget, --exercise-budget (s) */
    int has_uid, subject_uid;
};

struct grader {
    struct grader_opts opts;
    char root[PATH_MAX];       /* absolute */
    char submission[PATH_MAX]; /* absolute */
    char subroot[PATH_MAX];    /* absolute */
    char out[PATH_MAX];        /* absolute */
    char build[PATH_MAX];      /* OUT/work: the private build */
    char reference[PATH_MAX];  /* absolute; empty when missing */
    char ref_build[PATH_MAX];  /* absolute */
    struct rubric **rubrics;   /* selected exercises, sorted */
    struct report_exercise *exercises; /* same order as rubrics */
    size_t count;
    char *warning;             /* integrity warning, NULL when none */
    char *root_state;          /* the root against its own manifest at the
                                  start ("" when it matches) */
    int ref_prebuilt;
};

/* A flag option and the field it sets. */
struct grader_flag {
    const char *name;
    size_t offset;
};

static const struct grader_flag grader_flags[] = {
    { "--quiet", offsetof(struct grader_opts, quiet) },
    { "--ci", offsetof(struct grader_opts, ci) },
    { "--no-timing", offsetof(struct grader_opts, no_timing) },
    { "--no-coverage", offsetof(struct grader_opts, no_coverage) },
    { "--no-memcheck", offsetof(struct grader_opts, no_memcheck) },
    { "--no-static-check", offsetof(struct grader_opts, no_static) },
    { "--write-manifest", offsetof(struct grader_opts, write_manifest) },
    { "--check-manifest", offsetof(struct grader_opts, check_manifest) },
    { "--trusted-built", offsetof(struct grader_opts, trusted_built) },
    { "--keep-workbooks", offsetof(struct grader_opts, keep_workbooks) },
    { NULL, 0 }
};

static const char *const grader_value_opts[] = {
    "--root", "--submission", "--exercise", "--out", "--expect-score",
    "--min-score", "--reference", "--submission-root", "--batch", "--jobs",
    "--ref-build", "--budget", "--exercise-budget", "--subject-uid", NULL
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
"usage: grader [options]\n"
"  --root DIR            workbook root: Makefile, harness, rubrics (default .)\n"
"  --submission DIR      the code to grade, laid out like skeletons/\n"
"                        (default skeletons)\n"
"  --exercise ID         grade only this exercise (exNN or its directory\n"
"                        name); repeatable (default: all)\n"
"  --out DIR             where logs and reports go (default build/grade)\n"
"  --reference DIR       the reference for timing: sources or prebuilt .o\n"
"                        files, laid out like solutions/ (default\n"
"                        ROOT/solutions)\n"
"  --no-timing           skip the timing criteria (quick local runs)\n"
"  --no-coverage         skip measuring the line coverage of the TODO files\n"
"  --no-memcheck         skip the memory check (0 of its points)\n"
"  --expect-score N      exit 1 unless the score is exactly N\n"
"  --min-score N         exit 1 if the score is below N\n"
"  --submission-root DIR the checkout whose protected files are compared\n"
"                        with ROOT/grader/manifest.sha256 (default ROOT)\n"
"  --ci                  CI mode: a protected file that differs from the\n"
"                        manifest is an error (exit status 1)\n"
"  --batch DIR           grade every subdirectory of DIR (one submission\n"
"                        each) into OUT/NAME/ and OUT/grades.csv, each with\n"
"                        its own copy of the workbook\n"
"  --jobs N              with --batch: submissions graded at once (1)\n"
"  --budget S            wall-clock budget of one submission's grading, in\n"
"                        seconds (default: none; each exercise has its own)\n"
"  --exercise-budget S   budget of each exercise (default: its rubric's\n"
"                        budget_s, 900)\n"
"  --subject-uid N       as root, the uid and gid the students' code runs as\n"
"                        (default 64000; --batch: N + job slot; the k-th\n"
"                        worker of the memory check: N - 256 k)\n"
"  --quiet               print only the score line\n"
"  --write-manifest      write ROOT/grader/manifest.sha256 and exit\n"
"  --check-manifest      exit 1 when the manifest is stale\n"
"Maintainers only:\n"
"  --no-static-check     run the code even if the static check would\n"
"                        reject it (to test the dynamic defences)\n"
"  --ref-build DIR       build directory of the reference (default\n"
"                        OUT/ref-build; --batch shares one)\n"
"  --trusted-built       ROOT/build is ready: do not run make there\n"
"  --keep-workbooks      with --batch: keep each submission's copy\n");
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

/* Returns the string field an option sets, or NULL. */
static const char **grader_string_opt(struct grader_opts *o, const char *name)
{
    if (strcmp(name, "--root") == 0) return &o->root;
    if (strcmp(name, "--submission") == 0) return &o->submission;
    if (strcmp(name, "--out") == 0) return &o->out;
    if (strcmp(name, "--reference") == 0) return &o->reference;
    if (strcmp(name, "--submission-root") == 0) return &o->subroot;
    if (strcmp(name, "--batch") == 0) return &o->batch;
    if (strcmp(name, "--ref-build") == 0) return &o->ref_build;
    return NULL;
}

static int grader_set_opt(struct grader_opts *o, const char *name,
                          const char *value, char err[GRADER_ERR_LEN])
{
    const char **field = grader_string_opt(o, name);

    if (field != NULL) {
        *field = value;
        return 0;
    }
    if (strcmp(name, "--exercise") == 0)
        return grader_add_only(o, value, err);
    if (strcmp(name, "--jobs") == 0) {
        if (grader_parse_int(name, value, &o->jobs, err) < 0)
            return -1;
        if (o->jobs >= 1 && o->jobs <= BATCH_MAX_JOBS)
            return 0;
        grader_seterr(err, "--jobs takes 1 to %d", BATCH_MAX_JOBS);
        return -1;
    }
    if (strcmp(name, "--budget") == 0)
        return grader_parse_int(name, value, &o->budget, err);
    if (strcmp(name, "--exercise-budget") == 0)
        return grader_parse_int(name, value, &o->exercise_budget, err);
    if (strcmp(name, "--subject-uid") == 0) {
        o->has_uid = 1;
        if (grader_parse_int(name, value, &o->subject_uid, err) < 0)
            return -1;
        if (o->subject_uid >= 1000)
            return 0;
        grader_seterr(err, "--subject-uid takes 1000 or more (not a system account)");
        return -1;
    }
    if (strcmp(name, "--expect-score") == 0) {
        o->has_expect = 1;
        return grader_parse_int(name, value, &o->expect, err);
    }
    o->has_min = 1;
    return grader_parse_int(name, value, &o->min, err);
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

/* Sets the flag arg names; returns 0 when arg is not a flag. */
static int grader_flag(struct grader_opts *o, const char *arg)
{
    size_t i;

    for (i = 0; grader_flags[i].name != NULL; i++) {
        if (strcmp(arg, grader_flags[i].name) != 0)
            continue;
        *(int *)((char *)o + grader_flags[i].offset) = 1;
        return 1;
    }
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
        if (grader_flag(o, arg))
            continue;
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
    if (o->ci && o->no_static) {
        grader_seterr(err, "--no-static-check is for maintainers' tests, "
                      "never with --ci");
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
        grader_seterr(err, "%s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The reference is optional: a missing one only costs the timing. */
static void grader_resolve_reference(struct grader *g)
{
    char path[PATH_MAX];

    if (g->opts.reference != NULL)
        snprintf(path, sizeof(path), "%s", g->opts.reference);
    else if (grader_fmt(path, sizeof(path), "%s/solutions", g->root) < 0)
        path[0] = '\0';
    if (path[0] == '\0' || realpath(path, g->reference) == NULL)
        snprintf(g->reference, sizeof(g->reference), "%s", path);
    /* A handout's reference: prebuilt objects in <variant>/<exdir>/. */
    if (grader_fmt(path, sizeof(path), "%s/test", g->reference) == 0) {
        struct stat sb;
        g->ref_prebuilt = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
}

static int grader_setup_out(struct grader *g, char err[GRADER_ERR_LEN])
{
    if (runner_mkdir_p(g->opts.out, err) < 0 ||
        grader_resolve("output directory", g->opts.out, g->out, err) < 0)
        return -1;
    if (grader_fmt(g->build, sizeof(g->build), "%s/work", g->out) < 0 ||
        (g->opts.ref_build == NULL &&
         grader_fmt(g->ref_build, sizeof(g->ref_build), "%s/ref-build",
                    g->out) < 0)) {
        grader_seterr(err, "output directory path is too long");
        return -1;
    }
    if (g->opts.ref_build != NULL &&
        (runner_mkdir_p(g->opts.ref_build, err) < 0 ||
         grader_resolve("reference build directory", g->opts.ref_build,
                        g->ref_build, err) < 0))
        return -1;
    return runner_mkdir_p(g->build, err);
}

static int grader_setup_dirs(struct grader *g, char err[GRADER_ERR_LEN])
{
    if (grader_resolve("submission directory", g->opts.submission,
                       g->submission, err) < 0 ||
        grader_resolve("submission root", g->opts.subroot != NULL
                       ? g->opts.subroot : g->root, g->subroot, err) < 0 ||
        grader_setup_out(g, err) < 0)
        return -1;
    grader_resolve_reference(g);
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

/* Loads the rubrics of the selected exercises (all: every one), sorted. */
static int grader_load(struct grader *g, int all, char err[GRADER_ERR_LEN])
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
        if (!all && !grader_selected(&g->opts, names[i]))
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
/* Integrity                                                           */
/* ------------------------------------------------------------------ */

static int grader_manifest_cmd(struct grader *g, char err[GRADER_ERR_LEN])
{
    char *text = NULL, *diff = NULL;
    int rc = -1;

    if (manifest_build(g->root, g->rubrics, g->count, &text, err) < 0)
        return -1;
    if (g->opts.write_manifest) {
        if (manifest_write(g->root, text, err) == 0) {
            printf("wrote %s/%s\n", g->root, MANIFEST_PATH);
            rc = 0;
        }
    } else if ((rc = manifest_compare(g->root, text, &diff, err)) == 1) {
        printf("%s is stale (run `build/bin/grader --write-manifest`):\n%s",
               MANIFEST_PATH, diff);
    } else if (rc == 0) {
        printf("%s is up to date\n", MANIFEST_PATH);
    }
    free(text);
    free(diff);
    return rc;
}

/* Compares the protected files with the manifest; sets g->warning. */
static int grader_integrity(struct grader *g, char err[GRADER_ERR_LEN])
{
    char *text = NULL;
    size_t len;

    if (manifest_verify(g->root, g->subroot, &text, err) < 0)
        return -1;
    if (text == NULL || !g->opts.ci) {
        g->warning = text;
        return 0;
    }
    len = strlen(text) + 256;
    if ((g->warning = malloc(len)) == NULL) {
        free(text);
        grader_seterr(err, "out of memory");
        return -1;
    }
    snprintf(g->warning, len, "%s\nThis is an error in CI mode (exit status "
             "1); the score was computed with the trusted copies of %s.",
             text, g->root);
    free(text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Grading                                                             */
/* ------------------------------------------------------------------ */

/*
 * The trusted build (judges, kit): make in ROOT, under the runner's limits.
 * Its output goes to OUT/trusted-build.log.
 */
static int grader_make_trusted(struct grader *g, char err[GRADER_ERR_LEN])
{
    char log[PATH_MAX], rerr[RUNNER_ERR_LEN];
    const char *argv[] = { "make", "-s", "--no-print-directory", "-C", g->root, "trusted",
                           NULL };
    static const char *const unset[] = { "MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL };
    struct runner_spec spec = { argv, NULL, log, 1200, 1200, 0, unset, NULL, 0, NULL };
    struct runner_result res;

    if (g->opts.trusted_built)
        return 0;
    if (grader_fmt(log, sizeof(log), "%s/trusted-build.log", g->out) < 0) {
        grader_seterr(err, "path too long");
        return -1;
    }
    if (!g->opts.quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "grader: building the tests (make trusted)\n");
    if (runner_run(&spec, &res, rerr) < 0) {
        grader_seterr(err, "cannot run make: %s", rerr);
        return -1;
    }
    if (res.outcome != RUNNER_EXITED || res.status != 0) {
        grader_seterr(err, "the workbook's tests do not build (make trusted; see %s)", log);
        return -1;
    }
    return 0;
}

/* The root against its own manifest: a difference that appears during the
 * grading means something changed the trusted files, and no later
 * exercise is graded with them. */
static int grader_root_changed(struct grader *g, char **what, char err[GRADER_ERR_LEN])
{
    char *text = NULL;

    *what = NULL;
    if (manifest_verify(g->root, g->root, &text, err) < 0)
        return -1;
    if (text == NULL && (text = strdup("")) == NULL) {
        grader_seterr(err, "out of memory");
        return -1;
    }
    if (g->root_state == NULL) {
        g->root_state = text;
        return 0;
    }
    if (strcmp(text, g->root_state) == 0) {
        free(text);
        return 0;
    }
    *what = text;
    return 1;
}

static int grader_grade_all(struct grader *g)
{
    struct grade_ctx ctx = { g->root, g->submission, g->out, g->build,
                             g->reference, g->ref_prebuilt, g->ref_build,
                             !g->opts.no_static, !g->opts.no_timing, !g->opts.no_coverage,
                             !g->opts.no_memcheck, !g->opts.quiet && isatty(STDERR_FILENO),
                             g->opts.budget > 0 ? build_now() + g->opts.budget : 0,
                             g->opts.exercise_budget,
                             g->opts.has_uid ? (unsigned)g->opts.subject_uid : 64000u };
    char err[GRADER_ERR_LEN], rerr[REPORT_ERR_LEN], *what = NULL;
    struct grade_state **st = calloc(g->count ? g->count : 1, sizeof(*st));
    size_t i;
    int changed, rc = 0;

    if (st == NULL)
        return -1;
    /* Each exercise's tests (and its memory check, in the background while
     * the next one's tests run), then the timing of each, alone. */
    for (i = 0; i < g->count && rc == 0; i++) {
        changed = grader_root_changed(g, &what, err);
        if (changed < 0) {
            fprintf(stderr, "grader: %s\n", err);
            rc = -1;
            break;
        }
        if (changed) {
            char note[1024];
            grader_fmt(note, sizeof(note), "internal error: the trusted workbook %s changed "
                     "during the grading; nothing more is graded with it:\n%s", g->root,
                     what);
            free(what);
            if (report_exercise_init(&g->exercises[i], g->rubrics[i], rerr) < 0 ||
                report_fail_all(&g->exercises[i], REPORT_EX_ERROR, REPORT_UNGRADABLE, note,
                                NULL, 0, rerr) < 0)
                rc = -1;
            continue;
        }
        if (grade_exercise_begin(&ctx, g->rubrics[i], &g->exercises[i], &st[i]) < 0)
            rc = -1;
    }
    for (i = 0; i < g->count; i++)
        if (grade_exercise_prepare_timing(st[i]) < 0)
            rc = -1;
    for (i = 0; i < g->count; i++)
        if (grade_exercise_join(st[i]) < 0)
            rc = -1;
    for (i = 0; i < g->count; i++)
        if (grade_exercise_finish(st[i]) < 0)
            rc = -1;
    free(st);
    return rc;
}

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
    if (g->opts.ci && g->warning != NULL) {
        fprintf(stderr, "grader: protected files differ from the manifest "
                "(CI mode)\n");
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
                              g->out, g->warning };
    char err[REPORT_ERR_LEN];
    int colour = !g->opts.ci && isatty(STDOUT_FILENO) &&
                 getenv("NO_COLOR") == NULL;
    int score, max, written;
    size_t i;

    for (i = 0; !g->opts.quiet && i < g->count; i++)
        report_print_exercise(stdout, &g->exercises[i], colour);
    if (!g->opts.quiet)
        report_print_next_step(stdout, &run, colour);
    report_print_warning(g->opts.quiet ? stderr : stdout, g->warning,
                         colour && !g->opts.quiet);
    written = report_write_files(&run, err) == 0;
    report_totals(&run, &score, &max);
    printf("Score: %d/%d\n", score, max);
    if (written && !g->opts.quiet)
        printf("Reports: %s/results.json %s/summary.md %s/junit.xml\n",
               g->out, g->out, g->out);
    fflush(stdout);
    if (!written) {
        fprintf(stderr, "grader: %s\n", err);
        return 2;
    }
    return grader_exit_status(g, score);
}

/* ------------------------------------------------------------------ */
/* Batch                                                               */
/* ------------------------------------------------------------------ */

/* Arguments that every child grader of a batch gets. */
static void grader_child_args(const struct grader_opts *o, const char **args)
{
    size_t k = 0, i;

    for (i = 0; i < o->nonly && k + 3 < GRADER_MAX_CHILD_ARGS; i++) {
        args[k++] = "--exercise";
        args[k++] = o->only[i];
    }
    if (o->no_timing)
        args[k++] = "--no-timing";
    if (o->no_coverage)
        args[k++] = "--no-coverage";
    if (o->no_memcheck)
        args[k++] = "--no-memcheck";
    if (o->no_static)
        args[k++] = "--no-static-check";
    if (o->budget > 0) {
        static char b[16];
        snprintf(b, sizeof(b), "%d", o->budget);
        args[k++] = "--budget";
        args[k++] = b;
    }
    if (o->exercise_budget > 0) {
        static char b[16];
        snprintf(b, sizeof(b), "%d", o->exercise_budget);
        args[k++] = "--exercise-budget";
        args[k++] = b;
    }
    args[k] = NULL;
}

static int grader_batch(struct grader *g, char err[GRADER_ERR_LEN])
{
    const char *args[GRADER_MAX_CHILD_ARGS];
    char self[PATH_MAX], dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    struct batch_opts bo;
    int rc;

    if (n <= 0) {
        grader_seterr(err, "cannot find this program: %s", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    if (grader_resolve("batch directory", g->opts.batch, dir, err) < 0 ||
        runner_mkdir_p(g->opts.out, err) < 0 ||
        grader_resolve("output directory", g->opts.out, g->out, err) < 0)
        return -1;
    grader_resolve_reference(g);
    grader_child_args(&g->opts, args);
    if (grader_make_trusted(g, err) < 0)
        return -1;
    bo = (struct batch_opts){ .self = self, .root = g->root, .dir = dir, .out = g->out,
                              .reference = g->reference[0] ? g->reference : NULL,
                              .ref_prebuilt = g->ref_prebuilt,
                              .subject_uid = g->opts.has_uid ? (unsigned)g->opts.subject_uid
                                                             : 64000u,
                              .keep_workbooks = g->opts.keep_workbooks,
                              .rubrics = g->rubrics, .count = g->count, .child_args = args,
                              .jobs = g->opts.jobs > 0 ? g->opts.jobs : 1,
                              .timing = !g->opts.no_timing, .quiet = g->opts.quiet };
    rc = batch_run(&bo, err);
    if (rc == 1)
        fprintf(stderr, "grader: some submissions could not be graded (see "
                "their status in %s/grades.csv)\n", g->out);
    return rc < 0 ? -1 : rc == 0 ? 0 : 2;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

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
    free(g->warning);
    free(g->root_state);
}

/* Grades one submission; returns the exit status, or -1 (err set). */
static int grader_single(struct grader *g, double start,
                         char err[GRADER_ERR_LEN])
{
    if (grader_setup_dirs(g, err) < 0 || grader_make_trusted(g, err) < 0 ||
        grader_integrity(g, err) < 0)
        return -1;
    if (!g->opts.quiet)
        report_print_warning(stdout, g->warning, !g->opts.ci &&
                             isatty(STDOUT_FILENO) &&
                             getenv("NO_COLOR") == NULL);
    fflush(stdout);
    if (grader_grade_all(g) < 0) {
        grader_seterr(err, "out of memory");
        return -1;
    }
    return grader_finish(g, start);
}

/* Returns the exit status, or -1 on an error described in err. */
static int grader_main(struct grader *g, double start,
                       char err[GRADER_ERR_LEN])
{
    int manifest = g->opts.write_manifest || g->opts.check_manifest;

    if (grader_resolve("root directory", g->opts.root, g->root, err) < 0 ||
        grader_load(g, manifest, err) < 0)
        return -1;
    if (manifest)
        return grader_manifest_cmd(g, err);
    if (runner_init(err) < 0)
        return -1;
    if (g->opts.batch != NULL)
        return grader_batch(g, err);
    return grader_single(g, start, err);
}

int main(int argc, char **argv)
{
    struct grader g;
    char err[GRADER_ERR_LEN] = "";
    double start = grader_now();
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
    rc = grader_main(&g, start, err);
    if (rc < 0) {
        fprintf(stderr, "grader: %s\n", err);
        rc = 2;
    }

out:
    grader_free(&g);
    return rc;
}

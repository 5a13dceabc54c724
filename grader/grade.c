/*
 * grade.c - grading one exercise: TODO files, build, static check, test
 * list, one isolated run per test, groups, timing (see grade.h).
 */
#include "grade.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runner.h"
#include "symcheck.h"
#include "timing.h"

#define GRADE_ARG_LEN (PATH_MAX + 32)
#define GRADE_NOTE_LEN 1024
#define GRADE_BUILD_TAIL_LINES 40
#define GRADE_LIST_TAIL_LINES 20

/* Variables of an outer make that must not leak into the build. */
static const char *const grade_build_unset_env[] = {
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL
};

/* Criterion settings that would change which tests run or how. */
static const char *const grade_test_unset_env[] = {
    "CRITERION_TEST_PATTERN", "CRITERION_JOBS", "CRITERION_ALWAYS_SUCCEED",
    "CRITERION_FAIL_FAST", "CRITERION_NO_EARLY_EXIT", "CRITERION_OUTPUTS",
    "CRITERION_ENABLE_TAP", "CRITERION_SHORT_FILENAME", "LD_PRELOAD", NULL
};

/* Graded code never runs unconfined: the harness makes a missing seccomp
 * filter fatal when this is set (harness/common/sandbox.h). */
static const char *const grade_test_set_env[] = {
    "WB_REQUIRE_SANDBOX=1", NULL
};

/* One exercise being graded. */
struct grade_state {
    const struct grade_ctx *ctx;
    const struct rubric *r;
    struct report_exercise *ex;
    char dir[PATH_MAX];       /* OUT/<id>: logs of the runs */
    char scratch[PATH_MAX];   /* OUT/scratch-<id> */
    char bin[PATH_MAX];       /* the test binary */
    unsigned char *listed;    /* per rubric test: in the binary's list */
    char *capbuf;             /* GRADE_OUTPUT_CAP bytes */
};

/* Formats into buf; returns -1 when the text did not fit. */
static int grade_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Records an internal error: 0 points and exercise status "error". */
static int grade_internal(struct grade_state *st, const char *what,
                          const char *why)
{
    char note[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];

    grade_fmt(note, sizeof(note), "internal error: %s: %s", what, why);
    return report_fail_all(st->ex, REPORT_EX_ERROR, REPORT_UNGRADABLE, note,
                           NULL, 0, err) < 0 ? -1 : 0;
}

/* Records an internal error about test i only: 0 points, status error. */
static int grade_test_internal(struct grade_state *st, size_t i,
                               const char *what, const char *why)
{
    char note[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];

    grade_fmt(note, sizeof(note), "internal error: %s: %s", what, why);
    if (report_set_result(st->ex, i, REPORT_CRASH, 0, note, NULL, err) < 0 ||
        report_add_error(st->ex, note, err) < 0)
        return -1;
    return 0;
}

static void grade_progress(const struct grade_state *st, const char *what)
{
    if (st->ctx->progress)
        fprintf(stderr, "grader: %s: %s\n", st->r->exdir, what);
}

/* ------------------------------------------------------------------ */
/* TODO files and build                                                */
/* ------------------------------------------------------------------ */

/* Explains why path cannot be a TODO file; empty when it can. */
static void grade_todo_problem(const char *path, char *note, size_t len)
{
    struct stat st;

    note[0] = '\0';
    if (lstat(path, &st) < 0)
        grade_fmt(note, len, "missing file %s: it is the file you edit in "
                  "this exercise", path);
    else if (S_ISLNK(st.st_mode))
        grade_fmt(note, len, "%s is a symbolic link: submit the file itself",
                  path);
    else if (!S_ISREG(st.st_mode))
        grade_fmt(note, len, "%s is not a regular file", path);
}

/* Returns 1 when every TODO file is there, 0 when marked ungradable. */
static int grade_check_todo(struct grade_state *st)
{
    char path[PATH_MAX], note[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];
    size_t i;

    for (i = 0; i < st->r->ntodo; i++) {
        if (grade_fmt(path, sizeof(path), "%s/%s/%s", st->ctx->submission,
                      st->r->exdir, st->r->todo[i]) < 0)
            return grade_internal(st, "path too long", st->r->todo[i]) < 0
                       ? -1 : 0;
        grade_todo_problem(path, note, sizeof(note));
        if (note[0] == '\0')
            continue;
        return report_fail_all(st->ex, REPORT_EX_UNGRADABLE,
                               REPORT_UNGRADABLE, note, NULL, 0, err) < 0
                   ? -1 : 0;
    }
    return 1;
}

/*
 * Runs make -C ROOT SUBMISSION=sub SUBBUILD=bdir target, output in log.
 * The compiler reads the submission, so the build gets limits too (an
 * `#include "/dev/zero"` must not eat the machine).
 */
static int grade_make(const struct grade_ctx *ctx, const char *sub,
                      const char *bdir, const char *target, const char *log,
                      struct runner_result *res, char err[RUNNER_ERR_LEN])
{
    char subarg[GRADE_ARG_LEN], bdirarg[GRADE_ARG_LEN];
    const char *argv[] = { "make", "-s", "--no-print-directory", "-C",
                           ctx->root, subarg, bdirarg, target, NULL };
    struct runner_spec spec = { argv, NULL, log, GRADE_BUILD_TIMEOUT_S,
                                GRADE_BUILD_TIMEOUT_S, 1,
                                grade_build_unset_env, NULL,
                                GRADE_BUILD_MEMORY_MB, NULL };

    if (grade_fmt(subarg, sizeof(subarg), "SUBMISSION=%s", sub) < 0 ||
        grade_fmt(bdirarg, sizeof(bdirarg), "SUBBUILD=%s", bdir) < 0) {
        snprintf(err, RUNNER_ERR_LEN, "path too long");
        return -1;
    }
    return runner_run(&spec, res, err);
}

static void grade_build_note(const struct grade_state *st,
                             const struct runner_result *res, char *note,
                             size_t len)
{
    if (res->outcome == RUNNER_TIMED_OUT)
        grade_fmt(note, len, "the build did not finish within %d s and was "
                  "stopped (your files: %s/%s/)", GRADE_BUILD_TIMEOUT_S,
                  st->ctx->submission, st->r->exdir);
    else if (res->outcome == RUNNER_SIGNALED)
        grade_fmt(note, len, "the build was killed by signal %d (%s)",
                  res->status, strsignal(res->status));
    else
        grade_fmt(note, len, "does not compile: fix the errors below (your "
                  "files: %s/%s/)", st->ctx->submission, st->r->exdir);
}

/* Builds the test binary. 1: ready; 0: marked ungradable/error; -1: OOM. */
static int grade_build(struct grade_state *st)
{
    char target[80], log[PATH_MAX], note[GRADE_NOTE_LEN];
    char err[RUNNER_ERR_LEN];
    struct runner_result res;

    if (grade_fmt(target, sizeof(target), "tests-%s", st->r->id) < 0 ||
        grade_fmt(log, sizeof(log), "%s/%s.build.log", st->ctx->out,
                  st->r->id) < 0 ||
        grade_fmt(st->bin, sizeof(st->bin), "%s/bin/test-%s", st->ctx->build,
                  st->r->id) < 0)
        return grade_internal(st, "cannot build", "path too long") < 0 ? -1
                                                                       : 0;
    if (grade_make(st->ctx, st->ctx->submission, st->ctx->build, target, log,
                   &res, err) < 0)
        return grade_internal(st, "cannot run make", err) < 0 ? -1 : 0;
    if (res.outcome == RUNNER_EXITED && res.status == 0) {
        if (access(st->bin, X_OK) == 0)
            return 1;
        return grade_internal(st, "the build succeeded but did not produce",
                              st->bin) < 0 ? -1 : 0;
    }
    grade_build_note(st, &res, note, sizeof(note));
    return report_fail_all(st->ex, REPORT_EX_UNGRADABLE, REPORT_UNGRADABLE,
                           note, log, GRADE_BUILD_TAIL_LINES, err) < 0 ? -1
                                                                       : 0;
}

/* ------------------------------------------------------------------ */
/* Static check                                                        */
/* ------------------------------------------------------------------ */

/* Appends line (and a newline) to the malloc'd text *buf; -1: no memory. */
static int grade_append_line(char **buf, const char *line)
{
    size_t old = *buf ? strlen(*buf) : 0, add = strlen(line);
    char *grown = realloc(*buf, old + add + 2);

    if (grown == NULL)
        return -1;
    memcpy(grown + old, line, add);
    grown[old + add] = '\n';
    grown[old + add + 1] = '\0';
    *buf = grown;
    return 0;
}

/* Nonzero when path (resolved) lies inside dir (resolved). */
static int grade_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * Checks one dependency of a TODO object (a file the compiler read, from
 * its -MMD list): it must be the staged TODO file itself, or one of the
 * exercise's own headers in ROOT/skeletons/<exdir>/ (not a TODO file).
 * Anything else (the solutions, another exercise, a harness file) is a
 * reason appended to *reasons.  -1: out of memory.
 */
static int grade_dependency(struct grade_state *st, const char *todo,
                            const char *dep, const char *srcdir,
                            const char *exdir, char **reasons)
{
    char path[PATH_MAX], real[PATH_MAX], line[PATH_MAX + 256];
    const char *base;

    if (dep[0] == '/')
        grade_fmt(path, sizeof(path), "%s", dep);
    else
        grade_fmt(path, sizeof(path), "%s/%s", st->ctx->root, dep);
    if (realpath(path, real) == NULL)
        grade_fmt(real, sizeof(real), "%s", path);
    base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    if (grade_inside(real, srcdir) ||
        (grade_inside(real, exdir) && !rubric_is_todo(st->r, base)))
        return 0;
    grade_fmt(line, sizeof(line), "%s: includes %s, which is not one of exercise "
              "%s's headers (a TODO file may include its exercise's headers "
              "and system headers only)", todo, dep, st->r->id);
    return grade_append_line(reasons, line);
}

/* Reads OBJ's dependency list (obj.d) and checks each entry. */
static int grade_dependencies(struct grade_state *st, const char *todo,
                              const char *dfile, const char *srcdir,
                              const char *exdir, char **reasons)
{
    char buf[16384], *p, *tok, *save = NULL;
    size_t n;
    FILE *f = fopen(dfile, "r");
    int rc = 0;

    if (f == NULL)
        return 0;     /* no list (an older build): nothing to check */
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strchr(buf, ':');   /* past "target:" */
    if (p == NULL)
        return 0;
    for (tok = strtok_r(p + 1, " \t\r\n", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, " \t\r\n", &save))
        if (strcmp(tok, "\\") != 0)
            rc = grade_dependency(st, todo, tok, srcdir, exdir, reasons);
    return rc;
}

/*
 * The includes of the TODO files compiled under bdir: appended to
 * *reasons when one reads a file outside its exercise (an #include of the
 * solutions, say).  -1: out of memory.
 */
static int grade_includes(struct grade_state *st, const char *bdir, char **reasons)
{
    char srcdir[PATH_MAX], exdir[PATH_MAX], path[PATH_MAX], dfile[PATH_MAX];
    size_t i;

    grade_fmt(path, sizeof(path), "%s/src/%s", bdir, st->r->exdir);
    if (realpath(path, srcdir) == NULL)
        grade_fmt(srcdir, sizeof(srcdir), "%s", path);
    grade_fmt(path, sizeof(path), "%s/skeletons/%s", st->ctx->root, st->r->exdir);
    if (realpath(path, exdir) == NULL)
        grade_fmt(exdir, sizeof(exdir), "%s", path);
    for (i = 0; i < st->r->ntodo; i++) {
        const char *todo = st->r->todo[i], *dot = strrchr(todo, '.');
        if (dot == NULL || strcmp(dot, ".c") != 0)
            continue;
        if (grade_fmt(dfile, sizeof(dfile), "%s/obj/todo/%s/%.*s.d", bdir,
                      st->r->exdir, (int)(dot - todo), todo) < 0)
            continue;
        if (grade_dependencies(st, todo, dfile, srcdir, exdir, reasons) < 0)
            return -1;
    }
    return 0;
}

/*
 * Checks the objects under bdir (the test build, or its o2/ copy for the
 * benchmark). 1: accepted (or no check); 0: rejected, *reasons set
 * (malloc'd); -1: internal error in err.
 */
static int grade_symcheck(struct grade_state *st, const char *bdir,
                          const char *tag, char **reasons,
                          char err[SYMCHECK_ERR_LEN])
{
    char objdir[PATH_MAX], logbase[PATH_MAX];
    struct symcheck_result res;

    *reasons = NULL;
    if (!st->ctx->static_check || st->r->symbols == NULL)
        return 1;
    if (grade_fmt(objdir, sizeof(objdir), "%s/obj/todo/%s", bdir,
                  st->r->exdir) < 0 ||
        grade_fmt(logbase, sizeof(logbase), "%s/static-%s", st->dir,
                  tag) < 0) {
        snprintf(err, SYMCHECK_ERR_LEN, "path too long");
        return -1;
    }
    if (symcheck_run(st->r, objdir, logbase, &res, err) < 0) {
        symcheck_clear(&res);
        return -1;
    }
    *reasons = res.reasons;
    if (grade_includes(st, bdir, reasons) < 0) {
        snprintf(err, SYMCHECK_ERR_LEN, "out of memory");
        return -1;
    }
    return *reasons == NULL ? 1 : 0;
}

/* Writes head, then each line of text indented, into buf (len >= 2 *
 * strlen(text) + strlen(head) + 2). */
static void grade_indent(char *buf, size_t len, const char *head,
                         const char *text)
{
    size_t n = (size_t)snprintf(buf, len, "%s", head), k;

    while (*text != '\0' && n + 4 < len) {
        k = strcspn(text, "\n");
        n += (size_t)snprintf(buf + n, len - n, "\n  %.*s", (int)k, text);
        text += k + (text[k] == '\n');
    }
}

/* The static check of the test build. 1: go on; 0: rejected; -1: OOM. */
static int grade_static(struct grade_state *st)
{
    char err[SYMCHECK_ERR_LEN], rerr[REPORT_ERR_LEN];
    char *reasons = NULL, *note = NULL;
    size_t len;
    int rc;

    grade_progress(st, "static check");
    rc = grade_symcheck(st, st->ctx->build, "O1", &reasons, err);
    if (rc < 0)
        return grade_internal(st, "static check", err) < 0 ? -1 : 0;
    if (rc == 1)
        return 1;
    len = strlen(reasons) * 2 + 128;
    if ((note = malloc(len)) == NULL) {
        free(reasons);
        return -1;
    }
    grade_indent(note, len, "rejected by the static check (nothing of your "
                 "code was run):", reasons);
    rc = report_fail_all(st->ex, REPORT_EX_REJECTED, REPORT_REJECTED, note,
                         NULL, 0, rerr) < 0 ? -1 : 0;
    free(note);
    free(reasons);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Runs of the test binary                                             */
/* ------------------------------------------------------------------ */

/* Runs argv (a test binary) under the isolation of a test. */
static int grade_run_isolated(struct grade_state *st, const char *const *argv,
                              int timeout_s, const char *log,
                              struct runner_capture *cap,
                              struct runner_result *res,
                              char err[RUNNER_ERR_LEN])
{
    struct runner_spec spec = { argv, st->scratch, log, timeout_s, timeout_s,
                                1, grade_test_unset_env, grade_test_set_env,
                                st->r->memory_mb, cap };

    cap->buf = st->capbuf;
    cap->size = GRADE_OUTPUT_CAP;
    cap->kill_after = GRADE_OUTPUT_KILL;
    if (runner_clear_dir(st->scratch, err) < 0)
        return -1;
    return runner_run(&spec, res, err);
}

/* Explains a run that did not end normally; empty when it did. */
static void grade_run_note(const struct runner_result *res, int timeout_s,
                           char *note, size_t len,
                           enum report_status *status)
{
    note[0] = '\0';
    *status = REPORT_CRASH;
    if (res->outcome == RUNNER_TIMED_OUT) {
        *status = REPORT_TIMEOUT;
        grade_fmt(note, len, "did not finish within %d s and was stopped",
                  timeout_s);
    } else if (res->outcome == RUNNER_SIGNALED && res->status == SIGXCPU) {
        *status = REPORT_TIMEOUT;
        grade_fmt(note, len, "used more than %d s of CPU time and was "
                  "stopped", timeout_s);
    } else if (res->outcome == RUNNER_SIGNALED) {
        grade_fmt(note, len, "was killed by signal %d (%s)", res->status,
                  strsignal(res->status));
    }
}

/* ------------------------------------------------------------------ */
/* The list of tests                                                   */
/* ------------------------------------------------------------------ */

/* Records suite::test from the binary's list. */
static int grade_listed(struct grade_state *st, const char *suite,
                        const char *test)
{
    long idx = rubric_find_test(st->r, suite, test);
    char msg[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];

    if (idx >= 0) {
        st->listed[idx] = 1;
        return 0;
    }
    snprintf(msg, sizeof(msg), "rubric error: test %s::%s is not in "
             "rubric.json", suite, test);
    return report_add_error(st->ex, msg, err);
}

/*
 * Parses Criterion's --list --ascii output ("suite: N tests" lines, then
 * "|-- test" / "`-- test" lines). Returns the number of tests, -1 on OOM.
 */
static long grade_parse_list(struct grade_state *st, char *text)
{
    char suite[256] = "", *line, *next;
    unsigned n;
    long count = 0;
    char word[256];

    for (line = text; *line != '\0'; line = next) {
        next = line + strcspn(line, "\n");
        if (*next == '\n')
            *next++ = '\0';
        if ((strncmp(line, "|-- ", 4) == 0 || strncmp(line, "`-- ", 4) == 0) &&
            suite[0] != '\0' && sscanf(line + 4, "%255s", word) == 1) {
            if (grade_listed(st, suite, word) < 0)
                return -1;
            count++;
        } else if (sscanf(line, "%255[^: ]: %u test", suite, &n) != 2) {
            suite[0] = '\0';
        }
    }
    return count;
}

/* Rubric tests the binary lacks: a rubric error, and 0 points. */
static int grade_unlisted(struct grade_state *st)
{
    const struct rubric_test *t;
    char msg[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];
    size_t i;

    for (i = 0; i < st->r->ntests; i++) {
        if (st->listed[i])
            continue;
        t = &st->r->tests[i];
        snprintf(msg, sizeof(msg), "rubric error: test %s::%s is in "
                 "rubric.json but not in the test program", t->suite,
                 t->test);
        if (report_add_error(st->ex, msg, err) < 0 ||
            report_set_result(st->ex, i, REPORT_FAIL, 0, "missing from the "
                              "test program", NULL, err) < 0)
            return -1;
    }
    return 0;
}

static void grade_list_note(const struct runner_result *res,
                            const struct runner_capture *cap, long count,
                            const struct rubric *r, char *note, size_t len,
                            enum report_status *status)
{
    char how[256];

    grade_run_note(res, r->timeout_s, how, sizeof(how), status);
    if (how[0] != '\0')
        grade_fmt(note, len, "the test program %s before any test ran", how);
    else if (cap->killed || cap->total > cap->len)
        grade_fmt(note, len, "the test program printed more than %d KiB "
                  "while listing its tests", GRADE_OUTPUT_CAP / 1024);
    else if (res->status != 0)
        grade_fmt(note, len, "the test program exited with status %d before "
                  "any test ran", res->status);
    else if (count == 0)
        grade_fmt(note, len, "the test program listed no tests");
    else
        note[0] = '\0';
}

/* Lists the binary's tests. 1: go on; 0: all tests failed; -1: OOM. */
static int grade_list(struct grade_state *st)
{
    char log[PATH_MAX], note[GRADE_NOTE_LEN], err[RUNNER_ERR_LEN];
    const char *argv[] = { st->bin, "--list", "--ascii", NULL };
    struct runner_capture cap;
    struct runner_result res;
    enum report_status status;
    long count = 0;

    if (grade_fmt(log, sizeof(log), "%s/list.log", st->dir) < 0)
        return grade_internal(st, "list", "path too long") < 0 ? -1 : 0;
    if (grade_run_isolated(st, argv, st->r->timeout_s, log, &cap, &res,
                           err) < 0)
        return grade_internal(st, "cannot list the tests", err) < 0 ? -1 : 0;
    if (res.outcome == RUNNER_EXITED && res.status == 0 && !cap.killed &&
        (count = grade_parse_list(st, st->capbuf)) < 0)
        return -1;
    grade_list_note(&res, &cap, count, st->r, note, sizeof(note), &status);
    if (note[0] != '\0')
        return report_fail_all(st->ex, REPORT_EX_GRADED, status, note, log,
                               GRADE_LIST_TAIL_LINES, err) < 0 ? -1 : 0;
    return grade_unlisted(st) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------ */
/* One test                                                            */
/* ------------------------------------------------------------------ */

/*
 * A flood of output costs the test its points: more than the capture
 * keeps is a FAIL (or keeps its TIMEOUT/CRASH); a run stopped for it is a
 * FAIL whatever else happened.
 */
static int grade_output_penalty(struct grade_state *st, size_t i,
                                const struct runner_capture *cap)
{
    const struct report_result *res = &st->ex->results[i];
    enum report_status status = res->status == REPORT_OK || cap->killed
                                    ? REPORT_FAIL : res->status;
    char reason[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];
    int keep = !cap->killed && res->reason != NULL;

    if (cap->total <= cap->len)
        return 0;
    grade_fmt(reason, sizeof(reason), "printed more than %d KiB of output "
              "(%s)%s%s", GRADE_OUTPUT_CAP / 1024, cap->killed
              ? "stopped after 16 MiB" : "only the first 64 KiB were kept",
              keep ? "; " : "", keep ? res->reason : "");
    return report_set_result(st->ex, i, status, 0, reason,
                             cap->killed ? NULL : res->messages, err);
}

/* Scores test i from its run. */
static int grade_score_run(struct grade_state *st, size_t i,
                           const struct runner_result *res, const char *json,
                           const char *log)
{
    const struct rubric_test *t = &st->r->tests[i];
    char note[GRADE_NOTE_LEN], why[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];
    enum report_status status;

    grade_run_note(res, t->timeout_s, why, sizeof(why), &status);
    if (why[0] != '\0') {
        grade_fmt(note, sizeof(note), "the test program %s (its output: %s)",
                  why, log);
        return report_set_result(st->ex, i, status, 0, note, NULL, err);
    }
    if (report_score_test(st->ex, i, json, log, err) == 0)
        return 0;
    if (strcmp(err, "out of memory") == 0)
        return -1;
    grade_fmt(note, sizeof(note), "the test program ended without a usable "
              "report (%s; its output: %s)", err, log);
    return report_set_result(st->ex, i, REPORT_CRASH, 0, note, NULL, err);
}

static int grade_test(struct grade_state *st, size_t i)
{
    const struct rubric_test *t = &st->r->tests[i];
    char json[PATH_MAX], log[PATH_MAX], jarg[GRADE_ARG_LEN];
    char farg[GRADE_ARG_LEN], err[RUNNER_ERR_LEN];
    const char *argv[] = { st->bin, farg, jarg, "-j1", "--ascii", NULL };
    struct runner_capture cap;
    struct runner_result res;

    if (grade_fmt(json, sizeof(json), "%s/%s.%s.json", st->dir, t->suite,
                  t->test) < 0 ||
        grade_fmt(log, sizeof(log), "%s/%s.%s.log", st->dir, t->suite,
                  t->test) < 0 ||
        grade_fmt(jarg, sizeof(jarg), "--json=%s", json) < 0 ||
        grade_fmt(farg, sizeof(farg), "--filter=%s/%s", t->suite,
                  t->test) < 0)
        return grade_test_internal(st, i, "test run", "path too long");
    if (unlink(json) < 0 && errno != ENOENT)
        return grade_test_internal(st, i, "cannot remove an old report",
                                   strerror(errno));
    if (grade_run_isolated(st, argv, t->timeout_s, log, &cap, &res,
                           err) < 0)
        return grade_test_internal(st, i, "cannot run the test", err);
    if (grade_score_run(st, i, &res, json, log) < 0)
        return -1;
    return grade_output_penalty(st, i, &cap);
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

static int grade_group_passed(const struct grade_state *st, size_t g)
{
    size_t i;

    for (i = 0; i < st->r->ntests; i++)
        if (st->r->tests[i].group == (long)g &&
            st->ex->results[i].status != REPORT_OK)
            return 0;
    return 1;
}

/* Writes why test i may not be scored into reason; 0 when it may. */
static int grade_blocked(const struct grade_state *st, size_t i,
                         char *reason, size_t len)
{
    const struct rubric_group *g;
    size_t k;

    if (st->r->tests[i].group < 0)
        return 0;
    g = &st->r->groups[st->r->tests[i].group];
    for (k = 0; k < g->nrequires; k++) {
        if (grade_group_passed(st, g->requires[k]))
            continue;
        grade_fmt(reason, len, "not scored: needs every test of group '%s' "
                  "to pass first", st->r->groups[g->requires[k]].name);
        return 1;
    }
    return 0;
}

/* Runs test i, or scores it 0 when its group may not be scored yet. */
static int grade_one(struct grade_state *st, size_t i)
{
    char reason[GRADE_NOTE_LEN], err[REPORT_ERR_LEN], what[512];

    if (!st->listed[i])
        return 0; /* already scored: missing from the test program */
    if (grade_blocked(st, i, reason, sizeof(reason)))
        return report_set_result(st->ex, i, REPORT_FAIL, 0, reason, NULL,
                                 err);
    snprintf(what, sizeof(what), "running %s::%s", st->r->tests[i].suite,
             st->r->tests[i].test);
    grade_progress(st, what);
    return grade_test(st, i);
}

/* Runs the tests without a group, then each group in rubric order (a
 * group only requires groups listed before it). */
static int grade_tests(struct grade_state *st)
{
    long g;
    size_t i;

    for (g = -1; g < (long)st->r->ngroups; g++)
        for (i = 0; i < st->r->ntests; i++)
            if (st->r->tests[i].group == g && grade_one(st, i) < 0)
                return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Timing                                                              */
/* ------------------------------------------------------------------ */

int grade_build_reference(const struct grade_ctx *ctx, const struct rubric *r,
                          char *bin, size_t binlen, char *why, size_t whylen)
{
    char dir[PATH_MAX], log[PATH_MAX], err[RUNNER_ERR_LEN];
    struct runner_result res;
    struct stat sb;

    if (grade_fmt(dir, sizeof(dir), "%s/%s", ctx->reference, r->exdir) < 0 ||
        grade_fmt(log, sizeof(log), "%s/%s.ref-build.log", ctx->out,
                  r->id) < 0 ||
        grade_fmt(bin, binlen, "%s/o2/bin/%s", ctx->ref_build,
                  r->timing->bench) < 0) {
        grade_fmt(why, whylen, "path too long");
        return -1;
    }
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        grade_fmt(why, whylen, "not measured: no reference to time against "
                  "(%s does not exist; see --reference)", dir);
        return 1;
    }
    if (grade_make(ctx, ctx->reference, ctx->ref_build, r->timing->bench,
                   log, &res, err) < 0) {
        grade_fmt(why, whylen, "cannot run make: %s", err);
        return -1;
    }
    if (res.outcome == RUNNER_EXITED && res.status == 0 &&
        access(bin, X_OK) == 0)
        return 0;
    grade_fmt(why, whylen, "not measured: the reference's benchmark does not "
              "build (see %s)", log);
    return 1;
}

/* Builds and checks the submission's benchmark. 0: ready; 1: not (why). */
static int grade_sub_bench(struct grade_state *st, char *bin, size_t binlen,
                           char *why, size_t whylen)
{
    char log[PATH_MAX], o2[PATH_MAX], err[RUNNER_ERR_LEN], *reasons = NULL;
    struct runner_result res;
    int rc;

    if (grade_fmt(log, sizeof(log), "%s/%s.bench-build.log", st->ctx->out,
                  st->r->id) < 0 ||
        grade_fmt(o2, sizeof(o2), "%s/o2", st->ctx->build) < 0 ||
        grade_fmt(bin, binlen, "%s/bin/%s", o2, st->r->timing->bench) < 0 ||
        grade_make(st->ctx, st->ctx->submission, st->ctx->build,
                   st->r->timing->bench, log, &res, err) < 0) {
        grade_fmt(why, whylen, "not measured: cannot build the benchmark");
        return -1;
    }
    if (res.outcome != RUNNER_EXITED || res.status != 0 ||
        access(bin, X_OK) != 0) {
        grade_fmt(why, whylen, "not measured: the benchmark does not build "
                  "with your code at -O2 (see %s)", log);
        return 1;
    }
    rc = grade_symcheck(st, o2, "O2", &reasons, err);
    if (rc < 0)
        grade_fmt(why, whylen, "not measured: static check: %s", err);
    else if (rc == 0)
        grade_fmt(why, whylen, "not measured: at -O2 your code is rejected "
                  "by the static check: %.300s", reasons);
    free(reasons);
    return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

/* Fills *t (and reason) with the measurement, or why there is none. */
static int grade_measure(struct grade_state *st, struct report_timing *t,
                         char reason[TIMING_REASON_LEN])
{
    char sub[PATH_MAX], ref[PATH_MAX], err[TIMING_ERR_LEN];
    struct timing_spec spec = { st->r, sub, ref, st->scratch, st->dir,
                                grade_test_set_env, grade_test_unset_env };

    t->reason = reason;
    if (!st->ctx->timing) {
        grade_fmt(reason, TIMING_REASON_LEN, "not measured (--no-timing)");
        return 0;
    }
    if (st->ex->status != REPORT_EX_GRADED || !report_all_passed(st->ex)) {
        grade_fmt(reason, TIMING_REASON_LEN, "not measured: every "
                  "functional test must pass first");
        return 0;
    }
    grade_progress(st, "timing against the reference");
    if (grade_sub_bench(st, sub, sizeof(sub), reason, TIMING_REASON_LEN) != 0 ||
        grade_build_reference(st->ctx, st->r, ref, sizeof(ref), reason,
                              TIMING_REASON_LEN) != 0)
        return 0;
    if (timing_measure(&spec, t, reason, err) < 0) {
        grade_fmt(reason, TIMING_REASON_LEN, "not measured: %s", err);
        t->reason = reason;
    }
    return 0;
}

static int grade_timing(struct grade_state *st)
{
    struct report_timing t;
    char reason[TIMING_REASON_LEN] = "", err[REPORT_ERR_LEN];

    if (st->r->timing == NULL)
        return 0;
    memset(&t, 0, sizeof(t));
    t.rounds = st->r->timing->rounds;
    if (grade_measure(st, &t, reason) < 0)
        return -1;
    return report_set_timing(st->ex, &t, err);
}

/* ------------------------------------------------------------------ */
/* Coverage of the TODO files                                          */
/* ------------------------------------------------------------------ */

/* Reads gcovr's JSON summary into c; -1 when it is not what we expect. */
static int grade_read_coverage(const char *path, struct report_coverage *c)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *covered = root ? json_object_get(root, "line_covered") : NULL;
    json_t *total = root ? json_object_get(root, "line_total") : NULL;
    int rc = -1;

    if (json_is_integer(covered) && json_is_integer(total) &&
        json_integer_value(total) > 0) {
        c->covered = (long)json_integer_value(covered);
        c->total = (long)json_integer_value(total);
        c->percent = 100.0 * (double)c->covered / (double)c->total;
        c->measured = 1;
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* Removes the counters of earlier runs, so that this run alone counts. */
static void grade_clear_counters(const struct grade_state *st,
                                 const char *objdir)
{
    char path[PATH_MAX];
    size_t i;

    for (i = 0; i < st->r->ntodo; i++) {
        const char *dot = strrchr(st->r->todo[i], '.');
        int stem = dot ? (int)(dot - st->r->todo[i]) : (int)strlen(st->r->todo[i]);
        if (grade_fmt(path, sizeof(path), "%s/%s/%.*s.gcda", objdir,
                      st->r->exdir, stem, st->r->todo[i]) == 0)
            unlink(path);
    }
}

/* Measures into c, or says in why why it could not. */
static void grade_measure_coverage(struct grade_state *st,
                                   struct report_coverage *c,
                                   char *why, size_t whylen)
{
    char log[PATH_MAX], target[64], bin[PATH_MAX], objdir[PATH_MAX];
    char json[PATH_MAX], runlog[PATH_MAX], err[RUNNER_ERR_LEN];
    char exobj[PATH_MAX];
    const char *test_argv[] = { bin, "-j1", "--ascii", NULL };
    /* Only this exercise's counters: the search path is its object folder
     * (other exercises graded in the same run share objdir). */
    const char *gcovr_argv[] = { "gcovr", "--root", st->ctx->submission,
                                 "--object-directory", exobj,
                                 "--json-summary", json, exobj, NULL };
    struct runner_spec gspec = { gcovr_argv, NULL, runlog, 120, 120, 1,
                                 NULL, NULL, GRADE_BUILD_MEMORY_MB, NULL };
    struct runner_capture cap;
    struct runner_result res;
    long timeout = (long)st->r->ntests * st->r->timeout_s;

    if (grade_fmt(log, sizeof(log), "%s/%s.cov-build.log", st->ctx->out, st->r->id) < 0 ||
        grade_fmt(target, sizeof(target), "cov-%s", st->r->id) < 0 ||
        grade_fmt(bin, sizeof(bin), "%s/cov/bin/test-%s", st->ctx->build, st->r->id) < 0 ||
        grade_fmt(objdir, sizeof(objdir), "%s/cov/obj/todo", st->ctx->build) < 0 ||
        grade_fmt(exobj, sizeof(exobj), "%s/%s", objdir, st->r->exdir) < 0 ||
        grade_fmt(json, sizeof(json), "%s/%s.coverage.json", st->ctx->out, st->r->id) < 0 ||
        grade_fmt(runlog, sizeof(runlog), "%s/%s.coverage.log", st->ctx->out, st->r->id) < 0) {
        grade_fmt(why, whylen, "path too long");
        return;
    }
    if (grade_make(st->ctx, st->ctx->submission, st->ctx->build, target, log, &res, err) < 0 ||
        res.outcome != RUNNER_EXITED || res.status != 0) {
        grade_fmt(why, whylen, "the coverage build failed (see %s)", log);
        return;
    }
    grade_clear_counters(st, objdir);
    /* The tests' verdicts here are not used: only the counters they leave. */
    if (grade_run_isolated(st, test_argv, timeout > 600 ? 600 : (int)timeout,
                           runlog, &cap, &res, err) < 0) {
        grade_fmt(why, whylen, "cannot run the tests: %s", err);
        return;
    }
    unlink(json);
    if (runner_run(&gspec, &res, err) < 0 || res.outcome != RUNNER_EXITED ||
        res.status != 0 || grade_read_coverage(json, c) < 0)
        grade_fmt(why, whylen, "gcovr gave no summary (see %s)", runlog);
}

/* Step 7: information for the student and the instructor, no points. */
static int grade_coverage(struct grade_state *st)
{
    struct report_coverage c;
    char why[512] = "", err[REPORT_ERR_LEN];

    if (!st->ctx->coverage)
        return 0;
    memset(&c, 0, sizeof(c));
    c.asked = 1;
    if (st->ex->status != REPORT_EX_GRADED) {
        grade_fmt(why, sizeof(why), "the exercise was not graded");
    } else {
        grade_progress(st, "coverage of your code by the tests");
        grade_measure_coverage(st, &c, why, sizeof(why));
    }
    if (!c.measured)
        c.reason = why;
    return report_set_coverage(st->ex, &c, err);
}

/* ------------------------------------------------------------------ */
/* Whole exercise                                                      */
/* ------------------------------------------------------------------ */

static int grade_prepare(struct grade_state *st)
{
    char err[RUNNER_ERR_LEN];

    if (grade_fmt(st->dir, sizeof(st->dir), "%s/%s", st->ctx->out,
                  st->r->id) < 0 ||
        grade_fmt(st->scratch, sizeof(st->scratch), "%s/scratch-%s",
                  st->ctx->out, st->r->id) < 0)
        return grade_internal(st, "cannot prepare", "path too long") < 0
                   ? -1 : 0;
    if (runner_clear_dir(st->dir, err) < 0)
        return grade_internal(st, "cannot prepare", err) < 0 ? -1 : 0;
    return 1;
}

/* Steps 1-5 of grade.h; returns 1 when the tests ran. */
static int grade_steps(struct grade_state *st)
{
    int rc;

    if ((rc = grade_prepare(st)) <= 0 || (rc = grade_check_todo(st)) <= 0)
        return rc;
    grade_progress(st, "building");
    if ((rc = grade_build(st)) <= 0 || (rc = grade_static(st)) <= 0 ||
        (rc = grade_list(st)) <= 0)
        return rc;
    return grade_tests(st) < 0 ? -1 : 1;
}

int grade_exercise(const struct grade_ctx *ctx, const struct rubric *r,
                   struct report_exercise *ex)
{
    struct grade_state st;
    char err[REPORT_ERR_LEN];
    int rc = -1;

    memset(&st, 0, sizeof(st));
    st.ctx = ctx;
    st.r = r;
    st.ex = ex;
    if (report_exercise_init(ex, r, err) < 0)
        return -1;
    st.listed = calloc(r->ntests, 1);
    st.capbuf = malloc(GRADE_OUTPUT_CAP);
    if (st.listed == NULL || st.capbuf == NULL)
        goto out;
    rc = grade_steps(&st);
    if (rc == 1)
        rc = grade_timing(&st);
    if (rc >= 0 && grade_coverage(&st) < 0)
        rc = -1;

out:
    free(st.listed);
    free(st.capbuf);
    return rc;
}

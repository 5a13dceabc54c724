/*
 * grade.c - grading one exercise: the private build, the judge's test
 * list, one isolated run per test, groups, timing, coverage (see grade.h).
 */
#define _GNU_SOURCE 1
#include "grade.h"

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "apiset.h"
#include "build.h"
#include "runner.h"
#include "timing.h"

#define GRADE_ARG_LEN (PATH_MAX + 32)
#define GRADE_NOTE_LEN 1024
#define GRADE_BUILD_TAIL_LINES 40
#define GRADE_LIST_TAIL_LINES 20
#define GRADE_MAX_ENV 16

/* Variables that would change which tests the judge runs, how, or how the
 * subjects run.  The grader sets its own below. */
static const char *const grade_test_unset_env[] = {
    "CRITERION_TEST_PATTERN", "CRITERION_JOBS", "CRITERION_ALWAYS_SUCCEED",
    "CRITERION_FAIL_FAST", "CRITERION_NO_EARLY_EXIT", "CRITERION_OUTPUTS",
    "CRITERION_ENABLE_TAP", "CRITERION_SHORT_FILENAME", "LD_PRELOAD",
    "LD_LIBRARY_PATH", "WB_SUBJECT_DIR", "WB_REF_SUBJECT_DIR", "WB_SCRATCH",
    "WB_SUBJECT_UID", "WB_SUBJECT_WRAPPER", "WB_KEEP_SCRATCH", "WB_SUBJECT_SAME_UID",
    "WB_SUBJECT_SANITIZER", "WB_COVERAGE_DIR", "WB_SUBJECT_MEMORY_MB", "WB_SUBJECT_CPU_S",
    "WB_BENCH_CPU", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "GCOV_PREFIX",
    "GCOV_PREFIX_STRIP", NULL
};

/* One exercise being graded. */
struct grade_state {
    const struct grade_ctx *ctx;
    const struct rubric *r;
    struct report_exercise *ex;
    char dir[PATH_MAX];       /* OUT/<id>: logs of the runs */
    char scratch[PATH_MAX];   /* OUT/scratch-<id>: the judge's working folder */
    char judge[PATH_MAX];     /* ROOT/build/bin/test-<id> */
    char work[PATH_MAX];      /* WORK/<id>: the private build */
    char refwork[PATH_MAX];   /* REF_BUILD/<id> */
    char src[2][PATH_MAX];    /* the TODO files' folder: submission, reference */
    char env_store[GRADE_MAX_ENV][PATH_MAX + 64];
    const char *env[GRADE_MAX_ENV + 1];
    double deadline;          /* the exercise's, or the submission's */
    int run_memory_mb;        /* RLIMIT_AS of the judge's runs (0: none) */
    char share[PATH_MAX];     /* /tmp/wb-grader-XXXXXX (grade_share()), "" */
    int cov_ready;            /* the tests ran the cov variant: counters */
    char cov_why[512];        /* why not, when coverage was asked */
    struct apiset api;
    unsigned char *listed;    /* per rubric test: in the judge's list */
    char *capbuf;             /* GRADE_OUTPUT_CAP bytes */
    int ran;                  /* the tests ran (timing may follow) */
    double paused_left;       /* budget left when the exercise was paused */
    int mc_pid[2];            /* the memory check's workers, or 0 */
    int mc_passed;            /* tests they run again */
    char mc_result[2][PATH_MAX]; /* what each found (grade_mc_worker) */
    int mc_fd;                /* the workers' queue (grade_mc_post), or -1 */
    int bg_pid[BUILD_NVARIANTS]; /* a variant's build in the background, or 0 */
    int mc_tried;             /* grade_mc_start ran (whatever it did) */
    char mc_bindir[PATH_MAX]; /* the asan subjects */
    char mc_refdir[PATH_MAX]; /* the reference's test subjects */
    int bench_built;          /* grade_sub_bench ran: 1 + its result */
    char bench_why[TIMING_REASON_LEN]; /* why the bench build is not ready */
};

/* The memory check of an exercise runs in GRADE_MC_PARTS worker processes,
 * started when its first test passes: each takes the next test that passed
 * from a queue the tests' lane fills as they pass (grade_mc_post), so that
 * the check keeps up with the tests instead of starting after the last.
 * The k-th worker of a grading (k = 1, 2, ...) runs its subjects as uid -
 * GRADE_MC_UID_STEP * k (as root): never the uid of another lane, nor of
 * another batch job (uid + slot, under 64 of them). */
#define GRADE_MC_PARTS 2
#define GRADE_MC_UID_STEP 256u
#define GRADE_MC_MAX_WORKERS 16
/* How long past the exercise's budget its worker may take to end. */
#define GRADE_MC_GRACE_S 30

/* Formats into buf; returns -1 when the text did not fit. */
static int grade_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int grade_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int grade_share(struct grade_state *st, char *why, size_t whylen);

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

/* Seconds left in the budget (a large number when there is none). */
static double grade_left(const struct grade_state *st)
{
    return st->deadline > 0 ? st->deadline - build_now() : 1e9;
}

/* ------------------------------------------------------------------ */
/* The build                                                           */
/* ------------------------------------------------------------------ */

static void grade_build_spec(struct grade_state *st, struct build_spec *b, int reference)
{
    const struct grade_ctx *c = st->ctx;
    char *src = st->src[reference != 0];

    if (reference)
        grade_fmt(src, PATH_MAX, "%s%s%s", c->reference, c->ref_prebuilt ? "" : "/",
                  c->ref_prebuilt ? "" : st->r->exdir);
    else
        grade_fmt(src, PATH_MAX, "%s/%s", c->submission, st->r->exdir);
    *b = (struct build_spec){
        .root = c->root, .r = st->r, .src = src, .work = reference ? st->refwork : st->work,
        .logdir = st->dir, .trusted = reference, .prebuilt = reference && c->ref_prebuilt,
        .static_check = c->static_check, .api = st->api.n > 0 ? &st->api : NULL,
        .deadline = reference ? 0 : st->deadline, .timeout_s = GRADE_BUILD_TIMEOUT_S,
        .memory_mb = GRADE_BUILD_MEMORY_MB,
    };
}

/* Indents each line of text under head into a malloc'd note. */
static char *grade_indented(const char *head, const char *text)
{
    size_t len = strlen(head) + strlen(text) * 2 + 16, n, k;
    char *buf = malloc(len);

    if (buf == NULL)
        return NULL;
    n = (size_t)snprintf(buf, len, "%s", head);
    while (*text != '\0' && n + 4 < len) {
        k = strcspn(text, "\n");
        n += (size_t)snprintf(buf + n, len - n, "\n  %.*s", (int)k, text);
        text += k + (text[k] == '\n');
    }
    return buf;
}

/* Records a failed build in the report.  0, or -1 when out of memory. */
static int grade_build_failed(struct grade_state *st, const struct build_out *b,
                              const char *variant)
{
    char note[GRADE_NOTE_LEN], err[REPORT_ERR_LEN], *text;
    int rc;

    switch (b->status) {
    case BUILD_REJECTED:
        text = grade_indented("rejected by the static check (nothing of your code was run):",
                              b->reasons);
        if (text == NULL)
            return -1;
        rc = report_fail_all(st->ex, REPORT_EX_REJECTED, REPORT_REJECTED, text, NULL, 0, err);
        free(text);
        return rc < 0 ? -1 : 0;
    case BUILD_UNGRADABLE:
        grade_fmt(note, sizeof(note), "%s (your files: %s/%s/%s)", b->note,
                  st->ctx->submission, st->r->exdir,
                  strcmp(variant, "test") == 0 ? "" : "; in the build of the variant ");
        if (strcmp(variant, "test") != 0)
            grade_fmt(note + strlen(note), sizeof(note) - strlen(note), "%s)", variant);
        return report_fail_all(st->ex, REPORT_EX_UNGRADABLE, REPORT_UNGRADABLE, note,
                               b->log[0] ? b->log : NULL, GRADE_BUILD_TAIL_LINES, err) < 0
                   ? -1 : 0;
    case BUILD_TIMEOUT:
        grade_fmt(note, sizeof(note), "not graded: %s", b->note);
        return report_fail_all(st->ex, REPORT_EX_UNGRADABLE, REPORT_TIMEOUT, note, NULL, 0,
                               err) < 0 ? -1 : 0;
    default:
        return grade_internal(st, "build", b->note);
    }
}

static void grade_bg_build(struct grade_state *st, enum build_variant v, int nice_inc);

/* Steps 2-3: 1 when the subjects are ready, 0 when the exercise is scored
 * already (ungradable, rejected, error), -1 when out of memory. */
static int grade_build(struct grade_state *st)
{
    struct build_spec spec;
    struct build_out out = { 0 };
    char err[REPORT_ERR_LEN], *ignored;
    int rc;

    grade_build_spec(st, &spec, 0);
    ignored = build_ignored(&spec);
    if (ignored != NULL) {
        size_t len = strlen(ignored) + 200;
        char *line = malloc(len);
        if (line == NULL) {
            free(ignored);
            return -1;
        }
        snprintf(line, len, "not used (only the TODO files are graded; the given files come "
                 "from the workbook): %s", ignored);
        rc = report_add_info(st->ex, line, err);
        free(line);
        free(ignored);
        if (rc < 0)
            return -1;
    }
    if (build_prepare(&spec, &out) < 0)
        return -1;
    if (out.status == BUILD_OK) {
        if (st->r->memcheck != NULL && st->ctx->memcheck)
            grade_bg_build(st, BUILD_ASAN, 0);
        /* Needed only by the timing phase, much later: it yields. */
        if (st->r->timing != NULL && st->ctx->timing)
            grade_bg_build(st, BUILD_BENCH, 10);
    }
    if (out.status == BUILD_OK && build_variant(&spec, BUILD_TEST, &out) < 0)
        return -1;
    rc = out.status == BUILD_OK ? 1 : grade_build_failed(st, &out, "test") < 0 ? -1 : 0;
    build_out_clear(&out);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Runs of the judge                                                   */
/* ------------------------------------------------------------------ */

/* The environment of a judge run: where the subjects are, as whom they
 * run, where they may write.  extra (NULL-terminated, may be NULL) is
 * added. */
static int grade_env(struct grade_state *st, const char *subjects, const char *refs,
                     const char *const *extra)
{
    size_t n = 0;

#define GRADE_ENV(...)                                                                \
    do {                                                                             \
        if (n >= GRADE_MAX_ENV ||                                                    \
            grade_fmt(st->env_store[n], sizeof(st->env_store[n]), __VA_ARGS__) < 0)   \
            return -1;                                                               \
        st->env[n] = st->env_store[n];                                               \
        n++;                                                                         \
    } while (0)
    GRADE_ENV("WB_SUBJECT_DIR=%s", subjects);
    if (refs != NULL)
        GRADE_ENV("WB_REF_SUBJECT_DIR=%s", refs);
    GRADE_ENV("WB_SCRATCH=%s/subjects", st->share);
    GRADE_ENV("WB_SUBJECT_UID=%u", st->ctx->subject_uid);
    GRADE_ENV("WB_SUBJECT_MEMORY_MB=%d", st->r->memory_mb);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        GRADE_ENV("%s", extra[i]);
#undef GRADE_ENV
    st->env[n] = NULL;
    return 0;
}

/*
 * Criterion's runner listens on /tmp/criterion_<pid>.sock (a path fixed in
 * libcriterion) and removes it when it ends normally.  A judge the runner
 * killed (time-out, budget, output cap) leaves it behind, and a later judge
 * that gets the same pid but may not remove the file (another uid's, in
 * the sticky /tmp) dies at its start: "Could not initialize the message
 * server".  So the grader removes what its own judges leave, and runs a
 * judge that died that way again (with a new pid).
 */
#define GRADE_SOCKET_TRIES 3

static void grade_forget_socket(long pid)
{
    char path[64];
    struct stat sb;

    snprintf(path, sizeof(path), "/tmp/criterion_%ld.sock", pid);
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_uid == geteuid())
        unlink(path);
}

static int grade_socket_clash(const struct runner_capture *cap)
{
    static const char msg[] = "Could not initialize the message server";

    return cap->len > 0 && memmem(cap->buf, cap->len, msg, sizeof(msg) - 1) != NULL;
}

/* Runs argv (the judge) under the isolation of a test, within the budget.
 * *cut is set when the budget shortened the run. */
static int grade_run_isolated(struct grade_state *st, const char *const *argv,
                              int timeout_s, const char *log,
                              struct runner_capture *cap,
                              struct runner_result *res, int *cut,
                              char err[RUNNER_ERR_LEN])
{
    double left = grade_left(st);
    struct runner_spec spec;
    const char *env[GRADE_MAX_ENV + 2];
    char cpu[48];
    size_t n = 0;

    *cut = 0;
    if (left < timeout_s) {
        timeout_s = left < 1 ? 1 : (int)left;
        *cut = 1;
    }
    /* The subjects' CPU limit is the run's: a subject may not raise the
     * hard limit the runner set (without CAP_SYS_RESOURCE), so a larger
     * one would keep it from starting at all. */
    while (n < GRADE_MAX_ENV && st->env[n] != NULL) {
        env[n] = st->env[n];
        n++;
    }
    snprintf(cpu, sizeof(cpu), "WB_SUBJECT_CPU_S=%d", timeout_s);
    env[n++] = cpu;
    env[n] = NULL;
    spec = (struct runner_spec){ argv, st->scratch, log, timeout_s, timeout_s,
                                 1, grade_test_unset_env, env,
                                 st->run_memory_mb, cap };
    cap->buf = st->capbuf;
    cap->size = GRADE_OUTPUT_CAP;
    cap->kill_after = GRADE_OUTPUT_KILL;
    for (int attempt = 1;; attempt++) {
        if (runner_clear_dir(st->scratch, err) < 0 || runner_run(&spec, res, err) < 0)
            return -1;
        grade_forget_socket(res->pid);
        if (attempt >= GRADE_SOCKET_TRIES || !grade_socket_clash(cap))
            return 0;
    }
}

/* Explains a run that did not end normally; empty when it did. */
static void grade_run_note(const struct runner_result *res, int timeout_s, int cut,
                           char *note, size_t len, enum report_status *status)
{
    note[0] = '\0';
    *status = REPORT_CRASH;
    if (res->outcome == RUNNER_TIMED_OUT) {
        *status = REPORT_TIMEOUT;
        if (cut)
            grade_fmt(note, len, "was stopped: the grading budget ran out");
        else
            grade_fmt(note, len, "did not finish within %d s and was stopped", timeout_s);
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

/* Records suite::test from the judge's list. */
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

/* Rubric tests the judge lacks: a rubric error, and 0 points. */
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
                            const struct rubric *r, int cut, char *note, size_t len,
                            enum report_status *status)
{
    char how[256];

    grade_run_note(res, r->timeout_s, cut, how, sizeof(how), status);
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

/* Step 4. 1: go on; 0: all tests failed; -1: OOM. */
static int grade_list(struct grade_state *st)
{
    char log[PATH_MAX], note[GRADE_NOTE_LEN], err[RUNNER_ERR_LEN];
    const char *argv[] = { st->judge, "--list", "--ascii", NULL };
    struct runner_capture cap;
    struct runner_result res;
    enum report_status status;
    long count = 0;
    int cut;

    if (grade_fmt(log, sizeof(log), "%s/list.log", st->dir) < 0)
        return grade_internal(st, "list", "path too long") < 0 ? -1 : 0;
    if (grade_run_isolated(st, argv, st->r->timeout_s, log, &cap, &res, &cut,
                           err) < 0)
        return grade_internal(st, "cannot list the tests", err) < 0 ? -1 : 0;
    if (res.outcome == RUNNER_EXITED && res.status == 0 && !cap.killed &&
        (count = grade_parse_list(st, st->capbuf)) < 0)
        return -1;
    grade_list_note(&res, &cap, count, st->r, cut, note, sizeof(note), &status);
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
 * FAIL whatever else happened.  (The judge's output: what a subject prints
 * goes to its own log, never here.)
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

/* Scores test i of ex from its run. */
static int grade_score_run_into(struct grade_state *st, struct report_exercise *ex, size_t i,
                                const struct runner_result *res, int cut, const char *json,
                                const char *log)
{
    const struct rubric_test *t = &st->r->tests[i];
    char note[GRADE_NOTE_LEN], why[GRADE_NOTE_LEN], err[REPORT_ERR_LEN];
    enum report_status status;

    grade_run_note(res, t->timeout_s, cut, why, sizeof(why), &status);
    if (why[0] != '\0') {
        grade_fmt(note, sizeof(note), "the test program %s (its output: %s)",
                  why, log);
        return report_set_result(ex, i, status, 0, note, NULL, err);
    }
    if (report_score_test(ex, i, json, log, err) == 0)
        return 0;
    if (strcmp(err, "out of memory") == 0)
        return -1;
    grade_fmt(note, sizeof(note), "the test program ended without a usable "
              "report (%s; its output: %s)", err, log);
    return report_set_result(ex, i, REPORT_CRASH, 0, note, NULL, err);
}

static int grade_score_run(struct grade_state *st, size_t i,
                           const struct runner_result *res, int cut, const char *json,
                           const char *log)
{
    return grade_score_run_into(st, st->ex, i, res, cut, json, log);
}

static int grade_test(struct grade_state *st, size_t i)
{
    const struct rubric_test *t = &st->r->tests[i];
    char json[PATH_MAX], log[PATH_MAX], jarg[GRADE_ARG_LEN];
    char farg[GRADE_ARG_LEN], err[RUNNER_ERR_LEN];
    const char *argv[] = { st->judge, farg, jarg, "-j1", "--ascii", NULL };
    struct runner_capture cap;
    struct runner_result res;
    int cut;

    if (grade_left(st) < 1) {
        char e[REPORT_ERR_LEN];
        return report_set_result(st->ex, i, REPORT_TIMEOUT, 0, "not run: the grading budget "
                                 "ran out", NULL, e);
    }
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
    if (grade_run_isolated(st, argv, t->timeout_s, log, &cap, &res, &cut,
                           err) < 0)
        return grade_test_internal(st, i, "cannot run the test", err);
    if (grade_score_run(st, i, &res, cut, json, log) < 0)
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
/*
 * The subjects the tests run: with coverage asked, the cov variant (the
 * same text, -O1 --coverage), whose counters the subjects write into
 * SHARE/gcda as the tests go (no second run for the coverage); else the
 * test variant.  Fills bindir and, for the cov variant, the environment
 * entry in env_cov.
 */
static int grade_test_subjects(struct grade_state *st, char *bindir, size_t len, char *env_cov,
                               size_t envlen)
{
    struct build_spec spec;
    struct build_out out = { 0 };
    char gcda[PATH_MAX], err[RUNNER_ERR_LEN];

    grade_build_spec(st, &spec, 0);
    build_bindir(&spec, BUILD_TEST, bindir, len);
    env_cov[0] = '\0';
    if (!st->ctx->coverage)
        return 0;
    if (build_variant(&spec, BUILD_COV, &out) < 0)
        return -1;
    if (out.status != BUILD_OK) {
        grade_fmt(st->cov_why, sizeof(st->cov_why), "the coverage build failed: %.400s",
                  out.status == BUILD_REJECTED && out.reasons ? out.reasons : out.note);
        build_out_clear(&out);
        return 0;
    }
    build_out_clear(&out);
    if (grade_share(st, st->cov_why, sizeof(st->cov_why)) < 0)
        return 0;
    if (grade_fmt(gcda, sizeof(gcda), "%s/gcda", st->share) < 0 ||
        runner_clear_dir(gcda, err) < 0 || chmod(gcda, 0777) < 0 ||
        grade_fmt(env_cov, envlen, "WB_COVERAGE_DIR=%s", gcda) < 0) {
        grade_fmt(st->cov_why, sizeof(st->cov_why), "cannot prepare the counters' folder");
        env_cov[0] = '\0';
        return 0;
    }
    build_bindir(&spec, BUILD_COV, bindir, len);
    st->cov_ready = 1;
    return 0;
}

static void grade_mc_post(struct grade_state *st, size_t i);
static void grade_mc_close(struct grade_state *st);

static int grade_tests(struct grade_state *st)
{
    char bindir[PATH_MAX], refdir[PATH_MAX], why[512], env_cov[PATH_MAX + 32];
    const char *extra[] = { env_cov, NULL };
    struct build_spec spec;
    long g;
    size_t i;
    int ref;

    if (grade_test_subjects(st, bindir, sizeof(bindir), env_cov, sizeof(env_cov)) < 0)
        return -1;
    ref = grade_build_reference(st->ctx, st->r, why, sizeof(why)) == 0;
    grade_build_spec(st, &spec, 1);
    build_bindir(&spec, BUILD_TEST, refdir, sizeof(refdir));
    if (grade_env(st, bindir, ref ? refdir : NULL, env_cov[0] ? extra : NULL) < 0)
        return grade_internal(st, "environment", "too long") < 0 ? -1 : 0;
    for (g = -1; g < (long)st->r->ngroups; g++)
        for (i = 0; i < st->r->ntests; i++) {
            if (st->r->tests[i].group != g)
                continue;
            if (grade_one(st, i) < 0)
                return -1;
            grade_mc_post(st, i);
        }
    grade_mc_close(st);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The reference                                                       */
/* ------------------------------------------------------------------ */

/* READY marker of a reference variant: the build is reused across the
 * exercises of a batch. */
static int grade_ref_variant(const struct grade_ctx *ctx, const struct rubric *r,
                             enum build_variant v, char *why, size_t whylen)
{
    struct grade_state st;
    struct build_spec spec;
    struct build_out out = { 0 };
    char ready[PATH_MAX], bindir[PATH_MAX];
    struct stat sb;
    FILE *f;

    memset(&st, 0, sizeof(st));
    st.ctx = ctx;
    st.r = r;
    if (grade_fmt(st.refwork, sizeof(st.refwork), "%s/%s", ctx->ref_build, r->exdir) < 0 ||
        grade_fmt(st.dir, sizeof(st.dir), "%s/logs", st.refwork) < 0) {
        grade_fmt(why, whylen, "path too long");
        return -1;
    }
    grade_build_spec(&st, &spec, 1);
    build_bindir(&spec, v, bindir, sizeof(bindir));
    if (grade_fmt(ready, sizeof(ready), "%s/READY", bindir) == 0 && stat(ready, &sb) == 0)
        return 0;
    {
        char err[RUNNER_ERR_LEN];
        if (runner_mkdir_p(st.dir, err) < 0) {
            grade_fmt(why, whylen, "%s", err);
            return -1;
        }
    }
    if (ctx->ref_prebuilt ? 0 : (spec.src[0] == '\0' || stat(spec.src, &sb) < 0)) {
        grade_fmt(why, whylen, "not measured: no reference to time against (%s does not "
                  "exist; see --reference)", spec.src);
        return 1;
    }
    if (build_prepare(&spec, &out) < 0 ||
        (out.status == BUILD_OK && build_variant(&spec, v, &out) < 0)) {
        build_out_clear(&out);
        grade_fmt(why, whylen, "out of memory");
        return -1;
    }
    build_out_clear(&out);
    if (out.status != BUILD_OK) {
        grade_fmt(why, whylen, "not measured: the reference does not build (%s%s%s)", out.note,
                  out.log[0] ? "; see " : "", out.log);
        return 1;
    }
    if ((f = fopen(ready, "w")) != NULL)
        fclose(f);
    return 0;
}

int grade_build_reference(const struct grade_ctx *ctx, const struct rubric *r, char *why,
                          size_t whylen)
{
    int rc = grade_ref_variant(ctx, r, BUILD_TEST, why, whylen);

    if (rc == 0 && ctx->timing && r->timing != NULL)
        rc = grade_ref_variant(ctx, r, BUILD_BENCH, why, whylen);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The memory check                                                    */
/* ------------------------------------------------------------------ */

/*
 * A folder the subjects can reach by its path whatever the folders of the
 * workbook and of the reports allow (a subject runs as another user, and
 * OUT may sit in a 0700 folder of mktemp's): /tmp/wb-grader-XXXXXX, 0711,
 * holding a read-only copy of harness/common/lsan.supp, a gcda/ folder
 * the subjects may write (coverage counters), and subjects/, where the
 * judge makes each subject's scratch folder (WB_SCRATCH): SQLite, for one,
 * opens a relative path by its absolute form, which the subject's user
 * must be able to reach.  Removed by grade_exercise().
 * Returns 0, or -1 with a reason in why.
 */
static int grade_share(struct grade_state *st, char *why, size_t whylen)
{
    char supp[PATH_MAX], copy[PATH_MAX], gcda[PATH_MAX], buf[8192];
    FILE *in = NULL, *out = NULL;
    size_t n;

    if (st->share[0] != '\0')
        return 0;
    snprintf(st->share, sizeof(st->share), "/tmp/wb-grader-XXXXXX");
    if (mkdtemp(st->share) == NULL || chmod(st->share, 0711) < 0) {
        grade_fmt(why, whylen, "cannot make a folder in /tmp: %s", strerror(errno));
        st->share[0] = '\0';
        return -1;
    }
    if (grade_fmt(supp, sizeof(supp), "%s/harness/common/lsan.supp", st->ctx->root) < 0 ||
        grade_fmt(copy, sizeof(copy), "%s/lsan.supp", st->share) < 0 ||
        grade_fmt(gcda, sizeof(gcda), "%s/gcda", st->share) < 0) {
        grade_fmt(why, whylen, "path too long");
        return -1;
    }
    if ((in = fopen(supp, "r")) == NULL || (out = fopen(copy, "w")) == NULL) {
        grade_fmt(why, whylen, "cannot copy %s: %s", supp, strerror(errno));
        if (in)
            fclose(in);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0 || chmod(copy, 0644) < 0 || mkdir(gcda, 0777) < 0 ||
        chmod(gcda, 0777) < 0 ||
        grade_fmt(supp, sizeof(supp), "%s/subjects", st->share) < 0 || mkdir(supp, 0711) < 0) {
        grade_fmt(why, whylen, "cannot prepare %s: %s", st->share, strerror(errno));
        return -1;
    }
    return 0;
}

static int grade_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Where the memory check's runs find their subjects, and how. */
struct grade_mc_env {
    const char *bindir, *refdir;
    char asan[PATH_MAX + 160], lsan[PATH_MAX + 64], todo[256];
};

/* Sets the environment of a memory-check run; slow: LeakSanitizer unwinds
 * the stacks with the debug information (fast_unwind_on_malloc=0), through
 * libevent's frames, so that a leak's stack reaches the student's
 * function (it slows every allocation down: only for a second look). */
static int grade_mc_setenv(struct grade_state *st, struct grade_mc_env *e, int slow)
{
    const char *extra[] = { "WB_SUBJECT_SANITIZER=1", e->asan, e->lsan,
                            "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=23",
                            e->todo, NULL };

    grade_fmt(e->asan, sizeof(e->asan), "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:"
              "exitcode=23:fast_unwind_on_malloc=%d:suppressions=%s/lsan.supp",
              !slow, st->share);
    return grade_env(st, e->bindir, e->refdir, extra);
}

/* What a memory-check run found: 2 a sanitizer's report (or the subject
 * killed by a signal), 1 LeakSanitizer's own failure ("has encountered a
 * fatal error", a known failure of its thread suspension under load), 0
 * nothing about memory (passed, or failed in another way: a time bound a
 * slower build missed is not a memory error). */
static int grade_mc_finding(const struct report_result *r)
{
    const char *m = r->messages != NULL ? r->messages : "", *why = r->reason ? r->reason : "";

    if (r->status == REPORT_OK)
        return 0;
    if (strstr(m, "LeakSanitizer has encountered a fatal error") != NULL)
        return 1;
    if (strstr(m, "ERROR: AddressSanitizer") || strstr(m, "ERROR: LeakSanitizer") ||
        strstr(m, "runtime error:") || strstr(m, "killed by signal") ||
        strstr(why, "killed by signal"))
        return 2;
    return 0;
}

/*
 * Runs test i of the judge again against the asan subjects; 1 when the
 * sanitizers found nothing, 0 when they did (*first gets "suite::test:
 * message" for the first finding), -1 when out of memory.  A finding is
 * looked at a second time with slow unwinding (grade_mc_setenv), whose
 * message names the place in the student's file.  LeakSanitizer's own
 * failure, or a failure that is not about memory, is run once more, and
 * counts only if the second run finds something.
 */
static int grade_memcheck_test(struct grade_state *st, struct grade_mc_env *e,
                               struct report_exercise *tmp, size_t i, char **first)
{
    const struct rubric_test *t = &st->r->tests[i];
    char json[PATH_MAX], log[PATH_MAX], jarg[GRADE_ARG_LEN], farg[GRADE_ARG_LEN];
    char err[RUNNER_ERR_LEN], *msg = NULL;
    const char *argv[] = { st->judge, farg, jarg, "-j1", "--ascii", NULL };
    const struct report_result *r = &tmp->results[i];
    struct runner_capture cap;
    struct runner_result res;
    int cut, attempt, found = 0, finding;

    if (grade_fmt(json, sizeof(json), "%s/memcheck.%s.%s.json", st->dir, t->suite, t->test) < 0 ||
        grade_fmt(log, sizeof(log), "%s/memcheck.%s.%s.log", st->dir, t->suite, t->test) < 0 ||
        grade_fmt(jarg, sizeof(jarg), "--json=%s", json) < 0 ||
        grade_fmt(farg, sizeof(farg), "--filter=%s/%s", t->suite, t->test) < 0)
        return 1;
    for (attempt = 0; attempt < 2; attempt++) {
        /* The second look unwinds slowly only to name a finding's place. */
        if (grade_mc_setenv(st, e, attempt == 1 && found) < 0)
            return -1;
        unlink(json);
        if (grade_run_isolated(st, argv, 2 * t->timeout_s, log, &cap, &res, &cut, err) < 0 ||
            grade_score_run_into(st, tmp, i, &res, cut, json, log) < 0) {
            free(msg);
            return -1;
        }
        finding = grade_mc_finding(r);
        if (finding == 2) {
            const char *why = r->messages != NULL ? r->messages : r->reason ? r->reason : "";
            size_t len = strlen(why) + strlen(t->suite) + strlen(t->test) + 16;
            free(msg);
            if ((msg = malloc(len)) == NULL)
                return -1;
            snprintf(msg, len, "%s::%s: %s", t->suite, t->test, why);
            found = 1;
        }
        if (attempt == 0 && r->status == REPORT_OK)
            break;
    }
    if (found && *first == NULL)
        *first = msg;
    else
        free(msg);
    return !found;
}

/* The next test of the memory check: from the queue when fd >= 0 (a test
 * index the tests' lane sent, grade_mc_post), else the next test after
 * *i that passed; 0 when there is none left. */
static int grade_mc_next(struct grade_state *st, int fd, size_t *i)
{
    unsigned idx;
    ssize_t n;

    if (fd < 0) {
        while (++*i < st->r->ntests)
            if (st->ex->results[*i].status == REPORT_OK)
                return 1;
        return 0;
    }
    for (;;) {
        n = recv(fd, &idx, sizeof(idx), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(idx) || idx >= st->r->ntests)
            return 0;
        *i = idx;
        return 1;
    }
}

/*
 * The memory check's runs: every test that passed (st->ex's status OK), or
 * with fd >= 0 each test the queue gives (see grade_mc_next), runs again;
 * into m->clean, *first (the finding of the lowest test index, malloc'd)
 * and *first_i (its index, left alone when nothing is found), or why (why
 * the check stopped).  Returns -1 when out of memory.
 */
static int grade_memcheck_runs(struct grade_state *st, struct grade_mc_env *e,
                               struct report_memcheck *m, char **first, size_t *first_i,
                               char *why, size_t whylen, int fd)
{
    struct report_exercise tmp;
    char err[REPORT_ERR_LEN], *found;
    size_t i = (size_t)-1;
    int rc = 0;

    if (grade_mc_setenv(st, e, 0) < 0 || report_exercise_init(&tmp, st->r, err) < 0) {
        grade_fmt(why, whylen, "internal error: the memory check's environment");
        return 0;
    }
    /* ASan reserves terabytes of address space: no RLIMIT_AS here. */
    st->run_memory_mb = 0;
    while (rc >= 0 && grade_mc_next(st, fd, &i)) {
        if (grade_left(st) < 1) {
            grade_fmt(why, whylen, "the grading budget ran out during the check");
            break;
        }
        found = NULL;
        rc = grade_memcheck_test(st, e, &tmp, i, &found);
        if (rc > 0) {
            m->clean++;
        } else if (rc == 0 && (*first_i == (size_t)-1 || i < *first_i)) {
            free(*first);
            *first = found;
            found = NULL;
            *first_i = i;
        }
        free(found);
    }
    st->run_memory_mb = st->r->memory_mb;
    report_exercise_clear(&tmp);
    return rc < 0 ? -1 : 0;
}

/* Scores m (checked when why is empty) and records it in the report. */
static int grade_memcheck_set(struct grade_state *st, struct report_memcheck *m,
                              char *first, const char *why)
{
    char err[REPORT_ERR_LEN];

    m->checked = why[0] == '\0';
    m->score = m->checked ? st->r->memcheck->points * m->clean / (int)st->r->ntests : 0;
    m->reason = first != NULL && first[0] != '\0' ? first : why[0] ? (char *)why : NULL;
    return report_set_memcheck(st->ex, m, err);
}

/* The worker's side: runs the tests it takes from the queue fd with its
 * own uid and judge folder, writes "checked clean first_i\n" then the
 * reason into st->mc_result[part], and ends. */
static void grade_mc_worker(struct grade_state *st, struct grade_mc_env *e, unsigned part,
                            unsigned uid, pid_t parent, int fd)
{
    struct grade_ctx ctx = *st->ctx;
    struct report_memcheck m;
    char err[RUNNER_ERR_LEN], why[1024] = "", *first = NULL;
    size_t first_i = (size_t)-1;
    FILE *f;

    /* The grader gone (killed, interrupted), the worker goes too; its
     * runner kills the judge it runs (runner_init's SIGTERM handler). */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
        _exit(1);
    /* The queue's end of the tests' lane: the queue ends when it closes. */
    close(st->mc_fd);
    st->mc_fd = -1;
    memset(&m, 0, sizeof(m));
    ctx.subject_uid = uid;
    ctx.progress = 0;
    st->ctx = &ctx;
    if (runner_init(err) < 0 ||
        grade_fmt(st->scratch, sizeof(st->scratch), "%s/scratch-%s-memcheck-%u", ctx.out,
                  st->r->id, part) < 0 ||
        grade_memcheck_runs(st, e, &m, &first, &first_i, why, sizeof(why), fd) < 0)
        _exit(1);
    f = fopen(st->mc_result[part], "w");
    if (f == NULL)
        _exit(1);
    fprintf(f, "%d %d %ld\n%s", why[0] == '\0', m.clean,
            first_i == (size_t)-1 ? -1L : (long)first_i, first != NULL ? first : why);
    _exit(fclose(f) == 0 ? 0 : 1);
}

/*
 * Starts the memory check's runs in GRADE_MC_PARTS worker processes that
 * take the tests to run from the queue fd, so that the tests run meanwhile
 * (tests wait on injected delays far more than they compute; the timing
 * runs later, alone).  Returns 1 when the workers started
 * (grade_memcheck_join() collects them), 0 when the check must run here
 * (one CPU, a uid too low to step down from, a fork that failed).
 */
static int grade_mc_fork(struct grade_state *st, struct grade_mc_env *e, int fd)
{
    static unsigned started;    /* workers of this grading so far */
    unsigned uid[GRADE_MC_PARTS], part;
    pid_t parent = getpid(), pid;

    /* One CPU: the lanes would only take turns on it. */
    if (started + GRADE_MC_PARTS > GRADE_MC_MAX_WORKERS || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return 0;
    for (part = 0; part < GRADE_MC_PARTS; part++) {
        unsigned step = GRADE_MC_UID_STEP * (started + part + 1);
        uid[part] = st->ctx->subject_uid;
        if (geteuid() == 0) {
            if (uid[part] < 1000 + step)
                return 0;
            uid[part] -= step;
        }
        if (grade_fmt(st->mc_result[part], sizeof(st->mc_result[part]),
                      "%s/memcheck.result.%u", st->dir, part) < 0)
            return 0;
        unlink(st->mc_result[part]);
    }
    fflush(stdout);
    fflush(stderr);
    for (part = 0; part < GRADE_MC_PARTS; part++) {
        pid = fork();
        if (pid == 0)
            grade_mc_worker(st, e, part, uid[part], parent, fd);
        if (pid > 0 && runner_spare(pid) < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            pid = -1;
        }
        if (pid < 0) {
            /* Those started end with this grader (their results are not
             * read): the check runs here. */
            while (part-- > 0) {
                kill(st->mc_pid[part], SIGKILL);
                waitpid(st->mc_pid[part], NULL, 0);
                runner_unspare(st->mc_pid[part]);
                st->mc_pid[part] = 0;
            }
            return 0;
        }
        st->mc_pid[part] = pid;
    }
    started += GRADE_MC_PARTS;
    return 1;
}

/* Waits for a worker until limit (then kills it); 1 when it ended with
 * status 0. */
static int grade_mc_wait(pid_t pid, double limit)
{
    int status = 0, rc;

    while ((rc = waitpid(pid, &status, WNOHANG)) == 0) {
        if (build_now() > limit) {
            kill(pid, SIGTERM);
            usleep(500 * 1000);
            kill(pid, SIGKILL);
            rc = waitpid(pid, &status, 0);
            break;
        }
        usleep(10 * 1000);
    }
    runner_unspare(pid);
    return rc == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Waits for the memory check's workers, if there are any, and records what
 * they found: the finding of the lowest test index; a worker that ends
 * without a result is the grader's error. */
static int grade_memcheck_join(struct grade_state *st)
{
    struct report_memcheck m;
    char why[1024] = "", err[REPORT_ERR_LEN], *text[GRADE_MC_PARTS] = { NULL };
    const char *found = NULL;
    long first_i, best = -1;
    int ok = 1, checked = 1, clean, rc;
    unsigned part;
    size_t cap;
    FILE *f;

    if (st->mc_pid[0] <= 0)
        return 0;
    memset(&m, 0, sizeof(m));
    m.passed = st->mc_passed;
    for (part = 0; part < GRADE_MC_PARTS; part++) {
        int one = 0, c = 0;

        if (grade_mc_wait(st->mc_pid[part], st->deadline + GRADE_MC_GRACE_S) &&
            (f = fopen(st->mc_result[part], "r")) != NULL) {
            one = fscanf(f, "%d %d %ld", &c, &clean, &first_i) == 3 && fgetc(f) == '\n';
            cap = 0;
            if (one && getdelim(&text[part], &cap, '\0', f) < 0) {
                free(text[part]);
                text[part] = NULL;
            }
            fclose(f);
        }
        st->mc_pid[part] = 0;
        if (!one) {
            ok = 0;
            continue;
        }
        m.clean += clean;
        if (!c) {
            checked = 0;
            if (why[0] == '\0')
                grade_fmt(why, sizeof(why), "%s", text[part] && text[part][0] ? text[part]
                                                                             : "not checked");
        } else if (first_i >= 0 && (best < 0 || first_i < best)) {
            best = first_i;
            found = text[part];
        }
    }
    if (!ok) {
        grade_fmt(why, sizeof(why), "internal error: a worker of the memory check ended "
                  "without a result");
        rc = report_add_error(st->ex, why, err) < 0 ? -1 : grade_memcheck_set(st, &m, NULL, why);
    } else {
        rc = grade_memcheck_set(st, &m, checked ? (char *)found : NULL, checked ? "" : why);
    }
    for (part = 0; part < GRADE_MC_PARTS; part++)
        free(text[part]);
    return rc;
}

/*
 * Variant v of the student's code built in a child process (niced by
 * nice_inc) while this one goes on: the sanitizers' build, needed at the
 * first test that passes, beside the tests' builds; the -O2 build of the
 * timing.  They use folders of their own.  Nothing starts on one CPU (the
 * builds would only take turns).  grade_bg_wait() collects it.
 */
static void grade_bg_build(struct grade_state *st, enum build_variant v, int nice_inc)
{
    struct build_spec spec;
    struct build_out out = { 0 };
    char err[RUNNER_ERR_LEN];
    pid_t parent = getpid(), pid;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent ||
            runner_init(err) < 0)
            _exit(1);
        if (nice_inc > 0 && nice(nice_inc) == -1)
            errno = 0;      /* not niced: it only competes more */
        grade_build_spec(st, &spec, 0);
        _exit(build_variant(&spec, v, &out) == 0 && out.status == BUILD_OK ? 0 : 1);
    }
    if (pid > 0 && runner_spare(pid) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = -1;
    }
    st->bg_pid[v] = pid > 0 ? pid : 0;
}

static int grade_mc_wait(pid_t pid, double limit);

/* Waits for the background build of v (if any); 1 when it built it. */
static int grade_bg_wait(struct grade_state *st, enum build_variant v)
{
    int ok;

    if (st->bg_pid[v] <= 0)
        return 0;
    ok = grade_mc_wait(st->bg_pid[v], build_now() + GRADE_BUILD_TIMEOUT_S + 30);
    st->bg_pid[v] = 0;
    return ok;
}

/*
 * Builds the student's code with the sanitizers and fills e for the runs
 * (its folders are st's).  Returns 0, 1 when that build failed, 2 when the
 * grader could not prepare the check (why says why), -1 when out of memory.
 */
static int grade_mc_prepare(struct grade_state *st, struct grade_mc_env *e, char *why,
                            size_t whylen)
{
    struct build_spec spec;
    struct build_out out = { 0 };
    size_t i;

    grade_progress(st, "the memory check (ASan, UBSan, LeakSanitizer)");
    grade_build_spec(st, &spec, 0);
    /* Built in the background (grade_bg_build), or here: a failed
     * build is made again here, for its messages. */
    if (!grade_bg_wait(st, BUILD_ASAN) && build_variant(&spec, BUILD_ASAN, &out) < 0)
        return -1;
    if (out.status != BUILD_OK) {
        grade_fmt(why, whylen, "the build with the sanitizers failed: %.300s",
                  out.status == BUILD_REJECTED && out.reasons ? out.reasons : out.note);
        build_out_clear(&out);
        return 1;
    }
    build_out_clear(&out);
    build_bindir(&spec, BUILD_ASAN, st->mc_bindir, sizeof(st->mc_bindir));
    grade_build_spec(st, &spec, 1);
    build_bindir(&spec, BUILD_TEST, st->mc_refdir, sizeof(st->mc_refdir));
    memset(e, 0, sizeof(*e));
    e->bindir = st->mc_bindir;
    e->refdir = st->mc_refdir;
    if (grade_share(st, why, whylen) < 0)
        return 2;
    grade_fmt(e->lsan, sizeof(e->lsan), "LSAN_OPTIONS=suppressions=%s/lsan.supp", st->share);
    snprintf(e->todo, sizeof(e->todo), "WB_TODO_FILES=");
    for (i = 0; i < st->r->ntodo; i++)
        snprintf(e->todo + strlen(e->todo), sizeof(e->todo) - strlen(e->todo), "%s%s",
                 i ? " " : "", st->r->todo[i]);
    return 0;
}

/*
 * Starts the memory check's workers, once, when the first test passes:
 * they take each test that passes from the queue (grade_mc_post) while the
 * tests go on.  When it cannot (no sanitizer build, one CPU, ...), nothing
 * starts, and grade_memcheck() runs the check after the tests, here.
 */
static void grade_mc_start(struct grade_state *st)
{
    struct grade_mc_env e;
    char why[1024];
    int sv[2];

    if (st->mc_tried)
        return;
    st->mc_tried = 1;
    if (st->r->memcheck == NULL || !st->ctx->memcheck || st->ex->status != REPORT_EX_GRADED ||
        grade_left(st) < 5 || grade_mc_prepare(st, &e, why, sizeof(why)) != 0)
        return;
    /* Whole messages, each taken by one reader; no SIGPIPE (MSG_NOSIGNAL)
     * when the workers are gone. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    st->mc_fd = sv[0];
    if (!grade_mc_fork(st, &e, sv[1])) {
        close(sv[0]);
        st->mc_fd = -1;
    }
    close(sv[1]);
}

/* Test i has been scored: when it passed, into the memory check's queue
 * (starting the workers at the first one). */
static void grade_mc_post(struct grade_state *st, size_t i)
{
    unsigned idx = (unsigned)i;

    if (st->ex->results[i].status != REPORT_OK)
        return;
    grade_mc_start(st);
    if (st->mc_fd >= 0 &&
        send(st->mc_fd, &idx, sizeof(idx), MSG_NOSIGNAL) != (ssize_t)sizeof(idx)) {
        /* The workers are gone: grade_memcheck_join() says so. */
        close(st->mc_fd);
        st->mc_fd = -1;
    }
}

/* The tests are over: the workers end once the queue is empty. */
static void grade_mc_close(struct grade_state *st)
{
    if (st->mc_fd >= 0)
        close(st->mc_fd);
    st->mc_fd = -1;
}

/* The memory check (rubric "memcheck"): every test that passed runs again
 * with the student's code built with ASan, UBSan and LeakSanitizer; in the
 * workers that grade_mc_start() started during the tests when it could,
 * else here. */
static int grade_memcheck(struct grade_state *st)
{
    const struct rubric_memcheck *rm = st->r->memcheck;
    struct report_memcheck m;
    char err[REPORT_ERR_LEN], why[1024] = "";
    struct grade_mc_env e;
    char *first = NULL;
    size_t i, first_i = (size_t)-1;
    int rc = 0;

    if (rm == NULL)
        return 0;
    memset(&m, 0, sizeof(m));
    for (i = 0; i < st->r->ntests; i++)
        m.passed += st->ex->results[i].status == REPORT_OK;
    if (st->mc_pid[0] > 0) {
        st->mc_passed = m.passed;     /* grade_memcheck_join() records it */
        return 0;
    }
    if (!st->ctx->memcheck)
        grade_fmt(why, sizeof(why), "--no-memcheck");
    else if (st->ex->status != REPORT_EX_GRADED)
        grade_fmt(why, sizeof(why), "the exercise was not graded");
    else if (m.passed == 0)
        grade_fmt(why, sizeof(why), "no test passes yet");
    else if (grade_left(st) < 5)
        grade_fmt(why, sizeof(why), "the grading budget ran out");
    if (why[0] != '\0') {
        grade_bg_wait(st, BUILD_ASAN);  /* not needed: only reaped */
        m.reason = why;
        return report_set_memcheck(st->ex, &m, err);
    }
    rc = grade_mc_prepare(st, &e, why, sizeof(why));
    if (rc < 0)
        return -1;
    if (rc == 2)
        return grade_internal(st, "memory check", why) < 0 ? -1 : 0;
    if (rc == 1) {
        m.reason = why;
        return report_set_memcheck(st->ex, &m, err);
    }
    if (grade_memcheck_runs(st, &e, &m, &first, &first_i, why, sizeof(why), -1) < 0) {
        free(first);
        return -1;
    }
    rc = grade_memcheck_set(st, &m, first, why);
    free(first);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Timing                                                              */
/* ------------------------------------------------------------------ */

/* Builds the submission's bench variant, once (grade_exercise_prepare_timing
 * may have built it). 0: ready; 1: not (why); -1: out of memory. */
static int grade_sub_bench(struct grade_state *st, char *why, size_t whylen)
{
    struct build_spec spec;
    struct build_out out = { 0 };
    int rc;

    if (st->bench_built) {
        grade_fmt(why, whylen, "%s", st->bench_why);
        return st->bench_built - 1;
    }
    /* Built in the background (grade_bg_build), or here: a failed build
     * is made again here, for its messages. */
    if (grade_bg_wait(st, BUILD_BENCH)) {
        st->bench_built = 1;
        st->bench_why[0] = '\0';
        return 0;
    }
    grade_build_spec(st, &spec, 0);
    if (build_variant(&spec, BUILD_BENCH, &out) < 0)
        return -1;
    rc = out.status == BUILD_OK ? 0 : 1;
    if (out.status == BUILD_REJECTED)
        grade_fmt(why, whylen, "not measured: at -O2 your code is rejected by the static "
                  "check: %.300s", out.reasons);
    else if (rc)
        grade_fmt(why, whylen, "not measured: %s%s%s", out.note, out.log[0] ? " (see " : "",
                  out.log[0] ? out.log : "");
    if (rc && out.log[0])
        strncat(why, ")", whylen - strlen(why) - 1);
    build_out_clear(&out);
    st->bench_built = rc + 1;
    grade_fmt(st->bench_why, sizeof(st->bench_why), "%s", rc ? why : "");
    return rc;
}

/* Fills *t (and reason) with the measurement, or why there is none. */
static int grade_measure(struct grade_state *st, struct report_timing *t,
                         char reason[TIMING_REASON_LEN])
{
    char sub[PATH_MAX], ref[PATH_MAX], bench[PATH_MAX], err[TIMING_ERR_LEN];
    struct build_spec spec;
    struct timing_spec ts;
    int rc;

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
    if (grade_left(st) < 5) {
        grade_fmt(reason, TIMING_REASON_LEN, "not measured: the grading budget ran out");
        return 0;
    }
    grade_progress(st, "timing against the reference");
    if ((rc = grade_sub_bench(st, reason, TIMING_REASON_LEN)) != 0)
        return rc < 0 ? -1 : 0;
    if ((rc = grade_build_reference(st->ctx, st->r, reason, TIMING_REASON_LEN)) != 0)
        return rc < 0 ? -1 : 0;
    grade_build_spec(st, &spec, 0);
    build_bindir(&spec, BUILD_BENCH, sub, sizeof(sub));
    grade_build_spec(st, &spec, 1);
    build_bindir(&spec, BUILD_BENCH, ref, sizeof(ref));
    if (grade_fmt(bench, sizeof(bench), "%s/build/bin/%s", st->ctx->root,
                  st->r->timing->bench) < 0 ||
        grade_env(st, sub, ref, NULL) < 0) {
        grade_fmt(reason, TIMING_REASON_LEN, "not measured: path too long");
        return 0;
    }
    ts = (struct timing_spec){ st->r, bench, st->scratch, st->dir, st->env,
                               grade_test_unset_env, st->deadline };
    if (timing_measure(&ts, t, reason, err) < 0) {
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

/*
 * Moves the counters the subjects wrote under gcda (GCOV_PREFIX: the
 * object's absolute path below it) to objdir, next to the .gcno files.
 * Only the counters of this exercise's TODO files are taken.
 */
static void grade_collect_counters(const struct grade_state *st, const char *gcda,
                                   const char *objdir)
{
    char from[PATH_MAX], to[PATH_MAX], stem[NAME_MAX];

    for (size_t i = 0; i < st->r->ntodo; i++) {
        const char *todo = st->r->todo[i], *dot = strrchr(todo, '.');
        if (dot == NULL || strcmp(dot, ".c") != 0)
            continue;
        snprintf(stem, sizeof(stem), "%.*s", (int)(dot - todo), todo);
        if (grade_fmt(from, sizeof(from), "%s%s/%s.gcda", gcda, objdir, stem) < 0 ||
            grade_fmt(to, sizeof(to), "%s/%s.gcda", objdir, stem) < 0)
            continue;
        unlink(to);
        if (rename(from, to) < 0) {
            /* A subject may have left it unreadable or odd: copy it. */
            FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
            char buf[65536];
            size_t n;
            while (in != NULL && out != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0)
                fwrite(buf, 1, n, out);
            if (in)
                fclose(in);
            if (out)
                fclose(out);
        }
    }
}

/* Measures into c, or says in why why it could not. */
static void grade_measure_coverage(struct grade_state *st,
                                   struct report_coverage *c,
                                   char *why, size_t whylen)
{
    char objdir[PATH_MAX], gcda[PATH_MAX], json[PATH_MAX], err[RUNNER_ERR_LEN];
    char gcovlog[PATH_MAX];
    const char *gcovr_argv[] = { "gcovr", "--root", st->ctx->submission,
                                 "--object-directory", objdir,
                                 "--json-summary", json, objdir, NULL };
    struct runner_spec gspec = { gcovr_argv, NULL, gcovlog, 120, 120, 1,
                                 NULL, NULL, GRADE_BUILD_MEMORY_MB, NULL };
    struct runner_result res;

    if (!st->cov_ready) {
        grade_fmt(why, whylen, "%s", st->cov_why[0] ? st->cov_why : "no counters");
        return;
    }
    if (grade_fmt(objdir, sizeof(objdir), "%s/cov/obj", st->work) < 0 ||
        grade_fmt(gcda, sizeof(gcda), "%s/gcda", st->share) < 0 ||
        grade_fmt(json, sizeof(json), "%s/%s.coverage.json", st->ctx->out, st->r->id) < 0 ||
        grade_fmt(gcovlog, sizeof(gcovlog), "%s/%s.gcovr.log", st->ctx->out, st->r->id) < 0) {
        grade_fmt(why, whylen, "path too long");
        return;
    }
    /* The counters the tests' subjects left (no second run). */
    grade_collect_counters(st, gcda, objdir);
    unlink(json);
    if (runner_run(&gspec, &res, err) < 0 || res.outcome != RUNNER_EXITED ||
        res.status != 0 || grade_read_coverage(json, c) < 0)
        grade_fmt(why, whylen, "gcovr gave no summary (see %s)", gcovlog);
}

/* Step 7: information for the student and the instructor, no points. */
static int grade_coverage(struct grade_state *st)
{
    struct report_coverage c;
    char why[512] = "", err[REPORT_ERR_LEN];

    size_t i, passed = 0;

    if (!st->ctx->coverage)
        return 0;
    /* While no test passes, a coverage figure says nothing useful (the
     * tests stop at your first TODO): it is left out. */
    for (i = 0; i < st->r->ntests; i++)
        passed += st->ex->results[i].status == REPORT_OK;
    if (passed == 0)
        return 0;
    memset(&c, 0, sizeof(c));
    c.asked = 1;
    if (st->ex->status != REPORT_EX_GRADED) {
        grade_fmt(why, sizeof(why), "the exercise was not graded");
    } else if (grade_left(st) < 5) {
        grade_fmt(why, sizeof(why), "not measured: the grading budget ran out");
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

/* The kernel's Landlock ABI (0: none), as the subjects' launcher sees it
 * (harness/common/sandbox.c). */
static int grade_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1UL /* VERSION */);

    return abi < 0 ? 0 : (int)abi;
}

static int grade_prepare(struct grade_state *st)
{
    char err[RUNNER_ERR_LEN], cflags[PATH_MAX], exheaders[PATH_MAX], apierr[APISET_ERR_LEN];
    int budget = st->ctx->exercise_budget_s > 0 ? st->ctx->exercise_budget_s : st->r->budget_s;

    st->deadline = build_now() + budget;
    st->run_memory_mb = st->r->memory_mb;
    if (st->ctx->deadline > 0 && st->ctx->deadline < st->deadline)
        st->deadline = st->ctx->deadline;
    if (grade_fmt(st->dir, sizeof(st->dir), "%s/%s", st->ctx->out, st->r->id) < 0 ||
        grade_fmt(st->scratch, sizeof(st->scratch), "%s/scratch-%s", st->ctx->out,
                  st->r->id) < 0 ||
        grade_fmt(st->judge, sizeof(st->judge), "%s/build/bin/test-%s", st->ctx->root,
                  st->r->id) < 0 ||
        grade_fmt(st->work, sizeof(st->work), "%s/%s", st->ctx->work, st->r->exdir) < 0 ||
        grade_fmt(st->refwork, sizeof(st->refwork), "%s/%s", st->ctx->ref_build,
                  st->r->exdir) < 0 ||
        grade_fmt(cflags, sizeof(cflags), "%s/build/kit/%s.cflags", st->ctx->root,
                  st->r->exdir) < 0 ||
        grade_fmt(exheaders, sizeof(exheaders), "%s/skeletons/%s", st->ctx->root,
                  st->r->exdir) < 0)
        return grade_internal(st, "cannot prepare", "path too long") < 0 ? -1 : 0;
    if (runner_clear_dir(st->dir, err) < 0 || runner_mkdir_p(st->work, err) < 0)
        return grade_internal(st, "cannot prepare", err) < 0 ? -1 : 0;
    if (access(st->judge, X_OK) != 0)
        return grade_internal(st, "no test program", st->judge) < 0 ? -1 : 0;
    if (grade_share(st, apierr, sizeof(apierr)) < 0)
        return grade_internal(st, "cannot prepare", apierr) < 0 ? -1 : 0;
    if (grade_landlock_abi() <= 0 &&
        report_add_info(st->ex, "note: this kernel has no Landlock (Linux 5.13+): the subjects "
                        "ran without the file sandbox, confined by the seccomp filter and, as "
                        "root, their own user id only", apierr) < 0)
        return -1;
    if (st->r->symbols != NULL && st->ctx->static_check &&
        apiset_load(&st->api, exheaders, cflags, st->dir, apierr) < 0)
        return grade_internal(st, "the public API", apierr) < 0 ? -1 : 0;
    return 1;
}

/* Steps 2-5; returns 1 when the tests ran. */
static int grade_steps(struct grade_state *st)
{
    int rc;

    if ((rc = grade_prepare(st)) <= 0)
        return rc;
    grade_progress(st, "building");
    if ((rc = grade_build(st)) <= 0 || (rc = grade_list(st)) <= 0)
        return rc;
    return grade_tests(st) < 0 ? -1 : 1;
}

static void grade_state_free(struct grade_state *st)
{
    grade_mc_close(st);
    for (int v = 0; v < BUILD_NVARIANTS; v++)
        if (st->bg_pid[v] > 0) {        /* not waited for */
            kill(st->bg_pid[v], SIGKILL);
            waitpid(st->bg_pid[v], NULL, 0);
            runner_unspare(st->bg_pid[v]);
        }
    for (unsigned part = 0; part < GRADE_MC_PARTS; part++)
        if (st->mc_pid[part] > 0) {     /* not joined: an error path */
            kill(st->mc_pid[part], SIGKILL);
            waitpid(st->mc_pid[part], NULL, 0);
            runner_unspare(st->mc_pid[part]);
        }
    if (st->share[0] != '\0')
        nftw(st->share, grade_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    apiset_free(&st->api);
    free(st->listed);
    free(st->capbuf);
    free(st);
}

int grade_exercise_begin(const struct grade_ctx *ctx, const struct rubric *r,
                         struct report_exercise *ex, struct grade_state **out)
{
    struct grade_state *st = calloc(1, sizeof(*st));
    char err[REPORT_ERR_LEN];
    int rc = -1;

    *out = NULL;
    if (st == NULL)
        return -1;
    st->ctx = ctx;
    st->r = r;
    st->ex = ex;
    st->mc_fd = -1;
    if (report_exercise_init(ex, r, err) < 0)
        goto fail;
    st->listed = calloc(r->ntests, 1);
    st->capbuf = malloc(GRADE_OUTPUT_CAP);
    if (st->listed == NULL || st->capbuf == NULL)
        goto fail;
    rc = grade_steps(st);
    st->ran = rc == 1;
    if (rc >= 0 && grade_coverage(st) < 0)
        rc = -1;
    if (rc >= 0 && st->ran && grade_memcheck(st) < 0)
        rc = -1;
    if (rc < 0)
        goto fail;
    /* The exercise's budget stops while the others run. */
    st->paused_left = grade_left(st);
    *out = st;
    return 0;

fail:
    grade_state_free(st);
    return -1;
}

/* The exercise's budget runs again from what was left at the pause. */
static void grade_resume(struct grade_state *st)
{
    if (st->deadline > 0 && st->paused_left < 1e8) {
        st->deadline = build_now() + st->paused_left;
        if (st->ctx->deadline > 0 && st->ctx->deadline < st->deadline)
            st->deadline = st->ctx->deadline;
    }
}

int grade_exercise_prepare_timing(struct grade_state *st)
{
    char why[TIMING_REASON_LEN];

    if (st == NULL || !st->ran || !st->ctx->timing || st->r->timing == NULL ||
        st->ex->status != REPORT_EX_GRADED || !report_all_passed(st->ex) ||
        st->paused_left < 5)
        return 0;
    grade_resume(st);
    return grade_sub_bench(st, why, sizeof(why)) < 0 ? -1 : 0;
}

int grade_exercise_join(struct grade_state *st)
{
    return st == NULL ? 0 : grade_memcheck_join(st);
}

int grade_exercise_finish(struct grade_state *st)
{
    int rc;

    if (st == NULL)
        return 0;
    rc = grade_memcheck_join(st);
    if (rc >= 0 && st->ran) {
        grade_resume(st);
        rc = grade_timing(st);
    }
    grade_state_free(st);
    return rc;
}

int grade_exercise(const struct grade_ctx *ctx, const struct rubric *r,
                   struct report_exercise *ex)
{
    struct grade_state *st;

    if (grade_exercise_begin(ctx, r, ex, &st) < 0)
        return -1;
    return grade_exercise_finish(st);
}

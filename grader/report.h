/*
 * report.h - scoring from Criterion JSON reports, terminal report,
 * results.json (a superset of Gradescope's format) and summary.md.
 *
 * Life cycle: report_exercise_init() per exercise, then exactly one of
 * report_score_criterion() or report_fail_all(), optionally
 * report_add_error(), then the output functions on a struct report_run,
 * and finally report_exercise_clear().
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * failure, with a one-line English message in the caller-owned buffer err
 * (REPORT_ERR_LEN bytes). Library functions print nothing except the
 * report_print* functions, which write to the stream they are given.
 */
#ifndef GRADER_REPORT_H
#define GRADER_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "rubric.h"

#define REPORT_ERR_LEN 256
#define REPORT_SHOWN_LINES 4   /* message lines shown per failed test */

enum report_status {
    REPORT_OK,
    REPORT_FAIL,
    REPORT_TIMEOUT,
    REPORT_CRASH,
    REPORT_UNGRADABLE
};

enum report_ex_status {
    REPORT_EX_GRADED,     /* the tests ran (whatever their outcome) */
    REPORT_EX_UNGRADABLE, /* the submission does not build */
    REPORT_EX_ERROR       /* rubric or grader problem: exit status 2 */
};

struct report_result {
    enum report_status status;
    int score;
    char *reason;   /* grader's explanation; NULL when none */
    char *messages; /* the test's own failure output, '\n'-separated
                       lines; NULL when none */
};

struct report_exercise {
    const struct rubric *rubric;   /* borrowed; must outlive the report */
    enum report_ex_status status;
    struct report_result *results; /* rubric->ntests entries, same order */
    char *note;      /* exercise-level explanation; NULL when none */
    char *log_path;  /* log the note refers to; NULL when none */
    char *log_tail;  /* last lines of that log; NULL when none */
    char *errors;    /* grading errors, '\n'-separated; NULL when none */
    int score;
};

struct report_run {
    struct report_exercise *exercises; /* borrowed */
    size_t count;
    double execution_time;             /* seconds */
    const char *out_dir;               /* where the files are written */
};

/* Prepares ex for the rubric r: every test FAIL with 0 points. */
int report_exercise_init(struct report_exercise *ex, const struct rubric *r,
                         char err[REPORT_ERR_LEN]);

/* Releases what ex owns (not the rubric). Safe on a zeroed struct. */
void report_exercise_clear(struct report_exercise *ex);

/*
 * Gives every test of ex the status `status` and 0 points, sets ex->status
 * to ex_status and records note (copied) as the explanation. When log_path
 * is not NULL, the last tail_lines lines of that file are kept to be shown
 * (an unreadable log is mentioned, not an error).
 */
int report_fail_all(struct report_exercise *ex, enum report_ex_status ex_status,
                    enum report_status status, const char *note,
                    const char *log_path, int tail_lines,
                    char err[REPORT_ERR_LEN]);

/*
 * Scores ex from the Criterion JSON report at json_path (see the rules in
 * report.c). test_log is named in crash explanations. Tests the rubric
 * does not list, or reported twice (which is what Criterion does for
 * parameterized tests and theories), are recorded with report_add_error.
 * Returns -1 when the report is missing or unusable: err says why and the
 * results are unchanged, so the caller can use report_fail_all. (After an
 * out-of-memory error the results may be partial; report_fail_all resets
 * them all.)
 */
int report_score_criterion(struct report_exercise *ex, const char *json_path,
                           const char *test_log, char err[REPORT_ERR_LEN]);

/* Records a grading error (rubric bug); ex->status becomes ERROR. */
int report_add_error(struct report_exercise *ex, const char *msg,
                     char err[REPORT_ERR_LEN]);

/* Sums score and maximum over all exercises of run. */
void report_totals(const struct report_run *run, int *score, int *max_score);

/*
 * Writes the section of one exercise (heading, notes, one line per test,
 * exercise score) to out, with ANSI colours when colour is nonzero.
 */
void report_print_exercise(FILE *out, const struct report_exercise *ex,
                           int colour);

/*
 * Writes OUT_DIR/results.json and OUT_DIR/summary.md atomically, and
 * appends the summary to $GITHUB_STEP_SUMMARY when that is set.
 */
int report_write_files(const struct report_run *run, char err[REPORT_ERR_LEN]);

/* Name of a status as shown to students: "OK", "FAIL", ... */
const char *report_status_name(enum report_status status);

#endif

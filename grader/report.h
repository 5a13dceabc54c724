/*
 * report.h - scoring from Criterion JSON reports, terminal report, and
 * the report files: results.json (a superset of Gradescope's format),
 * summary.md and junit.xml.
 *
 * Life cycle: report_exercise_init() per exercise; then either
 * report_fail_all() (nothing ran: does not compile, rejected, ...) or one
 * report_score_test() / report_set_result() per test; then
 * report_set_timing() when the rubric has a timing criterion; optionally
 * report_add_error(); then the output functions on a struct report_run,
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
#define REPORT_RERUN_PREFIX "rerun it alone: "

enum report_status {
    REPORT_OK,
    REPORT_FAIL,
    REPORT_TIMEOUT,
    REPORT_CRASH,
    REPORT_UNGRADABLE, /* the submission does not build */
    REPORT_REJECTED    /* the static check refused the submission */
};

enum report_ex_status {
    REPORT_EX_GRADED,     /* the tests ran (whatever their outcome) */
    REPORT_EX_UNGRADABLE, /* the submission does not build */
    REPORT_EX_REJECTED,   /* the static check refused it: nothing ran */
    REPORT_EX_ERROR       /* rubric or grader problem: exit status 2 */
};

struct report_result {
    enum report_status status;
    int score;
    char *reason;   /* grader's explanation; NULL when none */
    char *messages; /* the test's own failure output, '\n'-separated
                       lines; NULL when none */
    int rerun;      /* 1: the test ran and did not pass: the report says
                       how to rerun it alone (report_rerun_line()) */
};

/* The timing criterion of an exercise (rubric->timing). */
struct report_timing {
    int measured;   /* both medians below are valid */
    int score;
    double sub_ms;  /* median of the submission's runs */
    double ref_ms;  /* median of the reference's runs */
    double ratio;   /* sub_ms / ref_ms */
    int rounds;     /* runs of each side */
    char *reason;   /* why it has fewer points than it could, or why it
                       was not measured; NULL when none */
};

/* The memory check of an exercise (rubric->memcheck): the tests that
 * passed, run again with the code built with ASan, UBSan and LSan. */
struct report_memcheck {
    int checked;    /* the check ran (clean/passed are valid) */
    int score;
    int passed;     /* tests that passed, so were run again */
    int clean;      /* of those, the ones still passing under the sanitizers */
    char *reason;   /* why it was not checked, or the first problem (the
                       test and its message); NULL when none */
};

/* Line coverage of the submission's TODO files by the exercise's tests. */
struct report_coverage {
    int asked;      /* the grader was asked to measure it */
    int measured;   /* covered/total/percent are valid */
    long covered;   /* lines run at least once */
    long total;     /* lines with code */
    double percent;
    char *reason;   /* why it was not measured; NULL when it was */
};

struct report_exercise {
    const struct rubric *rubric;   /* borrowed; must outlive the report */
    enum report_ex_status status;
    struct report_result *results; /* rubric->ntests entries, same order */
    struct report_timing timing;   /* used when rubric->timing != NULL */
    struct report_memcheck memcheck; /* used when rubric->memcheck != NULL */
    struct report_coverage coverage; /* no points: information */
    char *note;      /* exercise-level explanation; NULL when none */
    char *log_path;  /* log the note refers to; NULL when none */
    char *log_tail;  /* last lines of that log; NULL when none */
    char *errors;    /* grading errors, '\n'-separated; NULL when none */
    char *info;      /* information lines for the student (files the
                        grader ignored, ...); NULL when none */
    int score;       /* tests + timing */
};

struct report_run {
    struct report_exercise *exercises; /* borrowed */
    size_t count;
    double execution_time;             /* seconds */
    const char *out_dir;               /* where the files are written */
    const char *warning;               /* integrity warning block, shown
                                          at the top and the bottom;
                                          NULL when none */
};

/* Prepares ex for the rubric r: every test FAIL with 0 points. */
int report_exercise_init(struct report_exercise *ex, const struct rubric *r,
                         char err[REPORT_ERR_LEN]);

/*
 * Records the coverage measurement c (its reason is copied).  Returns 0, or
 * -1 when out of memory (err says so).
 */
int report_set_coverage(struct report_exercise *ex,
                        const struct report_coverage *c,
                        char err[REPORT_ERR_LEN]);

/* One line about ex's coverage, e.g. "87.4% of the lines ... (104 of 119)". */
void report_coverage_text(const struct report_exercise *ex, char *buf,
                          size_t len);

/* Releases what ex owns (not the rubric). Safe on a zeroed struct. */
void report_exercise_clear(struct report_exercise *ex);

/*
 * Gives every test of ex the status `status` and 0 points, sets ex->status
 * to ex_status and records note (copied) as the explanation; the timing
 * criterion gets 0 points with note as its reason. When log_path is not
 * NULL, the last tail_lines lines of that file are kept to be shown (an
 * unreadable log is mentioned, not an error).
 */
int report_fail_all(struct report_exercise *ex, enum report_ex_status ex_status,
                    enum report_status status, const char *note,
                    const char *log_path, int tail_lines,
                    char err[REPORT_ERR_LEN]);

/*
 * Scores test idx of ex from the Criterion JSON report at json_path, from
 * a run of that test alone (the other tests of the binary are reported
 * SKIPPED and ignored). Rules, from the test's own entry (Criterion's
 * counters are ignored):
 *   PASSED with assertions > 0     OK, full points
 *   PASSED with no assertion       FAIL (the code probably exited early)
 *   FAILED                         FAIL, messages kept
 *   ERRORED "...timed out..."      TIMEOUT
 *   ERRORED "...crashed..."/other  CRASH
 *   SKIPPED                        FAIL, messages kept
 *   absent from the report         FAIL
 *   reported twice                 FAIL, and a grading error
 * test_log is named in crash explanations. Returns -1 when the report is
 * missing or unusable: err says why and the result is unchanged.
 */
int report_score_test(struct report_exercise *ex, size_t idx,
                      const char *json_path, const char *test_log,
                      char err[REPORT_ERR_LEN]);

/*
 * Sets the result of test idx (reason and messages are copied; NULL for
 * none) and updates ex->score.
 */
int report_set_result(struct report_exercise *ex, size_t idx,
                      enum report_status status, int score,
                      const char *reason, const char *messages,
                      char err[REPORT_ERR_LEN]);

/*
 * Records the timing criterion: *t is copied (its reason too) and
 * ex->score updated. t->score must not exceed the rubric's points.
 */
int report_set_timing(struct report_exercise *ex,
                      const struct report_timing *t,
                      char err[REPORT_ERR_LEN]);

/* Appends a line of information (no effect on the score). */
int report_add_info(struct report_exercise *ex, const char *msg,
                    char err[REPORT_ERR_LEN]);

/*
 * Records the memory check: *m is copied (its reason too) and ex->score
 * updated. m->score must not exceed the rubric's points.
 */
int report_set_memcheck(struct report_exercise *ex, const struct report_memcheck *m,
                        char err[REPORT_ERR_LEN]);

/* The one-line description of the memory check of ex. */
void report_memcheck_text(const struct report_exercise *ex, char *buf, size_t len);

/* Records a grading error (rubric bug); ex->status becomes ERROR. */
int report_add_error(struct report_exercise *ex, const char *msg,
                     char err[REPORT_ERR_LEN]);

/* Returns 1 when every test of ex is OK (the timing is not counted). */
int report_all_passed(const struct report_exercise *ex);

/* Sums score and maximum over all exercises of run. */
void report_totals(const struct report_run *run, int *score, int *max_score);

/*
 * Writes the section of one exercise (heading, notes, one line per test,
 * the timing line, exercise score) to out, with ANSI colours when colour
 * is nonzero.
 */
void report_print_exercise(FILE *out, const struct report_exercise *ex,
                           int colour);

/*
 * Writes where to start: the first test that did not pass in the first
 * exercise that is not complete, its hint, and the command that runs it
 * alone.  Nothing when every exercise is complete.
 */
void report_print_next_step(FILE *out, const struct report_run *run, int colour);

/* Writes the warning block text (when not NULL) framed for the terminal. */
void report_print_warning(FILE *out, const char *text, int colour);

/*
 * Writes OUT_DIR/results.json, OUT_DIR/summary.md and OUT_DIR/junit.xml
 * atomically, and appends the summary to $GITHUB_STEP_SUMMARY when that is
 * set (report_files.c).
 */
int report_write_files(const struct report_run *run, char err[REPORT_ERR_LEN]);

/* Name of a status as shown to students: "OK", "FAIL", ... */
const char *report_status_name(enum report_status status);

/* Name of an exercise status in the files: "graded", "rejected", ... */
const char *report_ex_status_name(enum report_ex_status status);

/*
 * Writes the one-line description of the timing criterion of ex ("yours
 * 27.1 ms, reference 26.5 ms (median of 5), ratio 1.02", or why it was not
 * measured) into buf.
 */
void report_timing_text(const struct report_exercise *ex, char *buf,
                        size_t len);

/*
 * The line that tells how to rerun test i of ex alone ("rerun it alone: make
 * ex01 TEST=suite::test (under valgrind or gdb: ...)"), without newline.  A
 * static buffer, overwritten by the next call.
 */
const char *report_rerun_line(const struct report_exercise *ex, size_t i);

/*
 * Prints the lines of text, each prefixed by indent; at most max lines
 * (0: all), followed by a count of the lines left out.
 */
void report_print_lines(FILE *out, const char *indent, const char *text,
                        size_t max);

#endif

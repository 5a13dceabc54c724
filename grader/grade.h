/*
 * grade.h - grading one exercise of one submission.  The judge and the
 * judged never share a process: the grader builds the submission's TODO
 * files into subject programs (build.h), and runs the exercise's judge
 * (ROOT/build/bin/test-<id>, Criterion, no student code in it), which
 * starts those subjects in a sandbox (harness/common/subject.h).
 *
 *   1. the trusted workbook is checked against its manifest (the caller);
 *   2. build_prepare(): the TODO files alone are copied, checked,
 *      preprocessed and checked again; a missing file or a compile error is
 *      UNGRADABLE, a finding REJECTED, and nothing of the submission runs;
 *   3. build_variant(test): compiled, checked (symcheck.h) and linked with
 *      the kit into the subjects;
 *   4. `<judge> --list`: the judge's tests must be the rubric's, both ways
 *      (a difference is a maintainers' error, exit status 2);
 *   5. each test alone, `<judge> --filter=<suite>/<test> --json=... -j1`,
 *      in its own process group, under rlimits, a wall-clock timeout and an
 *      output cap, in an emptied scratch folder; the judge finds the
 *      subjects through WB_SUBJECT_DIR and runs them as WB_SUBJECT_UID,
 *      with the run's CPU limit (WB_SUBJECT_CPU_S: a subject could not
 *      raise the judge's hard limit to the harness's default).
 *      Tests run group by group; a test whose required groups did not all
 *      pass is not run and scores 0;
 *   5b. the memory check (rubric "memcheck"): the tests that passed run
 *      again with the subjects built with ASan, UBSan and LeakSanitizer
 *      (the asan variant, in the same sandbox); its points are in
 *      proportion to the rubric's tests still passing there, and the report
 *      shows the first failure with the sanitizer's first error and its
 *      place in the student's file;
 *   6. the timing criterion when every test passed (timing.h): the bench
 *      variant of the submission against the reference's, measured by the
 *      exercise's timing judge;
 *   7. unless told not to, the line coverage of the TODO files: the cov
 *      variant's subjects under the same judge and sandbox, their counters
 *      written in a folder of the grader's, then gcovr (no points).
 * Every step runs within the exercise's budget (rubric "budget_s", or
 * --exercise-budget) and the submission's (--budget): past it, what is left
 * scores 0 with a note that says so.
 *
 * A crash, a hang, a flood of output or a missing report costs the test
 * it happens in, never the grading of the others.
 */
#ifndef GRADER_GRADE_H
#define GRADER_GRADE_H

#include <stddef.h>

#include "report.h"
#include "rubric.h"

#define GRADE_ERR_LEN 256
#define GRADE_BUILD_TIMEOUT_S 120                 /* one compiler run */
#define GRADE_BUILD_MEMORY_MB 4096                /* RLIMIT_AS of it */
#define GRADE_OUTPUT_CAP 65536                    /* bytes kept per run */
#define GRADE_OUTPUT_KILL (16UL * 1024 * 1024)    /* stop a run past this */
#define GRADE_DEFAULT_BUDGET_S 900                /* one exercise */

/* What grade_exercise needs to know about the run (all paths absolute). */
struct grade_ctx {
    const char *root;        /* trusted workbook: judges, kit, headers */
    const char *submission;  /* folder laid out like skeletons/ */
    const char *out;         /* logs and reports */
    const char *work;        /* private build folder of the submission */
    const char *reference;   /* reference: sources, or prebuilt objects */
    int ref_prebuilt;        /* reference holds <variant>/<exdir>/x.o */
    const char *ref_build;   /* private build folder of the reference */
    int static_check;        /* 0: --no-static-check (maintainers) */
    int timing;              /* 0: --no-timing */
    int coverage;            /* 0: --no-coverage */
    int memcheck;            /* 0: --no-memcheck */
    int progress;            /* print progress lines on stderr */
    double deadline;         /* the submission's budget ends (build_now()
                                clock); 0: none */
    int exercise_budget_s;   /* overrides the rubrics' budget_s; 0: not */
    unsigned subject_uid;    /* WB_SUBJECT_UID of the subjects (as root) */
};

/*
 * Grades exercise r into ex (initialised here). Problems of the
 * submission end up in ex; problems of the rubric or the grader make
 * ex->status REPORT_EX_ERROR. Returns -1 only when out of memory.
 */
int grade_exercise(const struct grade_ctx *ctx, const struct rubric *r,
                   struct report_exercise *ex);

/*
 * grade_exercise() in two halves, so that a grading of several exercises
 * overlaps them and times them last, alone.  _begin builds, runs the tests,
 * measures the coverage and starts the memory check (in a worker process
 * that runs while the next exercise is graded); *st gets the state, which
 * only grade_exercise_join() and grade_exercise_finish() may use, and
 * _finish frees.  _join waits for the memory check and records it; _finish
 * joins (if not done) and measures the timing: call _join for every
 * exercise begun, then _finish for each, so that nothing else runs beside
 * the timing.  They return -1 only when out of memory (then _begin has
 * freed its state and set *st to NULL; NULL makes the others do nothing).
 * The exercise's budget does not run between _begin and _finish.
 * _prepare_timing, between _begin and _join, builds what the timing needs
 * (the submission at -O2) while the memory check's workers end, so that
 * the timing phase only measures; optional (_finish builds what is not).
 */
struct grade_state;
int grade_exercise_begin(const struct grade_ctx *ctx, const struct rubric *r,
                         struct report_exercise *ex, struct grade_state **st);
int grade_exercise_prepare_timing(struct grade_state *st);
int grade_exercise_join(struct grade_state *st);
int grade_exercise_finish(struct grade_state *st);

/*
 * Builds the reference's subjects of r in the variants the grading needs
 * (test, and bench when ctx->timing), into ctx->ref_build, unless a build
 * of them is there already.  Returns 0 when they are ready, 1 when not (why
 * says so), -1 on an internal error (why).
 */
int grade_build_reference(const struct grade_ctx *ctx, const struct rubric *r, char *why,
                          size_t whylen);

#endif

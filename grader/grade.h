/*
 * grade.h - grading one exercise of one submission:
 *
 *   1. the TODO files must be regular files of the submission;
 *   2. build the test binary (make tests-<id>); a failure is UNGRADABLE;
 *   3. the static check of the compiled TODO files (symcheck.h); a
 *      finding is REJECTED, and nothing of the submission runs;
 *   4. `<bin> --list`: the binary's tests must be the rubric's, both ways
 *      (a difference is a maintainers' error, exit status 2);
 *   5. each test alone, `<bin> --filter=<suite>/<test> --json=... -j1`, in
 *      its own process group, under rlimits (CPU, address space, files,
 *      file size, processes), a wall-clock timeout and an output cap,
 *      with WB_REQUIRE_SANDBOX=1 (the harness's seccomp filter), in an
 *      emptied scratch directory. Tests run group by group; a test whose
 *      required groups did not all pass is not run and scores 0;
 *   6. the timing criterion when every test passed (timing.h);
 *   7. unless told not to, the line coverage of the TODO files by the
 *      tests: a --coverage build of the test binary (make cov-<id>) run
 *      once under the same isolation, then gcovr (no points).
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
#define GRADE_BUILD_TIMEOUT_S 300                 /* wall and CPU */
#define GRADE_BUILD_MEMORY_MB 4096                /* RLIMIT_AS of make */
#define GRADE_OUTPUT_CAP 65536                    /* bytes kept per run */
#define GRADE_OUTPUT_KILL (16UL * 1024 * 1024)    /* stop a run past this */

/* What grade_exercise needs to know about the run (all paths absolute). */
struct grade_ctx {
    const char *root;        /* trusted workbook (Makefile, harness) */
    const char *submission;  /* folder laid out like skeletons/ */
    const char *out;         /* logs and reports */
    const char *build;       /* SUBBUILD of the submission */
    const char *reference;   /* reference folder (sources or .o files) */
    const char *ref_build;   /* SUBBUILD of the reference */
    int static_check;        /* 0: --no-static-check (maintainers) */
    int timing;              /* 0: --no-timing */
    int coverage;            /* 0: --no-coverage */
    int progress;            /* print progress lines on stderr */
};

/*
 * Grades exercise r into ex (initialised here). Problems of the
 * submission end up in ex; problems of the rubric or the grader make
 * ex->status REPORT_EX_ERROR. Returns -1 only when out of memory.
 */
int grade_exercise(const struct grade_ctx *ctx, const struct rubric *r,
                   struct report_exercise *ex);

/*
 * Builds the reference's benchmark of r (make <bench> with the reference
 * into ctx->ref_build) and writes its path into bin. Returns 0 when it is
 * ready, 1 when it is not (why says so), -1 on an internal error (why).
 */
int grade_build_reference(const struct grade_ctx *ctx, const struct rubric *r,
                          char *bin, size_t binlen, char *why, size_t whylen);

#endif

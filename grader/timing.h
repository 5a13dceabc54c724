/*
 * timing.h - the timing criterion.  The exercise's timing judge
 * (ROOT/build/bin/bench-<id>, trusted code: no student code in it) starts
 * the submission's subjects and the reference's (WB_SUBJECT_DIR and
 * WB_REF_SUBJECT_DIR: both built at -O2 without sanitizers), gives them the
 * same jobs in turns on one CPU, measures each from outside (the subject's
 * CPU time from /proc), and prints, as the last line of its output,
 *     {"metric": "fetch_cpu_ms", "unit": "ms", "sub": 31.2, "ref": 30.9,
 *      "ratio": 1.01, "rounds": 15}
 * where ratio is the median over the rounds of sub/ref within a round.
 * What the subjects print never reaches that output.  The ratio (lower is
 * better) is scored in the rubric's bands.  When it lands within
 * TIMING_EDGE of a band's edge, the judge runs again, up to
 * timing->repeat times, and the median of the ratios counts, so that
 * identical code gets the same points every time.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * an internal error, with a one-line English message in the caller-owned
 * buffer err (TIMING_ERR_LEN bytes). Nothing is printed.
 */
#ifndef GRADER_TIMING_H
#define GRADER_TIMING_H

#include <stddef.h>

#include "report.h"
#include "rubric.h"

#define TIMING_ERR_LEN 256
#define TIMING_REASON_LEN 512
#define TIMING_EDGE 0.08      /* relative distance to a band edge */

struct timing_spec {
    const struct rubric *rubric;  /* rubric->timing != NULL */
    const char *bench;            /* the timing judge */
    const char *scratch;          /* working directory of the runs */
    const char *logdir;           /* bench-N.log */
    const char *const *set_env;   /* for runner_spec: WB_SUBJECT_DIR, ... */
    const char *const *unset_env;
    double deadline;              /* build_now() clock; 0: none */
};

/*
 * Measures and scores. On return 0, *t holds the result; t->reason points
 * into the caller's buffer reason (TIMING_REASON_LEN bytes) when set, so
 * copy *t (report_set_timing does) before reusing it. A failed run is not
 * an internal error: t->measured is 0 and t->reason says why.
 */
int timing_measure(const struct timing_spec *spec, struct report_timing *t,
                   char reason[TIMING_REASON_LEN], char err[TIMING_ERR_LEN]);

/* Returns the points of ratio under the bands of timing (0 above all). */
int timing_points(const struct rubric_timing *timing, double ratio);

/* 1 when ratio is within TIMING_EDGE (relative) of a band's edge. */
int timing_near_edge(const struct rubric_timing *timing, double ratio);

#endif

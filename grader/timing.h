/*
 * timing.h - the timing criterion: an exercise's benchmark driver, built
 * once with the submission and once with the reference (at -O2, without
 * sanitizers), run in turns (submission, reference, submission, ...)
 * `rounds` times each; the ratio of the medians, submission / reference
 * (lower is better), is scored in the rubric's bands.
 *
 * A benchmark run prints, as the last line of its output, one JSON object
 *     {"metric": "fetch_ms", "unit": "ms", "value": 27.1}
 * and exits 0. Anything else (a crash, a non-zero exit, a missing or
 * malformed last line, more output than the capture keeps) fails the
 * measurement. Because the line must be the very last output of the
 * process, code under test cannot forge it: it runs before the driver
 * prints, and the static check forbids destructors and atexit.
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

struct timing_spec {
    const struct rubric *rubric;  /* rubric->timing != NULL */
    const char *sub_bin;          /* benchmark built with the submission */
    const char *ref_bin;          /* benchmark built with the reference */
    const char *scratch;          /* working directory of the runs */
    const char *logdir;           /* bench-sub-N.log, bench-ref-N.log */
    const char *const *set_env;   /* for runner_spec */
    const char *const *unset_env;
};

/*
 * Measures and scores. On return 0, *t holds the result; t->reason points
 * into the caller's buffer reason (TIMING_REASON_LEN bytes) when set, so
 * copy *t (report_set_timing does) before reusing it. A failed benchmark
 * run is not an internal error: t->measured is 0 and t->reason says why.
 */
int timing_measure(const struct timing_spec *spec, struct report_timing *t,
                   char reason[TIMING_REASON_LEN], char err[TIMING_ERR_LEN]);

/* Returns the points of ratio under the bands of timing (0 above all). */
int timing_points(const struct rubric_timing *timing, double ratio);

#endif

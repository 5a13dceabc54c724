/*
 * timing.c - alternate benchmark runs, medians, ratio and bands (see
 * timing.h).
 */
#include "timing.h"

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define TIMING_CAPTURE_BYTES 65536
#define TIMING_KILL_BYTES (16UL * 1024 * 1024)

/* One side of the comparison. */
struct timing_side {
    const char *bin;
    const char *name;      /* "sub" or "ref", in log names */
    const char *who;       /* "your code", "the reference", in reasons */
    double values[RUBRIC_MAX_ROUNDS];
};

static void timing_seterr(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int timing_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double timing_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), timing_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int timing_points(const struct rubric_timing *timing, double ratio)
{
    size_t i;

    for (i = 0; i < timing->nbands; i++)
        if (ratio <= timing->bands[i].max_ratio)
            return timing->bands[i].points;
    return 0;
}

/* ------------------------------------------------------------------ */
/* One run                                                             */
/* ------------------------------------------------------------------ */

/* Points *line at the last non-empty line of text (modified in place). */
static char *timing_last_line(char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    while (len > 0 && text[len - 1] != '\n')
        len--;
    return text + len;
}

/* Parses {"metric": "...", "unit": "ms", "value": N}; -1 if malformed. */
static int timing_parse(const char *line, double *value)
{
    json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
    json_t *v = json_object_get(obj, "value");
    const char *unit = json_string_value(json_object_get(obj, "unit"));
    int rc = -1;

    if (json_is_object(obj) && json_object_size(obj) == 3 &&
        json_is_string(json_object_get(obj, "metric")) && unit != NULL &&
        strcmp(unit, "ms") == 0 && json_is_number(v) &&
        json_number_value(v) > 0.0) {
        *value = json_number_value(v);
        rc = 0;
    }
    json_decref(obj);
    return rc;
}

/* Explains a failed run of side into reason. */
static void timing_explain(const struct runner_result *res,
                           const struct runner_capture *cap,
                           const struct timing_side *side, const char *log,
                           char reason[TIMING_REASON_LEN])
{
    const char *how = "did not print its result as its last line";
    char buf[96];

    if (cap->total > cap->len)
        how = "printed more than 64 KiB";
    else if (res->outcome == RUNNER_TIMED_OUT)
        how = "did not finish in time";
    else if (res->outcome == RUNNER_SIGNALED) {
        snprintf(buf, sizeof(buf), "was killed by signal %d (%s)",
                 res->status, strsignal(res->status));
        how = buf;
    } else if (res->status != 0) {
        snprintf(buf, sizeof(buf), "exited with status %d", res->status);
        how = buf;
    }
    timing_seterr(reason, TIMING_REASON_LEN, "not measured: the benchmark "
                  "with %s %s (see %s)", side->who, how, log);
}

/*
 * Runs side's benchmark once (round k); stores its value. Returns 1 when
 * measured, 0 when the run failed (reason set), -1 on internal error.
 */
static int timing_run(const struct timing_spec *spec,
                      struct timing_side *side, int k,
                      char reason[TIMING_REASON_LEN],
                      char err[TIMING_ERR_LEN])
{
    const struct rubric *r = spec->rubric;
    char log[PATH_MAX], repeat[16], buf[TIMING_CAPTURE_BYTES];
    const char *argv[] = { side->bin, "--repeat", repeat, NULL };
    struct runner_capture cap = { buf, sizeof(buf), 0, 0, TIMING_KILL_BYTES,
                                  0 };
    struct runner_spec rs = { argv, spec->scratch, log, r->timeout_s,
                              r->timeout_s, 1, spec->unset_env,
                              spec->set_env, r->memory_mb, &cap };
    struct runner_result res;
    char rerr[RUNNER_ERR_LEN];

    snprintf(repeat, sizeof(repeat), "%d", r->timing->repeat);
    snprintf(log, sizeof(log), "%s/bench-%s-%d.log", spec->logdir,
             side->name, k + 1);
    if (runner_run(&rs, &res, rerr) < 0) {
        timing_seterr(err, TIMING_ERR_LEN, "cannot run %s: %s", side->bin,
                      rerr);
        return -1;
    }
    if (res.outcome == RUNNER_EXITED && res.status == 0 &&
        cap.total == cap.len &&
        timing_parse(timing_last_line(buf, cap.len), &side->values[k]) == 0)
        return 1;
    timing_explain(&res, &cap, side, log, reason);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rounds                                                              */
/* ------------------------------------------------------------------ */

static void timing_score(const struct rubric_timing *rt,
                         struct report_timing *t,
                         char reason[TIMING_REASON_LEN])
{
    t->score = timing_points(rt, t->ratio);
    if (t->score == rt->points)
        return;
    timing_seterr(reason, TIMING_REASON_LEN, "all %d points need a ratio "
                  "of at most %.2f", rt->points, rt->bands[0].max_ratio);
    t->reason = reason;
}

int timing_measure(const struct timing_spec *spec, struct report_timing *t,
                   char reason[TIMING_REASON_LEN], char err[TIMING_ERR_LEN])
{
    const struct rubric_timing *rt = spec->rubric->timing;
    struct timing_side sub = { spec->sub_bin, "sub", "your code", { 0 } };
    struct timing_side ref = { spec->ref_bin, "ref", "the reference", { 0 } };
    int k, rc = 1;

    memset(t, 0, sizeof(*t));
    t->rounds = rt->rounds;
    for (k = 0; k < rt->rounds && rc == 1; k++) {
        rc = timing_run(spec, &sub, k, reason, err);
        if (rc == 1)
            rc = timing_run(spec, &ref, k, reason, err);
    }
    if (rc < 0)
        return -1;
    if (rc == 0) {
        t->reason = reason;
        return 0;
    }
    t->measured = 1;
    t->sub_ms = timing_median(sub.values, rt->rounds);
    t->ref_ms = timing_median(ref.values, rt->rounds);
    t->ratio = t->sub_ms / t->ref_ms;
    timing_score(rt, t, reason);
    return 0;
}

/*
 * timing.c - runs of the timing judge, the ratio and the bands (see
 * timing.h).
 */
#include "timing.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"

#define TIMING_CAPTURE_BYTES 65536
#define TIMING_KILL_BYTES (16UL * 1024 * 1024)
#define TIMING_MAX_RUNS 9
#define TIMING_MAX_ENV 32

/* One run's figures. */
struct timing_run {
    double sub, ref, ratio;
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

int timing_near_edge(const struct rubric_timing *timing, double ratio)
{
    for (size_t i = 0; i < timing->nbands; i++)
        if (fabs(ratio - timing->bands[i].max_ratio) <= TIMING_EDGE * timing->bands[i].max_ratio)
            return 1;
    return 0;
}

static double timing_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* One run                                                             */
/* ------------------------------------------------------------------ */

/* Points at the last non-empty line of text (modified in place). */
static char *timing_last_line(char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    while (len > 0 && text[len - 1] != '\n')
        len--;
    return text + len;
}

static int timing_positive(json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_number(v) || !(json_number_value(v) > 0.0) || !isfinite(json_number_value(v)))
        return -1;
    *out = json_number_value(v);
    return 0;
}

/* Parses the judge's last line; -1 if malformed. */
static int timing_parse(const char *line, struct timing_run *run)
{
    json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
    const char *unit = json_string_value(json_object_get(obj, "unit"));
    int rc = -1;

    if (json_is_object(obj) && json_is_string(json_object_get(obj, "metric")) && unit != NULL &&
        strcmp(unit, "ms") == 0 && timing_positive(obj, "sub", &run->sub) == 0 &&
        timing_positive(obj, "ref", &run->ref) == 0 &&
        timing_positive(obj, "ratio", &run->ratio) == 0)
        rc = 0;
    json_decref(obj);
    return rc;
}

/* Explains a failed run into reason. */
static void timing_explain(const struct runner_result *res,
                           const struct runner_capture *cap, const char *log,
                           char reason[TIMING_REASON_LEN])
{
    const char *how = "did not print its result";
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
        /* The judge says on stderr which side failed and why. */
        how = "failed: your code did not do the timing's jobs correctly";
    }
    timing_seterr(reason, TIMING_REASON_LEN, "not measured: the timing judge %s (see %s)",
                  how, log);
}

/*
 * Runs the timing judge once (k-th run). Returns 1 when measured, 0 when
 * the run failed (reason set), -1 on internal error.
 */
static int timing_run(const struct timing_spec *spec, int k, struct timing_run *run,
                      char reason[TIMING_REASON_LEN], char err[TIMING_ERR_LEN])
{
    const struct rubric *r = spec->rubric;
    char log[PATH_MAX], rounds[16], buf[TIMING_CAPTURE_BYTES];
    const char *argv[] = { spec->bench, "--rounds", rounds, NULL };
    struct runner_capture cap = { buf, sizeof(buf), 0, 0, TIMING_KILL_BYTES, 0 };
    int timeout = r->timeout_s;
    double left = spec->deadline > 0 ? spec->deadline - timing_now() : 1e9;
    struct runner_spec rs;
    struct runner_result res;
    char rerr[RUNNER_ERR_LEN], cpu[48];
    const char *env[TIMING_MAX_ENV + 2];
    size_t n = 0;

    if (left < timeout)
        timeout = left < 1 ? 1 : (int)left;
    snprintf(rounds, sizeof(rounds), "%d", r->timing->rounds);
    snprintf(log, sizeof(log), "%s/bench-%d.log", spec->logdir, k + 1);
    /* The subjects' CPU limit is the run's (see grade.c). */
    while (n < TIMING_MAX_ENV && spec->set_env != NULL && spec->set_env[n] != NULL) {
        env[n] = spec->set_env[n];
        n++;
    }
    snprintf(cpu, sizeof(cpu), "WB_SUBJECT_CPU_S=%d", timeout);
    env[n++] = cpu;
    env[n] = NULL;
    rs = (struct runner_spec){ argv, spec->scratch, log, timeout, timeout, 1, spec->unset_env,
                               env, r->memory_mb, &cap };
    if (runner_run(&rs, &res, rerr) < 0) {
        timing_seterr(err, TIMING_ERR_LEN, "cannot run %s: %s", spec->bench, rerr);
        return -1;
    }
    if (res.outcome == RUNNER_EXITED && res.status == 0 && cap.total == cap.len &&
        timing_parse(timing_last_line(buf, cap.len), run) == 0)
        return 1;
    timing_explain(&res, &cap, log, reason);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
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
    struct timing_run runs[TIMING_MAX_RUNS];
    double sub[TIMING_MAX_RUNS], ref[TIMING_MAX_RUNS], ratio[TIMING_MAX_RUNS];
    int n = 0, max = rt->repeat < 1 ? 1 : rt->repeat > TIMING_MAX_RUNS ? TIMING_MAX_RUNS
                                                                      : rt->repeat;
    int rc;

    memset(t, 0, sizeof(*t));
    t->rounds = rt->rounds;
    do {
        rc = timing_run(spec, n, &runs[n], reason, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            t->reason = reason;
            return 0;
        }
        ratio[n] = runs[n].ratio;
        n++;
        /* Measure again while the median so far sits near an edge. */
    } while (n < max && timing_near_edge(rt, timing_median((memcpy(sub, ratio, (size_t)n *
                                                                          sizeof(double)),
                                                                   sub), n)));
    for (int i = 0; i < n; i++) {
        sub[i] = runs[i].sub;
        ref[i] = runs[i].ref;
    }
    t->measured = 1;
    t->sub_ms = timing_median(sub, n);
    t->ref_ms = timing_median(ref, n);
    t->ratio = timing_median(ratio, n);
    t->rounds = rt->rounds * n;
    timing_score(rt, t, reason);
    return 0;
}

/*
 * bench_ex02.c - build/bin/bench-ex02: the timing judge of exercise 2.  It
 * measures, from outside, the CPU time that your limiter spends admitting
 * and releasing jobs, against the reference's in the same run.
 *
 *   WB_SUBJECT_DIR=<your subjects> WB_REF_SUBJECT_DIR=<the reference's> \
 *       bench-ex02 [--rounds N]
 *
 * It starts both subjects (subject-ex02, built from your ex02.c and from the
 * reference's), pins itself and them to one CPU (subj_pin_to_one_cpu()),
 * and gives them the same job in turns, A B B A A B ..., N rounds (default
 * 15) after one warm-up each.  A job: 200 000 jobs through a limiter with
 * max_in_flight 64 and no pacing, each done inside its start callback.  The
 * figure of a job is the subject's CPU time (user + system, all threads,
 * from /proc/PID/task/ in nanoseconds) from the job's start to its answer.
 * Each job's seed is drawn for the run; the subject derives the jobs'
 * tokens from it and answers a hash chain of the tokens in the order the
 * jobs started, which this program computes for FIFO order: a subject that
 * skips the work, or starts the jobs out of order, gets no figure.  The
 * last line:
 *   {"metric": "jobs_cpu_ms", "unit": "ms", "sub": 31.2, "ref": 30.9,
 *    "ratio": 1.01, "rounds": 15}
 * where ratio is the median of the N ratios of a round's two jobs (each
 * pair ran within milliseconds of each other, so the machine's drift over
 * seconds cancels out).  Exit status 0, or 1 when a run fails (the grader
 * then gives no timing points).  Nothing the subjects print reaches this
 * program's output.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "fixture_server.h"
#include "subject.h"

#define N_JOBS 200000
#define MAX_IN_FLIGHT 64
#define MAX_REPEAT 64

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Job i's token, as subject_ex02.c derives it (splitmix64). */
static uint64_t bench_token(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The hash chain of the tokens in submission order. */
static uint64_t fifo_chain(uint64_t seed)
{
    uint64_t h = seed;

    for (uint64_t i = 0; i < N_JOBS; i++)
        h = (h ^ bench_token(seed, i)) * 0x100000001b3ULL;
    return h;
}

/* One measurement: CPU ms of the subject, or -1 when the run failed. */
static double measure(struct subj *s, json_int_t *id)
{
    struct subj_usage u0, u1;
    uint64_t seed = 0;
    char hex[17], want[17];
    json_t *j, *a;
    int ok;

    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        return -1;
    snprintf(hex, sizeof(hex), "%016" PRIx64, seed);
    snprintf(want, sizeof(want), "%016" PRIx64, fifo_chain(seed));
    j = json_pack("{ss sI si ss sI}", "op", "bench", "n", (json_int_t)N_JOBS, "max",
                  MAX_IN_FLIGHT, "seed", hex, "id", ++*id);
    if (j == NULL || subj_usage(s, &u0) < 0) {
        json_decref(j);
        return -1;
    }
    a = subj_call(s, j, 20000, NULL);
    json_decref(j);
    ok = a != NULL && json_integer_value(json_object_get(a, "rc")) == 0 &&
         json_integer_value(json_object_get(a, "started")) == N_JOBS &&
         json_is_string(json_object_get(a, "chain")) &&
         strcmp(json_string_value(json_object_get(a, "chain")), want) == 0;
    json_decref(a);
    if (!ok || subj_usage(s, &u1) < 0)
        return -1;
    return u1.cpu_ms - u0.cpu_ms;
}

int main(int argc, char **argv)
{
    long rounds = 15;
    int rc = 1;
    char err[SUBJ_ERR_LEN];
    struct event_base *base = NULL;
    struct subj *s[2] = { NULL, NULL };
    double cpu[2][MAX_REPEAT], ratio[MAX_REPEAT];
    json_int_t id = 0;

    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = strtol(argv[2], NULL, 10);
    if ((argc != 1 && argc != 3) || rounds < 1 || rounds > MAX_REPEAT) {
        fprintf(stderr, "usage: bench-ex02 [--rounds 1..%d]\n", MAX_REPEAT);
        return 2;
    }
    subj_pin_to_one_cpu();
    base = fx_event_base_new();
    if (base == NULL) {
        fprintf(stderr, "bench-ex02: no event_base\n");
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        struct subj_spec spec = { .program = "subject-ex02", .channel = 1, .reference = k,
                                  .plain_malloc = 1 };
        s[k] = subj_start(base, &spec, err, sizeof(err));
        if (s[k] == NULL) {
            fprintf(stderr, "bench-ex02: %s\n", err);
            goto out;
        }
    }
    for (long r = -1; r < rounds; r++) {    /* r == -1: the warm-up */
        for (int j = 0; j < 2; j++) {
            int k = (int)((r + j) & 1);   /* A B, then B A, ... */
            double c = measure(s[k], &id);
            if (c < 0) {
                fprintf(stderr, "bench-ex02: the jobs run by %s did not all start, in order (%s): "
                        "the functional tests must pass first\n",
                        k ? "the reference" : "your code",
                        subj_error(s[k])[0] ? subj_error(s[k]) : "wrong answer");
                goto out;
            }
            if (r >= 0)
                cpu[k][r] = c;
        }
        if (r >= 0)
            ratio[r] = cpu[0][r] / cpu[1][r];
    }
    qsort(cpu[0], (size_t)rounds, sizeof(double), cmp_double);
    qsort(cpu[1], (size_t)rounds, sizeof(double), cmp_double);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    printf("{\"metric\": \"jobs_cpu_ms\", \"unit\": \"ms\", \"sub\": %.3f, \"ref\": %.3f, "
           "\"ratio\": %.4f, \"rounds\": %ld}\n", cpu[0][rounds / 2], cpu[1][rounds / 2],
           ratio[rounds / 2], rounds);
    rc = 0;
out:
    for (int k = 0; k < 2; k++)
        subj_free(s[k]);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

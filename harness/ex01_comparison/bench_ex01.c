/*
 * bench_ex01.c - build/bin/bench-ex01: the timing judge of exercise 1.  It
 * measures, from outside, the CPU time that your fetch code spends, against
 * the reference's in the same run.
 *
 *   WB_SUBJECT_DIR=<your subjects> WB_REF_SUBJECT_DIR=<the reference's> \
 *       bench-ex01 [--rounds N]
 *
 * It starts both subjects (subject-ex01, built from your ex01.c and from the
 * reference's), pins itself and them to one CPU (subj_pin_to_one_cpu()),
 * and gives them the same job in turns, A B B A A B ..., N rounds (default
 * 15) after one warm-up each.  A job: a concurrent fetch of 400 URLs, then a
 * sequential fetch of 100, all answered at once by this program's own
 * server.  The figure of a job is the subject's CPU time (user + system, all
 * threads, from /proc/PID/task/ in nanoseconds) from the job's start to its
 * answer.  Every URL carries a token drawn for the run and the bodies must
 * echo it, so a subject that does not fetch gets no figure.  The last line:
 *   {"metric": "fetch_cpu_ms", "unit": "ms", "sub": 31.2, "ref": 30.9,
 *    "ratio": 1.01, "rounds": 15}
 * where ratio is the median of the N ratios of a round's two jobs (each
 * pair ran within milliseconds of each other, so the machine's drift over
 * seconds cancels out).  Exit status 0, or 1 when a fetch fails (the grader
 * then gives no timing points).  Nothing the subjects print reaches this
 * program's output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "fixture_server.h"
#include "subject.h"
#include "subject_io.h"

#define N_CONCURRENT 400
#define N_SEQUENTIAL 100
#define MAX_REPEAT 64


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *job(const char *mode, char *const urls[], size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(urls[i]));
    return json_pack("{ss ss so si}", "op", "fetch", "mode", mode, "urls", list, "timeout_ms",
                     5000);
}

/* Checks an answer: rc 0, every result EX01_OK 200 with the URI (and its
 * token) as the body. */
static int answer_ok(const json_t *a, char *const urls[], size_t n)
{
    const json_t *list = json_object_get(a, "results");

    if (a == NULL || json_integer_value(json_object_get(a, "rc")) != 0 ||
        json_array_size(list) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(list, i);
        const char *uri = strchr(urls[i] + strlen("http://"), '/');
        size_t len = 0;
        unsigned char *body = sio_unhex(json_object_get(r, "body"), &len);
        int ok = body != NULL && len == strlen(uri) && memcmp(body, uri, len) == 0 &&
                 json_integer_value(json_object_get(r, "status")) == 200;
        free(body);
        if (!ok)
            return 0;
    }
    return 1;
}

/* One measurement: CPU ms of the subject, or -1 when a fetch failed. */
static double measure(struct subj *s, char *const urls[], json_int_t *id, double *wall)
{
    struct subj_usage u0, u1;
    const char *modes[2] = { "concurrent", "sequential" };
    size_t counts[2] = { N_CONCURRENT, N_SEQUENTIAL };
    double t0 = fx_now_ms();

    if (subj_usage(s, &u0) < 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        json_t *j = job(modes[k], urls, counts[k]), *a;
        int ok;
        json_object_set_new(j, "id", json_integer(++*id));
        a = subj_call(s, j, 20000, NULL);
        json_decref(j);
        ok = answer_ok(a, urls, counts[k]);
        json_decref(a);
        if (!ok)
            return -1;
    }
    if (subj_usage(s, &u1) < 0)
        return -1;
    *wall = fx_now_ms() - t0;
    return u1.cpu_ms - u0.cpu_ms;
}

int main(int argc, char **argv)
{
    long rounds = 15;
    int rc = 1;
    char err[SUBJ_ERR_LEN], url[160], path[96];
    unsigned long long token = 0;
    struct event_base *base = NULL;
    struct fx_server *srv = NULL;
    struct subj *s[2] = { NULL, NULL };
    static char *urls[N_CONCURRENT];
    double cpu[2][MAX_REPEAT], ratio[MAX_REPEAT];
    json_int_t id = 0;

    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = strtol(argv[2], NULL, 10);
    if ((argc != 1 && argc != 3) || rounds < 1 || rounds > MAX_REPEAT) {
        fprintf(stderr, "usage: bench-ex01 [--rounds 1..%d]\n", MAX_REPEAT);
        return 2;
    }
    if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
        return 1;
    subj_pin_to_one_cpu();
    base = fx_event_base_new();
    srv = base ? fx_server_new(base, NULL, 0, err, sizeof(err)) : NULL;
    if (srv == NULL) {
        fprintf(stderr, "bench-ex01: cannot start the server: %s\n", base ? err : "no event_base");
        goto out;
    }
    for (size_t i = 0; i < N_CONCURRENT; i++) {
        snprintf(path, sizeof(path), "/delay?ms=0&id=%zu&t=%016llx", i, token);
        fx_server_url(srv, path, url, sizeof(url));
        if ((urls[i] = strdup(url)) == NULL)
            goto out;
    }
    for (int k = 0; k < 2; k++) {
        struct subj_spec spec = { .program = "subject-ex01", .channel = 1, .reference = k,
                                  .plain_malloc = 1 };
        s[k] = subj_start(base, &spec, err, sizeof(err));
        if (s[k] == NULL) {
            fprintf(stderr, "bench-ex01: %s\n", err);
            goto out;
        }
    }
    for (long r = -1; r < rounds; r++) {    /* r == -1: the warm-up */
        for (int j = 0; j < 2; j++) {
            int k = (int)((r + j) & 1);   /* A B, then B A, ... */
            double w = 0, c = measure(s[k], urls, &id, &w);
            if (c < 0) {
                fprintf(stderr, "bench-ex01: a fetch by %s failed (%s)\n",
                        k ? "the reference" : "your code",
                        subj_error(s[k])[0] ? subj_error(s[k]) : "wrong answer");
                goto out;
            }
            if (r >= 0)
                cpu[k][r] = c;
            fx_server_reset(srv);
        }
        if (r >= 0)
            ratio[r] = cpu[0][r] / cpu[1][r];
    }
    qsort(cpu[0], (size_t)rounds, sizeof(double), cmp_double);
    qsort(cpu[1], (size_t)rounds, sizeof(double), cmp_double);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    printf("{\"metric\": \"fetch_cpu_ms\", \"unit\": \"ms\", \"sub\": %.3f, \"ref\": %.3f, "
           "\"ratio\": %.4f, \"rounds\": %ld}\n", cpu[0][rounds / 2], cpu[1][rounds / 2],
           ratio[rounds / 2], rounds);
    rc = 0;
out:
    for (int k = 0; k < 2; k++)
        subj_free(s[k]);
    for (size_t i = 0; i < N_CONCURRENT; i++)
        free(urls[i]);
    fx_server_free(srv);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

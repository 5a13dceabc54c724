/*
 * fetch_limit_c.c - the C side of exercise 2's benchmark: one measured call
 * of the reference's ex02_fetch_with_limit() against a delay server that runs
 * as a separate process (build/bin/delay-server).  Built and run by
 * harness/peers/ex02/run.sh; its Python twin is fetch_with_limit.py.
 *
 *   fetch-limit-c --port P --n N --ms MS --max K --rate R --burst B [--timer precise|default]
 *
 * Fetches http://127.0.0.1:P/delay?ms=MS&id=i for i = 0..N-1 through a
 * limiter with {K, R, B} and prints one line of JSON on stdout:
 *   {"wall_ms", "cpu_ms", "peak_rss_kb", "max_in_flight", "ok", "n"}
 * wall_ms and cpu_ms cover the call alone; max_in_flight is the most fetches
 * open at one instant, from the results' start and end times; peak_rss_kb is
 * the process's VmHWM at the end.  Exit status 1 when a URL did not come back
 * 200.
 *
 * The loop is made as the workbook's tests make theirs, with
 * EVENT_BASE_FLAG_PRECISE_TIMER; --timer default makes it with
 * event_base_new(), whose clock is CLOCK_MONOTONIC_COARSE (one kernel tick,
 * 4 ms here): each token's timer then fires up to a tick late.
 */
#include "ex02.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../common/proc_stats.h"

/* The most intervals [start, end) open at one instant: for each start, the
 * intervals that started no later and end after it.  O(n^2), n is small. */
static unsigned max_in_flight(const struct ex02_fetch_result *r, size_t n)
{
    unsigned best = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned open = 0;
        for (size_t j = 0; j < n; j++)
            if (r[j].start_ms <= r[i].start_ms && r[j].end_ms > r[i].start_ms)
                open++;
        if (open > best)
            best = open;
    }
    return best;
}

static void usage(void)
{
    fprintf(stderr, "usage: fetch-limit-c --port P --n N --ms MS --max K --rate R --burst B"
                    " [--timer precise|default]\n");
}

int main(int argc, char **argv)
{
    long port = -1, n = -1, ms = -1, max = -1, burst = -1;
    double rate = -1;
    int precise = 1;
    char **urls = NULL;
    struct ex02_fetch_result *results = NULL;
    struct event_base *base = NULL;
    int rc = 1;
    size_t ok = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--port") == 0)
            port = strtol(v, NULL, 10);
        else if (strcmp(k, "--n") == 0)
            n = strtol(v, NULL, 10);
        else if (strcmp(k, "--ms") == 0)
            ms = strtol(v, NULL, 10);
        else if (strcmp(k, "--max") == 0)
            max = strtol(v, NULL, 10);
        else if (strcmp(k, "--rate") == 0)
            rate = strtod(v, NULL);
        else if (strcmp(k, "--burst") == 0)
            burst = strtol(v, NULL, 10);
        else if (strcmp(k, "--timer") == 0 && strcmp(v, "default") == 0)
            precise = 0;
        else if (strcmp(k, "--timer") != 0 || strcmp(v, "precise") != 0)
            port = -1;   /* unknown option: usage */
    }
    if (argc % 2 != 1 || port < 1 || port > 65535 || n < 1 || n > 100000 || ms < 0 ||
        ms > 60000 || max < 1 || rate < 0 || burst < 0) {
        usage();
        return 2;
    }
    struct ex02_limits limits = { .max_in_flight = (unsigned)max, .rate = rate,
                                  .burst = (unsigned)burst };

    signal(SIGPIPE, SIG_IGN);
    urls = calloc((size_t)n, sizeof(*urls));
    results = calloc((size_t)n, sizeof(*results));
    if (precise) {
        struct event_config *cfg = event_config_new();
        if (cfg != NULL) {
            event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            base = event_base_new_with_config(cfg);
            event_config_free(cfg);
        }
    } else {
        base = event_base_new();
    }
    if (urls == NULL || results == NULL || base == NULL) {
        fprintf(stderr, "fetch-limit-c: out of memory\n");
        goto out;
    }
    for (long i = 0; i < n; i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%ld/delay?ms=%ld&id=%ld", port, ms, i);
        if ((urls[i] = strdup(url)) == NULL)
            goto out;
    }

    double c0 = cpu_ms(), t0 = ex02_now_ms();
    int call_rc = ex02_fetch_with_limit(base, (const char *const *)urls, (size_t)n, &limits,
                                        5000, results);
    double wall = ex02_now_ms() - t0, cpu = cpu_ms() - c0;

    if (call_rc != 0) {
        fprintf(stderr, "fetch-limit-c: ex02_fetch_with_limit returned %d\n", call_rc);
        goto out;
    }
    for (long i = 0; i < n; i++) {
        if (results[i].outcome == EX02_OK && results[i].http_status == 200)
            ok++;
        else if (ok + 5 > (size_t)i)
            fprintf(stderr, "fetch-limit-c: %s: %s (status %d)\n", urls[i],
                    ex02_outcome_name(results[i].outcome), results[i].http_status);
    }
    printf("{\"wall_ms\": %.3f, \"cpu_ms\": %.3f, \"peak_rss_kb\": %ld, \"max_in_flight\": %u, "
           "\"ok\": %zu, \"n\": %ld}\n",
           wall, cpu, peak_rss_kb(), max_in_flight(results, (size_t)n), ok, n);
    rc = ok == (size_t)n ? 0 : 1;
out:
    free(results);
    if (urls != NULL)
        for (long i = 0; i < n; i++)
            free(urls[i]);
    free(urls);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

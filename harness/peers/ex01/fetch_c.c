/*
 * fetch_c.c - the C side of exercise 1's benchmark: one measured call of the
 * reference's ex01_fetch_concurrent() or ex01_fetch_sequential() against a
 * delay server that runs as a separate process (build/bin/delay-server).
 * Built and run by harness/peers/ex01/run.sh; its Python twin is fetch.py.
 *
 *   fetch-c --port P --n N --ms MS concurrent|sequential
 *
 * Fetches http://127.0.0.1:P/delay?ms=MS&id=i for i = 0..N-1 and prints one
 * line of JSON on stdout:
 *   {"wall_ms": ..., "cpu_ms": ..., "peak_rss_kb": ..., "ok": N, "n": N}
 * wall_ms and cpu_ms cover the fetch call alone (not the program's start);
 * peak_rss_kb is the process's VmHWM once the fetch is over.  Exit status 1
 * when a URL did not come back 200.
 */
#include "ex01.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../common/proc_stats.h"

static void usage(void)
{
    fprintf(stderr, "usage: fetch-c --port P --n N --ms MS concurrent|sequential\n");
}

int main(int argc, char **argv)
{
    long port = -1, n = -1, ms = -1;
    const char *mode = NULL;
    char **urls = NULL;
    struct ex01_result *results = NULL;
    struct event_base *base = NULL;
    int rc = 1, call_rc;
    size_t ok = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "concurrent") == 0 || strcmp(argv[i], "sequential") == 0)
            mode = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (port < 1 || port > 65535 || n < 1 || n > 100000 || ms < 0 || ms > 60000 ||
        mode == NULL) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    urls = calloc((size_t)n, sizeof(*urls));
    results = calloc((size_t)n, sizeof(*results));
    base = event_base_new();
    if (urls == NULL || results == NULL || base == NULL) {
        fprintf(stderr, "fetch-c: out of memory\n");
        goto out;
    }
    for (long i = 0; i < n; i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%ld/delay?ms=%ld&id=%ld", port, ms, i);
        if ((urls[i] = strdup(url)) == NULL)
            goto out;
    }

    double c0 = cpu_ms(), t0 = ex01_now_ms();
    if (strcmp(mode, "concurrent") == 0)
        call_rc = ex01_fetch_concurrent(base, NULL, (const char *const *)urls, (size_t)n,
                                        5000, results);
    else
        call_rc = ex01_fetch_sequential(base, NULL, (const char *const *)urls, (size_t)n,
                                        5000, results);
    double wall = ex01_now_ms() - t0, cpu = cpu_ms() - c0;

    if (call_rc != 0) {
        fprintf(stderr, "fetch-c: the fetch returned %d\n", call_rc);
        goto out;
    }
    for (long i = 0; i < n; i++) {
        if (results[i].outcome == EX01_OK && results[i].http_status == 200)
            ok++;
        else if (ok + 5 > (size_t)i)   /* name the first few failures only */
            fprintf(stderr, "fetch-c: %s: %s (status %d)\n", urls[i],
                    ex01_outcome_name(results[i].outcome), results[i].http_status);
    }
    printf("{\"wall_ms\": %.3f, \"cpu_ms\": %.3f, \"peak_rss_kb\": %ld, \"ok\": %zu, \"n\": %ld}\n",
           wall, cpu, peak_rss_kb(), ok, n);
    rc = ok == (size_t)n ? 0 : 1;
out:
    if (results != NULL)
        ex01_results_free(results, (size_t)n);
    free(results);
    if (urls != NULL)
        for (long i = 0; i < n; i++)
            free(urls[i]);
    free(urls);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

/*
 * ex02_main.c - build/bin/ex02: fetches URLs through your limiter and shows
 * when each request started and ended, so that the limits can be seen.
 * Given code (not a TODO file).
 *
 *   build/bin/ex02 [--max N] [--rate R] [--burst B] [--timeout MS] URL...
 *   build/bin/ex02 [--max N] [--rate R] [--burst B] --demo [N [MS]]
 *       --demo: N URLs (default 20) of MS ms (default 100) on the harness's
 *       delay server, in-process
 */
#include "ex02.h"
#include "fixture_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define BAR_WIDTH 50

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ex02 [--max N] [--rate R] [--burst B] [--timeout MS] URL...\n"
            "       ex02 [--max N] [--rate R] [--burst B] --demo [N [MS]]\n"
            "Fetches the URLs through the rate limiter (default: --max 5, no pacing)\n"
            "and prints when each request started and ended.\n");
}

static int parse_num(const char *s, double max, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);

    if (s[0] == '\0' || *end != '\0' || !(v >= 0 && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* One line per URL: start, end, outcome, and a bar on a shared time axis. */
static void print_timeline(const struct ex02_fetch_result *r, size_t n, double t0, double total)
{
    printf("\n%3s  %9s  %9s  %-14s  %-*s  %s\n", "#", "start ms", "end ms", "status",
           BAR_WIDTH, "timeline", "URL");
    for (size_t i = 0; i < n; i++) {
        double s = r[i].start_ms - t0, e = r[i].end_ms - t0;
        char bar[BAR_WIDTH + 1], status[24];
        int a = total > 0 ? (int)(s / total * BAR_WIDTH) : 0;
        int b = total > 0 ? (int)(e / total * BAR_WIDTH) : 0;

        for (int k = 0; k < BAR_WIDTH; k++)
            bar[k] = k < a ? ' ' : k <= b ? '#' : ' ';
        bar[BAR_WIDTH] = '\0';
        if (r[i].outcome == EX02_OK)
            snprintf(status, sizeof(status), "%d", r[i].http_status);
        else
            snprintf(status, sizeof(status), "%s", ex02_outcome_name(r[i].outcome) + 5);
        printf("%3zu  %9.1f  %9.1f  %-14s  %s  %s\n", i + 1, s, e, status, bar, r[i].url);
    }
    printf("\ntotal: %.1f ms\n", total);
}

int main(int argc, char **argv)
{
    struct ex02_limits limits = { .max_in_flight = 5, .rate = 0, .burst = 1 };
    double v, timeout = 0, demo_n = 20, demo_ms = 100;
    int demo = 0, rc = 1, first_url = argc;
    char err[256];
    char **owned = NULL;
    const char **urls = NULL;
    size_t n = 0;
    struct event_base *base = NULL;
    struct fx_server *srv = NULL;
    struct ex02_fetch_result *res = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--max") == 0 && i + 1 < argc && parse_num(argv[++i], 100000, &v) == 0) {
            limits.max_in_flight = (unsigned)v;
        } else if (strcmp(a, "--rate") == 0 && i + 1 < argc && parse_num(argv[++i], 1e6, &v) == 0) {
            limits.rate = v;
        } else if (strcmp(a, "--burst") == 0 && i + 1 < argc && parse_num(argv[++i], 1e6, &v) == 0) {
            limits.burst = (unsigned)v;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc &&
                   parse_num(argv[++i], EX02_MAX_TIMEOUT_MS, &timeout) == 0) {
        } else if (strcmp(a, "--demo") == 0) {
            demo = 1;
            if (i + 1 < argc && parse_num(argv[i + 1], 1000, &demo_n) == 0)
                i++;
            if (i + 1 < argc && parse_num(argv[i + 1], 60000, &demo_ms) == 0)
                i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] == '-') {
            usage(stderr);
            return 2;
        } else {
            first_url = i;
            break;
        }
    }
    if (!demo && first_url >= argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = fx_event_base_new();   /* precise timers (fixture_server.h) */
    if (base == NULL)
        goto out;
    if (demo) {
        char url[128], path[64];
        srv = fx_server_new(base, NULL, 0, err, sizeof(err));
        owned = calloc((size_t)demo_n + 1, sizeof(*owned));
        if (srv == NULL || owned == NULL) {
            fprintf(stderr, "ex02: cannot start the demo server: %s\n", srv ? "out of memory" : err);
            goto out;
        }
        for (n = 0; n < (size_t)demo_n; n++) {
            snprintf(path, sizeof(path), "/delay?ms=%.0f&id=%zu", demo_ms, n + 1);
            fx_server_url(srv, path, url, sizeof(url));
            if ((owned[n] = strdup(url)) == NULL)
                goto out;
        }
        urls = (const char **)owned;
    } else {
        urls = (const char **)&argv[first_url];
        n = (size_t)(argc - first_url);
    }
    res = calloc(n ? n : 1, sizeof(*res));
    if (res == NULL)
        goto out;
    printf("Fetching %zu URL%s: at most %u in flight, %s", n, n == 1 ? "" : "s",
           limits.max_in_flight, limits.rate > 0 ? "" : "no pacing\n");
    if (limits.rate > 0)
        printf("%g starts/s, bursts of %u\n", limits.rate, limits.burst);
    double t0 = ex02_now_ms();
    if (ex02_fetch_with_limit(base, urls, n, &limits, (unsigned)timeout, res) != 0) {
        fprintf(stderr, "ex02: ex02_fetch_with_limit returned an error (invalid limits, or "
                        "TODO(ex02) in ex02.c?)\n");
        goto out;
    }
    print_timeline(res, n, t0, ex02_now_ms() - t0);
    if (srv != NULL)
        printf("the server saw at most %u requests in flight at once\n", fx_server_max_in_flight(srv));
    rc = 0;
out:
    free(res);
    if (owned != NULL)
        for (size_t i = 0; owned[i] != NULL; i++)
            free(owned[i]);
    free(owned);
    fx_server_free(srv);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

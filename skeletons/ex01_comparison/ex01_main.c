/*
 * ex01_main.c - build/bin/ex01: fetches URLs one after another, then all at
 * once, and compares the times.  Given code (not a TODO file): it calls your
 * ex01_fetch_sequential() and ex01_fetch_concurrent().
 *
 *   build/bin/ex01 [--timeout MS] URL...
 *   build/bin/ex01 --demo [N [MS]]    N URLs of MS ms (default 10 x 200 ms) on
 *                                     the harness's delay server, in-process
 */
#include "ex01.h"
#include "fixture_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/event.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ex01 [--timeout MS] URL...\n"
            "       ex01 [--timeout MS] --demo [N [MS]]\n"
            "Fetches the URLs one after another, then all at once, and prints the\n"
            "outcome and time of each, the two totals and the speed-up.\n"
            "--demo serves N URLs that each take MS ms (default 10 and 200).\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);

    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static void print_cell(const struct ex01_result *r)
{
    if (r->outcome == EX01_OK)
        printf("  %3d %9.1f ms", r->http_status, r->elapsed_ms);
    else
        printf("  %-16s", ex01_outcome_name(r->outcome) + 5);   /* drop "EX01_" */
}

static void print_table(const char *const urls[], size_t n, const struct ex01_result *seq,
                        const struct ex01_result *con, double t_seq, double t_con)
{
    printf("\n%3s  %-44s  %-16s  %-16s\n", "#", "URL", "sequential", "concurrent");
    for (size_t i = 0; i < n; i++) {
        printf("%3zu  %-44.44s", i + 1, urls[i]);
        print_cell(&seq[i]);
        print_cell(&con[i]);
        printf("\n");
    }
    printf("%3s  %-44s  %12.1f ms   %12.1f ms\n", "", "total", t_seq, t_con);
    if (t_con > 0)
        printf("\nspeed-up: %.2fx (sequential / concurrent)\n", t_seq / t_con);
}

int main(int argc, char **argv)
{
    unsigned long timeout = 0, demo_n = 10, demo_ms = 200;
    int demo = 0, rc = 1, first_url = argc;
    char err[256];
    char **owned = NULL;
    const char **urls = NULL;
    size_t n = 0;
    struct event_base *base = NULL;
    struct evdns_base *dns = NULL;
    struct fx_server *srv = NULL;
    struct ex01_result *seq = NULL, *con = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], EX01_MAX_TIMEOUT_MS, &timeout) != 0) {
                fprintf(stderr, "ex01: --timeout takes 0..%u ms\n", EX01_MAX_TIMEOUT_MS);
                return 2;
            }
        } else if (strcmp(argv[i], "--demo") == 0) {
            demo = 1;
            /* Up to two numbers follow: N (1..1000), then MS (0..60000). */
            if (i + 1 < argc && argv[i + 1][0] != '-' &&
                (parse_uint(argv[i + 1], 1000, &demo_n) != 0 || demo_n == 0)) {
                fprintf(stderr, "ex01: --demo takes a number of URLs from 1 to 1000, got '%s'\n",
                        argv[i + 1]);
                return 2;
            }
            if (i + 1 < argc && argv[i + 1][0] != '-')
                i++;
            else
                continue;
            if (i + 1 < argc && argv[i + 1][0] != '-' &&
                parse_uint(argv[i + 1], 60000, &demo_ms) != 0) {
                fprintf(stderr, "ex01: --demo N takes a delay from 0 to 60000 ms, got '%s'\n",
                        argv[i + 1]);
                return 2;
            }
            if (i + 1 < argc && argv[i + 1][0] != '-')
                i++;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                fprintf(stderr, "ex01: --demo takes no URL (got '%s')\n", argv[i + 1]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ex01: unknown option or negative number '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (demo) {
            fprintf(stderr, "ex01: --demo takes no URL (got '%s')\n", argv[i]);
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
    for (int i = first_url; !demo && i < argc; i++) {
        if (strncasecmp(argv[i], "http://", 7) != 0 || argv[i][7] == '\0' || argv[i][7] == '/') {
            fprintf(stderr, "ex01: not an http:// URL with a host: '%s'\n", argv[i]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    base = fx_event_base_new();   /* precise timers (fixture_server.h) */
    if (base == NULL) {
        fprintf(stderr, "ex01: event_base_new failed\n");
        goto out;
    }
    if (demo) {
        char url[128], path[64];
        srv = fx_server_new(base, NULL, 0, err, sizeof(err));
        owned = calloc(demo_n ? demo_n : 1, sizeof(*owned));
        if (srv == NULL || owned == NULL) {
            fprintf(stderr, "ex01: cannot start the demo server: %s\n", srv ? "out of memory" : err);
            goto out;
        }
        for (n = 0; n < demo_n; n++) {
            snprintf(path, sizeof(path), "/delay?ms=%lu&id=%zu", demo_ms, n + 1);
            fx_server_url(srv, path, url, sizeof(url));
            if ((owned[n] = strdup(url)) == NULL)
                goto out;
        }
        urls = (const char **)owned;
    } else {
        urls = (const char **)&argv[first_url];
        n = (size_t)(argc - first_url);
        dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);  /* NULL: blocking lookups */
    }
    seq = calloc(n ? n : 1, sizeof(*seq));
    con = calloc(n ? n : 1, sizeof(*con));
    if (seq == NULL || con == NULL) {
        fprintf(stderr, "ex01: out of memory\n");
        goto out;
    }
    printf("Fetching %zu URL%s, timeout %lu ms%s\n", n, n == 1 ? "" : "s",
           timeout ? timeout : (unsigned long)EX01_DEFAULT_TIMEOUT_MS, timeout ? "" : " (default)");

    double t0 = ex01_now_ms();
    if (ex01_fetch_sequential(base, dns, urls, n, (unsigned)timeout, seq) != 0) {
        fprintf(stderr, "ex01: ex01_fetch_sequential returned an error (TODO(ex01) in ex01.c?)\n");
        goto out;
    }
    double t_seq = ex01_now_ms() - t0;
    t0 = ex01_now_ms();
    if (ex01_fetch_concurrent(base, dns, urls, n, (unsigned)timeout, con) != 0) {
        fprintf(stderr, "ex01: ex01_fetch_concurrent returned an error (TODO(ex01) in ex01.c?)\n");
        goto out;
    }
    double t_con = ex01_now_ms() - t0;
    print_table(urls, n, seq, con, t_seq, t_con);
    if (srv != NULL)
        printf("the server saw at most %u requests in flight at once\n", fx_server_max_in_flight(srv));
    rc = 0;
out:
    ex01_results_free(seq, n);
    ex01_results_free(con, n);
    free(seq);
    free(con);
    if (owned != NULL)
        for (size_t i = 0; i < demo_n; i++)
            free(owned[i]);
    free(owned);
    if (dns != NULL)
        evdns_base_free(dns, 0);
    fx_server_free(srv);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

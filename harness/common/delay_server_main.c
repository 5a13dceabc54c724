/*
 * delay_server_main.c - build/bin/delay-server: the harness's test server as a
 * program, for your own experiments with exercise 1 and 2.
 *
 *   build/bin/delay-server [--port N] [--addr A] [--quiet]
 *
 * Then, from another terminal:
 *   curl 'http://127.0.0.1:8080/delay?ms=500'
 *   build/bin/ex01 'http://127.0.0.1:8080/delay?ms=200' ...
 * Routes are listed in harness/common/fixture_server.h.  One line per
 * finished request is printed (start, end, status, URI); Ctrl-C stops it.
 */
#include "fixture_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: delay-server [--port N] [--addr A] [--quiet]\n"
                 "  --port N  port to listen on (default 8080; 0 picks a free one)\n"
                 "  --addr A  address to listen on (default 127.0.0.1)\n"
                 "  --quiet   do not print one line per request\n");
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    long port = 8080;
    int quiet = 0, rc = 1;
    char err[256];
    struct event_base *base = NULL;
    struct fx_server *s = NULL;
    struct event *sigint = NULL, *sigterm = NULL;

    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = strtol(argv[++i], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "delay-server: invalid port '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "delay-server: event_base_new failed\n");
        goto out;
    }
    s = fx_server_new(base, addr, (int)port, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "delay-server: %s\n", err);
        goto out;
    }
    if (!quiet)
        fx_server_set_trace(s, stdout);
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, "delay-server: cannot install signal handlers\n");
        goto out;
    }
    printf("delay-server listening on http://%s:%d  (Ctrl-C to stop)\n"
           "routes: /delay?ms=N  /never  /bytes?n=N[&chunked=1]  /status?code=C"
           "  (all take ms=N)\n", addr, fx_server_port(s));
    if (!quiet)
        printf("%13s %13s  %3s  %s\n", "start", "end", "st", "uri");
    fflush(stdout);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = event_base_dispatch(base) < 0 ? 1 : 0;
    printf("stopped: %zu requests, at most %u in flight at once\n",
           fx_server_log_len(s), fx_server_max_in_flight(s));
out:
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    fx_server_free(s);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

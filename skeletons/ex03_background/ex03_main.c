/*
 * ex03_main.c - build/bin/ex03-server: exercise 3's server as a program.
 * Given code (not a TODO file): it runs your server (ex03.c) on a loop of
 * its own.
 *
 *   build/bin/ex03-server [--addr A] [--port P] [--db FILE] [--notify-url URL]
 *
 * Defaults: --addr 127.0.0.1, --port 8080 (0 picks a free port), --db
 * ex03.db, --notify-url http://127.0.0.1:9090/notify.  It prints the URL it
 * listens on, then serves until SIGINT (Ctrl-C) or SIGTERM, and stops
 * cleanly: requests still waiting get a 503, notifications not yet
 * delivered stay in the outbox for the next start.
 *
 * To see the notifications, run a receiver, e.g. the harness's delay server:
 *   build/bin/delay-server --port 9090 &
 *   build/bin/ex03-server --notify-url 'http://127.0.0.1:9090/delay?ms=500'
 *   curl -i -d '{"name":"Ada","email":"ada@example.org"}' http://127.0.0.1:8080/users
 */
#include "ex03.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <event2/util.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ex03-server [--addr A] [--port P] [--db FILE] [--notify-url URL]\n"
            "  --addr        address to listen on (default 127.0.0.1)\n"
            "  --port        port (default 8080; 0 picks a free one)\n"
            "  --db          SQLite database file, created if absent (default ex03.db)\n"
            "  --notify-url  where to POST the user.created notifications\n"
            "                (default http://127.0.0.1:9090/notify)\n"
            "Stops cleanly on SIGINT or SIGTERM.\n");
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "ex03-server: signal %d, stopping\n", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *db = "ex03.db";
    const char *notify = "http://127.0.0.1:9090/notify";
    long port = 8080;
    int rc = 1;
    char err[256] = "";
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *bound;
    struct ex03_server *srv = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && strcmp(argv[i], "--addr") == 0) {
            addr = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--db") == 0) {
            db = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--notify-url") == 0) {
            notify = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
            char *end = NULL;
            port = strtol(argv[++i], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "ex03-server: --port takes 0..65535\n");
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* Before the base: /cpu's worker threads wake the loop with
     * event_active(), which needs a base with locks. */
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "ex03-server: evthread_use_pthreads failed\n");
        return 1;
    }
    base = event_base_new();
    http = base ? evhttp_new(base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "ex03-server: cannot create the event loop\n");
        goto out;
    }
    bound = evhttp_bind_socket_with_handle(http, addr, (unsigned short)port);
    if (bound == NULL ||
        getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "ex03-server: cannot listen on %s:%ld\n", addr, port);
        goto out;
    }
    port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    srv = ex03_server_new(base, http, &(struct ex03_config){ .db_path = db, .notify_url = notify },
                          err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "ex03-server: %s\n", err);
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, "ex03-server: cannot watch SIGINT/SIGTERM\n");
        goto out;
    }
    printf("ex03-server: listening on http://%s:%ld (db %s, notifications to %s, %ld pending)\n",
           addr, port, db, notify, ex03_server_pending(srv));
    fflush(stdout);
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "ex03-server: the event loop failed\n");
        goto out;
    }
    rc = 0;
out:
    if (srv != NULL) {
        long pending = ex03_server_pending(srv);
        ex03_server_free(srv);
        printf("ex03-server: stopped; %ld notification%s pending in the outbox\n", pending,
               pending == 1 ? "" : "s");
    }
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (http != NULL)
        evhttp_free(http);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

/*
 * ex03_main.c - build/bin/ex03-server: exercise 3's server as a program.
 * Given code (not a TODO file): it runs your server (ex03.c) on a loop of
 * its own.  It is also what the tests start (each test runs it as a
 * separate process and talks to it over HTTP), so every field of
 * struct ex03_config has an option.
 *
 *   build/bin/ex03-server [--addr A] [--port P] [--db FILE] [--notify-url URL]
 *                         [--max-body N] [--retry-base-ms N] [--retry-max-ms N]
 *                         [--notify-timeout-ms N] [--max-deliveries N]
 *
 * Defaults: --addr 127.0.0.1, --port 8080 (0 picks a free port), --db
 * ex03.db, --notify-url http://127.0.0.1:9090/notify, and ex03.h's defaults
 * for the rest.  It prints the URL it listens on, then serves until SIGINT
 * (Ctrl-C) or SIGTERM, and stops cleanly: requests still waiting get a 503
 * (the loop runs a little longer so that it reaches them), notifications
 * not yet delivered stay in the outbox for the next start, everything is
 * freed, and the exit status is 0.  Exit status 2: a bad argument.
 *
 * To see the notifications, run a receiver, e.g. the harness's delay server:
 *   build/bin/delay-server --port 9090 &
 *   build/bin/ex03-server --notify-url 'http://127.0.0.1:9090/delay?ms=500'
 *   curl -i -d '{"name":"Ada","email":"ada@example.org"}' http://127.0.0.1:8080/users
 */
#include "ex03.h"
#include "sandbox.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

/* evhttp's own backlog is 128: too few for hundreds of clients that
 * connect at once. */
#define LISTEN_BACKLOG 1024
/* After the server has answered the waiting requests with 503, the loop
 * runs this long more, so that the answers are written to their clients. */
#define DRAIN_MS 100
/* The largest value of the millisecond options: an hour. */
#define MAX_OPTION_MS 3600000L

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ex03-server [--addr A] [--port P] [--db FILE] [--notify-url URL]\n"
            "                   [--max-body N] [--retry-base-ms N] [--retry-max-ms N]\n"
            "                   [--notify-timeout-ms N] [--max-deliveries N]\n"
            "  --addr               address to listen on (default 127.0.0.1)\n"
            "  --port               port, 0..65535 (default 8080; 0 picks a free one)\n"
            "  --db                 SQLite database file, created if absent (default ex03.db)\n"
            "  --notify-url         where to POST the user.created notifications\n"
            "                       (default http://127.0.0.1:9090/notify)\n"
            "  --max-body           largest POST body in bytes, 1..%u (default %u)\n"
            "  --retry-base-ms      first wait before a retry, 1..%ld (default %u)\n"
            "  --retry-max-ms       the cap of the wait, 1..%ld (default %u)\n"
            "  --notify-timeout-ms  one delivery attempt, 1..%ld (default %u)\n"
            "  --max-deliveries     connections to the receiver, 1..%u (default %u)\n"
            "Stops cleanly on SIGINT or SIGTERM: waiting requests get a 503, pending\n"
            "notifications stay in the outbox for the next start.\n",
            EX03_MAX_MAX_BODY, EX03_DEFAULT_MAX_BODY, MAX_OPTION_MS, EX03_DEFAULT_RETRY_BASE_MS,
            MAX_OPTION_MS, EX03_DEFAULT_RETRY_MAX_MS, MAX_OPTION_MS,
            EX03_DEFAULT_NOTIFY_TIMEOUT_MS, EX03_MAX_DELIVERIES, EX03_DEFAULT_MAX_DELIVERIES);
}

/* Parses a decimal integer in [min, max] for option `name`.  0, or -1 with
 * a message on stderr. */
static int parse_long(const char *name, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE) {
        fprintf(stderr, "ex03-server: %s takes a number, not \"%s\"\n", name, text);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(stderr, "ex03-server: %s takes %ld..%ld, not %ld\n", name, min, max, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* The options, parsed. */
struct options {
    const char *addr;
    long port;
    struct ex03_config cfg;
};

/* Parses argv into *o.  Returns 0, 1 after --help, or 2 on a bad argument
 * (with a message on stderr). */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct {
        const char *name;
        long min, max;
    } nums[] = {
        { "--port", 0, 65535 },
        { "--max-body", 1, EX03_MAX_MAX_BODY },
        { "--retry-base-ms", 1, MAX_OPTION_MS },
        { "--retry-max-ms", 1, MAX_OPTION_MS },
        { "--notify-timeout-ms", 1, MAX_OPTION_MS },
        { "--max-deliveries", 1, EX03_MAX_DELIVERIES },
    };

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        size_t k;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(opt, "--addr") != 0 && strcmp(opt, "--db") != 0 &&
            strcmp(opt, "--notify-url") != 0) {
            for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
                if (strcmp(opt, nums[k].name) == 0)
                    break;
            if (k == sizeof(nums) / sizeof(nums[0])) {
                fprintf(stderr, "ex03-server: unknown option \"%s\"\n", opt);
                usage(stderr);
                return 2;
            }
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ex03-server: %s needs a value\n", opt);
            return 2;
        }
        const char *val = argv[++i];
        long v = 0;
        if (strcmp(opt, "--addr") == 0) {
            o->addr = val;
        } else if (strcmp(opt, "--db") == 0) {
            o->cfg.db_path = val;
        } else if (strcmp(opt, "--notify-url") == 0) {
            o->cfg.notify_url = val;
        } else {
            for (k = 0; strcmp(opt, nums[k].name) != 0; k++)
                ;
            if (parse_long(opt, val, nums[k].min, nums[k].max, &v) != 0)
                return 2;
            switch (k) {
            case 0: o->port = v; break;
            case 1: o->cfg.max_body = (size_t)v; break;
            case 2: o->cfg.retry_base_ms = (unsigned)v; break;
            case 3: o->cfg.retry_max_ms = (unsigned)v; break;
            case 4: o->cfg.notify_timeout_ms = (unsigned)v; break;
            default: o->cfg.max_deliveries = (unsigned)v; break;
            }
        }
    }
    return 0;
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "ex03-server: signal %d, stopping\n", (int)sig);
    event_base_loopexit(arg, NULL);
}

/* An event_base with locks (evthread_use_pthreads() first: /cpu's worker
 * threads wake the loop with event_active()), precise timers (the default
 * clock ticks every few ms, so short backoffs would fire early) and epoll's
 * change list: evhttp turns a socket's reading and writing on and off for
 * every request, and the change list makes that one epoll_ctl() per socket
 * and turn, not one per change (a sixth of the CPU per POST /users). */
static struct event_base *make_base(void)
{
    struct event_config *cfg;
    struct event_base *base;

    if (evthread_use_pthreads() != 0)
        return NULL;
    cfg = event_config_new();
    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER |
                          EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* Listens on addr:port with a deep backlog.  Returns the bound socket and
 * the actual port in *port, or NULL. */
static struct evhttp_bound_socket *listen_on(struct event_base *base, struct evhttp *http,
                                             const char *addr, long *port)
{
    struct evutil_addrinfo hints, *ai = NULL;
    struct evconnlistener *l = NULL;
    struct evhttp_bound_socket *bound = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char service[16];

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
    snprintf(service, sizeof(service), "%ld", *port);
    if (evutil_getaddrinfo(addr, service, &hints, &ai) != 0 || ai == NULL)
        return NULL;
    l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG, ai->ai_addr,
                                (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (l == NULL)
        return NULL;
    bound = evhttp_bind_listener(http, l);
    if (bound == NULL) {
        evconnlistener_free(l);
        return NULL;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) == 0)
        *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return bound;
}

int main(int argc, char **argv)
{
    struct options o = {
        .addr = "127.0.0.1", .port = 8080,
        .cfg = { .db_path = "ex03.db", .notify_url = "http://127.0.0.1:9090/notify" },
    };
    int rc = 1;
    char err[256] = "";
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *bound = NULL;
    struct ex03_server *srv = NULL;
    struct event *sigint = NULL, *sigterm = NULL;

    switch (parse_args(argc, argv, &o)) {
    case 0: break;
    case 1: return 0;
    default: return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Keep freed memory for the next requests: by default glibc gives the
     * top of the heap back to the system as soon as 128 KiB are free there,
     * and asks for it again on the next burst (a brk() each way, a tenth of
     * the CPU per POST /users under load). */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    /* Line by line even into a file (the tests keep a log of it): your
     * prints are there even when the server has to be killed. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The code under test may not start other programs (see
     * harness/common/sandbox.h); by hand, this changes nothing else. */
    wb_sandbox_enter_or_die();
    base = make_base();
    http = base ? evhttp_new(base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "ex03-server: cannot create the event loop\n");
        goto out;
    }
    /* The signals first: once it listens, it may be asked to stop. */
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, "ex03-server: cannot watch SIGINT/SIGTERM\n");
        goto out;
    }
    srv = ex03_server_new(base, http, &o.cfg, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "ex03-server: %s\n", err);
        goto out;
    }
    bound = listen_on(base, http, o.addr, &o.port);
    if (bound == NULL) {
        fprintf(stderr, "ex03-server: cannot listen on %s:%ld: %s\n", o.addr, o.port,
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto out;
    }
    printf("ex03-server: listening on http://%s:%ld (db %s, notifications to %s, %ld pending)\n",
           o.addr, o.port, o.cfg.db_path, o.cfg.notify_url, ex03_server_pending(srv));
    fflush(stdout);
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "ex03-server: the event loop failed\n");
        goto out;
    }
    rc = 0;
out:
    if (srv != NULL) {
        long pending = ex03_server_pending(srv);
        struct timeval drain = { 0, DRAIN_MS * 1000 };
        /* No new clients; the waiting ones get their 503 now, and the loop
         * runs a little longer to write it to them. */
        if (bound != NULL)
            evhttp_del_accept_socket(http, bound);
        ex03_server_free(srv);
        event_base_loopexit(base, &drain);
        event_base_dispatch(base);
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
    libevent_global_shutdown();
    /* The process then ends with its last thread: a /cpu worker that still
     * runs here (its job freed without joining it: see thread_started in
     * ex03_internal.h) finishes what it does, and the memory check sees it,
     * instead of being cut off by exit().  A correct server has joined them
     * all, and exits at once, with status 0. */
    if (rc == 0)
        pthread_exit(NULL);
    return rc;
}

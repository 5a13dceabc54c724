/*
 * bench_ex03.c - the grader's benchmark for exercise 3: POST /users
 * throughput, background work included, timed against the reference's in
 * the same run.
 *
 *   bench-ex03 [--repeat R]
 *
 * One measurement = 1000 POST /users (distinct emails) from 50 kept-alive
 * client connections, 20 requests each, one after another on each
 * connection, through your server in-process, on a fresh database file (in
 * /dev/shm when it exists, so that disk latency does not count); the
 * clock stops when every reply has arrived (all 201) AND the in-process
 * receiver has accepted all 1000 notifications, so the time includes the
 * transaction, the reply and the delivery.  Everything runs on one loop,
 * so the time is the work of the loop, SQLite and your code.  The median of
 * R measurements (default 5) is printed as one line of JSON:
 *   {"metric": "post_users_ms", "unit": "ms", "value": 123.4}
 * Exit status 0, or 1 when a request or a delivery fails (the grader then
 * gives no timing points).
 */
#include "ex03.h"
#include "fixture_server.h"
#include "notify_sink.h"
#include "sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>

#define N_REQUESTS 1000
#define N_CONNS 50
#define DEADLINE_MS 20000.0

struct run {
    struct event_base *base;
    struct ns_sink *sink;
    struct evhttp_connection *conns[N_CONNS];
    char hosthdr[64];
    int round;
    int next;            /* next request number to send */
    int replied;         /* replies received */
    int failed;          /* non-201 replies or errors */
};

/* One client connection and the run it belongs to. */
struct slot {
    struct run *run;
    struct evhttp_connection *conn;
};
static struct slot slots[N_CONNS];

static void send_next(struct slot *sl);

/* A reply arrived on a connection: count it, send the next request there. */
static void reply_cb(struct evhttp_request *req, void *arg)
{
    struct slot *sl = arg;

    sl->run->replied++;
    if (req == NULL || evhttp_request_get_response_code(req) != 201)
        sl->run->failed++;
    send_next(sl);
}

static void send_next(struct slot *sl)
{
    struct run *r = sl->run;
    struct evhttp_request *req;
    char body[160];

    if (r->next >= N_REQUESTS || r->failed)
        return;
    req = evhttp_request_new(reply_cb, sl);
    if (req == NULL) {
        r->failed++;
        return;
    }
    snprintf(body, sizeof(body), "{\"name\": \"Bench User %d\", \"email\": \"u%d.r%d@example.org\"}",
             r->next, r->next, r->round);
    r->next++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", r->hosthdr);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    if (evhttp_make_request(sl->conn, req, EVHTTP_REQ_POST, "/users") != 0)
        r->failed++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void remove_db(const char *db)
{
    static const char *const suffix[] = { "", "-wal", "-shm" };
    char path[256];

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
        unlink(path);
    }
}

/* One measurement on a fresh database; returns ms, or -1 on failure. */
static double measure(struct run *r, struct evhttp *http, int port, const char *dir, int round)
{
    char db[200], url[128], err[256] = "";
    struct ex03_server *srv = NULL;
    double t0, elapsed = -1;

    snprintf(db, sizeof(db), "%s/bench-%d.db", dir, round);
    ns_sink_url(r->sink, "/notify", url, sizeof(url));
    srv = ex03_server_new(r->base, http, &(struct ex03_config){
                              .db_path = db, .notify_url = url }, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "bench-ex03: ex03_server_new failed: %s\n", err);
        goto out;
    }
    size_t accepted0 = ns_sink_accepted(r->sink);
    r->round = round;
    r->next = r->replied = r->failed = 0;
    for (int i = 0; i < N_CONNS; i++) {
        r->conns[i] = evhttp_connection_base_new(r->base, NULL, "127.0.0.1", (unsigned short)port);
        if (r->conns[i] == NULL)
            goto out;
        evhttp_connection_set_timeout(r->conns[i], 10);
        slots[i] = (struct slot){ r, r->conns[i] };
    }
    t0 = fx_now_ms();
    for (int i = 0; i < N_CONNS; i++)
        send_next(&slots[i]);
    while ((r->replied < N_REQUESTS ||
            ns_sink_accepted(r->sink) - accepted0 < N_REQUESTS) && !r->failed &&
           fx_now_ms() - t0 < DEADLINE_MS)
        if (event_base_loop(r->base, EVLOOP_ONCE) != 0)
            break;
    if (r->failed || r->replied < N_REQUESTS) {
        fprintf(stderr, "bench-ex03: %d of %d POST /users got a reply, %d not 201: the "
                "functional tests must pass first\n", r->replied, N_REQUESTS, r->failed);
        goto out;
    }
    if (ns_sink_accepted(r->sink) - accepted0 < N_REQUESTS) {
        fprintf(stderr, "bench-ex03: %zu of %d notifications delivered within %.0f s\n",
                ns_sink_accepted(r->sink) - accepted0, N_REQUESTS, DEADLINE_MS / 1000);
        goto out;
    }
    elapsed = fx_now_ms() - t0;
out:
    for (int i = 0; i < N_CONNS; i++) {
        if (r->conns[i] != NULL)
            evhttp_connection_free(r->conns[i]);
        r->conns[i] = NULL;
        slots[i] = (struct slot){ 0 };
    }
    ex03_server_free(srv);
    remove_db(db);
    return elapsed;
}

int main(int argc, char **argv)
{
    long repeat = 5;
    int rc = 1, port = 0;
    char err[256] = "", dir[64];
    struct run r = { 0 };
    struct evhttp *http = NULL;
    struct evconnlistener *l;
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    double times[64];
    int have_dir = 0;

    if (argc == 3 && strcmp(argv[1], "--repeat") == 0)
        repeat = strtol(argv[2], NULL, 10);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: bench-ex03 [--repeat R]\n");
        return 2;
    }
    if (repeat < 1 || repeat > 64) {
        fprintf(stderr, "bench-ex03: --repeat takes 1..64\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    r.base = event_base_new();
    http = r.base ? evhttp_new(r.base) : NULL;
    /* tmpfs when there is one: the disk's fsync latency at WAL checkpoints
     * is noise that has nothing to do with the code being timed. */
    snprintf(dir, sizeof(dir), "%s/bench-ex03-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (http == NULL || mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench-ex03: cannot set up (event_base, evhttp, temporary folder)\n");
        goto out;
    }
    have_dir = 1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = evconnlistener_new_bind(r.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                1024, (struct sockaddr *)&sin, sizeof(sin));
    bound = l ? evhttp_bind_listener(http, l) : NULL;
    if (bound == NULL ||
        getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0) {
        fprintf(stderr, "bench-ex03: cannot listen on 127.0.0.1\n");
        goto out;
    }
    port = ntohs(sin.sin_port);
    snprintf(r.hosthdr, sizeof(r.hosthdr), "127.0.0.1:%d", port);
    r.sink = ns_sink_new(r.base, 1, err, sizeof(err));
    if (r.sink == NULL) {
        fprintf(stderr, "bench-ex03: cannot start the receiver: %s\n", err);
        goto out;
    }
    wb_sandbox_enter_or_die();
    for (long i = 0; i < repeat; i++) {
        times[i] = measure(&r, http, port, dir, (int)i);
        if (times[i] < 0)
            goto out;
    }
    qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
    printf("{\"metric\": \"post_users_ms\", \"unit\": \"ms\", \"value\": %.3f}\n", times[repeat / 2]);
    rc = 0;
out:
    ns_sink_free(r.sink);
    if (http != NULL)
        evhttp_free(http);
    if (r.base != NULL)
        event_base_free(r.base);
    if (have_dir)
        rmdir(dir);
    return rc;
}

/*
 * bench_ex03.c - build/bin/bench-ex03: the timing judge of exercise 3.  It
 * measures, from outside, the CPU time your server spends on POST /users,
 * the background delivery included, against the reference's in the same
 * run.
 *
 *   WB_SUBJECT_DIR=<your subjects> WB_REF_SUBJECT_DIR=<the reference's> \
 *       bench-ex03 [--rounds N]
 *
 * It starts both servers (ex03-server, built from your ex03.c and from the
 * reference's), each on a port of its own, with its database in a scratch
 * folder of its own (under /dev/shm when it exists, so that the disk's
 * latency does not count) and its own notification receiver in this
 * program.  It pins itself and them to one CPU (subj_pin_to_one_cpu()) and
 * gives them the same burst in turns, A B B A A B ..., N rounds (default 15),
 * with a fresh pair of servers every ROUNDS_PER_PAIR rounds, each pair after
 * one warm-up burst each (of WARMUP_REQUESTS requests).  A burst: 1000 POST /users with emails drawn for
 * the run, from 50 kept-alive connections (20 requests one after another
 * on each), until every reply (201) has arrived and the receiver (which
 * answers 200 at once) has accepted all 1000 notifications.  The figure of
 * a burst is the server's CPU time (user + system, all threads, from /proc)
 * during it.  Then every reply must carry the email sent, and every
 * notification the user of its Idempotency-Key, so a server that does not
 * do the work gets no figure.  The last line:
 *   {"metric": "post_users_cpu_ms", "unit": "ms", "sub": 120.4, "ref": 118.9,
 *    "ratio": 1.01, "rounds": 15}
 * where ratio is the median of the N ratios of a round's two bursts.  Exit
 * status 0, or 1 when a burst fails (the grader then gives no timing
 * points).  Nothing the servers print reaches this program's output.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "fixture_server.h"
#include "notify_sink.h"
#include "subject.h"

#define N_REQUESTS 1000
/* A warm-up burst: enough for a fresh server to open its database, grow its
 * buffers and reach its steady cost; it is not measured. */
#define WARMUP_REQUESTS 250
#define N_CONNS 50
#define MAX_ROUNDS 64
#define LISTEN_MS 5000.0
#define DEADLINE_MS 20000.0
/* A pair of servers keeps, for its whole life, a cost that differs from its
 * twin's by up to 15 % (identical binaries measured 0.89-1.17 over 31
 * rounds of one pair): the rounds are spread over fresh pairs, so that the
 * median ratio mixes several (the rubric's 19 rounds: 4 pairs, as 31 rounds
 * in pairs of 8 had). */
#define ROUNDS_PER_PAIR 5
#define KEY_PREFIX "user-created-"

/* One server under test and its peers. */
struct side {
    struct subj *s;
    struct ns_sink *sink;
    int port;
    char hosthdr[32];
    char notify_url[96];
};

/* One burst. */
struct burst {
    struct side *side;
    unsigned long long token;
    long round;
    int n;                         /* requests of the burst */
    struct evhttp_connection *conns[N_CONNS];
    int next;                      /* next request to send */
    int replied;                   /* replies received */
    int failed;                    /* non-201 replies, or errors */
    char why[160];                 /* the first failure */
    long long ids[N_REQUESTS];     /* the id each user got */
};

/* A connection of the burst. */
struct slot {
    struct burst *b;
    struct evhttp_connection *conn;
    int index;                     /* the request in flight on it */
};
static struct slot slots[N_CONNS];

static void email_of(const struct burst *b, int i, char *buf, size_t len)
{
    snprintf(buf, len, "u%d.r%ld.%016llx@example.org", i, b->round, b->token);
}

static void fail(struct burst *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a failure; the first one's reason goes in b->why. */
static void fail(struct burst *b, const char *fmt, ...)
{
    va_list ap;

    if (b->failed++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
}

static void send_next(struct slot *sl);

/* A reply arrived: check it, then send the next request on the same
 * connection. */
static void reply_cb(struct evhttp_request *req, void *arg)
{
    struct slot *sl = arg;
    struct burst *b = sl->b;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    char email[96];

    b->replied++;
    if (status != 201) {
        fail(b, "POST /users number %d got %d, not 201", sl->index, status);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_t *j = json_loadb((const char *)evbuffer_pullup(in, (ssize_t)n), n, 0, NULL);
    email_of(b, sl->index, email, sizeof(email));
    if (!json_is_integer(json_object_get(j, "id")) ||
        !json_is_string(json_object_get(j, "email")) ||
        strcmp(json_string_value(json_object_get(j, "email")), email) != 0)
        fail(b, "the 201 of POST /users number %d lacks its id or the email sent", sl->index);
    else
        b->ids[sl->index] = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    send_next(sl);
}

static void send_next(struct slot *sl)
{
    struct burst *b = sl->b;
    struct evhttp_request *req;
    char body[192], email[96];

    if (b->next >= b->n || b->failed)
        return;
    req = evhttp_request_new(reply_cb, sl);
    if (req == NULL) {
        fail(b, "cannot make request %d", b->next);
        return;
    }
    sl->index = b->next++;
    email_of(b, sl->index, email, sizeof(email));
    snprintf(body, sizeof(body), "{\"name\": \"Bench User %d\", \"email\": \"%s\"}", sl->index,
             email);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b->side->hosthdr);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    if (evhttp_make_request(sl->conn, req, EVHTTP_REQ_POST, "/users") != 0)
        fail(b, "cannot send request %d", sl->index);
}

struct id_index {
    long long id;
    int index;
};

static int cmp_id(const void *a, const void *b)
{
    long long x = ((const struct id_index *)a)->id, y = ((const struct id_index *)b)->id;
    return (x > y) - (x < y);
}

/* Every notification carries the user of its key, each user's arrived;
 * 0, or -1 with a reason in why. */
static int check_notifications(struct burst *b, char *why, size_t len)
{
    static struct id_index map[N_REQUESTS];
    static unsigned char seen[N_REQUESTS];
    const struct ns_sink *sink = b->side->sink;
    char email[96];

    for (int i = 0; i < b->n; i++)
        map[i] = (struct id_index){ b->ids[i], i };
    qsort(map, (size_t)b->n, sizeof(map[0]), cmp_id);
    memset(seen, 0, sizeof(seen));
    for (size_t k = 0; k < ns_sink_count(sink); k++) {
        const struct ns_record *n = ns_sink_at(sink, k);
        const char *key = n->idempotency_key ? n->idempotency_key : "";
        struct id_index want = { 0, 0 }, *hit;
        json_t *j;
        int ok;
        if (strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) != 0) {
            snprintf(why, len, "a notification has the key \"%.40s\"", key);
            return -1;
        }
        want.id = strtoll(key + strlen(KEY_PREFIX), NULL, 10);
        hit = bsearch(&want, map, (size_t)b->n, sizeof(map[0]), cmp_id);
        if (hit == NULL) {
            snprintf(why, len, "a notification has the key \"%.40s\", of no user of the burst",
                     key);
            return -1;
        }
        email_of(b, hit->index, email, sizeof(email));
        j = json_loads(n->body, 0, NULL);
        ok = json_is_object(j) &&
             json_integer_value(json_object_get(json_object_get(j, "user"), "id")) == want.id &&
             json_string_value(json_object_get(json_object_get(j, "user"), "email")) != NULL &&
             strcmp(json_string_value(json_object_get(json_object_get(j, "user"), "email")),
                    email) == 0;
        json_decref(j);
        if (!ok) {
            snprintf(why, len, "the notification of \"%.40s\" does not carry its user", key);
            return -1;
        }
        seen[hit->index] = 1;
    }
    for (int i = 0; i < b->n; i++)
        if (!seen[i]) {
            snprintf(why, len, "user %lld was never notified", b->ids[i]);
            return -1;
        }
    return 0;
}

/* One burst on side d; returns the server's CPU ms, or -1 with a reason in
 * why. */
static double measure(struct event_base *base, struct side *d, unsigned long long token,
                      long round, int nreq, char *why, size_t len)
{
    static struct burst b;
    struct subj_usage u0, u1;
    double t0, cpu = -1;

    memset(&b, 0, sizeof(b));
    b.side = d;
    b.token = token;
    b.round = round;
    b.n = nreq;
    if (ns_sink_clear(d->sink) != 0) {
        snprintf(why, len, "the receiver still has answers pending");
        return -1;
    }
    for (int i = 0; i < N_CONNS; i++) {
        b.conns[i] = evhttp_connection_base_new(base, NULL, "127.0.0.1", (unsigned short)d->port);
        if (b.conns[i] == NULL) {
            snprintf(why, len, "cannot make a client connection");
            goto out;
        }
        evhttp_connection_set_timeout(b.conns[i], 10);
        slots[i] = (struct slot){ &b, b.conns[i], -1 };
    }
    if (subj_usage(d->s, &u0) < 0) {
        snprintf(why, len, "cannot read its CPU time (has it ended?)");
        goto out;
    }
    t0 = fx_now_ms();
    for (int i = 0; i < N_CONNS; i++)
        send_next(&slots[i]);
    while ((b.replied < b.n || ns_sink_accepted(d->sink) < (size_t)b.n) && !b.failed &&
           fx_now_ms() - t0 < DEADLINE_MS)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    if (subj_usage(d->s, &u1) < 0) {
        snprintf(why, len, "cannot read its CPU time (has it ended?)");
        goto out;
    }
    if (b.failed) {
        snprintf(why, len, "%s", b.why);
        goto out;
    }
    if (b.replied < b.n || ns_sink_accepted(d->sink) < (size_t)b.n) {
        snprintf(why, len, "%d of %d POST /users got a reply and %zu notifications were "
                 "accepted within %.0f s", b.replied, b.n, ns_sink_accepted(d->sink),
                 DEADLINE_MS / 1000);
        goto out;
    }
    if (check_notifications(&b, why, len) != 0)
        goto out;
    cpu = u1.cpu_ms - u0.cpu_ms;
out:
    for (int i = 0; i < N_CONNS; i++) {
        if (b.conns[i] != NULL)
            evhttp_connection_free(b.conns[i]);
        slots[i] = (struct slot){ 0 };
    }
    return cpu;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Starts side k's receiver and server, and waits until it listens. */
static int side_start(struct event_base *base, struct side *d, int k, char *err, size_t len)
{
    char sport[16];
    const char *args[] = { "--port", sport, "--db", "users.db", "--notify-url", d->notify_url,
                           NULL };
    struct subj_spec spec = { .program = "ex03-server", .args = args, .reference = k,
                              .stop_signal = SIGTERM, .plain_malloc = 1 };

    d->sink = ns_sink_new(base, 1, err, len);
    if (d->sink == NULL)
        return -1;
    ns_sink_url(d->sink, "/notify", d->notify_url, sizeof(d->notify_url));
    d->port = fx_unused_port();
    if (d->port <= 0) {
        snprintf(err, len, "no free port");
        return -1;
    }
    snprintf(sport, sizeof(sport), "%d", d->port);
    snprintf(d->hosthdr, sizeof(d->hosthdr), "127.0.0.1:%d", d->port);
    spec.bind_port = d->port;
    d->s = subj_start(base, &spec, err, len);
    if (d->s == NULL)
        return -1;
    if (subj_wait_listening(d->s, d->port, LISTEN_MS) != 1) {
        snprintf(err, len, "%s", subj_error(d->s));
        return -1;
    }
    return 0;
}

/* Stops the servers of sides (if running) and starts a fresh pair. */
static int sides_restart(struct event_base *base, struct side *sides, char *err, size_t len)
{
    for (int k = 0; k < 2; k++) {
        if (sides[k].s != NULL)
            subj_stop(sides[k].s, 3000, NULL);
        subj_free(sides[k].s);
        ns_sink_free(sides[k].sink);
        memset(&sides[k], 0, sizeof(sides[k]));
    }
    for (int k = 0; k < 2; k++)
        if (side_start(base, &sides[k], k, err, len) != 0) {
            fprintf(stderr, "bench-ex03: cannot start %s: %s\n",
                    k ? "the reference's server" : "your server", err);
            return -1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = 15;
    int rc = 1;
    char err[SUBJ_ERR_LEN], why[256];
    unsigned long long token = 0;
    struct event_base *base = NULL;
    struct side sides[2];
    double cpu[2][MAX_ROUNDS], ratio[MAX_ROUNDS];

    memset(sides, 0, sizeof(sides));
    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = strtol(argv[2], NULL, 10);
    if ((argc != 1 && argc != 3) || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench-ex03 [--rounds 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* tmpfs when there is one: the disk's fsync latency at WAL checkpoints
     * is noise that has nothing to do with the code being timed. */
    if (access("/dev/shm", W_OK) == 0)
        setenv("WB_SCRATCH", "/dev/shm", 1);
    subj_pin_to_one_cpu();
    base = fx_event_base_new();
    if (base == NULL) {
        fprintf(stderr, "bench-ex03: no event_base\n");
        goto out;
    }
    for (long r = 0; r < rounds; r++) {
        /* A fresh pair of servers every ROUNDS_PER_PAIR rounds, each warmed
         * up by one burst (round number 0 is the warm-ups'). */
        int warm = r % ROUNDS_PER_PAIR == 0;
        if (warm && sides_restart(base, sides, err, sizeof(err)) != 0)
            goto out;
        for (int j = 0; j < (warm ? 4 : 2); j++) {
            int k = (int)((r + j) & 1);   /* A B, then B A, ... */
            long n = warm && j < 2 ? 0 : r + 1;
            double c = measure(base, &sides[k], token, n == 0 ? -(r + 1) : n,
                               n == 0 ? WARMUP_REQUESTS : N_REQUESTS, why, sizeof(why));
            if (c < 0) {
                fprintf(stderr, "bench-ex03: a burst of POST /users on %s failed: %s%s%s\n",
                        k ? "the reference's server" : "your server", why,
                        subj_error(sides[k].s)[0] ? "; " : "", subj_error(sides[k].s));
                goto out;
            }
            if (n > 0)
                cpu[k][r] = c;
        }
        ratio[r] = cpu[0][r] / cpu[1][r];
    }
    qsort(cpu[0], (size_t)rounds, sizeof(double), cmp_double);
    qsort(cpu[1], (size_t)rounds, sizeof(double), cmp_double);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    printf("{\"metric\": \"post_users_cpu_ms\", \"unit\": \"ms\", \"sub\": %.3f, \"ref\": %.3f, "
           "\"ratio\": %.4f, \"rounds\": %ld}\n", cpu[0][rounds / 2], cpu[1][rounds / 2],
           ratio[rounds / 2], rounds);
    rc = 0;
out:
    for (int k = 0; k < 2; k++) {
        if (sides[k].s != NULL)
            subj_stop(sides[k].s, 3000, NULL);
        subj_free(sides[k].s);
        ns_sink_free(sides[k].sink);
    }
    if (base != NULL)
        event_base_free(base);
    return rc;
}

/*
 * bench_ex04.c - build/bin/bench-ex04: the timing judge of exercise 4.  It
 * measures, from outside, the CPU time your chat server spends on
 * broadcasts, against the reference's in the same run.
 *
 *   WB_SUBJECT_DIR=<your subjects> WB_REF_SUBJECT_DIR=<the reference's> \
 *       bench-ex04 [--rounds N]
 *
 * It starts both servers (ex04-server, built from your ws.c and chat.c and
 * from the reference's), each on a port of its own, pins itself and them to
 * one CPU (subj_pin_to_one_cpu()), and joins 100 clients to each (the
 * harness's, harness/common/ws_client.h, on this program's loop).  A round:
 * 10 of the clients send 200 messages each, all queued at once, and the
 * round ends when every client has received all 2000: 200 000 deliveries,
 * each a JSON encoding shared by the broadcast, a frame header and a copy
 * into an output buffer.  The figure of a round is the server's CPU time
 * (user + system, all threads, from /proc/PID/task/ in nanoseconds) from the
 * first message sent to the last one received.  The rounds run in turns,
 * A B B A A B ..., N rounds (default 15) after one warm-up each.  The text of
 * the messages carries a token drawn for the run and the round's number, and
 * every client must receive exactly its share, the last one being this
 * round's: a server that does not broadcast gets no figure.  The last line:
 *   {"metric": "broadcast_cpu_ms", "unit": "ms", "sub": 61.2, "ref": 60.9,
 *    "ratio": 1.01, "rounds": 15}
 * where ratio is the median of the N ratios of a round's two measurements
 * (each pair ran within a second of each other, so the machine's drift
 * cancels out).  Exit status 0, or 1 when a message is lost (the grader then
 * gives no timing points).  Nothing the servers print reaches this
 * program's output.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "fixture_server.h"
#include "subject.h"
#include "ws_client.h"

#define N_CLIENTS 100
#define N_SENDERS 10
#define N_MESSAGES 200
#define BATCH 50
#define MAX_ROUNDS 64
#define ROUND_MS 30000
/* A round in which no client receives anything for this long has lost
 * messages: said at once rather than after ROUND_MS. */
#define STALL_MS 2000

/* One server and its clients. */
struct side {
    const char *who;             /* "your code", "the reference" */
    struct subj *s;
    int port;
    struct wsc *clients[N_CLIENTS];
    size_t nclients;             /* made so far */
    size_t target[N_CLIENTS];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Messages received by all clients of a side. */
static size_t total_messages(const struct side *d)
{
    size_t n = 0;

    for (size_t i = 0; i < d->nclients; i++)
        n += wsc_messages(d->clients[i]);
    return n;
}

static int any_closed(const struct side *d)
{
    for (size_t i = 0; i < d->nclients; i++)
        if (wsc_closed(d->clients[i]) || wsc_error(d->clients[i]) != NULL)
            return 1;
    return 0;
}

struct upto {
    struct side *d;
    size_t n;
};

/* Every client has its user list and every join event (or one closed). */
static int settled(void *arg)
{
    struct upto *u = arg;

    return total_messages(u->d) >= u->n || any_closed(u->d);
}

static int delivered(void *arg)
{
    struct side *d = arg;

    for (size_t i = 0; i < N_CLIENTS; i++)
        if (wsc_messages(d->clients[i]) < d->target[i] && !wsc_closed(d->clients[i]) &&
            wsc_error(d->clients[i]) == NULL)
            return 0;
    return 1;
}

/* Starts a side's server and joins its clients.  0, or -1 with a message. */
static int side_start(struct event_base *base, struct side *d, int reference,
                      unsigned long long token)
{
    char err[SUBJ_ERR_LEN], portstr[16], target[64];
    const char *args[3] = { "--port", portstr, NULL };
    struct subj_spec spec = { .program = "ex04-server", .args = args, .channel = 1,
                              .reference = reference, .stop_signal = SIGTERM,
                              .plain_malloc = 1 };
    /* N users, and each one hears of those who join after it. */
    struct upto all = { d, N_CLIENTS + N_CLIENTS * (N_CLIENTS - 1) / 2 };

    d->port = fx_unused_port();
    snprintf(portstr, sizeof(portstr), "%d", d->port);
    spec.bind_port = d->port;
    d->s = subj_start(base, &spec, err, sizeof(err));
    if (d->s == NULL) {
        fprintf(stderr, "bench-ex04: %s\n", err);
        return -1;
    }
    if (subj_wait_listening(d->s, d->port, 3000) != 1) {
        fprintf(stderr, "bench-ex04: the server of %s did not start: %s\n", d->who,
                subj_error(d->s));
        return -1;
    }
    for (size_t b = 0; b < N_CLIENTS; b += BATCH) {
        struct upto batch = { d, b + BATCH };
        for (size_t i = b; i < b + BATCH; i++) {
            d->clients[i] = wsc_new(base, d->port, NULL, err, sizeof(err));
            if (d->clients[i] == NULL) {
                fprintf(stderr, "bench-ex04: client %zu: %s\n", i, err);
                return -1;
            }
            d->nclients++;
            wsc_set_keep(d->clients[i], 0);
            snprintf(target, sizeof(target), "/ws?name=b%zu_%016llx", i, token);
            wsc_handshake(d->clients[i], target, NULL);
        }
        /* At least one message (the user list) per client so far. */
        if (!wsc_run_until(base, settled, &batch, 10000) || any_closed(d))
            goto lost;
    }
    if (!wsc_run_until(base, settled, &all, 10000) || any_closed(d) ||
        total_messages(d) != all.n)
        goto lost;
    return 0;
lost:
    fprintf(stderr, "bench-ex04: the clients of %s could not join the chat: the functional "
            "tests must pass first\n", d->who);
    return -1;
}

/* One round: CPU ms of the server, or -1 when a message is lost. */
static double measure(struct event_base *base, struct side *d, const char *frame_text,
                      const char *round_tag, double *wall)
{
    struct subj_usage u0, u1;
    double t0;

    for (size_t i = 0; i < N_CLIENTS; i++)
        d->target[i] = wsc_messages(d->clients[i]) + N_SENDERS * N_MESSAGES;
    if (subj_usage(d->s, &u0) < 0)
        return -1;
    t0 = fx_now_ms();
    for (int m = 0; m < N_MESSAGES; m++)
        for (size_t s = 0; s < N_SENDERS; s++)
            wsc_send_text(d->clients[s * (N_CLIENTS / N_SENDERS)], frame_text);
    for (size_t last = (size_t)-1, now; !delivered(d); last = now) {
        now = total_messages(d);
        if (now == last || fx_now_ms() - t0 > ROUND_MS)
            return -1;
        wsc_run_until(base, delivered, d, STALL_MS);
    }
    if (subj_usage(d->s, &u1) < 0)
        return -1;
    *wall = fx_now_ms() - t0;
    /* Exactly the round's messages, the last one this round's text. */
    wsc_run_for(base, 5);
    for (size_t i = 0; i < N_CLIENTS; i++) {
        const struct wsc_msg *m = wsc_last(d->clients[i]);
        if (wsc_closed(d->clients[i]) || wsc_error(d->clients[i]) != NULL ||
            wsc_messages(d->clients[i]) != d->target[i] || m == NULL ||
            strstr((const char *)m->data, round_tag) == NULL)
            return -1;
    }
    return u1.cpu_ms - u0.cpu_ms;
}

int main(int argc, char **argv)
{
    long rounds = 15;
    int rc = 1;
    unsigned long long token = 0;
    struct event_base *base = NULL;
    static struct side sides[2] = { { .who = "your code" }, { .who = "the reference" } };
    double cpu[2][MAX_ROUNDS], ratio[MAX_ROUNDS], wall_sum = 0;
    char frame_text[256], round_tag[48];

    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = strtol(argv[2], NULL, 10);
    if ((argc != 1 && argc != 3) || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench-ex04 [--rounds 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
        return 1;
    subj_pin_to_one_cpu();
    base = fx_event_base_new();
    if (base == NULL) {
        fprintf(stderr, "bench-ex04: no event_base\n");
        goto out;
    }
    for (int k = 0; k < 2; k++)
        if (side_start(base, &sides[k], k, token) < 0)
            goto out;
    for (long r = -1; r < rounds; r++) {    /* r == -1: the warm-up */
        snprintf(round_tag, sizeof(round_tag), "round %ld of %016llx", r + 1, token);
        snprintf(frame_text, sizeof(frame_text), "{\"type\":\"message\",\"text\":\"%s: the "
                 "quick brown fox jumps over the lazy dog, again and again\"}", round_tag);
        for (int j = 0; j < 2; j++) {
            int k = (int)((r + 1 + j) & 1);   /* A B, then B A, ... */
            double w = 0, c = measure(base, &sides[k], frame_text, round_tag, &w);
            if (c < 0) {
                fprintf(stderr, "bench-ex04: messages were lost by %s%s%s: the functional tests "
                        "must pass first\n", sides[k].who, subj_error(sides[k].s)[0] ? ": " : "",
                        subj_error(sides[k].s));
                goto out;
            }
            if (r >= 0) {
                cpu[k][r] = c;
                wall_sum += w;
            }
        }
        if (r >= 0)
            ratio[r] = cpu[0][r] / (cpu[1][r] > 0 ? cpu[1][r] : 1e-9);
    }
    qsort(cpu[0], (size_t)rounds, sizeof(double), cmp_double);
    qsort(cpu[1], (size_t)rounds, sizeof(double), cmp_double);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    fprintf(stderr, "bench-ex04: %d deliveries a round, %.1f ms of wall time a round on "
            "average\n", N_CLIENTS * N_SENDERS * N_MESSAGES, wall_sum / (2.0 * (double)rounds));
    printf("{\"metric\": \"broadcast_cpu_ms\", \"unit\": \"ms\", \"sub\": %.3f, \"ref\": %.3f, "
           "\"ratio\": %.4f, \"rounds\": %ld}\n", cpu[0][rounds / 2], cpu[1][rounds / 2],
           ratio[rounds / 2], rounds);
    rc = 0;
out:
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < N_CLIENTS; i++)
            wsc_free(sides[k].clients[i]);
        subj_stop(sides[k].s, 2000, NULL);
        subj_free(sides[k].s);
    }
    if (base != NULL)
        event_base_free(base);
    return rc;
}

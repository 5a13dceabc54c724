/*
 * bench_ex04.c - the grader's benchmark for exercise 4: how fast your chat
 * broadcasts, timed against the reference's in the same run.
 *
 *   bench-ex04 [--repeat R]
 *
 * 100 clients (the harness's, harness/common/ws_client.h) join the chat on
 * the same loop as the server.  One measurement = 10 of them send 200
 * messages each, all queued at once, and the time until every client has
 * received all 500: 50 000 deliveries, each a JSON encoding shared by the
 * broadcast, a frame header and a copy into an output buffer, then the
 * client's decoding (the same for you and the reference).  The median of R
 * measurements (default 5) is printed as one line of JSON:
 *   {"metric": "broadcast_ms", "unit": "ms", "value": 123.4}
 * and the deliveries per second on stderr.  Exit status 0, or 1 when a
 * message is lost (the grader then gives no timing points).
 */
#include "chat.h"
#include "sandbox.h"
#include "ws_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define N_CLIENTS 100
#define N_SENDERS 10
#define N_MESSAGES 200
#define BATCH 50

static struct wsc *clients[N_CLIENTS];
static size_t target[N_CLIENTS];

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct range {
    size_t from, to;
};

static int joined(void *arg)
{
    struct range *r = arg;

    for (size_t i = r->from; i < r->to; i++)
        if (wsc_messages(clients[i]) < 1 && !wsc_closed(clients[i]))
            return 0;
    return 1;
}

static int delivered(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < N_CLIENTS; i++)
        if (wsc_messages(clients[i]) < target[i] && !wsc_closed(clients[i]))
            return 0;
    return 1;
}

/* One measurement; -1 when a message is lost. */
static double measure(struct event_base *base, const char *frame_text)
{
    double t0;

    for (size_t i = 0; i < N_CLIENTS; i++)
        target[i] = wsc_messages(clients[i]) + N_SENDERS * N_MESSAGES;
    t0 = now_ms();
    for (int m = 0; m < N_MESSAGES; m++)
        for (size_t s = 0; s < N_SENDERS; s++)
            wsc_send_text(clients[s * (N_CLIENTS / N_SENDERS)], frame_text);
    if (!wsc_run_until(base, delivered, NULL, 30000))
        return -1;
    for (size_t i = 0; i < N_CLIENTS; i++)
        if (wsc_closed(clients[i]) || wsc_error(clients[i]) != NULL)
            return -1;
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    long repeat = 5;
    int rc = 1;
    char err[256] = "", target_path[32];
    struct event_base *base = NULL;
    struct chat_server *chat = NULL;
    double times[64];
    struct ws_config cfg;
    const char *text = "{\"type\":\"message\",\"text\":\"the quick brown fox jumps over the "
                       "lazy dog, again and again, for the benchmark\"}";

    if (argc == 3 && strcmp(argv[1], "--repeat") == 0)
        repeat = strtol(argv[2], NULL, 10);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: bench-ex04 [--repeat R]\n");
        return 2;
    }
    if (repeat < 1 || repeat > 64) {
        fprintf(stderr, "bench-ex04: --repeat takes 1..64\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    wb_sandbox_enter_or_die();
    ws_config_default(&cfg);
    base = event_base_new();
    chat = base ? chat_server_new(base, NULL, 0, &cfg, err, sizeof(err)) : NULL;
    if (chat == NULL) {
        fprintf(stderr, "bench-ex04: cannot start the chat: %s\n", base ? err : "no event_base");
        goto out;
    }
    for (size_t b = 0; b < N_CLIENTS; b += BATCH) {
        struct range r = { b, b + BATCH };
        for (size_t i = b; i < b + BATCH; i++) {
            clients[i] = wsc_new(base, chat_server_port(chat), NULL, err, sizeof(err));
            if (clients[i] == NULL) {
                fprintf(stderr, "bench-ex04: client %zu: %s\n", i, err);
                goto out;
            }
            wsc_set_keep(clients[i], 0);
            snprintf(target_path, sizeof(target_path), "/ws?name=b%zu", i);
            wsc_handshake(clients[i], target_path, NULL);
        }
        if (!wsc_run_until(base, joined, &r, 10000)) {
            fprintf(stderr, "bench-ex04: the clients could not join: the functional tests "
                    "must pass first\n");
            goto out;
        }
    }
    wsc_run_for(base, 20);              /* the last join events */
    measure(base, text);                /* warm-up */
    for (long r = 0; r < repeat; r++) {
        times[r] = measure(base, text);
        if (times[r] < 0) {
            fprintf(stderr, "bench-ex04: messages were lost: the functional tests must pass "
                    "first\n");
            goto out;
        }
    }
    qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
    printf("{\"metric\": \"broadcast_ms\", \"unit\": \"ms\", \"value\": %.3f}\n", times[repeat / 2]);
    fprintf(stderr, "bench-ex04: %d deliveries in %.1f ms: %.0f deliveries/s (clients' "
            "decoding included)\n", N_CLIENTS * N_SENDERS * N_MESSAGES, times[repeat / 2],
            N_CLIENTS * N_SENDERS * N_MESSAGES / (times[repeat / 2] / 1000.0));
    rc = 0;
out:
    for (size_t i = 0; i < N_CLIENTS; i++)
        wsc_free(clients[i]);
    chat_server_free(chat);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

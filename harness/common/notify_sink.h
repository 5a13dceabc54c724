/*
 * notify_sink.h - a notification receiver for the tests: an HTTP server,
 * run in-process on the caller's event_base, that records every request it
 * receives (body, Idempotency-Key header, arrival time) and answers it as
 * the test says: at once or after a delay, with 200, or with an error
 * status for the next N requests.  It can also be "down" (nothing listens
 * on its port: connecting is refused) and come up later on the same port.
 *
 * Times are milliseconds on CLOCK_MONOTONIC (fx_now_ms() of
 * fixture_server.h).  Single-threaded: call every function from the thread
 * that runs the loop, or while the loop is not running.
 */
#ifndef NOTIFY_SINK_H
#define NOTIFY_SINK_H

#include <stddef.h>

struct event_base;
struct ns_sink;

/* One request as the sink saw it.  Strings are owned by the sink and
 * NUL-terminated; NULL when the request had no such header. */
struct ns_record {
    char *method;             /* "POST", "GET", ... */
    char *uri;                /* e.g. "/notify" */
    char *body;               /* the body, "" when empty */
    size_t body_len;
    char *idempotency_key;    /* the Idempotency-Key header */
    char *content_type;       /* the Content-Type header */
    double arrived_ms;        /* when the whole request had been read */
    double answered_ms;       /* when the answer was sent; 0 while pending,
                                 or when the sink went down first */
    int status;               /* the status answered (or to be answered) */
};

/*
 * Creates a sink on `base` at 127.0.0.1.  listening = 1: it listens now, on
 * a free port; listening = 0: it is down, with a port reserved for it (a
 * port nothing listens on now), and ns_sink_start() brings it up there.
 * Returns NULL on failure with a reason in err (when not NULL).  Free it
 * with ns_sink_free() before freeing `base`.
 */
struct ns_sink *ns_sink_new(struct event_base *base, int listening, char *err, size_t errlen);

/* Starts listening on the sink's port (again).  0, or -1 with a reason in
 * err.  Starting a sink that listens already is a no-op. */
int ns_sink_start(struct ns_sink *s, char *err, size_t errlen);

/* Goes down: stops listening and closes every connection; requests waiting
 * for their (delayed) answer get none.  The records stay. */
void ns_sink_stop(struct ns_sink *s);

/* Stops the sink and frees it and its records.  NULL is a no-op.  Not from
 * one of its own callbacks. */
void ns_sink_free(struct ns_sink *s);

int ns_sink_port(const struct ns_sink *s);

/* Writes "http://127.0.0.1:PORT" + path into buf.  0, or -1 when buf is
 * too small or path does not start with '/'. */
int ns_sink_url(const struct ns_sink *s, const char *path, char *buf, size_t len);

/* Every request from now on is answered `ms` milliseconds after it
 * arrived (0: at once, the default). */
void ns_sink_set_delay_ms(struct ns_sink *s, unsigned ms);

/* The next n requests are answered with `status` (e.g. 503) instead of
 * 200. */
void ns_sink_fail_next(struct ns_sink *s, unsigned n, int status);

/* Forgets the records and the counts, for a driver that reuses one sink
 * for many rounds.  Only while no delayed answer is pending: returns 0, or
 * -1 (and forgets nothing) when one is. */
int ns_sink_clear(struct ns_sink *s);

/* Requests received so far (whatever their answer). */
size_t ns_sink_count(const struct ns_sink *s);

/* Requests answered so far, and those answered with a 2xx status. */
size_t ns_sink_answered(const struct ns_sink *s);
size_t ns_sink_accepted(const struct ns_sink *s);

/* Record i (0 <= i < ns_sink_count()), in order of arrival; NULL when out
 * of range.  Valid until the sink is freed. */
const struct ns_record *ns_sink_at(const struct ns_sink *s, size_t i);

/* How many requests carried Idempotency-Key `key`. */
size_t ns_sink_count_key(const struct ns_sink *s, const char *key);

#endif /* NOTIFY_SINK_H */

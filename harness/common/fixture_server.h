/*
 * fixture_server.h - an HTTP test server that the harness runs in-process.
 *
 * The server answers on an event_base that the caller owns, so a test can run
 * it on the same loop as the code under test and read its counters after the
 * loop returns, without threads.  It is also the engine of the program
 * build/bin/delay-server (harness/common/delay_server_main.c).
 *
 * Routes (GET or any other method):
 *   /delay?ms=N             200 after N ms; the body is the request URI.
 *   /never                  never answers; the request stays in flight until
 *                           the client closes the connection (a client-side
 *                           timeout, say) or the server is freed.
 *   /bytes?n=N[&chunked=1]  200 with a body of N bytes (byte i is
 *                           'a' + i % 26), sent with chunked encoding when
 *                           chunked=1.
 *   /status?code=C          status C (100..599) with the body "status C".
 *   anything else           404 with the body "no such route".
 * Every route also takes ms=N (0..60000), a delay before the reply starts.
 * Malformed parameters get 400 and a one-line reason in the body.
 *
 * The server counts requests in flight (arrived, not yet answered or
 * abandoned: a client that closes its connection while waiting is noticed at
 * once), the maximum in flight since the last reset, and keeps a log of
 * each request: its URI, when it arrived and when it ended.  Times are
 * milliseconds on CLOCK_MONOTONIC (fx_now_ms()).
 *
 * Single-threaded: call every function from the thread that runs the loop,
 * or while the loop is not running.
 */
#ifndef FIXTURE_SERVER_H
#define FIXTURE_SERVER_H

#include <stddef.h>

struct event_base;
struct fx_server;

/* How one logged request ended. */
enum fx_outcome {
    FX_PENDING = 0,   /* still in flight */
    FX_ANSWERED,      /* a reply was sent */
    FX_ABANDONED      /* the client closed the connection, or the server was freed */
};

/* One request as the server saw it.  `uri` is owned by the server. */
struct fx_log_entry {
    const char *uri;        /* request URI, e.g. "/delay?ms=200&id=3" */
    double start_ms;        /* arrival time, fx_now_ms() clock */
    double end_ms;          /* reply sent or abandoned; 0 while pending */
    int status;             /* HTTP status sent; 0 when none was sent */
    enum fx_outcome outcome;
};

/* Milliseconds on CLOCK_MONOTONIC, from an arbitrary origin. */
double fx_now_ms(void);

/*
 * Returns a new event_base whose timers run on the precise monotonic clock
 * (EVENT_BASE_FLAG_PRECISE_TIMER).  libevent's default clock advances once
 * per kernel tick (4 ms here), so short timers fire that much early or late:
 * too coarse for the tests' time bounds and for pacing.  The caller frees it
 * with event_base_free().  NULL on failure.
 */
struct event_base *fx_event_base_new(void);

/*
 * Creates a server on `base`, listening on addr:port (port 0 picks a free
 * port; read it with fx_server_port()).  addr NULL means "127.0.0.1".
 * Returns NULL on failure with a reason in err (when err is not NULL).
 * The caller owns the server and frees it with fx_server_free() before
 * freeing `base`.
 */
struct fx_server *fx_server_new(struct event_base *base, const char *addr,
                                int port, char *err, size_t errlen);

/*
 * Frees the server: every pending reply is cancelled (its timer too), its
 * request is logged as FX_ABANDONED and its connection closed.  NULL is a
 * no-op.  Must not be called from one of the server's own callbacks.
 */
void fx_server_free(struct fx_server *s);

/* The port the server listens on. */
int fx_server_port(const struct fx_server *s);

/*
 * Writes "http://ADDR:PORT" followed by `path` (which must start with '/')
 * into buf.  Returns 0, or -1 when buf is too small or path is invalid.
 */
int fx_server_url(const struct fx_server *s, const char *path, char *buf,
                  size_t len);

unsigned fx_server_in_flight(const struct fx_server *s);
unsigned fx_server_max_in_flight(const struct fx_server *s);
/* Requests received since the last reset. */
size_t fx_server_log_len(const struct fx_server *s);
/* Entry i (0 <= i < fx_server_log_len()), in order of arrival; NULL when out
 * of range.  The pointer is valid until the next reset or free. */
const struct fx_log_entry *fx_server_log_at(const struct fx_server *s,
                                            size_t i);

/* Clears the log and sets the maximum in flight to the current number in
 * flight.  Pending requests keep being counted. */
void fx_server_reset(struct fx_server *s);

/*
 * When `trace` is not NULL, the server prints one line per ended request to
 * it ("+  12.3 ms  +212.5 ms  200  /delay?ms=200").  For the CLI.
 */
void fx_server_set_trace(struct fx_server *s, void *trace_file);

/*
 * Returns a TCP port on 127.0.0.1 where nothing listens right now (bound,
 * then closed), so that connecting to it is refused.  Returns -1 on error.
 */
int fx_unused_port(void);

#endif /* FIXTURE_SERVER_H */

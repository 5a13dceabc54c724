/*
 * test_client.h - an HTTP client for the harness, on the caller's
 * event_base: start requests, then run the loop (with a bound on time)
 * until they have their responses.  Each request gets a connection of its
 * own (one evhttp_connection serializes its requests), so requests started
 * together are in flight together.
 *
 * Times are milliseconds on CLOCK_MONOTONIC (fx_now_ms() of
 * fixture_server.h).  Single-threaded, like the loop it runs.
 */
#ifndef TEST_CLIENT_H
#define TEST_CLIENT_H

#include <stddef.h>

struct event_base;
struct tc_client;

/* The outcome of one request.  Strings are malloc'd and NUL-terminated,
 * NULL when absent; tc_response_clear() frees them. */
struct tc_response {
    int done;               /* 1 once the request has its outcome */
    int status;             /* HTTP status; 0: no response (refused, reset,
                               timed out) */
    char *body;             /* the body ("" when empty); NULL when status 0 */
    size_t body_len;
    char *content_type;     /* response headers */
    char *location;
    char *allow;
    double start_ms;        /* when the request was started */
    double end_ms;          /* when its outcome arrived */
};

/* A client for http://host:port.  timeout_ms bounds each request (0: 5000).
 * NULL on failure.  Free it with tc_client_free() after the loop has
 * returned, before freeing `base`. */
struct tc_client *tc_client_new(struct event_base *base, const char *host, int port,
                                unsigned timeout_ms);

/* Frees the client and its connections (requests still in flight are
 * cancelled; their responses stay not done).  NULL is a no-op. */
void tc_client_free(struct tc_client *c);

/*
 * Starts `method` ("GET", "POST", "PUT", "DELETE", "PATCH") of `path` on a
 * new connection, with `body` (len bytes; NULL for none) sent as
 * "Content-Type: application/json".  *out is reset and filled in when the
 * outcome arrives; it must stay valid until then.  0, or -1 when the
 * request could not start (then out->done is 1 and out->status 0).
 */
int tc_start(struct tc_client *c, const char *method, const char *path, const char *body,
             size_t len, struct tc_response *out);

/* Runs the loop until each of the n responses is done, or timeout_ms have
 * passed.  Returns 1 when all are done, 0 on timeout. */
int tc_wait(struct event_base *base, struct tc_response *const r[], size_t n,
            double timeout_ms);

/* tc_start() then tc_wait() for one request.  Returns out->status. */
int tc_call(struct tc_client *c, const char *method, const char *path, const char *body,
            struct tc_response *out, double timeout_ms);

/* Runs the loop until cond(arg) returns non-zero or timeout_ms have passed;
 * returns 1 when cond held, 0 on timeout.  cond NULL: runs for timeout_ms. */
int tc_run_until(struct event_base *base, int (*cond)(void *arg), void *arg,
                 double timeout_ms);

/* Frees the strings of r and zeroes it. */
void tc_response_clear(struct tc_response *r);

#endif /* TEST_CLIENT_H */

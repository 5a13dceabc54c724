/*
 * ex02_http.h - given code for exercise 2: one HTTP GET on the event loop,
 * so that exercise 2 does not depend on your exercise 1.  Not a TODO file.
 */
#ifndef EX02_HTTP_H
#define EX02_HTTP_H

#include <stddef.h>

struct event_base;

#define EX02_DEFAULT_TIMEOUT_MS 5000u
#define EX02_MAX_TIMEOUT_MS 600000u

/* How one fetch ended (same meanings as in exercise 1). */
enum ex02_outcome {
    EX02_NOT_RUN = 0,    /* not ended (yet) */
    EX02_OK,             /* a complete response, whatever its status */
    EX02_ERR_URL,        /* not an absolute http:// URL with a host */
    EX02_ERR_CONNECTION, /* refused, reset, closed early, or not HTTP */
    EX02_ERR_TIMEOUT,    /* connecting or waiting for bytes took too long */
    EX02_ERR_INTERNAL    /* out of memory, or libevent refused a call */
};

/* What ex02_http_get() reports; valid only during the callback. */
struct ex02_http_response {
    enum ex02_outcome outcome;
    int http_status;      /* 0 unless outcome == EX02_OK */
    size_t body_len;      /* the body itself is not kept */
};

typedef void (*ex02_http_cb)(const struct ex02_http_response *resp, void *arg);

/* Owns the connections of the requests it starts. */
struct ex02_http_client;

/* Returns a client on `base`, or NULL when out of memory or base is NULL. */
struct ex02_http_client *ex02_http_client_new(struct event_base *base);

/*
 * Frees the client and every connection it still holds.  Call it after the
 * loop, never from inside one of its callbacks.  A request still in flight
 * is dropped: its callback is never called.  NULL is a no-op.
 */
void ex02_http_client_free(struct ex02_http_client *client);

/*
 * Starts a GET of `url` with a connection of its own and a timeout of
 * timeout_ms (0 means EX02_DEFAULT_TIMEOUT_MS) for connecting and for each
 * wait for more of the response.
 * Returns 0 when the request started: cb(resp, arg) will be called exactly
 * once, later, from the loop (never inside this call).  The connection is
 * freed by a later ex02_http_get() or by ex02_http_client_free().  It may be
 * called from inside a callback.
 * Returns -1 when it could not start: cb will never be called, and *why
 * (when why is not NULL) is EX02_ERR_URL for a bad URL, EX02_ERR_INTERNAL
 * otherwise (NULL client or cb, timeout over EX02_MAX_TIMEOUT_MS, out of
 * memory).
 */
int ex02_http_get(struct ex02_http_client *client, const char *url, unsigned timeout_ms,
                  ex02_http_cb cb, void *arg, enum ex02_outcome *why);

/* A constant name for an outcome, e.g. "EX02_ERR_TIMEOUT". */
const char *ex02_outcome_name(enum ex02_outcome outcome);

/* Milliseconds on a monotonic clock, from an arbitrary origin. */
double ex02_now_ms(void);

#endif /* EX02_HTTP_H */

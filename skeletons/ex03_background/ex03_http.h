/*
 * ex03_http.h - given helpers for exercise 3's handlers (ex03_http.c): JSON
 * replies and error bodies, reading a request body with a size limit,
 * query parameters, user validation and time.  Not a TODO file.
 *
 * Every ex03_reply_* function sends the reply (evhttp_send_reply), so the
 * request is answered when it returns: do not touch `req` afterwards.
 */
#ifndef EX03_HTTP_H
#define EX03_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "ex03_db.h"

struct evhttp_request;

/*
 * Sends `status` with `body` as JSON ("Content-Type: application/json").
 * Takes the caller's reference to body (json_decref'd here, NULL allowed:
 * an empty JSON object is sent).
 */
void ex03_reply_json(struct evhttp_request *req, int status, json_t *body);

/*
 * Sends `status` with the error body
 *   {"status": status, "error": code, "message": message[, "field": field]}
 * `field` may be NULL.  The strings are copied.
 */
void ex03_reply_error(struct evhttp_request *req, int status, const char *code,
                      const char *message, const char *field);

/* How ex03_read_json() ended. */
enum ex03_body_rc {
    EX03_BODY_OK = 0,        /* *out holds the parsed JSON value */
    EX03_BODY_TOO_LARGE,     /* more than max bytes: answer 413 */
    EX03_BODY_MALFORMED,     /* not JSON (or not UTF-8): answer 400 */
    EX03_BODY_NOMEM          /* out of memory: answer 500 */
};

/*
 * Parses the request body as JSON, refusing bodies over `max` bytes before
 * parsing them.  On EX03_BODY_OK, *out is a new reference the caller
 * json_decref()s; otherwise *out is NULL and `why` (when not NULL) holds a
 * short reason for the error body (e.g. jansson's "line 1 column 9: ...").
 * Any JSON value is OK here: checking that it is an object is the caller's
 * job.
 */
enum ex03_body_rc ex03_read_json(struct evhttp_request *req, size_t max, json_t **out,
                                 char *why, size_t whylen);

/*
 * Reads the query parameter `key` of the request's URI as a decimal integer
 * in [lo, hi].  Absent: *out = dflt and 0.  Returns -1 when it is present
 * but not such a number.
 */
int ex03_query_long(struct evhttp_request *req, const char *key, long lo, long hi,
                    long dflt, long *out);

/* The user as a new JSON object {"id", "name", "email", "created_at"}, or
 * NULL when out of memory. */
json_t *ex03_user_json(const struct ex03_user *u);

/*
 * User validation.  Each returns NULL when the value is valid, else a
 * constant message for the 422 body ("must not be empty", ...).
 *   name:  1..EX03_NAME_MAX_CHARS UTF-8 characters, not only spaces, no
 *          control characters.
 *   email: at most EX03_EMAIL_MAX_BYTES bytes, one '@' with something before
 *          it, a domain with a dot inside it after it, no spaces or control
 *          characters.
 */
const char *ex03_check_name(const char *name);
const char *ex03_check_email(const char *email);

/* Milliseconds on a monotonic clock, from an arbitrary origin. */
double ex03_now_ms(void);

#endif /* EX03_HTTP_H */

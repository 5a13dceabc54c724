/*
 * ex03_http.c - given helpers for exercise 3 (see ex03_http.h).  Not a TODO
 * file.
 */
#include "ex03_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

void ex03_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    char small[2048], *text = small;
    size_t len = body ? json_dumpb(body, small, sizeof(small), JSON_COMPACT) : 2;

    /* Most bodies fit in `small`: no allocation; a longer one is dumped
     * again, into the heap. */
    if (body == NULL)
        memcpy(small, "{}", 2);
    else if (len > sizeof(small))
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (len == 0 || text == NULL || evbuffer_add(out, text, len) != 0) {
        if (text != small)
            free(text);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (text != small)
        free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, status, NULL, NULL);
}

void ex03_reply_error(struct evhttp_request *req, int status, const char *code,
                      const char *message, const char *field)
{
    json_t *body = json_pack("{s:i, s:s, s:s}", "status", status, "error",
                             code ? code : "error", "message", message ? message : "");

    if (body != NULL && field != NULL)
        json_object_set_new(body, "field", json_string(field));
    if (body == NULL) {
        evhttp_send_error(req, status, message);
        return;
    }
    ex03_reply_json(req, status, body);
}

enum ex03_body_rc ex03_read_json(struct evhttp_request *req, size_t max, json_t **out,
                                 char *why, size_t whylen)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    unsigned char *data;
    json_error_t jerr;

    *out = NULL;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (len > max) {
        if (why != NULL)
            snprintf(why, whylen, "the body is %zu bytes; the limit is %zu", len, max);
        return EX03_BODY_TOO_LARGE;
    }
    data = evbuffer_pullup(in, -1);          /* contiguous; NULL when len == 0 */
    *out = json_loadb(data ? (const char *)data : "", len, JSON_DECODE_ANY |
                      JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL) {
        if (why != NULL)
            snprintf(why, whylen, "malformed JSON: line %d column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        return json_error_code(&jerr) == json_error_out_of_memory ? EX03_BODY_NOMEM
                                                                  : EX03_BODY_MALFORMED;
    }
    return EX03_BODY_OK;
}

int ex03_query_long(struct evhttp_request *req, const char *key, long lo, long hi,
                    long dflt, long *out)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq q;
    const char *v;
    char *end = NULL;
    long n;
    int rc = -1;

    *out = dflt;
    TAILQ_INIT(&q);
    if (query == NULL)
        return 0;
    if (evhttp_parse_query_str(query, &q) != 0)
        goto out;
    v = evhttp_find_header(&q, key);
    if (v == NULL) {
        rc = 0;
        goto out;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno == 0 && end != v && *end == '\0' && n >= lo && n <= hi) {
        *out = n;
        rc = 0;
    }
out:
    evhttp_clear_headers(&q);
    return rc;
}

json_t *ex03_user_json(const struct ex03_user *u)
{
    return json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)u->id, "name", u->name,
                     "email", u->email, "created_at", u->created_at);
}

const char *ex03_check_name(const char *name)
{
    size_t chars = 0;
    int blank = 1;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return "must not contain control characters";
        if ((*p & 0xC0) != 0x80)               /* not a continuation byte */
            chars++;
        if (*p != ' ')
            blank = 0;
    }
    if (chars == 0 || blank)
        return "must not be empty";
    if (chars > EX03_NAME_MAX_CHARS)
        return "must be at most 100 characters";
    return NULL;
}

const char *ex03_check_email(const char *email)
{
    const char *at = strchr(email, '@');
    const char *dot;
    size_t len = strlen(email);

    if (len == 0)
        return "must not be empty";
    if (len > EX03_EMAIL_MAX_BYTES)
        return "must be at most 254 bytes";
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "must not contain spaces or control characters";
    if (at == NULL || at == email || strchr(at + 1, '@') != NULL)
        return "must look like name@example.org";
    dot = strchr(at + 1, '.');
    if (dot == NULL || dot == at + 1 || email[len - 1] == '.')
        return "must look like name@example.org";
    return NULL;
}

double ex03_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * subject_ex04.c - build/bin/subject-ex04: exercise 4's protocol-layer
 * subject.  Given code, linked with your ws.c (not chat.c: the handshake and
 * frames tests run even when chat.c does not compile yet).  The judge (make
 * ex04) starts it; you do not run it by hand: build/bin/ex04-server is the
 * program to try.
 *
 *   subject-ex04 --port P [--max-message N] [--max-output N]
 *                [--ping-interval MS] [--close-timeout MS] [--broadcast]
 *                [--http]
 *
 * It serves, on 127.0.0.1:P, a small echo application over your ws.c:
 *   - a text or binary message comes back as it was (to every open
 *     connection with --broadcast, the sender included);
 *   - the text "cmd:close" makes the server close with ws_conn_close(1000,
 *     "bye");
 *   - the text "cmd:big:S" (S: 16 hex digits) makes it send one binary
 *     message of 1 MiB (byte i drawn from the seed S, see big_byte()), then
 *     close with 1000 "done";
 *   - with --http, plain HTTP requests go to its on_http: a path that
 *     starts with "/hello" gets 200 and the body "METHOD PATH QUERY\n"
 *     (QUERY "-" when there is none); any other path gets no reply from it
 *     (so the server must answer 404 itself).  Without --http, on_http is
 *     NULL.
 * Options left out keep the defaults of ws_config_default().  SIGTERM, or
 * the end of the job channel, stops it: the server is freed and main
 * returns 0.
 *
 * Jobs arrive on fd 3 (one JSON object a line, read by the event loop that
 * also runs the server) and answers leave on the same socket (see
 * harness/common/subject_io.h).  Bytes travel as hex.  The answers are
 * claims: the judge checks them against inputs it drew for the run.
 *   {"op":"stats"} -> {"opens","messages","closes","last_code","reentered",
 *        "unterminated","conns"}: the echo application's counters (on_open,
 *        on_message and on_close calls, the last on_close code, callbacks
 *        that ran inside ws_conn_send or ws_conn_close, messages whose
 *        data[len] was not '\0') and ws_server_conn_count().
 *   {"op":"send","opcode":n,"data":hex} -> {"rc"}: ws_conn_send() on the
 *        connection opened last among those not closed yet.
 *   {"op":"close","code":n,"reason":hex|null} -> {"rc"}: ws_conn_close() on
 *        that connection (the reason gets a '\0' after its bytes).
 *   {"op":"has_token","list":s|null,"token":s|null} -> {"rc"}
 *   {"op":"accept_key","key":s|null,"null_out":bool} -> {"rc","out":hex,
 *        "terminated"} ("out": the 29 bytes of the buffer after the call,
 *        which held '#'s before it; "terminated": out[28] is '\0'; with
 *        "null_out", out is NULL)
 *   {"op":"handshake_check","head":hex,"null_head":bool} -> {"read":"done"|
 *        "need_more"|"too_big"|"bad","status","accept":hex,"terminated"}
 *        (the head is read with the given ws_head_read() first; with
 *        "null_head", head is NULL)
 *   {"op":"frame_parse","buf":hex,"max":n,"null_buf":bool} -> {"rc","fin",
 *        "opcode","mask":hex,"payload_len","header_len","payload"} where
 *        *out was filled with 0xAB bytes before the call, and "payload" is
 *        the offset of out->payload in buf, -1 for NULL, -2 for a pointer
 *        outside buf.  buf is a malloc'd copy of exactly its length.
 *        "null_buf": buf is NULL and len is the job's "len" (0 when absent);
 *        "null_out": out is NULL (only "rc" is then meaningful).
 *   {"op":"frame_header","fin":0|1,"opcode":n,"len":n} -> {"n","bytes":hex}
 *   {"op":"mask","data":hex,"key":hex} -> {"data":hex}
 *   {"op":"close_parse","payload":hex,"code":n} -> {"rc","code"} (*code
 *        holds the job's "code" before the call)
 */
#include "ws.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "subject_io.h"

#define MAX_CONNS 1024
#define BIG_LEN ((size_t)1 << 20)

/* The echo application.  Its state is static: nothing of it is reachable
 * from the server's `arg` (NULL). */
static struct app {
    int broadcast;              /* 1: each message goes to every connection */
    int http;                   /* 1: plain HTTP requests go to app_on_http */
    long opens, messages, closes;
    unsigned last_code;
    int in_call;                /* inside ws_conn_send / ws_conn_close */
    long reentered;             /* callbacks that ran inside one of them */
    long unterminated;          /* messages whose data[len] was not '\0' */
    struct ws_conn *conns[MAX_CONNS];
    size_t nconns;
} app;

static struct ws_server *server;
static struct event_base *base;

static void app_enter(void)
{
    if (app.in_call)
        app.reentered++;
}

static int app_send(struct ws_conn *c, enum ws_opcode op, const void *d, size_t n)
{
    int rc;

    app.in_call++;
    rc = ws_conn_send(c, op, d, n);
    app.in_call--;
    return rc;
}

static int app_close(struct ws_conn *c, unsigned code, const char *reason)
{
    int rc;

    app.in_call++;
    rc = ws_conn_close(c, code, reason);
    app.in_call--;
    return rc;
}

/* Byte i of the big message of seed s: xorshift64 steps, one per 8 bytes. */
static void big_fill(unsigned char *b, size_t n, unsigned long long s)
{
    s |= 1;
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
        }
        b[i] = (unsigned char)(s >> (8 * (i % 8)));
    }
}

static void app_on_open(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    (void)req;
    (void)arg;
    app_enter();
    app.opens++;
    if (app.nconns < MAX_CONNS)
        app.conns[app.nconns++] = c;
}

static void app_on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
                           size_t n, void *arg)
{
    (void)arg;
    app_enter();
    app.messages++;
    if (d == NULL || d[n] != '\0')
        app.unterminated++;
    if (op == WS_OP_TEXT && n == 9 && memcmp(d, "cmd:close", 9) == 0) {
        app_close(c, 1000, "bye");
    } else if (op == WS_OP_TEXT && n == 24 && memcmp(d, "cmd:big:", 8) == 0) {
        unsigned char *b = malloc(BIG_LEN);
        if (b != NULL) {
            big_fill(b, BIG_LEN, strtoull((const char *)d + 8, NULL, 16));
            app_send(c, WS_OP_BINARY, b, BIG_LEN);
            free(b);
        }
        app_close(c, 1000, "done");
    } else if (app.broadcast) {
        for (size_t i = 0; i < app.nconns; i++)
            app_send(app.conns[i], op, d, n);
    } else {
        app_send(c, op, d, n);
    }
}

static void app_on_close(struct ws_conn *c, unsigned code, void *arg)
{
    (void)arg;
    app_enter();
    app.closes++;
    app.last_code = code;
    for (size_t i = 0; i < app.nconns; i++) {
        if (app.conns[i] == c) {
            app.conns[i] = app.conns[--app.nconns];
            break;
        }
    }
}

/* With --http: "/hello..." gets 200 "METHOD PATH QUERY\n", anything else no
 * reply at all (the server answers 404). */
static void app_on_http(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    char body[512];
    int n;

    (void)arg;
    app_enter();
    if (strncmp(req->path, "/hello", 6) != 0)
        return;
    n = snprintf(body, sizeof(body), "%s %s %s\n", req->method, req->path,
                 req->query != NULL ? req->query : "-");
    if (n < 0 || (size_t)n >= sizeof(body))
        n = 0;
    ws_conn_http_reply(c, 200, NULL, body, (size_t)n);
}

/* ---- jobs ------------------------------------------------------------------ */

static const char *str_or_null(const json_t *job, const char *key)
{
    return json_string_value(json_object_get(job, key));
}

static json_t *job_stats(void)
{
    return json_pack("{sI sI sI si sI sI sI}", "opens", (json_int_t)app.opens, "messages",
                     (json_int_t)app.messages, "closes", (json_int_t)app.closes, "last_code",
                     (int)app.last_code, "reentered", (json_int_t)app.reentered,
                     "unterminated", (json_int_t)app.unterminated, "conns",
                     (json_int_t)ws_server_conn_count(server));
}

/* ws_conn_send or ws_conn_close on the connection opened last (among those
 * whose on_close has not run). */
static json_t *job_conn(const json_t *job, int close)
{
    size_t n = 0;
    const json_t *hex = json_object_get(job, close ? "reason" : "data");
    unsigned char *bytes = NULL, *text;
    int rc;

    if (app.nconns == 0)
        return json_pack("{ss}", "error", "no open connection");
    if (!json_is_null(hex) && (bytes = sio_unhex(hex, &n)) == NULL)
        return json_pack("{ss}", "error", "bad hex");
    if (close) {
        text = malloc(n + 1);           /* the reason, with its '\0' */
        if (text == NULL) {
            free(bytes);
            return json_pack("{ss}", "error", "no memory");
        }
        if (n > 0)
            memcpy(text, bytes, n);
        text[n] = '\0';
        rc = app_close(app.conns[app.nconns - 1],
                       (unsigned)json_integer_value(json_object_get(job, "code")),
                       bytes != NULL ? (const char *)text : NULL);
        free(text);
    } else {
        rc = app_send(app.conns[app.nconns - 1],
                      (enum ws_opcode)json_integer_value(json_object_get(job, "opcode")),
                      n > 0 ? bytes : NULL, n);
    }
    free(bytes);
    return json_pack("{si}", "rc", rc);
}

static json_t *job_accept_key(const json_t *job)
{
    char out[WS_ACCEPT_LEN + 1];
    int rc;

    memset(out, '#', sizeof(out));
    rc = ws_accept_key(str_or_null(job, "key"),
                       json_is_true(json_object_get(job, "null_out")) ? NULL : out);
    return json_pack("{si so sb}", "rc", rc, "out", sio_hex(out, sizeof(out)), "terminated",
                     out[WS_ACCEPT_LEN] == '\0');
}

static json_t *job_handshake_check(const json_t *job)
{
    static const char *const names[] = { "need_more", "done", "too_big", "bad" };
    char accept[WS_ACCEPT_LEN + 1];
    struct ws_head head;
    struct evbuffer *in = evbuffer_new();
    size_t n = 0;
    unsigned char *bytes = sio_unhex(json_object_get(job, "head"), &n);
    enum ws_head_status st = WS_HEAD_BAD;
    int status = 0;
    json_t *answer;

    memset(&head, 0, sizeof(head));
    memset(accept, '#', sizeof(accept));
    if (in != NULL && bytes != NULL && evbuffer_add(in, bytes, n) == 0) {
        st = ws_head_read(&head, in);
        if (st == WS_HEAD_DONE)
            status = ws_handshake_check(json_is_true(json_object_get(job, "null_head")) ? NULL
                                                                                     : &head,
                                        accept);
    }
    answer = json_pack("{ss si so sb}", "read", names[st], "status", status, "accept",
                       sio_hex(accept, sizeof(accept)), "terminated",
                       accept[WS_ACCEPT_LEN] == '\0');
    ws_head_clear(&head);
    if (in != NULL)
        evbuffer_free(in);
    free(bytes);
    return answer;
}

static json_t *job_frame_parse(const json_t *job)
{
    size_t n = 0;
    unsigned char *hex = sio_unhex(json_object_get(job, "buf"), &n), *buf = NULL;
    json_int_t max = json_integer_value(json_object_get(job, "max"));
    int null_buf = json_is_true(json_object_get(job, "null_buf"));
    int null_out = json_is_true(json_object_get(job, "null_out"));
    json_int_t null_len = json_integer_value(json_object_get(job, "len"));
    struct ws_frame f;
    ssize_t rc;
    json_int_t payload;
    json_t *answer;

    if (hex == NULL)
        return json_pack("{ss}", "error", "bad hex");
    /* An exact copy: reading past its end is a memory error under ASan. */
    if (n > 0 && (buf = malloc(n)) == NULL) {
        free(hex);
        return json_pack("{ss}", "error", "no memory");
    }
    if (n > 0)
        memcpy(buf, hex, n);
    free(hex);
    memset(&f, 0xAB, sizeof(f));
    rc = ws_frame_parse(null_buf ? NULL : buf, null_buf ? (size_t)(null_len < 0 ? 0 : null_len) : n,
                        (size_t)(max < 0 ? 0 : max), null_out ? NULL : &f);
    if (f.payload == NULL)
        payload = -1;
    else if (buf != NULL && f.payload >= buf && f.payload <= buf + n)
        payload = (json_int_t)(f.payload - buf);
    else
        payload = -2;
    answer = json_pack("{sI si si so sI sI sI}", "rc", (json_int_t)rc, "fin", f.fin, "opcode",
                       (int)f.opcode, "mask", sio_hex(f.mask, 4), "payload_len",
                       (json_int_t)f.payload_len, "header_len", (json_int_t)f.header_len,
                       "payload", payload);
    free(buf);
    return answer;
}

static json_t *job_frame_header(const json_t *job)
{
    unsigned char out[WS_MAX_HEADER_LEN + 2];
    size_t n;

    memset(out, 0xAB, sizeof(out));
    n = ws_frame_header(out, (int)json_integer_value(json_object_get(job, "fin")),
                        (enum ws_opcode)json_integer_value(json_object_get(job, "opcode")),
                        (uint64_t)json_integer_value(json_object_get(job, "len")));
    return json_pack("{sI so}", "n", (json_int_t)n, "bytes",
                     sio_hex(out, n < WS_MAX_HEADER_LEN ? n : WS_MAX_HEADER_LEN));
}

static json_t *job_mask(const json_t *job)
{
    size_t n = 0, k = 0;
    unsigned char *data = sio_unhex(json_object_get(job, "data"), &n);
    unsigned char *key = sio_unhex(json_object_get(job, "key"), &k);
    json_t *answer;

    if (data == NULL || key == NULL || k != 4)
        answer = json_pack("{ss}", "error", "bad data or key");
    else {
        ws_mask(data, n, key);
        answer = json_pack("{so}", "data", sio_hex(data, n));
    }
    free(data);
    free(key);
    return answer;
}

static json_t *job_close_parse(const json_t *job)
{
    size_t n = 0;
    unsigned char *hex = sio_unhex(json_object_get(job, "payload"), &n), *p;
    unsigned code = (unsigned)json_integer_value(json_object_get(job, "code"));
    int rc;

    if (hex == NULL)
        return json_pack("{ss}", "error", "bad hex");
    p = malloc(n > 0 ? n : 1);          /* exact length, as above */
    if (p == NULL) {
        free(hex);
        return json_pack("{ss}", "error", "no memory");
    }
    memcpy(p, hex, n);
    free(hex);
    rc = ws_close_parse(p, n, &code);
    free(p);
    return json_pack("{si sI}", "rc", rc, "code", (json_int_t)code);
}

static json_t *do_job(const json_t *job)
{
    const char *op = str_or_null(job, "op");

    if (op == NULL)
        return json_pack("{ss}", "error", "no op");
    if (strcmp(op, "stats") == 0)
        return job_stats();
    if (strcmp(op, "has_token") == 0)
        return json_pack("{si}", "rc", ws_has_token(str_or_null(job, "list"),
                                                    str_or_null(job, "token")));
    if (strcmp(op, "accept_key") == 0)
        return job_accept_key(job);
    if (strcmp(op, "handshake_check") == 0)
        return job_handshake_check(job);
    if (strcmp(op, "frame_parse") == 0)
        return job_frame_parse(job);
    if (strcmp(op, "frame_header") == 0)
        return job_frame_header(job);
    if (strcmp(op, "mask") == 0)
        return job_mask(job);
    if (strcmp(op, "close_parse") == 0)
        return job_close_parse(job);
    if (strcmp(op, "send") == 0)
        return job_conn(job, 0);
    if (strcmp(op, "close") == 0)
        return job_conn(job, 1);
    return json_pack("{ss}", "error", "unknown op");
}

/* Writes obj (stolen) as one line on the channel, with the job's id. */
static void answer(struct bufferevent *bev, const json_t *job, json_t *obj)
{
    char *text;

    if (obj == NULL)
        obj = json_pack("{ss}", "error", "out of memory");
    if (obj == NULL)
        return;
    if (json_object_get(job, "id") != NULL)
        json_object_set(obj, "id", json_object_get(job, "id"));
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text != NULL) {
        struct evbuffer *out = bufferevent_get_output(bev);
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
    }
}

static void channel_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line;

    (void)arg;
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        json_t *job = json_loadb(line, n, 0, NULL);
        free(line);
        if (!json_is_object(job)) {
            fprintf(stderr, "subject-ex04: a job that is not a JSON object\n");
            json_decref(job);
            continue;
        }
        answer(bev, job, do_job(job));
        json_decref(job);
    }
}

static void channel_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        event_base_loopexit(arg, NULL);     /* the judge is done */
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* ---- main ------------------------------------------------------------------ */

static int parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && *out <= max ? 0 : -1;
}

static int parse_args(int argc, char **argv, int *port, struct ws_config *cfg)
{
    unsigned long long v;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--broadcast") == 0) {
            app.broadcast = 1;
            continue;
        }
        if (strcmp(opt, "--http") == 0) {
            app.http = 1;
            continue;
        }
        if (parse_number(val, (unsigned long long)1 << 40, &v) < 0) {
            fprintf(stderr, "subject-ex04: %s: unknown option, or not followed by a number\n",
                    opt);
            return -1;
        }
        i++;
        if (strcmp(opt, "--port") == 0 && v <= 65535)
            *port = (int)v;
        else if (strcmp(opt, "--max-message") == 0)
            cfg->max_message = (size_t)v;
        else if (strcmp(opt, "--max-output") == 0)
            cfg->max_output = (size_t)v;
        else if (strcmp(opt, "--ping-interval") == 0 && v <= 3600000)
            cfg->ping_interval_ms = (unsigned)v;
        else if (strcmp(opt, "--close-timeout") == 0 && v <= 3600000)
            cfg->close_timeout_ms = (unsigned)v;
        else {
            fprintf(stderr, "subject-ex04: unknown option or bad value: %s %s\n", opt, val);
            return -1;
        }
    }
    if (*port <= 0) {
        fprintf(stderr, "subject-ex04: --port P is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ws_handlers handlers = {
        .on_open = app_on_open, .on_message = app_on_message, .on_close = app_on_close,
    };
    struct event_config *ecfg = NULL;
    struct bufferevent *channel = NULL;
    struct event *sigterm = NULL;
    struct ws_config cfg;
    char err[256] = "";
    int port = 0, rc = 1;

    ws_config_default(&cfg);
    if (parse_args(argc, argv, &port, &cfg) < 0)
        return 2;
    sio_init("subject-ex04");
    /* A precise clock: the keepalive and close timers of the tests are
     * short, and the kernel's tick would move them by 4 ms. */
    ecfg = event_config_new();
    if (ecfg == NULL)
        goto out;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (base == NULL)
        goto out;
    /* The judge ends the job channel and sends SIGTERM at once: whichever
     * stops the loop first, the other must not kill the process while it
     * frees everything (the signal event restores this disposition). */
    signal(SIGTERM, SIG_IGN);
    evutil_make_socket_nonblocking(SIO_JOB_FD);
    channel = bufferevent_socket_new(base, SIO_JOB_FD, BEV_OPT_CLOSE_ON_FREE);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (channel == NULL || sigterm == NULL || evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, "subject-ex04: cannot set up the job channel or SIGTERM\n");
        goto out;
    }
    bufferevent_setcb(channel, channel_read_cb, NULL, channel_event_cb, base);
    bufferevent_enable(channel, EV_READ | EV_WRITE);
    if (app.http)
        handlers.on_http = app_on_http;
    server = ws_server_new(base, "127.0.0.1", port, &cfg, &handlers, NULL, err, sizeof(err));
    if (server == NULL) {
        fprintf(stderr, "subject-ex04: ws_server_new failed: %s\n", err);
        goto out;
    }
    event_base_dispatch(base);
    rc = 0;
out:
    ws_server_free(server);
    if (channel != NULL)
        bufferevent_free(channel);
    close(SIO_ANSWER_FD);
    if (sigterm != NULL)
        event_free(sigterm);
    if (base != NULL)
        event_base_free(base);
    libevent_global_shutdown();
    return rc;
}

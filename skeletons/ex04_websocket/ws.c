/*
 * ws.c - Exercise 4, the protocol layer: the WebSocket handshake, frames and
 * connections on bufferevents (RFC 6455).
 *
 * YOUR FILE.  Fill in every TODO(ex04); the contract is in ws.h and the
 * guide in docs/en/ex04_websocket.md (docs/fr/ in French).  Check your work
 * with `make ex04 TESTARGS='--filter ex04_handshake*'`, then ex04_frames,
 * then the chat (chat.c), and `make grade` for your score.
 *
 * The plan.  One `struct ws_conn` per TCP connection, with one bufferevent
 * and one timer.  A connection goes through these states:
 *
 *   CONN_HEAD     reading the request head (ws_head_read), then either
 *   CONN_HTTP     a plain HTTP reply is being written; freed once written,
 *   CONN_OPEN     or the handshake succeeded: frames flow both ways;
 *   CONN_CLOSING  a close frame was sent or received: waiting for the
 *                 output to drain and for the peer's close frame;
 *   CONN_DEAD     to be freed by the timer at the next loop turn.
 *
 * The rule that keeps this safe: a connection is freed ONLY in timer_cb()
 * (its own timer), never inside a ws_conn_* call, and never while the
 * application may be walking its list.  Code that decides a connection must
 * go calls conn_schedule_free(), which sets CONN_DEAD and fires the timer
 * with a zero delay.  The timer also does the keepalive (CONN_OPEN) and the
 * timeouts (CONN_HEAD, CONN_HTTP, CONN_CLOSING).
 */
#include "ws.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

enum conn_state { CONN_HEAD, CONN_HTTP, CONN_OPEN, CONN_CLOSING, CONN_DEAD };

struct ws_conn {
    struct ws_server *srv;
    struct bufferevent *bev;
    struct event *timer;          /* keepalive, timeouts, deferred free */
    enum conn_state state;
    struct ws_head *head;         /* during CONN_HEAD only */
    void *data;                   /* the application's */
    TAILQ_ENTRY(ws_conn) link;    /* in srv->conns */

    /* The message being reassembled from its fragments. */
    enum ws_opcode msg_op;        /* WS_OP_CONT: no message in progress */
    unsigned char *msg;
    size_t msg_len;

    int opened;                   /* on_open was called: on_close is due */
    int replied;                  /* ws_conn_http_reply was called */
    int close_sent;               /* our close frame is queued */
    int close_received;           /* the peer's close frame arrived */
    unsigned close_code;          /* its code (1005: none); for on_close */
    int framing_broken;           /* a framing error: the input is garbage */
    int heard;                    /* bytes arrived since the last tick */
    int ping_outstanding;         /* keepalive ping sent, no answer yet */
    int wr_shut;                  /* shutdown(SHUT_WR) done */
    int eof;                      /* the peer closed its side */
};

struct ws_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct ws_config cfg;
    struct ws_handlers h;
    void *arg;
    TAILQ_HEAD(, ws_conn) conns;
    size_t nconns;
    int port;
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

/* ---- 1. Pure functions --------------------------------------------------- */

int ws_has_token(const char *list, const char *token)
{
    /* TODO(ex04): say whether the comma-separated list holds token.  Hint: walk the
     * list element by element: skip spaces, tabs and commas, find the end of the
     * element (the next ',' or the end), trim trailing spaces and tabs, then
     * compare the whole element with strncasecmp(start, token, strlen(token)) and
     * its length with strlen(token). */
    (void)list;
    (void)token;
    return 0;
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    /* TODO(ex04): compute base64(SHA-1(key + WS_GUID)).  Hint: refuse NULL and keys
     * over 64 characters; copy key then WS_GUID into a local buffer, then
     * return ws_sha1_base64(buf, len, out, WS_ACCEPT_LEN + 1). */
    (void)key;
    (void)out;
    return -1;
}

/* 22 characters of the base64 alphabet, then "==". */
static int key_is_valid(const char *key)
{
    /* TODO(ex04): check the key's format.  Hint: strlen(key) == WS_KEY_LEN,
     * key + 22 is "==", and key[0..21] are in the base64 alphabet (strchr on
     * "A-Za-z0-9+/" spelled out). */
    (void)key;
    return 0;
}

int ws_handshake_check(const struct ws_head *head, char accept[WS_ACCEPT_LEN + 1])
{
    /* TODO(ex04): check the head in the order the contract gives and return 101, 400
     * or 426.  Hint: strcmp(head->method, "GET"), strcmp(head->version,
     * "HTTP/1.1"), ws_head_get(head, "Host") != NULL, ws_has_token() on Upgrade
     * ("websocket") and Connection ("upgrade"), Sec-WebSocket-Version "13" else
     * 426, then key_is_valid() and ws_accept_key(key, accept). */
    (void)head;
    (void)accept;
    (void)key_is_valid;
    return 501;
}

ssize_t ws_frame_parse(const unsigned char *buf, size_t len, size_t max_payload,
                       struct ws_frame *out)
{
    /* TODO(ex04): decode one client frame (RFC 6455, 5.2).  Hint: memset(out);
     * len < 2 -> 0; byte 0: FIN = b >> 7, RSV = b & 0x70 (must be 0), opcode =
     * b & 0x0F (0, 1, 2, 8, 9, 10 only); byte 1: MASK = b >> 7 (must be 1), length =
     * b & 0x7F, then 126 -> 2 more bytes, 127 -> 8 more bytes (top bit 0),
     * big-endian; control frames: FIN 1 and length <= 125; data frames over
     * max_payload -> -WS_CLOSE_TOO_BIG; then the 4-byte mask key; fill *out;
     * return 0 until header_len + payload_len bytes are there. */
    (void)buf;
    (void)len;
    (void)max_payload;
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    return -WS_CLOSE_INTERNAL;
}

size_t ws_frame_header(unsigned char out[WS_MAX_HEADER_LEN], int fin,
                       enum ws_opcode opcode, uint64_t len)
{
    /* TODO(ex04): write a server frame header (no mask).  Hint: out[0] = (fin ? 0x80
     * : 0) | opcode; len < 126: out[1] = len, 2 bytes; len <= 0xFFFF: out[1] = 126
     * then 2 bytes big-endian, 4 bytes; else out[1] = 127 then 8 bytes, 10. */
    (void)out;
    (void)fin;
    (void)opcode;
    (void)len;
    return 0;
}

void ws_mask(unsigned char *data, size_t len, const unsigned char key[4])
{
    /* TODO(ex04): XOR each byte with the key.  Hint: data[i] ^= key[i % 4]. */
    (void)data;
    (void)len;
    (void)key;
}

int ws_close_parse(const unsigned char *payload, size_t len, unsigned *code)
{
    /* TODO(ex04): check a close payload.  Hint: len 0 -> *code = 1005, return 0;
     * len 1 -> 1002; code = p[0] << 8 | p[1]; refuse < 1000, 1004-1006,
     * 1015-2999, >= 5000 with 1002; ws_utf8_valid(p + 2, len - 2) else 1007. */
    (void)payload;
    (void)len;
    (void)code;
    return WS_CLOSE_INTERNAL;
}

/* ---- 2. Given: connection bookkeeping ------------------------------------ */

static void arm_timer(struct ws_conn *c, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

    evtimer_add(c->timer, &tv);
}

/* Given: marks c to be freed by its timer at the next turn of the loop.
 * Nothing is read or written any more; queued output is dropped. */
static void conn_schedule_free(struct ws_conn *c)
{
    c->state = CONN_DEAD;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, 0);
}

/* Given: the one place where a connection is freed (from timer_cb, or from
 * ws_server_free with notify = 0). */
static void conn_free(struct ws_conn *c, int notify)
{
    struct ws_server *s = c->srv;

    if (notify && c->opened && s->h.on_close != NULL)
        s->h.on_close(c, c->close_received ? c->close_code : WS_CLOSE_ABNORMAL, s->arg);
    TAILQ_REMOVE(&s->conns, c, link);
    s->nconns--;
    bufferevent_free(c->bev);
    event_free(c->timer);
    if (c->head != NULL) {
        ws_head_clear(c->head);
        free(c->head);
    }
    free(c->msg);
    free(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default: return "Status";
    }
}

/* Given: queues a complete HTTP reply with "Connection: close" and lets the
 * connection be freed once it is written (see conn_write_cb).  `extra` is
 * NULL or more header lines, each ending in "\r\n". */
static void conn_http_send(struct ws_conn *c, int status, const char *extra,
                           const char *ctype, const void *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    c->state = CONN_HTTP;
    c->replied = 1;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                        status, status_text(status),
                        ctype ? ctype : "text/plain; charset=utf-8", len,
                        extra ? extra : "");
    if (len > 0)
        evbuffer_add(out, body, len);
    bufferevent_disable(c->bev, EV_READ);
    arm_timer(c, c->srv->cfg.close_timeout_ms);
}

/* Given: an error reply whose body is the reason and a newline. */
static void conn_http_error(struct ws_conn *c, int status, const char *reason)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, status_text(status), reason);

    conn_http_send(c, status, status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL,
                   NULL, body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

int ws_conn_http_reply(struct ws_conn *c, int status, const char *content_type,
                       const void *body, size_t len)
{
    if (c == NULL || c->state != CONN_HTTP || c->replied || status < 100 || status > 599 ||
        (body == NULL && len > 0))
        return -1;
    conn_http_send(c, status, NULL, content_type, body, len);
    return 0;
}

void ws_conn_set_data(struct ws_conn *c, void *data)
{
    if (c != NULL)
        c->data = data;
}

void *ws_conn_get_data(const struct ws_conn *c)
{
    return c ? c->data : NULL;
}

/* ---- 3. Sending ---------------------------------------------------------- */

/* Queues one frame (header + payload).  Returns 0, or -1 when the output
 * buffer is now over max_output: c is then scheduled to be freed. */
static int conn_send_frame(struct ws_conn *c, enum ws_opcode opcode, const void *data,
                           size_t len)
{
    /* TODO(ex04): queue header + payload, and drop a slow reader.  Hint:
     * ws_frame_header(hdr, 1, opcode, len); evbuffer_add both to
     * bufferevent_get_output(c->bev); if the output is now longer than
     * c->srv->cfg.max_output: conn_schedule_free(c) and return -1 (never free
     * here: the application may be walking its list). */
    (void)c;
    (void)opcode;
    (void)data;
    (void)len;
    return -1;
}

int ws_conn_send(struct ws_conn *c, enum ws_opcode opcode, const void *data, size_t len)
{
    /* TODO(ex04): check the state and the opcode, then send.  Hint: only in
     * CONN_OPEN; WS_OP_TEXT, WS_OP_BINARY, or WS_OP_PING of at most 125 bytes;
     * return conn_send_frame(c, opcode, data, len). */
    (void)conn_send_frame;
    (void)c;
    (void)opcode;
    (void)data;
    (void)len;
    return -1;
}

/* Queues a close frame (code 0: an empty payload), enters CONN_CLOSING and
 * starts the close timeout.  Returns conn_send_frame's result. */
static int conn_send_close(struct ws_conn *c, unsigned code, const char *reason)
{
    /* TODO(ex04): queue a close frame and enter CONN_CLOSING.  Hint: payload = the
     * code big-endian then the reason (cut to 123 bytes), empty when code is 0;
     * drop any half-built message (free c->msg, msg_len = 0, msg_op =
     * WS_OP_CONT); c->close_sent = 1; state CONN_CLOSING; arm_timer(c,
     * close_timeout_ms); return conn_send_frame(c, WS_OP_CLOSE, payload, n). */
    (void)c;
    (void)code;
    (void)reason;
    return -1;
}

int ws_conn_close(struct ws_conn *c, unsigned code, const char *reason)
{
    /* TODO(ex04): validate, then start the closing handshake.  Hint: -1 unless
     * CONN_OPEN, 1000 <= code <= 4999 but not 1004-1006 or 1015, reason at most
     * 123 bytes of UTF-8 (ws_utf8_valid); then conn_send_close(c, code, reason). */
    (void)conn_send_close;
    (void)c;
    (void)code;
    (void)reason;
    return -1;
}

/* Fails the connection (RFC 6455, 7.1.7): sends a close frame with `code`
 * and stops delivering messages.  After a framing error nothing more can be
 * parsed: the rest of the input is discarded. */
static void conn_fail(struct ws_conn *c, unsigned code, const char *reason, int framing)
{
    /* TODO(ex04): fail the connection.  Hint: if framing, c->framing_broken = 1 (the
     * rest of the input is garbage); if CONN_OPEN, conn_send_close(c, code,
     * reason). */
    (void)c;
    (void)code;
    (void)reason;
    (void)framing;
}

/* ---- 4. Receiving -------------------------------------------------------- */

/* The head is complete: answer it.  Leaves c in CONN_OPEN (the caller then
 * reads the frames that came with the head), CONN_HTTP or CONN_DEAD. */
static void conn_handshake(struct ws_conn *c)
{
    /* TODO(ex04): answer the complete head.  Hint: split head->target at '?' into
     * req.path and req.query; no "websocket" token in Upgrade: plain HTTP (on_http
     * with c->state = CONN_HTTP, then 404 unless c->replied; or 400 without
     * on_http); else ws_handshake_check(): not 101 -> conn_http_error(c, status,
     * ...); 101 -> queue "HTTP/1.1 101 Switching Protocols" with Upgrade,
     * Connection and Sec-WebSocket-Accept, state CONN_OPEN, c->opened = 1,
     * arm_timer(ping_interval_ms), then on_open(c, &req, arg). */
    conn_http_error(c, 501, "TODO(ex04): conn_handshake in ws.c");
}

/* Reads the request head; on its end, answers the handshake. */
static void conn_read_head(struct ws_conn *c, struct evbuffer *in)
{
    /* TODO(ex04): read the head and answer it once complete.  Hint: switch on
     * ws_head_read(c->head, in): NEED_MORE -> return (the rest comes later);
     * TOO_BIG -> conn_http_error(c, 431, ...); BAD -> 400; DONE ->
     * conn_handshake(c).  Then ws_head_clear + free the head, c->head = NULL. */
    (void)in;
    (void)conn_handshake;
    conn_http_error(c, 501, "TODO(ex04): conn_read_head in ws.c");
}

/* A control frame: its payload (at most 125 bytes) is already unmasked. */
static void conn_on_control(struct ws_conn *c, enum ws_opcode op, unsigned char *p, size_t n)
{
    /* TODO(ex04): ping -> pong with the same payload (if CONN_OPEN); pong ->
     * nothing; close -> ws_close_parse (bad: conn_fail(c, bad, ..., 1)), then
     * close_received = 1, close_code = code, echo the code if !close_sent
     * (conn_send_close, 0 for 1005), stop reading (framing_broken = 1,
     * bufferevent_disable EV_READ) and conn_schedule_free(c) if the output is
     * already empty (else conn_write_cb will). */
    (void)c;
    (void)op;
    (void)p;
    (void)n;
}

/* A data frame whose payload (f->payload_len bytes) is next in `in`. */
static void conn_on_data(struct ws_conn *c, const struct ws_frame *f, struct evbuffer *in)
{
    /* TODO(ex04): add a data frame's payload to the message and deliver it when
     * FIN.  Hint: not CONN_OPEN: drain the payload; CONT without a message, or
     * TEXT/BINARY inside one: drain, conn_fail(c, 1002, ..., 0); realloc c->msg
     * to msg_len + n + 1; evbuffer_remove the payload after msg_len; ws_mask it
     * with f->mask; on FIN: text must be ws_utf8_valid (else conn_fail 1007),
     * add the '\0', call on_message, then free the message. */
    (void)c;
    (void)f;
    evbuffer_drain(in, (size_t)f->payload_len);
}

/* Reads every complete frame in `in`. */
static void conn_read_frames(struct ws_conn *c, struct evbuffer *in)
{
    /* TODO(ex04): parse every complete frame in `in`.  Hint: loop while CONN_OPEN or
     * CONN_CLOSING: framing_broken -> drain all and return; peek at most
     * WS_MAX_HEADER_LEN bytes with evbuffer_pullup; ws_frame_parse with
     * max_payload = max_message - msg_len; < 0: conn_fail(c, -rc, ..., 1);
     * header_len == 0 or the payload not all there: return; else drain the
     * header, then control frames: evbuffer_remove into a 125-byte array, ws_mask,
     * conn_on_control; data frames: conn_on_data. */
    (void)conn_on_control;
    (void)conn_on_data;
    (void)conn_fail;
    evbuffer_drain(in, evbuffer_get_length(in));
    (void)c;
}

/* ---- 5. Callbacks -------------------------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    /* TODO(ex04): mark the peer as heard, read the head, then the frames.  Hint:
     * c->heard = 1, c->ping_outstanding = 0; CONN_HEAD: conn_read_head; then, if
     * the connection is now open or closing, conn_read_frames AT ONCE: frames may
     * have come with the head, and no other read event will come for them;
     * CONN_HTTP / CONN_DEAD: drain.  Never drain while still in CONN_HEAD. */
    struct ws_conn *c = arg;

    conn_read_head(c, bufferevent_get_input(bev));
    (void)conn_read_frames;
}

/* The output buffer is empty: what was waiting for that may go on. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct ws_conn *c = arg;

    (void)bev;
    if (c->state == CONN_HTTP) {
        conn_schedule_free(c);      /* given: the HTTP reply is written */
    } else if (c->state == CONN_CLOSING && c->close_sent) {
        /* TODO(ex04): our close frame is written.  Hint: if the peer's close
         * frame came (or its EOF), conn_schedule_free(c): the server closes
         * the TCP connection first; else, once, shutdown(fd, SHUT_WR) and
         * c->wr_shut = 1, then wait for the peer (or the close timeout). */
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ws_conn *c = arg;

    if ((what & BEV_EVENT_EOF) && (c->state == CONN_HTTP || c->state == CONN_CLOSING) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        /* Half-closed: let our reply or close frame drain first. */
        c->eof = 1;
        bufferevent_disable(bev, EV_READ);
        return;
    }
    /* EOF, a socket error, or a timeout: the peer is gone. */
    conn_schedule_free(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state != CONN_OPEN) {
        /* CONN_DEAD, or the head / HTTP reply / close took too long. */
        conn_free(c, 1);
        return;
    }
    /* TODO(ex04): keepalive.  Hint: c->heard -> c->heard = 0; else no ping
     * outstanding -> conn_send_frame(c, WS_OP_PING, NULL, 0) (on -1 return: the
     * connection is being dropped) and ping_outstanding = 1; else (silent for
     * a whole interval after a ping) conn_free(c, 1) and return.  Then re-arm:
     * arm_timer(c, ping_interval_ms). */
    arm_timer(c, c->srv->cfg.ping_interval_ms);
}

/* ---- 6. Given: the listener ---------------------------------------------- */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct ws_server *s = arg;
    struct ws_conn *c = calloc(1, sizeof(*c));
    int one = 1;

    (void)l;
    (void)sa;
    (void)salen;
    if (c != NULL)
        c->head = calloc(1, sizeof(*c->head));
    if (c != NULL && c->head != NULL)
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c != NULL && c->bev != NULL)
        c->timer = evtimer_new(s->base, timer_cb, c);
    if (c == NULL || c->head == NULL || c->bev == NULL || c->timer == NULL) {
        if (c != NULL && c->bev != NULL)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c != NULL)
            free(c->head);
        free(c);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = s;
    c->state = CONN_HEAD;
    c->msg_op = WS_OP_CONT;
    TAILQ_INSERT_TAIL(&s->conns, c, link);
    s->nconns++;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, s->cfg.close_timeout_ms);      /* for the request head */
}

struct ws_server *ws_server_new(struct event_base *base, const char *addr, int port,
                                const struct ws_config *cfg,
                                const struct ws_handlers *handlers, void *arg,
                                char *err, size_t errlen)
{
    struct ws_server *s = NULL;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    char dummy[1];

    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (base == NULL || handlers == NULL || port < 0 || port > 65535 ||
        inet_pton(AF_INET, addr ? addr : "127.0.0.1", &sin.sin_addr) != 1) {
        snprintf(err, errlen, "invalid arguments");
        goto err;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    s->base = base;
    s->h = *handlers;
    s->arg = arg;
    if (cfg != NULL)
        s->cfg = *cfg;
    else
        ws_config_default(&s->cfg);
    TAILQ_INIT(&s->conns);
    s->listener = evconnlistener_new_bind(base, accept_cb, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
                                          (struct sockaddr *)&sin, sizeof(sin));
    if (s->listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", addr ? addr : "127.0.0.1", port,
                 strerror(errno));
        goto err;
    }
    if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&sin, &slen) != 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        goto err;
    }
    s->port = ntohs(sin.sin_port);
    return s;
err:
    ws_server_free(s);
    return NULL;
}

int ws_server_port(const struct ws_server *s)
{
    return s ? s->port : -1;
}

size_t ws_server_conn_count(const struct ws_server *s)
{
    return s ? s->nconns : 0;
}

void ws_server_free(struct ws_server *s)
{
    if (s == NULL)
        return;
    while (!TAILQ_EMPTY(&s->conns))
        conn_free(TAILQ_FIRST(&s->conns), 0);
    if (s->listener != NULL)
        evconnlistener_free(s->listener);
    free(s);
}

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
    size_t tlen;

    if (list == NULL || token == NULL || (tlen = strlen(token)) == 0)
        return 0;
    while (*list != '\0') {
        const char *start, *end;

        while (*list == ' ' || *list == '\t' || *list == ',')
            list++;
        start = list;
        while (*list != '\0' && *list != ',')
            list++;
        end = list;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char buf[64 + sizeof(WS_GUID)];
    size_t klen;

    if (key == NULL || out == NULL || (klen = strlen(key)) > 64)
        return -1;
    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
    return ws_sha1_base64(buf, klen + sizeof(WS_GUID) - 1, out, WS_ACCEPT_LEN + 1);
}

/* 22 characters of the base64 alphabet, then "==". */
static int key_is_valid(const char *key)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (key == NULL || strlen(key) != WS_KEY_LEN || strcmp(key + 22, "==") != 0)
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (strchr(b64, key[i]) == NULL)
            return 0;
    return 1;
}

int ws_handshake_check(const struct ws_head *head, char accept[WS_ACCEPT_LEN + 1])
{
    const char *version, *key = NULL;

    if (head == NULL || head->method == NULL || strcmp(head->method, "GET") != 0)
        return 400;
    if (head->version == NULL || strcmp(head->version, "HTTP/1.1") != 0)
        return 400;
    if (ws_head_get(head, "Host") == NULL)
        return 400;
    if (!ws_has_token(ws_head_get(head, "Upgrade"), "websocket"))
        return 400;
    if (!ws_has_token(ws_head_get(head, "Connection"), "upgrade"))
        return 400;
    version = ws_head_get(head, "Sec-WebSocket-Version");
    if (version == NULL || strcmp(version, "13") != 0)
        return 426;
    key = ws_head_get(head, "Sec-WebSocket-Key");
    if (!key_is_valid(key) || ws_accept_key(key, accept) != 0)
        return 400;
    return 101;
}

ssize_t ws_frame_parse(const unsigned char *buf, size_t len, size_t max_payload,
                       struct ws_frame *out)
{
    uint64_t plen;
    size_t pos = 2;
    int opcode;

    if (out == NULL || (buf == NULL && len > 0))
        return -WS_CLOSE_INTERNAL;
    memset(out, 0, sizeof(*out));
    if (max_payload > WS_PAYLOAD_LIMIT)
        max_payload = WS_PAYLOAD_LIMIT;
    if (len < 2)
        return 0;
    opcode = buf[0] & 0x0F;
    if (buf[0] & 0x70)
        return -WS_CLOSE_PROTOCOL;              /* RSV1-3: no extension */
    if (opcode > WS_OP_BINARY && (opcode < WS_OP_CLOSE || opcode > WS_OP_PONG))
        return -WS_CLOSE_PROTOCOL;              /* unknown opcode */
    if (!(buf[1] & 0x80))
        return -WS_CLOSE_PROTOCOL;              /* client frames are masked */
    plen = buf[1] & 0x7F;
    if (opcode >= WS_OP_CLOSE && (!(buf[0] & 0x80) || plen > WS_MAX_CONTROL_PAYLOAD))
        return -WS_CLOSE_PROTOCOL;              /* control: FIN 1, <= 125 bytes */
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        pos = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        if (plen >> 63)
            return -WS_CLOSE_PROTOCOL;
        pos = 10;
    }
    if (opcode < WS_OP_CLOSE && plen > max_payload)
        return -WS_CLOSE_TOO_BIG;
    if (len < pos + 4)
        return 0;
    out->fin = buf[0] >> 7;
    out->opcode = (enum ws_opcode)opcode;
    memcpy(out->mask, buf + pos, 4);
    out->payload_len = plen;
    out->header_len = pos + 4;
    if (len - out->header_len < plen)
        return 0;
    out->payload = buf + out->header_len;
    return (ssize_t)(out->header_len + plen);
}

size_t ws_frame_header(unsigned char out[WS_MAX_HEADER_LEN], int fin,
                       enum ws_opcode opcode, uint64_t len)
{
    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

void ws_mask(unsigned char *data, size_t len, const unsigned char key[4])
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= key[i & 3];
}

int ws_close_parse(const unsigned char *payload, size_t len, unsigned *code)
{
    unsigned c;

    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1)
        return WS_CLOSE_PROTOCOL;
    c = (unsigned)payload[0] << 8 | payload[1];
    if (c < 1000 || (c >= 1004 && c <= 1006) || (c >= 1015 && c <= 2999) || c >= 5000)
        return WS_CLOSE_PROTOCOL;
    if (!ws_utf8_valid(payload + 2, len - 2))
        return WS_CLOSE_BAD_DATA;
    *code = c;
    return 0;
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
    unsigned char hdr[WS_MAX_HEADER_LEN];
    size_t hlen = ws_frame_header(hdr, 1, opcode, len);
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (evbuffer_add(out, hdr, hlen) != 0 || (len > 0 && evbuffer_add(out, data, len) != 0) ||
        evbuffer_get_length(out) > c->srv->cfg.max_output) {
        /* A slow reader (or no memory): drop it, but not now. */
        conn_schedule_free(c);
        return -1;
    }
    return 0;
}

int ws_conn_send(struct ws_conn *c, enum ws_opcode opcode, const void *data, size_t len)
{
    if (c == NULL || c->state != CONN_OPEN || (data == NULL && len > 0))
        return -1;
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY &&
        !(opcode == WS_OP_PING && len <= WS_MAX_CONTROL_PAYLOAD))
        return -1;
    return conn_send_frame(c, opcode, data, len);
}

/* Queues a close frame (code 0: an empty payload), enters CONN_CLOSING and
 * starts the close timeout.  Returns conn_send_frame's result. */
static int conn_send_close(struct ws_conn *c, unsigned code, const char *reason)
{
    unsigned char payload[WS_MAX_CONTROL_PAYLOAD];
    size_t rlen = reason ? strlen(reason) : 0, n = 0;

    if (code != 0) {
        if (rlen > WS_MAX_CONTROL_PAYLOAD - 2)
            rlen = WS_MAX_CONTROL_PAYLOAD - 2;
        payload[0] = (unsigned char)(code >> 8);
        payload[1] = (unsigned char)code;
        if (rlen > 0)
            memcpy(payload + 2, reason, rlen);
        n = 2 + rlen;
    }
    free(c->msg);
    c->msg = NULL;
    c->msg_len = 0;
    c->msg_op = WS_OP_CONT;
    c->close_sent = 1;
    c->state = CONN_CLOSING;
    arm_timer(c, c->srv->cfg.close_timeout_ms);
    return conn_send_frame(c, WS_OP_CLOSE, payload, n);
}

int ws_conn_close(struct ws_conn *c, unsigned code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;

    if (c == NULL || c->state != CONN_OPEN)
        return -1;
    if (code < 1000 || code > 4999 || (code >= 1004 && code <= 1006) || code == 1015)
        return -1;
    if (rlen > WS_MAX_CONTROL_PAYLOAD - 2 || !ws_utf8_valid((const unsigned char *)reason, rlen))
        return -1;
    conn_send_close(c, code, reason);
    return 0;
}

/* Fails the connection (RFC 6455, 7.1.7): sends a close frame with `code`
 * and stops delivering messages.  After a framing error nothing more can be
 * parsed: the rest of the input is discarded. */
static void conn_fail(struct ws_conn *c, unsigned code, const char *reason, int framing)
{
    if (framing)
        c->framing_broken = 1;
    if (c->state == CONN_OPEN)
        conn_send_close(c, code, reason);
}

/* ---- 4. Receiving -------------------------------------------------------- */

/* The head is complete: answer it.  Leaves c in CONN_OPEN (the caller then
 * reads the frames that came with the head), CONN_HTTP or CONN_DEAD. */
static void conn_handshake(struct ws_conn *c)
{
    struct ws_server *s = c->srv;
    char accept[WS_ACCEPT_LEN + 1];
    struct ws_request req;
    char *q = strchr(c->head->target, '?');
    int status;

    if (q != NULL)
        *q = '\0';
    req.method = c->head->method;
    req.path = c->head->target;
    req.query = q ? q + 1 : NULL;
    req.head = c->head;
    if (!ws_has_token(ws_head_get(c->head, "Upgrade"), "websocket")) {
        /* Plain HTTP: the application answers, or 400. */
        if (s->h.on_http == NULL) {
            conn_http_error(c, 400, "this server only speaks WebSocket");
            return;
        }
        c->state = CONN_HTTP;
        s->h.on_http(c, &req, s->arg);
        if (!c->replied)
            conn_http_error(c, 404, "no such page");
        return;
    }
    status = ws_handshake_check(c->head, accept);
    if (status != 101) {
        conn_http_error(c, status, status == 426 ? "this server speaks WebSocket version 13"
                                                 : "not a valid WebSocket handshake");
        return;
    }
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    c->state = CONN_OPEN;
    c->opened = 1;
    arm_timer(c, s->cfg.ping_interval_ms);
    if (s->h.on_open != NULL)
        s->h.on_open(c, &req, s->arg);
}

/* Reads the request head; on its end, answers the handshake. */
static void conn_read_head(struct ws_conn *c, struct evbuffer *in)
{
    switch (ws_head_read(c->head, in)) {
    case WS_HEAD_NEED_MORE:
        return;
    case WS_HEAD_TOO_BIG:
        conn_http_error(c, 431, "the request head is too large");
        break;
    case WS_HEAD_BAD:
        conn_http_error(c, 400, "malformed request head");
        break;
    case WS_HEAD_DONE:
        conn_handshake(c);
        break;
    }
    ws_head_clear(c->head);
    free(c->head);
    c->head = NULL;
}

/* A control frame: its payload (at most 125 bytes) is already unmasked. */
static void conn_on_control(struct ws_conn *c, enum ws_opcode op, unsigned char *p, size_t n)
{
    unsigned code = 0;
    int bad;

    if (op == WS_OP_PING) {
        if (c->state == CONN_OPEN)
            conn_send_frame(c, WS_OP_PONG, p, n);
        return;
    }
    if (op != WS_OP_CLOSE)
        return;                     /* a pong: being heard is enough */
    bad = ws_close_parse(p, n, &code);
    if (bad != 0) {
        conn_fail(c, (unsigned)bad, "invalid close frame", 1);
        return;
    }
    c->close_received = 1;
    c->close_code = code;
    if (!c->close_sent)             /* echo the code (none: empty payload) */
        conn_send_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    /* Nothing more to read.  Free once our close frame is written. */
    c->framing_broken = 1;
    bufferevent_disable(c->bev, EV_READ);
    if (c->state == CONN_CLOSING &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_schedule_free(c);
}

/* A data frame whose payload (f->payload_len bytes) is next in `in`. */
static void conn_on_data(struct ws_conn *c, const struct ws_frame *f, struct evbuffer *in)
{
    struct ws_server *s = c->srv;
    size_t n = (size_t)f->payload_len;
    unsigned char *grown;
    enum ws_opcode op;

    if (c->state != CONN_OPEN) {    /* closing: data is ignored */
        evbuffer_drain(in, n);
        return;
    }
    if (f->opcode == WS_OP_CONT && c->msg_op == WS_OP_CONT) {
        evbuffer_drain(in, n);
        conn_fail(c, WS_CLOSE_PROTOCOL, "continuation frame without a message", 0);
        return;
    }
    if (f->opcode != WS_OP_CONT && c->msg_op != WS_OP_CONT) {
        evbuffer_drain(in, n);
        conn_fail(c, WS_CLOSE_PROTOCOL, "new message before the last one ended", 0);
        return;
    }
    /* ws_frame_parse checked that msg_len + n <= max_message. */
    grown = realloc(c->msg, c->msg_len + n + 1);
    if (grown == NULL) {
        evbuffer_drain(in, n);
        conn_fail(c, WS_CLOSE_INTERNAL, "out of memory", 0);
        return;
    }
    c->msg = grown;
    evbuffer_remove(in, c->msg + c->msg_len, n);
    ws_mask(c->msg + c->msg_len, n, f->mask);
    c->msg_len += n;
    if (f->opcode != WS_OP_CONT)
        c->msg_op = f->opcode;
    if (!f->fin)
        return;
    op = c->msg_op;
    if (op == WS_OP_TEXT && !ws_utf8_valid(c->msg, c->msg_len)) {
        conn_fail(c, WS_CLOSE_BAD_DATA, "text message is not UTF-8", 0);
        return;
    }
    c->msg[c->msg_len] = '\0';
    if (s->h.on_message != NULL)
        s->h.on_message(c, op, c->msg, c->msg_len, s->arg);
    free(c->msg);
    c->msg = NULL;
    c->msg_len = 0;
    c->msg_op = WS_OP_CONT;
}

/* Reads every complete frame in `in`. */
static void conn_read_frames(struct ws_conn *c, struct evbuffer *in)
{
    while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        size_t avail = evbuffer_get_length(in);
        size_t peek = avail < WS_MAX_HEADER_LEN ? avail : WS_MAX_HEADER_LEN;
        struct ws_frame f;
        ssize_t rc;

        if (c->framing_broken) {
            evbuffer_drain(in, avail);
            return;
        }
        if (avail == 0)
            return;
        rc = ws_frame_parse(evbuffer_pullup(in, (ssize_t)peek), peek,
                            c->srv->cfg.max_message - c->msg_len, &f);
        if (rc < 0) {
            conn_fail(c, (unsigned)-rc, rc == -WS_CLOSE_TOO_BIG ? "message too big"
                                                               : "protocol error", 1);
            continue;
        }
        if (f.header_len == 0 || avail - f.header_len < f.payload_len)
            return;                 /* wait for the rest of the frame */
        evbuffer_drain(in, f.header_len);
        if (f.opcode >= WS_OP_CLOSE) {
            unsigned char p[WS_MAX_CONTROL_PAYLOAD];
            size_t n = (size_t)f.payload_len;

            evbuffer_remove(in, p, n);
            ws_mask(p, n, f.mask);
            conn_on_control(c, f.opcode, p, n);
        } else
            conn_on_data(c, &f, in);
    }
}

/* ---- 5. Callbacks -------------------------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct ws_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    c->heard = 1;
    c->ping_outstanding = 0;
    if (c->state == CONN_HEAD)
        conn_read_head(c, in);
    /* The first frames may have come with the head: read them now, no
     * other read event will come for them. */
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
        conn_read_frames(c, in);
    else if (c->state != CONN_HEAD)   /* CONN_HTTP, CONN_DEAD: ignore input */
        evbuffer_drain(in, evbuffer_get_length(in));
}

/* The output buffer is empty: what was waiting for that may go on. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct ws_conn *c = arg;

    (void)bev;
    if (c->state == CONN_HTTP) {
        conn_schedule_free(c);
    } else if (c->state == CONN_CLOSING && c->close_sent) {
        if (c->close_received || c->eof) {
            conn_schedule_free(c);  /* the server closes the TCP connection first */
        } else if (!c->wr_shut) {
            /* Our close frame is out: say so with a FIN too, and wait for
             * the peer's close frame (or its FIN, or the timeout). */
            shutdown(bufferevent_getfd(c->bev), SHUT_WR);
            c->wr_shut = 1;
        }
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
    /* Keepalive: heard from since the last tick?  Otherwise ping once,
     * and drop the peer if the next tick finds it still silent. */
    if (c->heard) {
        c->heard = 0;
    } else if (!c->ping_outstanding) {
        if (conn_send_frame(c, WS_OP_PING, NULL, 0) != 0)
            return;                 /* dropped: the timer is set to free it */
        c->ping_outstanding = 1;
    } else {
        conn_free(c, 1);            /* no answer for a whole interval */
        return;
    }
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

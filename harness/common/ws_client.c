/*
 * ws_client.c - the harness's WebSocket client (see ws_client.h), written
 * from RFC 6455 sections 4.1 (the client's handshake), 5 (framing) and 7
 * (closing).  OpenSSL computes the expected Sec-WebSocket-Accept.
 */
#include "ws_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>

#define WSC_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WSC_MAX_HEAD 16384
#define WSC_MAX_HEADERS 64

enum wsc_phase { PH_HEAD, PH_FRAMES, PH_BODY };

struct wsc {
    struct event_base *base;
    struct bufferevent *bev;
    enum wsc_phase phase;
    int closed;                 /* EOF, reset, error or abort */
    int keep;
    int no_auto_reply;
    int close_sent;
    uint64_t rng;

    char expect_accept[32];
    int status;
    size_t head_bytes;
    size_t nheaders;
    char *hname[WSC_MAX_HEADERS], *hvalue[WSC_MAX_HEADERS];
    struct evbuffer *body;
    char *body_str;

    int frag_op;                /* 0: no fragmented message in progress */
    unsigned char *frag;
    size_t frag_len;

    struct wsc_msg *msgs;
    size_t nmsgs, cap;
    size_t count, nmessages, npongs;
    struct wsc_msg last;        /* copy of the last text/binary message */
    struct wsc_msg close_frame;
    int have_close;
    char error[256];
};

static uint64_t next_rand(struct wsc *c)
{
    /* xorshift64: mask keys and nonces need no cryptographic quality here. */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

static void set_error(struct wsc *c, const char *fmt, ...)
{
    va_list ap;

    if (c->error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
    }
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ);
}

static void free_msg(struct wsc_msg *m)
{
    free(m->data);
    m->data = NULL;
}

/* Records one received item; takes ownership of data. */
static void record(struct wsc *c, int opcode, unsigned char *data, size_t len, unsigned code)
{
    struct wsc_msg m = { opcode, data, len, code };

    c->count++;
    if (opcode == 1 || opcode == 2) {
        c->nmessages++;
        free_msg(&c->last);
        c->last.opcode = opcode;
        c->last.len = len;
        c->last.close_code = 0;
        c->last.data = malloc(len + 1);
        if (c->last.data != NULL) {
            memcpy(c->last.data, data, len);
            c->last.data[len] = '\0';
        }
    } else if (opcode == 10) {
        c->npongs++;
    }
    if (opcode == 8) {
        c->have_close = 1;
        c->close_frame.opcode = 8;
        c->close_frame.len = len;
        c->close_frame.close_code = code;
        c->close_frame.data = malloc(len + 1);
        if (c->close_frame.data != NULL) {
            memcpy(c->close_frame.data, data, len);
            c->close_frame.data[len] = '\0';
        }
    }
    if (!c->keep) {
        free(data);
        return;
    }
    if (c->nmsgs == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 16;
        struct wsc_msg *grown = realloc(c->msgs, ncap * sizeof(*grown));
        if (grown == NULL) {
            free(data);
            set_error(c, "test client: out of memory");
            return;
        }
        c->msgs = grown;
        c->cap = ncap;
    }
    c->msgs[c->nmsgs++] = m;
}

/* ---- encoding ------------------------------------------------------------- */

static size_t encode(struct wsc *c, unsigned char *buf, size_t cap, int fin, int opcode,
                     const void *payload, size_t len, long long len64, int masked)
{
    size_t pos = 2;
    unsigned char key[4] = { 0, 0, 0, 0 };
    const unsigned char *p = payload;
    uint64_t announced = len64 >= 0 ? (uint64_t)len64 : len;

    if (cap < 14 + len)
        return 0;
    buf[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len64 < 0 && len < 126) {
        buf[1] = (unsigned char)len;
    } else if (len64 < 0 && len <= 0xFFFF) {
        buf[1] = 126;
        buf[2] = (unsigned char)(len >> 8);
        buf[3] = (unsigned char)len;
        pos = 4;
    } else {
        buf[1] = 127;
        for (int i = 0; i < 8; i++)
            buf[2 + i] = (unsigned char)(announced >> (56 - 8 * i));
        pos = 10;
    }
    if (masked) {
        uint64_t r = c ? next_rand(c) : 0x5a3c9e17u;
        buf[1] |= 0x80;
        for (int i = 0; i < 4; i++)
            key[i] = (unsigned char)(r >> (8 * i));
        if ((key[0] | key[1] | key[2] | key[3]) == 0)
            key[0] = 1;
        memcpy(buf + pos, key, 4);
        pos += 4;
    }
    for (size_t i = 0; i < len; i++)
        buf[pos + i] = p[i] ^ key[i & 3];
    return pos + len;
}

/* A seed no one can know in advance: mask keys and nonces differ per run. */
static uint64_t random_seed(void)
{
    uint64_t r = 0;
    struct timespec ts;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (uint64_t)ts.tv_nsec << 20 ^ (uint64_t)ts.tv_sec;
    }
    return r | 1;
}

size_t wsc_encode(unsigned char *buf, size_t cap, int fin, int opcode, const void *payload,
                  size_t len, long long len64)
{
    static struct wsc seed;

    if (seed.rng == 0)
        seed.rng = random_seed();
    return encode(&seed, buf, cap, fin, opcode, payload, len, len64, 1);
}

size_t wsc_encode_unmasked(unsigned char *buf, size_t cap, int fin, int opcode,
                           const void *payload, size_t len)
{
    return encode(NULL, buf, cap, fin, opcode, payload, len, -1, 0);
}

int wsc_send_raw(struct wsc *c, const void *data, size_t len)
{
    if (c == NULL || c->bev == NULL || c->closed)
        return -1;
    return bufferevent_write(c->bev, data, len) == 0 ? 0 : -1;
}

int wsc_send_frame(struct wsc *c, int fin, int opcode, const void *payload, size_t len)
{
    size_t cap = len + 16;
    unsigned char small[256];
    unsigned char *buf = cap <= sizeof(small) ? small : malloc(cap);
    size_t n;
    int rc;

    if (buf == NULL)
        return -1;
    n = encode(c, buf, cap, fin, opcode, payload, len, -1, 1);
    rc = n > 0 ? wsc_send_raw(c, buf, n) : -1;
    if (buf != small)
        free(buf);
    return rc;
}

int wsc_send_text(struct wsc *c, const char *text)
{
    return wsc_send_frame(c, 1, 1, text, strlen(text));
}

int wsc_send_close(struct wsc *c, unsigned code, const char *reason)
{
    unsigned char p[125];
    size_t n = 0, rlen = reason ? strlen(reason) : 0;

    if (code != 0) {
        if (rlen > 123)
            rlen = 123;
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        memcpy(p + 2, reason ? reason : "", rlen);
        n = 2 + rlen;
    }
    if (c != NULL)
        c->close_sent = 1;
    return wsc_send_frame(c, 1, 8, p, n);
}

/* ---- handshake ------------------------------------------------------------ */

static int b64_sha1(const char *in, char out[32])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;

    if (EVP_Digest(in, strlen(in), d, &dlen, EVP_sha1(), NULL) != 1)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, d, (int)dlen) == 28 ? 0 : -1;
}

int wsc_accept_for(const char *key, char out[32])
{
    char both[256];

    if (key == NULL || snprintf(both, sizeof(both), "%s%s", key, WSC_GUID) >= (int)sizeof(both))
        return -1;
    return b64_sha1(both, out);
}

int wsc_handshake_request(struct wsc *c, const char *target, char *buf, size_t len)
{
    unsigned char nonce[16];
    char key[32], both[96];
    int n;

    for (int i = 0; i < 16; i++)
        nonce[i] = (unsigned char)next_rand(c);
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
    snprintf(both, sizeof(both), "%s%s", key, WSC_GUID);
    if (b64_sha1(both, c->expect_accept) != 0)
        return -1;
    n = snprintf(buf, len,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n", target, key);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int wsc_handshake(struct wsc *c, const char *target, const char *extra_headers)
{
    char req[2048];
    int n = wsc_handshake_request(c, target, req, sizeof(req));

    if (n < 0)
        return -1;
    if (extra_headers != NULL) {
        /* Insert the extra lines before the final empty line. */
        size_t extra = strlen(extra_headers);
        if ((size_t)n + extra >= sizeof(req))
            return -1;
        memcpy(req + n - 2, extra_headers, extra);
        memcpy(req + n - 2 + extra, "\r\n", 3);
        n += (int)extra;
    }
    return wsc_send_raw(c, req, (size_t)n);
}

/* ---- reading -------------------------------------------------------------- */

static void read_head(struct wsc *c, struct evbuffer *in)
{
    char *line;
    size_t n;

    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
        c->head_bytes += n + 2;
        if (c->head_bytes > WSC_MAX_HEAD) {
            free(line);
            set_error(c, "the response head is over %d bytes", WSC_MAX_HEAD);
            return;
        }
        if (c->status == 0) {
            int st = 0;
            if (sscanf(line, "HTTP/1.1 %3d", &st) != 1 || st < 100 || st > 599) {
                set_error(c, "not an HTTP/1.1 status line: \"%.80s\"", line);
                free(line);
                return;
            }
            c->status = st;
        } else if (n == 0) {
            free(line);
            c->phase = c->status == 101 ? PH_FRAMES : PH_BODY;
            return;
        } else {
            char *colon = strchr(line, ':');
            char *v;
            if (colon == NULL || c->nheaders == WSC_MAX_HEADERS) {
                set_error(c, "bad response header line: \"%.80s\"", line);
                free(line);
                return;
            }
            *colon = '\0';
            for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
                ;
            c->hname[c->nheaders] = strdup(line);
            c->hvalue[c->nheaders] = strdup(v);
            c->nheaders++;
        }
        free(line);
    }
}

/* Handles one complete frame from the server; payload is owned. */
static void on_frame(struct wsc *c, int fin, int op, unsigned char *p, size_t n)
{
    if (op == 9) {                                  /* ping */
        if (!c->no_auto_reply)
            wsc_send_frame(c, 1, 10, p, n);
        free(p);
        return;
    }
    if (op == 10) {
        record(c, 10, p, n, 0);
        return;
    }
    if (op == 8) {
        unsigned code = 1005;
        if (n == 1) {
            set_error(c, "close frame with a 1-byte payload");
            free(p);
            return;
        }
        if (n >= 2)
            code = (unsigned)p[0] << 8 | p[1];
        if (n >= 2) {
            memmove(p, p + 2, n - 2);
            n -= 2;
            p[n] = '\0';
        }
        record(c, 8, p, n, code);
        if (!c->close_sent && !c->no_auto_reply)
            wsc_send_close(c, code == 1005 ? 0 : code, NULL);
        return;
    }
    if (op == 0 && c->frag_op == 0) {
        set_error(c, "continuation frame with no message in progress");
        free(p);
        return;
    }
    if (op != 0 && c->frag_op != 0) {
        set_error(c, "new data frame inside a fragmented message");
        free(p);
        return;
    }
    if (op != 0 && fin) {
        record(c, op, p, n, 0);
        return;
    }
    {
        unsigned char *g = realloc(c->frag, c->frag_len + n + 1);
        if (g == NULL) {
            free(p);
            set_error(c, "test client: out of memory");
            return;
        }
        c->frag = g;
        memcpy(c->frag + c->frag_len, p, n);
        c->frag_len += n;
        free(p);
        if (op != 0)
            c->frag_op = op;
        if (fin) {
            c->frag[c->frag_len] = '\0';
            record(c, c->frag_op, c->frag, c->frag_len, 0);
            c->frag = NULL;
            c->frag_len = 0;
            c->frag_op = 0;
        }
    }
}

static void read_frames(struct wsc *c, struct evbuffer *in)
{
    while (c->error[0] == '\0') {
        size_t avail = evbuffer_get_length(in), hlen = 2;
        unsigned char *h;
        uint64_t len;
        int fin, op;
        unsigned char *p;

        if (avail < 2)
            return;
        h = evbuffer_pullup(in, (ev_ssize_t)(avail < 10 ? avail : 10));
        fin = h[0] >> 7;
        op = h[0] & 0x0F;
        if (h[0] & 0x70) {
            set_error(c, "server frame with a reserved bit set (byte 0 = 0x%02x)", h[0]);
            return;
        }
        if (h[1] & 0x80) {
            set_error(c, "server frame is masked (RFC 6455 5.1: a server MUST NOT mask)");
            return;
        }
        if (!(op <= 2 || (op >= 8 && op <= 10))) {
            set_error(c, "server frame with the unknown opcode %d", op);
            return;
        }
        len = h[1] & 0x7F;
        if (len == 126) {
            if (avail < 4)
                return;
            len = (uint64_t)h[2] << 8 | h[3];
            hlen = 4;
        } else if (len == 127) {
            if (avail < 10)
                return;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hlen = 10;
            if (len >> 62) {
                set_error(c, "server frame with an absurd length");
                return;
            }
        }
        if (op >= 8 && (!fin || len > 125)) {
            set_error(c, "server control frame (opcode %d) is fragmented or over 125 bytes", op);
            return;
        }
        if (avail - hlen < len)
            return;
        evbuffer_drain(in, hlen);
        p = malloc((size_t)len + 1);
        if (p == NULL) {
            set_error(c, "test client: out of memory");
            return;
        }
        evbuffer_remove(in, p, (size_t)len);
        p[len] = '\0';
        on_frame(c, fin, op, p, (size_t)len);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct wsc *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (c->phase == PH_HEAD)
        read_head(c, in);
    if (c->error[0] != '\0')
        return;
    if (c->phase == PH_FRAMES)
        read_frames(c, in);
    else if (c->phase == PH_BODY)
        evbuffer_add_buffer(c->body, in);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct wsc *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        c->closed = 1;
}

struct wsc *wsc_new(struct event_base *base, int port, const struct wsc_opts *opts,
                    char *err, size_t errlen)
{
    static unsigned counter;
    struct wsc *c = calloc(1, sizeof(*c));
    struct sockaddr_in sin;
    evutil_socket_t fd = -1;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->rng = random_seed() ^ (++counter * 0x9E3779B97F4A7C15ull);
    if (c->rng == 0)
        c->rng = 1;
    c->base = base;
    c->keep = 1;
    c->no_auto_reply = opts ? opts->no_auto_reply : 0;
    c->body = evbuffer_new();
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->body == NULL || fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto fail;
    }
    if (opts != NULL && opts->rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts->rcvbuf, sizeof(opts->rcvbuf));
    {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        snprintf(err, errlen, "bufferevent_socket_new failed");
        goto fail;
    }
    fd = -1;
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        snprintf(err, errlen, "connect to 127.0.0.1:%d failed", port);
        goto fail;
    }
    return c;
fail:
    if (fd >= 0)
        close(fd);
    wsc_free(c);
    return NULL;
}

void wsc_free(struct wsc *c)
{
    if (c == NULL)
        return;
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->hname[i]);
        free(c->hvalue[i]);
    }
    if (c->body != NULL)
        evbuffer_free(c->body);
    free(c->body_str);
    free(c->frag);
    for (size_t i = 0; i < c->nmsgs; i++)
        free_msg(&c->msgs[i]);
    free(c->msgs);
    free_msg(&c->last);
    free_msg(&c->close_frame);
    free(c);
}

void wsc_pause(struct wsc *c)
{
    if (c != NULL && c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ);
}

void wsc_resume(struct wsc *c)
{
    if (c != NULL && c->bev != NULL && c->error[0] == '\0')
        bufferevent_enable(c->bev, EV_READ);
}

void wsc_abort(struct wsc *c)
{
    struct linger lg = { 1, 0 };

    if (c == NULL || c->bev == NULL)
        return;
    setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->closed = 1;
}

void wsc_set_keep(struct wsc *c, int keep)
{
    if (c != NULL)
        c->keep = keep;
}

/* ---- queries -------------------------------------------------------------- */

int wsc_status(const struct wsc *c)
{
    return c ? c->status : 0;
}

const char *wsc_header(const struct wsc *c, const char *name)
{
    for (size_t i = 0; c != NULL && i < c->nheaders; i++)
        if (c->hname[i] != NULL && strcasecmp(c->hname[i], name) == 0)
            return c->hvalue[i];
    return NULL;
}

static int has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);

    while (list != NULL && *list != '\0') {
        const char *s, *e;
        while (*list == ' ' || *list == ',')
            list++;
        s = list;
        while (*list != '\0' && *list != ',')
            list++;
        e = list;
        while (e > s && e[-1] == ' ')
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
            return 1;
    }
    return 0;
}

int wsc_accept_ok(const struct wsc *c)
{
    const char *acc = wsc_header(c, "Sec-WebSocket-Accept");

    return c != NULL && c->status == 101 && acc != NULL &&
           strcmp(acc, c->expect_accept) == 0 &&
           has_token(wsc_header(c, "Upgrade"), "websocket") &&
           has_token(wsc_header(c, "Connection"), "upgrade");
}

const char *wsc_body(const struct wsc *c)
{
    struct wsc *m = (struct wsc *)c;
    size_t n;

    if (c == NULL)
        return "";
    n = evbuffer_get_length(m->body);
    free(m->body_str);
    m->body_str = malloc(n + 1);
    if (m->body_str == NULL)
        return "";
    evbuffer_copyout(m->body, m->body_str, n);
    m->body_str[n] = '\0';
    return m->body_str;
}

size_t wsc_count(const struct wsc *c)
{
    return c ? c->count : 0;
}

size_t wsc_messages(const struct wsc *c)
{
    return c ? c->nmessages : 0;
}

const struct wsc_msg *wsc_msg(const struct wsc *c, size_t i)
{
    return c != NULL && i < c->nmsgs ? &c->msgs[i] : NULL;
}

const struct wsc_msg *wsc_last(const struct wsc *c)
{
    return c != NULL && c->last.data != NULL ? &c->last : NULL;
}

const struct wsc_msg *wsc_close_frame(const struct wsc *c)
{
    return c != NULL && c->have_close ? &c->close_frame : NULL;
}

size_t wsc_pongs(const struct wsc *c)
{
    return c ? c->npongs : 0;
}

int wsc_closed(const struct wsc *c)
{
    return c ? c->closed : 1;
}

const char *wsc_error(const struct wsc *c)
{
    return c != NULL && c->error[0] != '\0' ? c->error : NULL;
}

/* ---- running the loop ----------------------------------------------------- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    int *fired = arg;

    (void)fd;
    (void)what;
    *fired = 1;
}

int wsc_run_until(struct event_base *base, int (*done)(void *arg), void *arg,
                  unsigned timeout_ms)
{
    int fired = 0, ok;
    struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
    struct event *deadline = evtimer_new(base, deadline_cb, &fired);

    if (deadline == NULL)
        return 0;
    evtimer_add(deadline, &tv);
    while (!(ok = done != NULL && done(arg)) && !fired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return ok;
}

void wsc_run_for(struct event_base *base, unsigned ms)
{
    wsc_run_until(base, NULL, NULL, ms);
}

/*
 * test_ex04.c - Criterion tests for exercise 4 (WebSocket mini-chat).  Run
 * them with `make ex04`, one suite at a time while you work:
 *   make ex04 TESTARGS='--filter ex04_handshake*'   ws.c: the handshake
 *   make ex04 TESTARGS='--filter ex04_frames*'      ws.c: frames, closing
 *   make ex04 TESTARGS='--filter ex04_chat*'        chat.c
 *
 * The handshake and frames suites run the protocol layer (ws.c) alone, with
 * a small echo application defined here; the chat suite runs chat.c on top.
 * The clients are the harness's own (harness/common/ws_client.h), written
 * from the RFC, on the same event_base as the server.  Every wait is bounded
 * in time; bounds come from the timers the tests configure.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "chat.h"
#include "fixture_server.h"
#include "sandbox.h"
#include "testutil.h"
#include "ws.h"
#include "ws_client.h"

#define HS " (TODO(ex04) in ws.c: the handshake; docs/en/ex04_websocket.md#the-handshake)"
#define FR " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#frames)"
#define CL " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#closing)"
#define LIFE " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#connection-lifetime)"
#define CH " (TODO(ex04) in chat.c; docs/en/ex04_websocket.md#the-chat)"
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define MAXC 600
#define WAIT_MS 3000

static struct event_base *base;
static struct ws_server *wsrv;
static struct chat_server *chat;
static struct wsc *clients[MAXC];
static size_t nclients;
static int port;

/* ---- the echo application of the protocol-layer tests ------------------- */

static struct app {
    int broadcast;              /* 1: send each message to every connection */
    size_t opens, messages, closes;
    unsigned last_code;
    int in_send;                /* inside ws_conn_send / ws_conn_close */
    size_t reentered;           /* callbacks that ran inside one of them */
    struct ws_conn *conns[64];
    size_t nconns;
    size_t http_calls;
} app;

static void app_enter(void)
{
    if (app.in_send)
        app.reentered++;
}

static int app_send(struct ws_conn *c, enum ws_opcode op, const void *d, size_t n)
{
    int rc;

    app.in_send++;
    rc = ws_conn_send(c, op, d, n);
    app.in_send--;
    return rc;
}

static void app_on_open(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    (void)req;
    (void)arg;
    app_enter();
    app.opens++;
    if (app.nconns < 64)
        app.conns[app.nconns++] = c;
}

static void app_on_message(struct ws_conn *c, enum ws_opcode op, const unsigned char *d,
                           size_t n, void *arg)
{
    (void)arg;
    app_enter();
    app.messages++;
    if (op == WS_OP_TEXT && n == 9 && memcmp(d, "cmd:close", 9) == 0) {
        app.in_send++;
        ws_conn_close(c, 1000, "bye");
        app.in_send--;
    } else if (op == WS_OP_TEXT && n == 7 && memcmp(d, "cmd:big", 7) == 0) {
        size_t big = 1 << 20;
        unsigned char *b = malloc(big);
        cr_assert_not_null(b);
        for (size_t i = 0; i < big; i++)
            b[i] = (unsigned char)(i * 7 % 251);
        app_send(c, WS_OP_BINARY, b, big);
        free(b);
        app.in_send++;
        ws_conn_close(c, 1000, "done");
        app.in_send--;
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

static void start_app(const struct ws_config *cfg)
{
    static const struct ws_handlers h = {
        .on_open = app_on_open, .on_message = app_on_message, .on_close = app_on_close,
    };
    char err[256] = "";

    wsrv = ws_server_new(base, NULL, 0, cfg, &h, NULL, err, sizeof(err));
    cr_assert_not_null(wsrv, "ws_server_new failed: %s", err);
    port = ws_server_port(wsrv);
}

/* The test configuration: 128 KiB messages, no keepalive during a test,
 * 1 s to close. */
static struct ws_config test_cfg(void)
{
    struct ws_config cfg;

    ws_config_default(&cfg);
    cfg.max_message = 128 * 1024;
    cfg.ping_interval_ms = 10000;
    cfg.close_timeout_ms = 1000;
    return cfg;
}

/* Received bytes made safe to print in a message: at most 200 of them,
 * anything but printable ASCII as \xNN. */
static const char *shown(const void *data, size_t len)
{
    static char buf[4][1024];
    static int k;
    const unsigned char *p = data;
    char *out = buf[k = (k + 1) % 4];
    size_t o = 0;

    if (p == NULL)
        return "(none)";
    for (size_t i = 0; i < len && i < 200 && o + 5 < sizeof(buf[0]); i++)
        o += (size_t)snprintf(out + o, sizeof(buf[0]) - o, p[i] >= 0x20 && p[i] < 0x7F &&
                              p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
    if (len > 200)
        snprintf(out + o, sizeof(buf[0]) - o, "...");
    return out;
}

/* ---- setup and helpers -------------------------------------------------- */

static void setup(void)
{
    wb_sandbox_enter_or_die();
    base = fx_event_base_new();   /* precise timers: exact time bounds */
    cr_assert_not_null(base, "fx_event_base_new failed");
    memset(&app, 0, sizeof(app));
    nclients = 0;
}

static void teardown(void)
{
    for (size_t i = 0; i < nclients; i++)
        wsc_free(clients[i]);
    nclients = 0;
    chat_server_free(chat);
    chat = NULL;
    ws_server_free(wsrv);
    wsrv = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

static void finish(void)
{
    teardown();
    WB_ASSERT_NO_LEAKS();
}

static struct wsc *client_opts(const struct wsc_opts *o)
{
    char err[256] = "";
    struct wsc *c;

    cr_assert_lt(nclients, MAXC, "test bug: too many clients");
    c = wsc_new(base, port, o, err, sizeof(err));
    cr_assert_not_null(c, "test client: %s", err);
    clients[nclients++] = c;
    return c;
}

static struct wsc *client(void)
{
    return client_opts(NULL);
}

static int got_status(void *c)
{
    return wsc_status(c) != 0 || wsc_closed(c) || wsc_error(c) != NULL;
}

static int got_closed(void *c)
{
    return wsc_closed(c) || wsc_error(c) != NULL;
}

struct upto {
    struct wsc *c;
    size_t n;
};

static int got_count(void *arg)
{
    struct upto *u = arg;
    return wsc_count(u->c) >= u->n || wsc_closed(u->c) || wsc_error(u->c) != NULL;
}

static int got_close_frame(void *c)
{
    return wsc_close_frame(c) != NULL || wsc_closed(c) || wsc_error(c) != NULL;
}

/* Runs the loop until c has n items (messages, close frames, pongs). */
static void wait_count(struct wsc *c, size_t n, const char *what)
{
    struct upto u = { c, n };

    wsc_run_until(base, got_count, &u, WAIT_MS);
    cr_assert_null(wsc_error(c), "%s: the server broke the protocol: %s" FR, what, wsc_error(c));
    cr_assert_geq(wsc_count(c), n, "%s: the client received %zu frames within %d ms; expected "
                  "%zu (the connection is %s)", what, wsc_count(c), WAIT_MS, n,
                  wsc_closed(c) ? "closed" : "open");
}

/* Handshakes a client on `target` and waits for the 101. */
static struct wsc *open_client(const char *target, const struct wsc_opts *o)
{
    struct wsc *c = client_opts(o);

    cr_assert_eq(wsc_handshake(c, target, NULL), 0, "test client: cannot send");
    wsc_run_until(base, got_status, c, WAIT_MS);
    cr_assert_eq(wsc_status(c), 101, "handshake for %s: expected 101, got %d (body: \"%s\")"
                 HS, target, wsc_status(c), shown(wsc_body(c), strlen(wsc_body(c))));
    cr_assert(wsc_accept_ok(c), "handshake for %s: the 101 lacks the right "
              "Sec-WebSocket-Accept / Upgrade: websocket / Connection: Upgrade" HS, target);
    return c;
}

/* Sends `req` raw and waits for the status line (or the connection's end). */
static struct wsc *raw_request(const char *req)
{
    struct wsc *c = client();

    wsc_send_raw(c, req, strlen(req));
    wsc_run_until(base, got_status, c, WAIT_MS);
    return c;
}

static void expect_close_code(struct wsc *c, unsigned code, const char *what, const char *hint)
{
    const struct wsc_msg *m;

    wsc_run_until(base, got_close_frame, c, WAIT_MS);
    cr_assert_null(wsc_error(c), "%s: the server broke the protocol: %s", what, wsc_error(c));
    m = wsc_close_frame(c);
    cr_assert_not_null(m, "%s: expected a close frame with code %u, got %s%s", what, code,
                       wsc_closed(c) ? "the connection closed without one" : "nothing", hint);
    cr_assert_eq(m->close_code, code, "%s: expected close code %u, got %u (reason \"%s\")%s",
                 what, code, m->close_code, shown(m->data, m->len), hint);
}

TestSuite(ex04_handshake, .init = setup, .fini = teardown, .timeout = 15);
TestSuite(ex04_frames, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex04_chat, .init = setup, .fini = teardown, .timeout = 40);

/* ======================= handshake ======================================= */

Test(ex04_handshake, accept_key_matches_rfc_example)
{
    char out[WS_ACCEPT_LEN + 1] = "";

    cr_assert_eq(ws_accept_key(RFC_KEY, out), 0, "ws_accept_key(\"%s\") should return 0" HS,
                 RFC_KEY);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                     "ws_accept_key(\"%s\") wrote \"%s\"; RFC 6455 (section 1.3) gives "
                     "\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\": base64(SHA-1(key + WS_GUID)), "
                     "with ws_sha1_base64()" HS, RFC_KEY, out);
    cr_assert_eq(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out), 0);
    cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
                     "ws_accept_key(\"x3JJHMbDL1EzLkh9GBhXDw==\") wrote \"%s\"" HS, out);
    cr_assert_eq(ws_accept_key(NULL, out), -1, "ws_accept_key(NULL, ...) should return -1");
    finish();
}

Test(ex04_handshake, connection_header_is_a_token_list)
{
    static const struct { const char *list, *tok; int want; } cases[] = {
        { "Upgrade", "upgrade", 1 },
        { "keep-alive, Upgrade", "upgrade", 1 },      /* Firefox */
        { "Upgrade,keep-alive", "upgrade", 1 },
        { "keep-alive,\t UPGRADE \t", "upgrade", 1 },
        { "upgraded", "upgrade", 0 },
        { "keep-alive, no-upgrade", "upgrade", 0 },
        { "keep-alive", "upgrade", 0 },
        { "", "upgrade", 0 },
        { "websocket", "websocket", 1 },
    };
    struct wsc *c;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(ws_has_token(cases[i].list, cases[i].tok), cases[i].want,
                     "ws_has_token(\"%s\", \"%s\") should be %d: Connection is a comma-separated "
                     "list of tokens, compared without case" HS,
                     cases[i].list, cases[i].tok, cases[i].want);
    cr_assert_eq(ws_has_token(NULL, "upgrade"), 0);
    /* And on the wire, as Firefox sends it. */
    start_app(NULL);
    c = raw_request("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
                    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n");
    cr_assert_eq(wsc_status(c), 101, "\"Connection: keep-alive, Upgrade\" and \"Upgrade: "
                 "WebSocket\" should be accepted (101), got %d" HS, wsc_status(c));
    cr_assert_str_eq(wsc_header(c, "Sec-WebSocket-Accept") ? wsc_header(c, "Sec-WebSocket-Accept")
                     : "(none)", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                     "the 101 should carry Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" HS);
    finish();
}

Test(ex04_handshake, handshake_answers_101)
{
    struct wsc *c;

    start_app(NULL);
    c = open_client("/chat", NULL);
    wsc_run_for(base, 20);
    cr_assert_eq(app.opens, 1, "on_open was called %zu times after one handshake; expected 1" HS,
                 app.opens);
    cr_assert_not(wsc_closed(c), "the server closed the connection after the 101" HS);
    finish();
}

Test(ex04_handshake, handshake_in_pieces)
{
    char req[1024];
    struct wsc *c;
    int n;
    /* Cut inside the request line, a header name, a value, and a CRLF. */
    const int cuts[] = { 1, 7, 20, 33, 60, 61, 90, 150, 151 };
    int prev = 0;

    start_app(NULL);
    c = client();
    n = wsc_handshake_request(c, "/chat", req, sizeof(req));
    cr_assert_geq(n, 152, "test bug: the request is %d bytes", n);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        wsc_send_raw(c, req + prev, (size_t)(cuts[i] - prev));
        prev = cuts[i];
        wsc_run_for(base, 15);
        cr_assert_eq(wsc_status(c), 0, "the server answered %d after only %d of %d bytes of the "
                     "request head; wait for the empty line that ends it (ws_head_read "
                     "returns WS_HEAD_NEED_MORE until then)" HS, wsc_status(c), prev, n);
        cr_assert_not(wsc_closed(c), "the server closed the connection after %d of %d bytes of "
                      "the request head: a head arrives in pieces" HS, prev, n);
    }
    wsc_send_raw(c, req + prev, (size_t)(n - prev));
    wsc_run_until(base, got_status, c, WAIT_MS);
    cr_assert_eq(wsc_status(c), 101, "after the whole head arrived in 10 pieces, expected 101, "
                 "got %d" HS, wsc_status(c));
    cr_assert(wsc_accept_ok(c), "wrong Sec-WebSocket-Accept after a head in pieces" HS);
    finish();
}

Test(ex04_handshake, first_frame_with_handshake)
{
    unsigned char buf[2048];
    struct wsc *c;
    int n;
    const struct wsc_msg *m;

    start_app(NULL);
    c = client();
    n = wsc_handshake_request(c, "/chat", (char *)buf, sizeof(buf));
    n += (int)wsc_encode(buf + n, sizeof(buf) - (size_t)n, 1, WS_OP_TEXT, "early bird", 10, -1);
    wsc_send_raw(c, buf, (size_t)n);    /* one write: the head and a frame */
    wait_count(c, 1, "a text frame sent in the same write as the handshake");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_TEXT);
    cr_assert_str_eq((char *)m->data, "early bird",
                     "the echo of the frame that came with the head should be \"early bird\", "
                     "got \"%s\"", shown(m->data, m->len));
    (void)m;
    finish();
}

Test(ex04_handshake, first_frame_with_handshake_is_not_lost)
{
    /* Same as above, but nothing else is ever sent: the frame's bytes are
     * already in the input buffer after the head, and no other read event
     * will come for them. */
    unsigned char buf[2048];
    struct wsc *c;
    int n;
    struct upto u;

    start_app(NULL);
    c = client();
    n = wsc_handshake_request(c, "/chat", (char *)buf, sizeof(buf));
    n += (int)wsc_encode(buf + n, sizeof(buf) - (size_t)n, 1, WS_OP_TEXT, "one", 3, -1);
    n += (int)wsc_encode(buf + n, sizeof(buf) - (size_t)n, 1, WS_OP_TEXT, "two", 3, -1);
    wsc_send_raw(c, buf, (size_t)n);
    u.c = c;
    u.n = 2;
    wsc_run_until(base, got_count, &u, 500);
    cr_assert_eq(wsc_count(c), 2, "two frames came in the same write as the head; %zu were "
                 "echoed: after the handshake, read the frames already in the input buffer "
                 "before returning from the read callback" HS, wsc_count(c));
    finish();
}

Test(ex04_handshake, wrong_version_gets_426)
{
    struct wsc *c;

    start_app(NULL);
    c = raw_request("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n"
                    "Sec-WebSocket-Version: 8\r\n\r\n");
    cr_assert_eq(wsc_status(c), 426, "Sec-WebSocket-Version: 8 should get 426 Upgrade Required, "
                 "got %d" HS, wsc_status(c));
    cr_assert_str_eq(wsc_header(c, "Sec-WebSocket-Version") ? wsc_header(c, "Sec-WebSocket-Version")
                     : "(none)", "13", "a 426 must say which version the server speaks: "
                     "Sec-WebSocket-Version: 13" HS);
    wsc_run_until(base, got_closed, c, WAIT_MS);
    cr_assert(wsc_closed(c), "the server should close the connection after the 426" HS);
    cr_assert_eq(app.opens, 0, "on_open ran for a refused handshake" HS);
    finish();
}

Test(ex04_handshake, plain_get_gets_400)
{
    struct wsc *c;

    start_app(NULL);            /* no on_http: plain requests get 400 */
    c = raw_request("GET /chat HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(wsc_status(c), 400, "a GET without Upgrade: websocket (and no on_http handler) "
                 "should get 400, got %d" HS, wsc_status(c));
    wsc_run_until(base, got_closed, c, WAIT_MS);
    cr_assert(wsc_closed(c), "the server should close the connection after the 400" HS);
    finish();
}

Test(ex04_handshake, invalid_handshakes_get_400)
{
    static const struct { const char *why, *req; } cases[] = {
        { "no Sec-WebSocket-Key",
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n" },
        { "a key that is not the base64 of 16 bytes",
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n" },
        { "POST instead of GET",
          "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n" },
        { "HTTP/1.0",
          "GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n" },
        { "Connection without the upgrade token",
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
          "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n" },
        { "no Host",
          "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n" },
        { "not HTTP at all", "hello there\r\n\r\n" },
    };
    struct wsc *c[7];

    start_app(NULL);
    for (size_t i = 0; i < 7; i++) {
        c[i] = client();
        wsc_send_raw(c[i], cases[i].req, strlen(cases[i].req));
    }
    for (size_t i = 0; i < 7; i++) {
        wsc_run_until(base, got_status, c[i], WAIT_MS);
        cr_assert_eq(wsc_status(c[i]), 400, "a handshake with %s should get 400, got %d" HS,
                     cases[i].why, wsc_status(c[i]));
    }
    cr_assert_eq(app.opens, 0, "on_open ran for an invalid handshake" HS);
    finish();
}

Test(ex04_handshake, oversized_head_gets_431)
{
    char *req = malloc(WS_MAX_HEAD_BYTES + 512);
    struct wsc *c;
    int n;

    cr_assert_not_null(req);
    n = snprintf(req, 200, "GET /chat HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', WS_MAX_HEAD_BYTES);
    memcpy(req + n + WS_MAX_HEAD_BYTES, "\r\n\r\n", 5);
    start_app(NULL);
    c = raw_request(req);
    free(req);
    cr_assert_eq(wsc_status(c), 431, "a request head over WS_MAX_HEAD_BYTES should get 431 "
                 "(ws_head_read returns WS_HEAD_TOO_BIG), got %d" HS, wsc_status(c));
    wsc_run_until(base, got_closed, c, WAIT_MS);
    cr_assert(wsc_closed(c), "the server should close the connection after the 431" HS);
    finish();
}

/* ======================= frames: the pure functions ====================== */

static ssize_t parse(const unsigned char *b, size_t n, size_t max, struct ws_frame *f)
{
    memset(f, 0xAB, sizeof(*f));
    return ws_frame_parse(b, n, max, f);
}

Test(ex04_frames, parse_lengths_7_16_64_bits)
{
    static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
    size_t cap = 70000 + 64;
    unsigned char *buf = malloc(cap), *pay = malloc(70000);
    struct ws_frame f;

    cr_assert(buf && pay);
    for (size_t i = 0; i < 70000; i++)
        pay[i] = (unsigned char)(i * 13);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (int force64 = 0; force64 <= 1; force64++) {
            size_t n = wsc_encode(buf, cap, 1, WS_OP_BINARY, pay, lens[k],
                                  force64 ? (long long)lens[k] : -1);
            size_t hl = force64 ? 14 : lens[k] < 126 ? 6 : lens[k] <= 65535 ? 8 : 14;
            ssize_t rc = parse(buf, n, 1 << 20, &f);
            cr_assert_eq(rc, (ssize_t)n, "ws_frame_parse on a whole %s frame of %zu payload "
                         "bytes returned %zd; expected %zu (the frame's length)" FR,
                         force64 ? "64-bit-length" : "shortest-length", lens[k], rc, n);
            cr_assert_eq(f.header_len, hl, "payload %zu%s: header_len %zu, expected %zu" FR,
                         lens[k], force64 ? " (64-bit length)" : "", f.header_len, hl);
            cr_assert_eq(f.payload_len, lens[k], "payload_len %llu, expected %zu" FR,
                         (unsigned long long)f.payload_len, lens[k]);
            cr_assert_eq(f.payload, buf + hl, "out->payload should point at buf + header_len" FR);
            cr_assert_eq(f.fin, 1, "fin should be 1" FR);
            cr_assert_eq(f.opcode, WS_OP_BINARY, "opcode should be 2 (binary), got %d" FR,
                         f.opcode);
            cr_assert_eq(memcmp(f.mask, buf + hl - 4, 4), 0, "out->mask should be the 4 bytes "
                         "before the payload" FR);
        }
    }
    free(buf);
    free(pay);
    finish();
}

Test(ex04_frames, parse_needs_more_on_every_prefix)
{
    unsigned char buf[400], pay[300];
    struct ws_frame f;

    memset(pay, 'x', sizeof(pay));
    for (int k = 0; k < 2; k++) {
        size_t plen = k == 0 ? 5 : 300;
        size_t n = wsc_encode(buf, sizeof(buf), 0, WS_OP_TEXT, pay, plen, -1);
        size_t hl = k == 0 ? 6 : 8;
        for (size_t len = 0; len < n; len++) {
            ssize_t rc = parse(buf, len, 1 << 20, &f);
            cr_assert_eq(rc, 0, "ws_frame_parse on the first %zu bytes of a %zu-byte frame "
                         "returned %zd; expected 0 (need more)" FR, len, n, rc);
            if (len < hl)
                cr_assert_eq(f.header_len, 0, "with %zu of %zu header bytes, header_len should "
                             "be 0, got %zu" FR, len, hl, f.header_len);
            else {
                cr_assert_eq(f.header_len, hl, "with the whole header (%zu bytes) but not the "
                             "payload, header_len should be %zu, got %zu" FR, hl, hl, f.header_len);
                cr_assert_eq(f.payload_len, plen, "payload_len should be known (%zu) once the "
                             "header is complete" FR, plen);
                cr_assert_null(f.payload, "payload should be NULL until the whole frame is "
                               "there" FR);
            }
        }
        cr_assert_eq(parse(buf, n, 1 << 20, &f), (ssize_t)n);
        cr_assert_eq(f.fin, 0, "a frame with FIN 0: fin should be 0" FR);
    }
    cr_assert_eq(ws_frame_parse(NULL, 0, 10, &f), 0, "buf NULL, len 0 should return 0" FR);
    finish();
}

Test(ex04_frames, parse_rejects_unmasked_client_frame)
{
    unsigned char buf[64];
    struct ws_frame f;
    size_t n = wsc_encode_unmasked(buf, sizeof(buf), 1, WS_OP_TEXT, "hi", 2);
    ssize_t rc = parse(buf, n, 1024, &f);

    cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "an unmasked client frame should return -1002, got %zd: "
                 "every frame from a client must be masked (RFC 6455, 5.1)" FR, rc);
    finish();
}

Test(ex04_frames, parse_rejects_reserved_bits_and_opcodes)
{
    unsigned char buf[64];
    struct ws_frame f;

    for (int bit = 0; bit < 3; bit++) {
        size_t n = wsc_encode(buf, sizeof(buf), 1, WS_OP_TEXT, "hi", 2, -1);
        ssize_t rc;
        buf[0] |= (unsigned char)(0x40 >> bit);
        rc = parse(buf, n, 1024, &f);
        cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "a frame with RSV%d set should return -1002, got %zd "
                     "(no extension was agreed)" FR, bit + 1, rc);
    }
    for (int op = 3; op < 16; op++) {
        size_t n;
        ssize_t rc;
        if (op >= 8 && op <= 10)
            continue;
        n = wsc_encode(buf, sizeof(buf), 1, op, "hi", 2, -1);
        rc = parse(buf, n, 1024, &f);
        cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "opcode %d is reserved: expected -1002, got %zd" FR,
                     op, rc);
    }
    finish();
}

Test(ex04_frames, parse_control_frame_rules)
{
    unsigned char buf[256], pay[126];
    struct ws_frame f;
    size_t n;
    ssize_t rc;

    memset(pay, 'p', sizeof(pay));
    n = wsc_encode(buf, sizeof(buf), 0, WS_OP_PING, pay, 4, -1);
    rc = parse(buf, n, 1024, &f);
    cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "a fragmented ping (FIN 0) should return -1002, got %zd"
                 FR, rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_PING, pay, 126, -1);
    rc = parse(buf, n, 1024, &f);
    cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "a ping of 126 bytes should return -1002, got %zd" FR, rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_CLOSE, pay, 125, -1);
    rc = parse(buf, n, 1024, &f);
    cr_assert_eq(rc, (ssize_t)n, "a close frame of 125 bytes is valid: expected %zu, got %zd" FR,
                 n, rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_PONG, pay, 100, -1);
    rc = parse(buf, n, 10, &f);
    cr_assert_eq(rc, (ssize_t)n, "max_payload does not apply to control frames: a 100-byte pong "
                 "with max_payload 10 should return %zu, got %zd" FR, n, rc);
    finish();
}

Test(ex04_frames, parse_length_over_cap_is_1009)
{
    unsigned char buf[64];
    struct ws_frame f;
    size_t n;
    ssize_t rc;

    /* Only the 10 bytes of a header announcing 1 TiB: decided at once. */
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0, 1LL << 40);
    rc = parse(buf, 10, 1 << 20, &f);
    cr_assert_eq(rc, -WS_CLOSE_TOO_BIG, "a header announcing 1 TiB with max_payload 1 MiB should "
                 "return -1009 as soon as the length is read, got %zd" FR, rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0, 5);
    buf[2] |= 0x80;                         /* the top bit of the 64-bit length */
    rc = parse(buf, n, 1 << 20, &f);
    cr_assert_eq(rc, -WS_CLOSE_PROTOCOL, "a 64-bit length with its top bit set should return "
                 "-1002, got %zd" FR, rc);
    {
        unsigned char big[1100];
        unsigned char pay[1000];
        memset(pay, 'z', sizeof(pay));
        n = wsc_encode(big, sizeof(big), 1, WS_OP_CONT, pay, 1000, -1);
        rc = parse(big, n, 999, &f);
        cr_assert_eq(rc, -WS_CLOSE_TOO_BIG, "1000 bytes with max_payload 999: expected -1009, "
                     "got %zd" FR, rc);
        rc = parse(big, n, 1000, &f);
        cr_assert_eq(rc, (ssize_t)n, "1000 bytes with max_payload 1000 is allowed: expected %zu, "
                     "got %zd" FR, n, rc);
    }
    finish();
}

Test(ex04_frames, header_encoding_uses_shortest_length)
{
    unsigned char h[WS_MAX_HEADER_LEN];
    static const struct { uint64_t len; size_t n; unsigned char b[10]; } cases[] = {
        { 0, 2, { 0x81, 0x00 } },
        { 125, 2, { 0x81, 0x7D } },
        { 126, 4, { 0x81, 0x7E, 0x00, 0x7E } },
        { 65535, 4, { 0x81, 0x7E, 0xFF, 0xFF } },
        { 65536, 10, { 0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 } },
        { 0x100000000ULL, 10, { 0x81, 0x7F, 0, 0, 0, 0x01, 0, 0, 0, 0 } },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = ws_frame_header(h, 1, WS_OP_TEXT, cases[i].len);
        cr_assert_eq(n, cases[i].n, "ws_frame_header for %llu bytes returned %zu; expected %zu "
                     "(7-bit up to 125, 16-bit up to 65535, else 64-bit)" FR,
                     (unsigned long long)cases[i].len, n, cases[i].n);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(h[k], cases[i].b[k], "ws_frame_header for %llu bytes: byte %zu is 0x%02x, "
                         "expected 0x%02x (big-endian length, no mask bit)" FR,
                         (unsigned long long)cases[i].len, k, h[k], cases[i].b[k]);
    }
    cr_assert_eq(ws_frame_header(h, 0, WS_OP_PONG, 3), 2);
    cr_assert_eq(h[0], 0x0A, "a non-final pong header should start with 0x0A, got 0x%02x" FR, h[0]);
    finish();
}

Test(ex04_frames, mask_follows_rfc_example)
{
    /* RFC 6455, 5.7: "Hello" masked with 37 fa 21 3d. */
    unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    unsigned char data[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };

    ws_mask(data, 5, key);
    cr_assert_eq(memcmp(data, "Hello", 5), 0, "ws_mask on the RFC's example should give \"Hello\", "
                 "got \"%s\": byte i ^= key[i %% 4]" FR, shown(data, 5));
    ws_mask(data, 5, key);
    cr_assert_eq(data[0], 0x7f, "masking twice should give the masked bytes back" FR);
    finish();
}

Test(ex04_frames, close_payload_rules)
{
    unsigned code = 0;
    static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
    static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014, 3000, 4999 };
    unsigned char p[8];

    cr_assert_eq(ws_close_parse((const unsigned char *)"", 0, &code), 0,
                 "an empty close payload is valid" CL);
    cr_assert_eq(code, 1005, "an empty close payload means code 1005, got %u" CL, code);
    cr_assert_eq(ws_close_parse((const unsigned char *)"\x03", 1, &code), 1002,
                 "a 1-byte close payload should give 1002" CL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p[0] = (unsigned char)(bad[i] >> 8);
        p[1] = (unsigned char)bad[i];
        cr_assert_eq(ws_close_parse(p, 2, &code), 1002, "close code %u may not be sent: "
                     "expected 1002" CL, bad[i]);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        p[0] = (unsigned char)(good[i] >> 8);
        p[1] = (unsigned char)good[i];
        code = 0;
        cr_assert_eq(ws_close_parse(p, 2, &code), 0, "close code %u is valid: expected 0" CL,
                     good[i]);
        cr_assert_eq(code, good[i], "*code should be %u, got %u" CL, good[i], code);
    }
    memcpy(p, "\x03\xe8ok\xff", 5);
    cr_assert_eq(ws_close_parse(p, 5, &code), 1007, "a close reason that is not UTF-8 should "
                 "give 1007" CL);
    finish();
}

/* ======================= frames: on the wire ============================= */

Test(ex04_frames, text_and_binary_are_echoed)
{
    static const size_t lens[] = { 0, 125, 126, 65535, 65536, 100000 };
    struct ws_config cfg = test_cfg();
    unsigned char *pay = malloc(100000);
    struct wsc *c;

    cr_assert_not_null(pay);
    for (size_t i = 0; i < 100000; i++)
        pay[i] = (unsigned char)('a' + i % 26);
    start_app(&cfg);
    c = open_client("/echo", NULL);
    for (size_t k = 0; k < 6; k++)
        wsc_send_frame(c, 1, k % 2 ? WS_OP_BINARY : WS_OP_TEXT, pay, lens[k]);
    wait_count(c, 6, "6 messages of 0 to 100000 bytes sent to the echo server");
    for (size_t k = 0; k < 6; k++) {
        const struct wsc_msg *m = wsc_msg(c, k);
        int op = k % 2 ? WS_OP_BINARY : WS_OP_TEXT;
        cr_assert_eq(m->opcode, op, "message %zu: expected opcode %d, got %d (a binary message "
                     "stays binary)" FR, k, op, m->opcode);
        cr_assert_eq(m->len, lens[k], "message %zu: %zu bytes sent, %zu echoed: check the 16- "
                     "and 64-bit lengths, in and out" FR, k, lens[k], m->len);
        cr_assert_eq(memcmp(m->data, pay, lens[k]), 0, "message %zu (%zu bytes): the bytes "
                     "differ: unmask with the frame's key (ws_mask)" FR, k, lens[k]);
    }
    free(pay);
    finish();
}

Test(ex04_frames, fragmented_message_is_reassembled)
{
    struct ws_config cfg = test_cfg();
    struct wsc *c;
    const struct wsc_msg *m;

    start_app(&cfg);
    c = open_client("/echo", NULL);
    /* "café au lait", the é (C3 A9) split across two fragments, and a
     * ping between fragments. */
    wsc_send_frame(c, 0, WS_OP_TEXT, "caf\xc3", 4);
    wsc_send_frame(c, 1, WS_OP_PING, "pp", 2);
    wsc_send_frame(c, 0, WS_OP_CONT, "\xa9 au", 4);
    wsc_send_frame(c, 1, WS_OP_CONT, " lait", 5);
    wait_count(c, 2, "a message in 3 fragments with a ping between them");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_PONG, "the pong should come first (the ping arrived before the "
                 "last fragment): got opcode %d" FR, m->opcode);
    m = wsc_msg(c, 1);
    cr_assert_eq(m->opcode, WS_OP_TEXT, "the reassembled message should be text, got opcode %d"
                 FR, m->opcode);
    cr_assert_str_eq((char *)m->data, "caf\xc3\xa9 au lait", "expected one message \"café au "
                     "lait\", got \"%s\": join the fragments, and check UTF-8 on the whole "
                     "message, not per fragment" FR, shown(m->data, m->len));
    cr_assert_eq(app.messages, 1, "on_message ran %zu times for one fragmented message" FR,
                 app.messages);
    finish();
}

Test(ex04_frames, ping_gets_pong_with_same_payload)
{
    struct wsc *c;
    const struct wsc_msg *m;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_PING, "are you there?", 14);
    wait_count(c, 1, "a ping");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_PONG, "a ping should get a pong, got opcode %d" FR, m->opcode);
    cr_assert_str_eq((char *)m->data, "are you there?", "the pong should carry the ping's "
                     "payload, got \"%s\"" FR, shown(m->data, m->len));
    cr_assert_eq(app.messages, 0, "a ping is not a message: on_message ran" FR);
    finish();
}

Test(ex04_frames, invalid_utf8_closes_1007)
{
    struct wsc *c;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_TEXT, "bad \xc3\x28 text", 10);
    expect_close_code(c, WS_CLOSE_BAD_DATA, "a text message with invalid UTF-8",
                      " (check ws_utf8_valid on complete text messages)" FR);
    cr_assert_eq(app.messages, 0, "on_message ran for a text message that is not UTF-8" FR);
    finish();
}

Test(ex04_frames, unmasked_frame_closes_1002)
{
    unsigned char buf[32];
    struct wsc *c;
    size_t n = wsc_encode_unmasked(buf, sizeof(buf), 1, WS_OP_TEXT, "naked", 5);

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_raw(c, buf, n);
    expect_close_code(c, WS_CLOSE_PROTOCOL, "an unmasked client frame", FR);
    cr_assert_eq(app.messages, 0, "on_message ran for an unmasked frame" FR);
    finish();
}

Test(ex04_frames, oversized_message_closes_1009)
{
    struct ws_config cfg = test_cfg();      /* max_message 128 KiB */
    unsigned char *pay = malloc(50 * 1024), hdr[16];
    struct wsc *c1, *c2;
    size_t n;

    cr_assert_not_null(pay);
    memset(pay, 'q', 50 * 1024);
    start_app(&cfg);
    /* Three fragments of 50 KiB: the third one crosses 128 KiB. */
    c1 = open_client("/echo", NULL);
    wsc_send_frame(c1, 0, WS_OP_BINARY, pay, 50 * 1024);
    wsc_send_frame(c1, 0, WS_OP_CONT, pay, 50 * 1024);
    wsc_send_frame(c1, 1, WS_OP_CONT, pay, 50 * 1024);
    expect_close_code(c1, WS_CLOSE_TOO_BIG, "fragments adding up to 150 KiB with max_message "
                      "128 KiB", " (pass max_message minus what is already buffered as "
                      "max_payload)" FR);
    /* One header announcing 1 GiB, and no payload at all. */
    c2 = open_client("/echo", NULL);
    n = wsc_encode(hdr, sizeof(hdr), 1, WS_OP_BINARY, "", 0, 1LL << 30);
    wsc_send_raw(c2, hdr, n);
    expect_close_code(c2, WS_CLOSE_TOO_BIG, "a header announcing 1 GiB (payload never sent)",
                      " (decide from the header, do not wait for the payload)" FR);
    cr_assert_eq(app.messages, 0, "on_message ran for an oversized message" FR);
    free(pay);
    finish();
}

Test(ex04_frames, bad_fragmentation_closes_1002)
{
    struct wsc *c1, *c2;

    start_app(NULL);
    c1 = open_client("/echo", NULL);
    wsc_send_frame(c1, 1, WS_OP_CONT, "orphan", 6);
    expect_close_code(c1, WS_CLOSE_PROTOCOL, "a continuation frame with no message started", FR);
    c2 = open_client("/echo", NULL);
    wsc_send_frame(c2, 0, WS_OP_TEXT, "one", 3);
    wsc_send_frame(c2, 1, WS_OP_TEXT, "two", 3);
    expect_close_code(c2, WS_CLOSE_PROTOCOL, "a new text frame before the fragmented message "
                      "ended", FR);
    cr_assert_eq(app.messages, 0, "on_message ran for a badly fragmented message" FR);
    finish();
}

Test(ex04_frames, invalid_close_frame_closes_1002)
{
    struct wsc *c;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_CLOSE, "\x03", 1);
    expect_close_code(c, WS_CLOSE_PROTOCOL, "a close frame with a 1-byte payload",
                      " (ws_close_parse)" CL);
    finish();
}

static int app_closed(void *n)
{
    return app.closes >= *(size_t *)n;
}

Test(ex04_frames, close_handshake_completes)
{
    struct wsc *c;
    size_t one = 1;
    const struct wsc_msg *m;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_close(c, 1000, "bye");
    wsc_run_until(base, got_closed, c, WAIT_MS);
    m = wsc_close_frame(c);
    cr_assert_not_null(m, "after the client's close frame, the server should answer with a close "
                       "frame" CL);
    cr_assert_eq(m->close_code, 1000, "the server's close frame should echo the code 1000, got %u"
                 CL, m->close_code);
    cr_assert(wsc_closed(c), "after the close handshake, the server should close the TCP "
              "connection (within %d ms)" CL, WAIT_MS);
    wsc_run_until(base, app_closed, &one, WAIT_MS);
    cr_assert_eq(app.closes, 1, "on_close should run once, ran %zu times" CL, app.closes);
    cr_assert_eq(app.last_code, 1000, "on_close should get the peer's code 1000, got %u" CL,
                 app.last_code);
    cr_assert_eq(ws_server_conn_count(wsrv), 0, "the connection is still allocated after the "
                 "close handshake" CL);
    finish();
}

Test(ex04_frames, server_close_flushes_output)
{
    struct wsc *c;
    const struct wsc_msg *m;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_text(c, "cmd:big");    /* 1 MiB binary message, then ws_conn_close(1000) */
    wsc_run_until(base, got_closed, c, 3 * WAIT_MS);
    cr_assert_null(wsc_error(c), "the server broke the protocol: %s" CL, wsc_error(c));
    cr_assert_geq(wsc_count(c), 2, "the client got %zu frames before the connection ended; "
                  "expected the 1 MiB message then a close frame: free a connection only once "
                  "its output is written (bufferevent_free drops queued output)" CL,
                  wsc_count(c));
    m = wsc_msg(c, 0);
    cr_assert_eq(m->len, 1u << 20, "the 1 MiB message arrived with %zu bytes: output was "
                 "dropped" CL, m->len);
    for (size_t i = 0; i < m->len; i++)
        if (m->data[i] != (unsigned char)(i * 7 % 251))
            cr_assert_fail("byte %zu of the 1 MiB message is wrong", i);
    m = wsc_msg(c, 1);
    cr_assert_eq(m->opcode, WS_OP_CLOSE, "after the message, expected the close frame" CL);
    cr_assert_eq(m->close_code, 1000, "expected close code 1000, got %u" CL, m->close_code);
    finish();
}

Test(ex04_frames, close_timeout_frees_connection)
{
    struct ws_config cfg = test_cfg();
    struct wsc_opts mute = { .no_auto_reply = 1 };
    struct wsc *c;
    size_t one = 1;

    cfg.close_timeout_ms = 300;
    start_app(&cfg);
    c = open_client("/echo", &mute);    /* will not answer the close frame */
    wsc_send_text(c, "cmd:close");
    wsc_run_until(base, app_closed, &one, 2000);
    cr_assert_eq(app.closes, 1, "the server closed, the peer never answered: the connection "
                 "should be freed after close_timeout_ms (300 ms), with on_close; after 2 s "
                 "on_close ran %zu times" LIFE, app.closes);
    cr_assert_eq(app.last_code, WS_CLOSE_ABNORMAL, "no close frame came back: on_close should "
                 "get 1006, got %u" LIFE, app.last_code);
    cr_assert_eq(ws_server_conn_count(wsrv), 0, "the connection is still allocated" LIFE);
    finish();
}

Test(ex04_frames, silent_peer_dropped_by_keepalive)
{
    struct ws_config cfg = test_cfg();
    struct wsc_opts mute = { .no_auto_reply = 1 };
    struct wsc *dead, *alive;
    size_t one = 1;

    cfg.ping_interval_ms = 100;
    cfg.close_timeout_ms = 200;
    start_app(&cfg);
    alive = open_client("/echo", NULL);     /* answers pings */
    dead = open_client("/echo", &mute);     /* never reads again */
    wsc_pause(dead);
    wsc_run_until(base, app_closed, &one, 1500);
    cr_assert_eq(app.closes, 1, "a peer that neither reads nor answers pings should be dropped "
                 "(ping after one silent interval of 100 ms, drop after another); after 1.5 s "
                 "on_close ran %zu times" LIFE, app.closes);
    wsc_run_for(base, 400);
    cr_assert_eq(app.closes, 1, "a peer that answers pings was dropped too" LIFE);
    cr_assert_not(wsc_closed(alive), "the server closed a peer that answers pings" LIFE);
    finish();
}

struct all {
    struct wsc **cs;
    size_t k;
    size_t n;
};

static int all_have(void *arg)
{
    struct all *a = arg;

    for (size_t i = 0; i < a->k; i++)
        if (wsc_messages(a->cs[i]) < a->n && !wsc_closed(a->cs[i]) && !wsc_error(a->cs[i]))
            return 0;
    return 1;
}

Test(ex04_frames, slow_reader_dropped_outside_send)
{
    struct ws_config cfg = test_cfg();
    struct wsc_opts small = { .rcvbuf = 4096 };
    struct wsc *fast[3], *slow;
    static char text[16 * 1024];
    size_t sent = 0, one = 1;

    cfg.max_output = 64 * 1024;
    start_app(&cfg);
    app.broadcast = 1;
    for (int i = 0; i < 3; i++)
        fast[i] = open_client("/echo", NULL);
    slow = open_client("/echo", &small);
    wsc_run_for(base, 20);
    wsc_pause(slow);
    memset(text, 'm', sizeof(text) - 1);
    /* Rounds of 20 messages until the slow reader is dropped (bounded). */
    for (int round = 0; round < 60 && app.closes == 0; round++) {
        struct all a = { fast, 3, 0 };
        for (int i = 0; i < 20; i++, sent++)
            wsc_send_text(fast[0], text);
        a.n = sent;
        if (!wsc_run_until(base, all_have, &a, WAIT_MS))
            break;                          /* not even the fast readers get them */
    }
    wsc_run_until(base, app_closed, &one, WAIT_MS);
    cr_assert_eq(app.closes, 1, "a peer that stopped reading should be dropped once its output "
                 "passes max_output (64 KiB); after %zu broadcasts of 16 KiB it was not" LIFE, sent);
    cr_assert_eq(app.reentered, 0, "a callback (on_close?) ran from inside ws_conn_send or "
                 "ws_conn_close: drop the connection from the loop instead "
                 "(conn_schedule_free), never while the application walks its list" LIFE);
    for (int i = 0; i < 3; i++) {
        cr_assert_not(wsc_closed(fast[i]), "fast reader %d was disconnected" LIFE, i);
        cr_assert_eq(wsc_messages(fast[i]), sent, "fast reader %d got %zu of %zu messages" LIFE,
                     i, wsc_messages(fast[i]), sent);
    }
    finish();
}

/* ======================= chat ============================================ */

static void start_chat(const struct ws_config *cfg)
{
    char err[256] = "";

    chat = chat_server_new(base, NULL, 0, cfg, err, sizeof(err));
    cr_assert_not_null(chat, "chat_server_new failed: %s", err);
    port = chat_server_port(chat);
}

/* Parses item i of c as JSON (the caller decrefs). */
static json_t *item_json(struct wsc *c, size_t i)
{
    const struct wsc_msg *m = wsc_msg(c, i);
    json_t *j;

    cr_assert_not_null(m, "test bug: no item %zu", i);
    cr_assert_eq(m->opcode, WS_OP_TEXT, "the chat should send text frames (JSON); got opcode %d"
                 CH, m->opcode);
    j = json_loadb((const char *)m->data, m->len, 0, NULL);
    cr_assert_not_null(j, "the chat sent something that is not JSON: \"%s\"" CH,
                       shown(m->data, m->len));
    return j;
}

/* Asserts that item i of c equals the JSON `want` (members in any order). */
static void expect_item(struct wsc *c, size_t i, const char *want, const char *what)
{
    json_t *w = json_loads(want, 0, NULL), *got;
    char *g;

    cr_assert_not_null(w, "test bug: %s", want);
    wait_count(c, i + 1, what);
    got = item_json(c, i);
    g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(json_equal(got, w), "%s: expected %s, got %s" CH, what, want, g);
    free(g);
    json_decref(got);
    json_decref(w);
}

static struct wsc *join_opts(const char *name, const struct wsc_opts *o)
{
    char target[128];
    struct wsc *c;

    snprintf(target, sizeof(target), "/ws?name=%s", name);
    c = open_client(target, o);
    wait_count(c, 1, "the user list sent on joining");
    return c;
}

static struct wsc *join(const char *name)
{
    return join_opts(name, NULL);
}

static void say(struct wsc *c, const char *text)
{
    json_t *j = json_pack("{s:s, s:s}", "type", "message", "text", text);
    char *s = json_dumps(j, JSON_COMPACT);

    wsc_send_text(c, s);
    free(s);
    json_decref(j);
}

Test(ex04_chat, name_rules)
{
    static const char *good[] = { "a", "ann", "Bob_2", "x-y", "0", "abcdefghijklmnopqrstuvwxyz012345" };
    static const char *bad[] = { "", "abcdefghijklmnopqrstuvwxyz0123456", "ann bob", "é",
                                 "a.b", "a/b", "<x>", "a\tb" };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(chat_name_valid(good[i]), 1, "\"%s\" is a valid name (1-32 of A-Z a-z 0-9 _ -)"
                     CH, good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(chat_name_valid(bad[i]), 0, "\"%s\" is not a valid name (1-32 of A-Z a-z "
                     "0-9 _ -)" CH, bad[i]);
    cr_assert_eq(chat_name_valid(NULL), 0, "NULL is not a valid name" CH);
    finish();
}

Test(ex04_chat, join_gets_user_list)
{
    struct wsc *bob;

    start_chat(NULL);
    join("ann");
    join("cy");
    bob = join("bob");
    expect_item(bob, 0, "{\"type\":\"users\",\"users\":[\"ann\",\"cy\",\"bob\"]}",
                "the first message to bob, who joined after ann and cy");
    cr_assert_eq(chat_server_user_count(chat), 3, "3 users joined; chat_server_user_count says %zu"
                 CH, chat_server_user_count(chat));
    finish();
}

Test(ex04_chat, others_get_join_event)
{
    struct wsc *ann, *cy;

    start_chat(NULL);
    ann = join("ann");
    cy = join("cy");
    join("bob");
    expect_item(ann, 1, "{\"type\":\"join\",\"user\":\"cy\"}", "ann's second message");
    expect_item(ann, 2, "{\"type\":\"join\",\"user\":\"bob\"}", "ann's third message");
    expect_item(cy, 1, "{\"type\":\"join\",\"user\":\"bob\"}", "cy's second message");
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_count(ann), 3, "ann should have exactly 3 messages (users, join cy, join "
                 "bob), got %zu" CH, wsc_count(ann));
    finish();
}

Test(ex04_chat, message_reaches_everyone_with_sender)
{
    struct wsc *u[5];
    const char *names[5] = { "u0", "u1", "u2", "u3", "u4" };

    start_chat(NULL);
    for (int i = 0; i < 5; i++)
        u[i] = join(names[i]);
    say(u[2], "hello, world");
    for (int i = 0; i < 5; i++) {
        size_t last = (size_t)(4 - i) + 1;  /* users + joins after i */
        expect_item(u[i], last, "{\"type\":\"message\",\"from\":\"u2\",\"text\":\"hello, world\"}",
                    "the message u2 sent, as seen by each user (u2 included)");
    }
    finish();
}

Test(ex04_chat, order_kept_per_sender)
{
    struct wsc *u[4];
    const char *names[4] = { "s0", "s1", "s2", "r" };
    const int per = 40;
    char text[32];

    start_chat(NULL);
    for (int i = 0; i < 4; i++)
        u[i] = join(names[i]);
    wsc_run_for(base, 30);
    for (int k = 0; k < per; k++)
        for (int s = 0; s < 3; s++) {
            snprintf(text, sizeof(text), "%d", k);
            say(u[s], text);
        }
    for (int i = 0; i < 4; i++) {
        int next[3] = { 0, 0, 0 };
        size_t first = (size_t)(3 - i) + 1;
        wait_count(u[i], first + 3 * (size_t)per, "120 messages from 3 senders");
        for (size_t m = first; m < first + 3 * (size_t)per; m++) {
            json_t *j = item_json(u[i], m);
            const char *from = json_string_value(json_object_get(j, "from"));
            const char *t = json_string_value(json_object_get(j, "text"));
            cr_assert(from && t && strlen(from) == 2 && from[0] == 's', "user %s, item %zu: "
                      "expected a message from s0..s2" CH, names[i], m);
            cr_assert_eq(atoi(t), next[from[1] - '0'], "user %s: from %s expected message %d "
                         "next, got %s: each sender's messages must arrive in order" CH,
                         names[i], from, next[from[1] - '0'], t);
            next[from[1] - '0']++;
            json_decref(j);
        }
    }
    finish();
}

Test(ex04_chat, leave_on_close)
{
    struct wsc *ann, *bob, *cy;

    start_chat(NULL);
    ann = join("ann");
    bob = join("bob");
    wait_count(ann, 2, "ann: users, join bob");
    wsc_send_close(bob, 1000, "bye");
    expect_item(ann, 2, "{\"type\":\"leave\",\"user\":\"bob\"}",
                "after bob's close frame, ann's next message");
    cr_assert_eq(chat_server_user_count(chat), 1, "bob left; chat_server_user_count says %zu" CH,
                 chat_server_user_count(chat));
    cy = join("cy");
    expect_item(cy, 0, "{\"type\":\"users\",\"users\":[\"ann\",\"cy\"]}",
                "the user list after bob left");
    finish();
}

Test(ex04_chat, leave_on_abrupt_disconnect_during_broadcast)
{
    struct wsc *u[5];
    const char *names[5] = { "a", "b", "c", "d", "e" };
    char text[16];

    start_chat(NULL);
    for (int i = 0; i < 5; i++)
        u[i] = join(names[i]);
    wsc_run_for(base, 30);
    /* a broadcasts while c vanishes (a TCP reset) in the middle. */
    for (int k = 0; k < 30; k++) {
        snprintf(text, sizeof(text), "m%d", k);
        say(u[0], text);
        if (k == 10)
            wsc_abort(u[2]);
    }
    for (int i = 0; i < 5; i++) {
        size_t first, seen = 0;
        int left = 0;
        if (i == 2)
            continue;
        first = (size_t)(4 - i) + 1;
        wait_count(u[i], first + 31, "30 messages and a leave event");
        for (size_t m = first; m < wsc_count(u[i]); m++) {
            json_t *j = item_json(u[i], m);
            const char *type = json_string_value(json_object_get(j, "type"));
            if (strcmp(type, "message") == 0) {
                snprintf(text, sizeof(text), "m%zu", seen++);
                cr_assert_str_eq(json_string_value(json_object_get(j, "text")), text,
                                 "user %s missed or reordered a message while c vanished" CH,
                                 names[i]);
            } else {
                cr_assert_str_eq(type, "leave", "user %s: unexpected %s event" CH, names[i], type);
                cr_assert_str_eq(json_string_value(json_object_get(j, "user")), "c");
                left++;
            }
            json_decref(j);
        }
        cr_assert_eq(seen, 30, "user %s got %zu of a's 30 messages" CH, names[i], seen);
        cr_assert_eq(left, 1, "user %s got %d leave events for c; expected 1" CH, names[i], left);
    }
    cr_assert_eq(chat_server_user_count(chat), 4, "c vanished; chat_server_user_count says %zu"
                 CH, chat_server_user_count(chat));
    finish();
}

static void expect_refused(struct wsc *c, const char *reason_part, const char *what)
{
    json_t *j;
    const char *reason;

    expect_close_code(c, WS_CLOSE_POLICY, what, CH);
    cr_assert_geq(wsc_count(c), 2, "%s: expected an error event before the close frame" CH, what);
    j = item_json(c, 0);
    reason = json_string_value(json_object_get(j, "reason"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "error",
                     "%s: the first message should be {\"type\":\"error\",...}" CH, what);
    cr_assert(reason != NULL && strstr(reason, reason_part) != NULL, "%s: the reason should "
              "contain \"%s\", got \"%s\"" CH, what, reason_part, reason ? reason : "(none)");
    json_decref(j);
}

Test(ex04_chat, invalid_name_refused)
{
    static const struct { const char *target, *reason, *why; } cases[] = {
        { "/ws", "missing name", "no name" },
        { "/ws?name=", "invalid name", "an empty name" },
        { "/ws?name=abcdefghijklmnopqrstuvwxyz0123456", "invalid name", "a 33-character name" },
        { "/ws?name=a%20b", "invalid name", "a name with a space" },
        { "/ws?name=%C3%A9", "invalid name", "a name with a non-ASCII letter" },
    };
    struct wsc *ann;

    start_chat(NULL);
    ann = join("ann");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsc *c = open_client(cases[i].target, NULL);
        expect_refused(c, cases[i].reason, cases[i].why);
    }
    cr_assert_eq(chat_server_user_count(chat), 1, "refused users were counted: %zu users" CH,
                 chat_server_user_count(chat));
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_count(ann), 1, "ann got %zu messages; refused users must not be announced"
                 CH, wsc_count(ann));
    finish();
}

Test(ex04_chat, taken_name_refused)
{
    struct wsc *c;

    start_chat(NULL);
    join("ann");
    c = open_client("/ws?name=ann", NULL);
    expect_refused(c, "name taken", "a second \"ann\"");
    cr_assert_eq(chat_server_user_count(chat), 1, "users: %zu" CH, chat_server_user_count(chat));
    finish();
}

Test(ex04_chat, bad_messages_get_error)
{
    static const char *bad[] = {
        "not json", "[1,2]", "{\"type\":\"shout\",\"text\":\"x\"}", "{\"type\":\"message\"}",
        "{\"type\":\"message\",\"text\":42}",
    };
    struct wsc *ann, *bob;
    size_t n = sizeof(bad) / sizeof(bad[0]);

    start_chat(NULL);
    ann = join("ann");
    bob = join("bob");
    wait_count(ann, 2, "ann: users, join bob");
    for (size_t i = 0; i < n; i++)
        wsc_send_text(bob, bad[i]);
    wsc_send_frame(bob, 1, WS_OP_BINARY, "\x01\x02", 2);
    say(bob, "still here");
    for (size_t i = 0; i <= n; i++) {
        json_t *j;
        wait_count(bob, 2 + i, "error events for bad messages");
        j = item_json(bob, 1 + i);
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "error",
                         "bad message %zu (\"%s\") should get {\"type\":\"error\",...} back" CH,
                         i, i < n ? bad[i] : "a binary frame");
        cr_assert(json_is_string(json_object_get(j, "reason")), "an error needs a reason" CH);
        json_decref(j);
    }
    expect_item(bob, 2 + n, "{\"type\":\"message\",\"from\":\"bob\",\"text\":\"still here\"}",
                "after the bad messages, bob's good one");
    expect_item(ann, 2, "{\"type\":\"message\",\"from\":\"bob\",\"text\":\"still here\"}",
                "ann should see only bob's good message");
    finish();
}

static int leave_seen(void *c)
{
    for (size_t i = 0; i < wsc_count(c); i++) {
        const struct wsc_msg *m = wsc_msg(c, i);
        if (m && m->data && strstr((char *)m->data, "\"leave\"") != NULL)
            return 1;
    }
    return wsc_closed(c);
}

Test(ex04_chat, slow_reader_dropped_others_keep_receiving)
{
    struct ws_config cfg = test_cfg();
    struct wsc_opts small = { .rcvbuf = 4096 };
    struct wsc *fast[3], *slow;
    static char text[16 * 1024];
    size_t sent = 0, msgs[3];
    int dropped = 0;

    cfg.max_output = 128 * 1024;
    start_chat(&cfg);
    fast[0] = join("f0");
    fast[1] = join("f1");
    slow = join_opts("slow", &small);
    fast[2] = join("f2");
    wsc_run_for(base, 30);
    wsc_pause(slow);
    memset(text, 'm', sizeof(text) - 1);
    for (int i = 0; i < 3; i++) {
        wsc_set_keep(fast[i], 1);
        msgs[i] = wsc_messages(fast[i]);
    }
    for (int round = 0; round < 60 && !dropped; round++) {
        struct all a = { fast, 3, 0 };
        for (int i = 0; i < 20; i++, sent++)
            say(fast[0], text);
        a.n = msgs[0] + sent;   /* f0 has the fewest: it joined first... */
        for (int i = 0; i < 3; i++)
            a.n = msgs[i] + sent < a.n ? msgs[i] + sent : a.n;
        if (!wsc_run_until(base, all_have, &a, WAIT_MS))
            break;                          /* not even the fast readers get them */
        dropped = leave_seen(fast[1]);
    }
    cr_assert(dropped, "a user who stopped reading should be dropped once the output passes "
              "max_output (128 KiB), and the others told {\"type\":\"leave\"}; after %zu "
              "messages of 16 KiB nothing happened" CH, sent);
    wsc_run_for(base, 50);
    for (int i = 0; i < 3; i++) {
        size_t got = 0;
        cr_assert_not(wsc_closed(fast[i]), "fast user f%d was disconnected" CH, i);
        for (size_t m = 0; m < wsc_count(fast[i]); m++) {
            const struct wsc_msg *w = wsc_msg(fast[i], m);
            if (strstr((char *)w->data, "\"from\":\"f0\"") != NULL)
                got++;
        }
        cr_assert_eq(got, sent, "fast user f%d got %zu of the %zu messages while the slow one "
                     "was dropped" CH, i, got, sent);
    }
    cr_assert_eq(chat_server_user_count(chat), 3, "users left: %zu, expected 3" CH,
                 chat_server_user_count(chat));
    finish();
}

static int all_joined(void *arg)
{
    struct all *a = arg;

    for (size_t i = 0; i < a->k; i++)
        if (wsc_count(a->cs[i]) < 1 && !wsc_closed(a->cs[i]))
            return 0;
    return 1;
}

static int all_last_is(void *arg)
{
    struct all *a = arg;

    for (size_t i = 0; i < a->k; i++) {
        const struct wsc_msg *m = wsc_last(a->cs[i]);
        if (wsc_closed(a->cs[i]))
            continue;
        if (m == NULL || strstr((char *)m->data, "\"text\":\"to all 500\"") == NULL)
            return 0;
    }
    return 1;
}

Test(ex04_chat, five_hundred_clients_receive_broadcast, .timeout = 90)
{
    enum { N = 500, BATCH = 50 };
    static struct wsc *u[N];
    char name[16];
    struct all a;
    size_t ok = 0;

    start_chat(NULL);
    for (size_t b = 0; b < N; b += BATCH) {
        for (size_t i = b; i < b + BATCH; i++) {
            snprintf(name, sizeof(name), "/ws?name=u%zu", i);
            u[i] = client();
            wsc_set_keep(u[i], 0);
            wsc_handshake(u[i], name, NULL);
        }
        a.cs = u + b;
        a.k = BATCH;
        wsc_run_until(base, all_joined, &a, 10000);
        for (size_t i = b; i < b + BATCH; i++)
            cr_assert_eq(wsc_status(u[i]), 101, "client %zu of %d: no 101 (got %d)" CH, i, N,
                         wsc_status(u[i]));
    }
    cr_assert_eq(chat_server_user_count(chat), N, "%d users joined; the chat counts %zu" CH, N,
                 chat_server_user_count(chat));
    say(u[123], "to all 500");
    a.cs = u;
    a.k = N;
    wsc_run_until(base, all_last_is, &a, 20000);
    for (size_t i = 0; i < N; i++) {
        const struct wsc_msg *m = wsc_last(u[i]);
        if (!wsc_closed(u[i]) && m && strstr((char *)m->data, "\"text\":\"to all 500\""))
            ok++;
    }
    cr_assert_eq(ok, N, "%zu of %d users received the broadcast" CH, ok, N);
    finish();
}

Test(ex04_chat, page_served_at_root)
{
    struct wsc *page, *plain, *none;

    start_chat(NULL);
    page = raw_request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    plain = raw_request("GET /ws?name=ann HTTP/1.1\r\nHost: x\r\n\r\n");
    none = raw_request("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    wsc_run_until(base, got_closed, page, WAIT_MS);
    cr_assert_eq(wsc_status(page), 200, "GET / should get 200 and the chat page, got %d" CH,
                 wsc_status(page));
    cr_assert(wsc_header(page, "Content-Type") &&
              strstr(wsc_header(page, "Content-Type"), "text/html"),
              "GET / should be served as text/html" CH);
    cr_assert_str_eq(wsc_body(page), chat_page_html, "GET / should serve chat_page_html" CH);
    cr_assert_eq(wsc_status(plain), 400, "GET /ws without the WebSocket headers should get 400, "
                 "got %d" CH, wsc_status(plain));
    cr_assert_eq(wsc_status(none), 404, "GET /nothing should get 404, got %d" CH,
                 wsc_status(none));
    finish();
}

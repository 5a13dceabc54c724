/*
 * test_ex04.c - the judge of exercise 4 (WebSocket mini-chat).  Run it with
 * `make ex04`, one suite at a time while you work:
 *   make ex04 TEST='ex04_handshake::*'   ws.c: the handshake
 *   make ex04 TEST='ex04_frames::*'      ws.c: frames, closing
 *   make ex04 TEST='ex04_chat::*'        chat.c
 *
 * Your code runs in a separate process, the subject.  The handshake and
 * frames suites start subject-ex04 (your ws.c, without chat.c, under a small
 * echo application: harness/ex04_websocket/subject_ex04.c); the chat suite
 * starts ex04-server (ws.c and chat.c: the program itself).  The tests play
 * the clients (harness/common/ws_client.h, written from the RFC) on their
 * own event loop, and check what those clients receive.  The pure functions
 * (ws_frame_parse, ws_frame_header, ws_mask, ws_close_parse, ws_accept_key,
 * ws_has_token, ws_handshake_check) get bytes the test drew for this run, and
 * their answers are checked against the test's own computation.  Payloads,
 * masks, keys, texts, names and the cuts of the bytes sent are drawn anew
 * each run.  Every wait is bounded; bounds come from the timers the tests
 * give the server.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "chat.h"
#include "fixture_server.h"
#include "judge.h"
#include "subject_io.h"
#include "ws.h"
#include "ws_client.h"

#define HS " (TODO(ex04) in ws.c: the handshake; docs/en/ex04_websocket.md#the-handshake)"
#define FR " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#frames)"
#define CL " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#closing)"
#define LIFE " (TODO(ex04) in ws.c; docs/en/ex04_websocket.md#connection-lifetime)"
#define CH " (TODO(ex04) in chat.c; docs/en/ex04_websocket.md#the-chat)"
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define MAXC 600
/* A wait for frames or a close. */
#define WAIT_MS 3000
/* A wait for the answer to a handshake: on a loopback it takes well under
 * a millisecond; after this the handshake is taken as never answered. */
#define HANDSHAKE_MS 2000
/* A wait for a unit job's answer (the pure functions return at once). */
#define CALL_MS 2000
/* How long a server may take to listen after it is started. */
#define START_MS 3000

/* The protocol tests' usual configuration: 128 KiB messages, no keepalive
 * during a test, 1 s to close. */
#define TEST_CFG "--max-message", "131072", "--ping-interval", "10000", "--close-timeout", "1000"

static struct event_base *base;
static struct subj *subject;        /* the server under test */
static const char *subject_name = "subject-ex04";
static const char *subject_hint = HS;
static struct wsc *clients[MAXC];
static size_t nclients;
static int port;
static json_t *answer;              /* the last unit job's answer */
static uint64_t rng;                /* this test's random numbers */

/* ---- random inputs -------------------------------------------------------- */

static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A number in [0, n). */
static size_t rnd(size_t n)
{
    return n ? (size_t)(rnd64() % n) : 0;
}

static void rnd_bytes(unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rnd64();
}

/* Exactly n bytes of valid UTF-8: printable ASCII and 2- to 4-byte
 * characters (no surrogates, nothing above U+10FFFF). */
static void rnd_utf8(unsigned char *b, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t k = 1 + rnd(4);
        unsigned long cp;
        if (k > n - i)
            k = 1;
        switch (k) {
        case 1:
            b[i++] = (unsigned char)(0x20 + rnd(95));
            break;
        case 2:
            cp = 0x80 + rnd(0x780);
            b[i++] = (unsigned char)(0xC0 | cp >> 6);
            b[i++] = (unsigned char)(0x80 | (cp & 63));
            break;
        case 3:
            cp = 0x800 + rnd(0xF800 - 0x800);
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp += 0x800;
            b[i++] = (unsigned char)(0xE0 | cp >> 12);
            b[i++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
            b[i++] = (unsigned char)(0x80 | (cp & 63));
            break;
        default:
            cp = 0x10000 + rnd(0x100000);
            b[i++] = (unsigned char)(0xF0 | cp >> 18);
            b[i++] = (unsigned char)(0x80 | ((cp >> 12) & 63));
            b[i++] = (unsigned char)(0x80 | ((cp >> 6) & 63));
            b[i++] = (unsigned char)(0x80 | (cp & 63));
            break;
        }
    }
}

/* n random letters and digits, and a '\0'. */
static void rnd_word(char *b, size_t n)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    for (size_t i = 0; i < n; i++)
        b[i] = al[rnd(sizeof(al) - 1)];
    b[n] = '\0';
}

/* A fresh Sec-WebSocket-Key: the base64 of 16 random bytes. */
static void rnd_key(char out[WS_KEY_LEN + 1])
{
    unsigned char nonce[16];

    rnd_bytes(nonce, sizeof(nonce));
    EVP_EncodeBlock((unsigned char *)out, nonce, sizeof(nonce));
}

/* The accept value of key, computed here. */
static const char *accept_of(const char *key)
{
    static char out[4][32];
    static int k;

    k = (k + 1) % 4;
    cr_assert_eq(wsc_accept_for(key, out[k]), 0, "test bug: SHA-1 failed");
    return out[k];
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
    out[0] = '\0';
    for (size_t i = 0; i < len && i < 200 && o + 5 < sizeof(buf[0]); i++)
        o += (size_t)snprintf(out + o, sizeof(buf[0]) - o, p[i] >= 0x20 && p[i] < 0x7F &&
                              p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
    if (len > 200)
        snprintf(out + o, sizeof(buf[0]) - o, "...");
    return out;
}

/* A wait of ms milliseconds, longer under WB_SUBJECT_WRAPPER (valgrind,
 * gdb). */
static unsigned scaled(double ms)
{
    return (unsigned)(ms * subj_time_scale());
}

/* ---- setup, servers, unit jobs -------------------------------------------- */

static void setup(void)
{
    base = fx_event_base_new();   /* precise timers: exact time bounds */
    cr_assert_not_null(base, "fx_event_base_new failed");
    nclients = 0;
    subject = NULL;
    subject_name = "subject-ex04";
    subject_hint = criterion_current_test != NULL &&
                   strcmp(criterion_current_test->category, "ex04_frames") == 0 ? FR : HS;
    rng = judge_random() | 1;
}

static void teardown(void)
{
    for (size_t i = 0; i < nclients; i++)
        wsc_free(clients[i]);
    nclients = 0;
    json_decref(answer);
    answer = NULL;
    judge_cleanup();
    subject = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

/* Ends a test: the server must stop cleanly on SIGTERM (in a memory-checked
 * run, with no leak and no memory error). */
static void finish(void)
{
    judge_stop(subject, 3000, subject_name, subject_hint);
}

/* Starts program (the reference's when reference is 1) on a free port with
 * the options opts (NULL-terminated, or NULL), and waits until it listens. */
static struct subj *start_server(const char *program, int reference, const char *const *opts,
                                 int *port_out)
{
    const char *args[32];
    char portstr[16];
    size_t n = 0;
    int p = fx_unused_port();
    struct subj_spec spec = { .program = program, .args = args, .channel = 1,
                              .reference = reference, .bind_port = p,
                              .stop_signal = SIGTERM };
    struct subj *s;
    int rc;

    cr_assert_gt(p, 0, "test bug: no free port");
    snprintf(portstr, sizeof(portstr), "%d", p);
    args[n++] = "--port";
    args[n++] = portstr;
    for (size_t i = 0; opts != NULL && opts[i] != NULL && n < 31; i++)
        args[n++] = opts[i];
    args[n] = NULL;
    s = judge_start_spec(base, &spec);
    rc = subj_wait_listening(s, p, START_MS);
    cr_assert_eq(rc, 1, "%s%s did not start: %s%s%s", reference ? "the reference's " : "",
                 program, subj_error(s), judge_output(s), judge_rerun());
    *port_out = p;
    return s;
}

/* The echo server over ws.c, with these options (NULL: the defaults). */
static void start_app(const char *const *opts)
{
    subject_name = "subject-ex04";
    subject = start_server(subject_name, 0, opts, &port);
}

/* Fails the test when the server under test has ended (a crash, a
 * sanitizer's report): said at once, rather than as a missing frame. */
static void expect_alive(const char *what)
{
    char how[200];

    if (subject == NULL || !subj_wait_exit(subject, 50))
        return;
    subj_exit_describe(subj_exit_status(subject), how, sizeof(how));
    cr_assert_fail("%s: the server (%s) %s during the test%s%s%s", what, subject_name, how,
                   subject_hint, judge_output(subject), judge_rerun());
}

/* Sends a unit job (stolen) to subject-ex04; returns its answer (owned by
 * the test until the next call). */
static json_t *unit(json_t *job, const char *what, const char *hint)
{
    json_decref(answer);
    answer = NULL;
    answer = judge_call(subject, job, CALL_MS, what, hint);
    cr_assert_null(json_object_get(answer, "error"), "test bug: %s: the driver says %s", what,
                   json_string_value(json_object_get(answer, "error")));
    return answer;
}

/* A hex field of the answer, decoded into out (at most cap bytes); returns
 * its length. */
static size_t unit_bytes(const char *key, unsigned char *out, size_t cap, const char *what)
{
    size_t n = 0;
    unsigned char *b = sio_unhex(json_object_get(answer, key), &n);

    cr_assert_not_null(b, "%s: the answer lacks the hex \"%s\"", what, key);
    cr_assert_leq(n, cap, "test bug: \"%s\" is %zu bytes", key, n);
    memcpy(out, b, n);
    free(b);
    return n;
}

/* The echo application's counter `key` (claims of the subject: how many
 * times on_open, on_message and on_close ran, the last on_close code, the
 * callbacks that ran inside ws_conn_send or ws_conn_close, and
 * ws_server_conn_count()). */
static json_int_t app_stat(const char *key)
{
    json_t *a = judge_call(subject, json_pack("{ss}", "op", "stats"), CALL_MS,
                           "the echo server's counters (job \"stats\")", subject_hint);
    json_int_t v = judge_int(a, key, "stats");

    json_decref(a);
    return v;
}

/* Runs the loop until the counter `key` reaches at_least, or ms pass;
 * returns its last value. */
static json_int_t wait_stat(const char *key, json_int_t at_least, double ms)
{
    double t0 = fx_now_ms();
    json_int_t v;

    while ((v = app_stat(key)) < at_least && fx_now_ms() - t0 < ms * subj_time_scale())
        wsc_run_for(base, 20);
    return v;
}

/* ---- clients -------------------------------------------------------------- */

static struct wsc *client_at(int p, const struct wsc_opts *o)
{
    char err[256] = "";
    struct wsc *c;

    cr_assert_lt(nclients, MAXC, "test bug: too many clients");
    c = wsc_new(base, p, o, err, sizeof(err));
    cr_assert_not_null(c, "test client: %s", err);
    clients[nclients++] = c;
    return c;
}

static struct wsc *client_opts(const struct wsc_opts *o)
{
    return client_at(port, o);
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

    wsc_run_until(base, got_count, &u, scaled(WAIT_MS));
    if (wsc_count(c) < n)
        expect_alive(what);
    cr_assert_null(wsc_error(c), "%s: the server broke the protocol: %s" FR, what, wsc_error(c));
    cr_assert_geq(wsc_count(c), n, "%s: the client received %zu frames within %d ms; expected "
                  "%zu (the connection is %s)%s", what, wsc_count(c), WAIT_MS, n,
                  wsc_closed(c) ? "closed" : "open", subject_hint);
}

/* Waits for the status line of c's handshake: fails, saying so, when the
 * server never answers. */
static void wait_status(struct wsc *c, const char *target)
{
    wsc_run_until(base, got_status, c, scaled(HANDSHAKE_MS));
    if (wsc_status(c) != 0)
        return;
    expect_alive("the handshake");
    cr_assert(wsc_closed(c) || wsc_error(c) != NULL, "no answer to the handshake for %s within "
              "%d ms: once the empty line ends the head, answer it (conn_read_head, then "
              "conn_handshake: are they still TODOs?)" HS, target, HANDSHAKE_MS);
    cr_assert_null(wsc_error(c), "the answer to the handshake for %s is not HTTP: %s" HS,
                   target, wsc_error(c));
    cr_assert_fail("the server closed the connection without answering the handshake for %s" HS,
                   target);
}

/* Handshakes a client on `target` and waits for the 101. */
static struct wsc *open_client(const char *target, const struct wsc_opts *o)
{
    struct wsc *c = client_opts(o);

    cr_assert_eq(wsc_handshake(c, target, NULL), 0, "test client: cannot send");
    wait_status(c, target);
    cr_assert_eq(wsc_status(c), 101, "handshake for %s: expected 101, got %d (body: \"%s\")"
                 HS, target, wsc_status(c), shown(wsc_body(c), strlen(wsc_body(c))));
    cr_assert(wsc_accept_ok(c), "handshake for %s: the 101 lacks the right "
              "Sec-WebSocket-Accept / Upgrade: websocket / Connection: Upgrade" HS, target);
    return c;
}

/* Sends `req` raw (the caller waits for the answer with wait_status). */
static struct wsc *raw_request_at(int p, const char *req)
{
    struct wsc *c = client_at(p, NULL);

    wsc_send_raw(c, req, strlen(req));
    return c;
}

static struct wsc *raw_request(const char *req)
{
    return raw_request_at(port, req);
}

/* Sends b[0..n) in `pieces` writes cut at random places, letting the server
 * read each one before the next. */
static void send_in_pieces(struct wsc *c, const unsigned char *b, size_t n, size_t pieces)
{
    size_t cuts[64], k = 0, prev = 0;

    cr_assert_lt(pieces, 64, "test bug: too many pieces");
    for (size_t i = 0; i + 1 < pieces && n > 1; i++)
        cuts[k++] = 1 + rnd(n - 1);
    for (size_t i = 1; i < k; i++)      /* insertion sort */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    cuts[k++] = n;
    for (size_t i = 0; i < k; i++) {
        if (cuts[i] == prev)
            continue;
        wsc_send_raw(c, b + prev, cuts[i] - prev);
        prev = cuts[i];
        wsc_run_for(base, 2);
    }
}

static void expect_close_code(struct wsc *c, unsigned code, const char *what, const char *hint)
{
    const struct wsc_msg *m;

    wsc_run_until(base, got_close_frame, c, scaled(WAIT_MS));
    if (wsc_close_frame(c) == NULL)
        expect_alive(what);
    cr_assert_null(wsc_error(c), "%s: the server broke the protocol: %s", what, wsc_error(c));
    m = wsc_close_frame(c);
    cr_assert_not_null(m, "%s: expected a close frame with code %u, got %s%s", what, code,
                       wsc_closed(c) ? "the connection closed without one" : "nothing", hint);
    cr_assert_eq(m->close_code, code, "%s: expected close code %u, got %u (reason \"%s\")%s",
                 what, code, m->close_code, shown(m->data, m->len), hint);
}

/* No message came back (only pongs or a close frame), after a short wait:
 * the echo application answers each on_message, so none ran. */
static void expect_no_echo(struct wsc *c, const char *what)
{
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_messages(c), 0, "%s: the server echoed %zu messages: on_message ran" FR,
                 what, wsc_messages(c));
}

TestSuite(ex04_handshake, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(ex04_frames, .init = setup, .fini = teardown, .timeout = 15);
TestSuite(ex04_chat, .init = setup, .fini = teardown, .timeout = 20);

/* ======================= handshake ======================================= */

static void expect_accept(const char *key, const char *want)
{
    unsigned char out[WS_ACCEPT_LEN + 1];
    char what[160];
    json_t *a;

    snprintf(what, sizeof(what), "ws_accept_key(\"%s\")", key);
    a = unit(json_pack("{ss ss}", "op", "accept_key", "key", key), what, HS);
    cr_assert_eq(judge_int(a, "rc", what), 0, "%s should return 0, got %d" HS, what,
                 (int)judge_int(a, "rc", what));
    unit_bytes("out", out, sizeof(out), what);
    cr_assert(json_is_true(json_object_get(a, "terminated")), "%s: out[28] should be '\\0'" HS,
              what);
    cr_assert_str_eq((char *)out, want, "%s wrote \"%s\"; expected \"%s\": base64(SHA-1(key + "
                     "WS_GUID)), with ws_sha1_base64()" HS, what, shown(out, WS_ACCEPT_LEN),
                     want);
}

Test(ex04_handshake, accept_key_matches_rfc_example)
{
    char key[80];
    unsigned char out[WS_ACCEPT_LEN + 1];
    json_t *a;

    start_app(NULL);
    /* RFC 6455 (section 1.3) gives this one. */
    expect_accept(RFC_KEY, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    expect_accept("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    /* Keys drawn for this run; and any string is used as it is, up to 64
     * characters (the last one is exactly 64). */
    for (int i = 0; i < 7; i++) {
        if (i < 4)
            rnd_key(key);
        else
            rnd_word(key, i == 6 ? 64 : 1 + rnd(64));
        expect_accept(key, accept_of(key));
    }
    a = unit(json_pack("{ss sn}", "op", "accept_key", "key"), "ws_accept_key(NULL)", HS);
    cr_assert_eq(judge_int(a, "rc", "ws_accept_key"), -1,
                 "ws_accept_key(NULL, ...) should return -1" HS);
    a = unit(json_pack("{ss ss sb}", "op", "accept_key", "key", RFC_KEY, "null_out", 1),
             "ws_accept_key(key, NULL)", HS);
    cr_assert_eq(judge_int(a, "rc", "ws_accept_key"), -1,
                 "ws_accept_key(key, NULL) should return -1" HS);
    rnd_word(key, 65);
    a = unit(json_pack("{ss ss}", "op", "accept_key", "key", key), "ws_accept_key", HS);
    cr_assert_eq(judge_int(a, "rc", "ws_accept_key"), -1,
                 "ws_accept_key() of a 65-character key should return -1" HS);
    unit_bytes("out", out, sizeof(out), "ws_accept_key");
    for (size_t i = 0; i < sizeof(out); i++)
        cr_assert_eq(out[i], '#', "ws_accept_key() returned -1 but wrote into out" HS);
    finish();
}

static int has_token(const char *list, const char *tok)
{
    json_t *job = json_pack("{ss}", "op", "has_token");
    char what[200];

    json_object_set_new(job, "list", list ? json_string(list) : json_null());
    json_object_set_new(job, "token", tok ? json_string(tok) : json_null());
    snprintf(what, sizeof(what), "ws_has_token(\"%s\", \"%s\")", list ? list : "(null)",
             tok ? tok : "(null)");
    return (int)judge_int(unit(job, what, HS), "rc", what);
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
    char key[WS_KEY_LEN + 1], req[512], tok[16], list[256], other[16];
    struct wsc *c;

    start_app(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(has_token(cases[i].list, cases[i].tok), cases[i].want,
                     "ws_has_token(\"%s\", \"%s\") should be %d: Connection is a comma-separated "
                     "list of tokens, compared without case" HS,
                     cases[i].list, cases[i].tok, cases[i].want);
    /* Tokens drawn for this run, in random case, among others, with random
     * blanks; and near misses. */
    for (int i = 0; i < 8; i++) {
        size_t n = 3 + rnd(8), at = rnd(4), o = 0;
        rnd_word(tok, n);
        for (size_t k = 0; k < 4; k++) {
            const char *blank[] = { "", " ", "\t", " \t " };
            if (k == at) {
                char mixed[16];
                for (size_t j = 0; j <= n; j++)
                    mixed[j] = (char)(rnd(2) ? tok[j] ^ (tok[j] >= 'A' ? 0x20 : 0) : tok[j]);
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s%s%s", k ? "," : "",
                                      blank[rnd(4)], mixed, blank[rnd(4)]);
            } else {
                rnd_word(other, 2 + rnd(8));
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s%s", k ? "," : "",
                                      blank[rnd(4)], other);
            }
        }
        cr_assert_eq(has_token(list, tok), 1, "ws_has_token(\"%s\", \"%s\") should be 1: the "
                     "token is one element of the list, compared without case" HS, list, tok);
        snprintf(list, sizeof(list), "x%s, %sd", tok, tok);
        cr_assert_eq(has_token(list, tok), 0, "ws_has_token(\"%s\", \"%s\") should be 0: a token "
                     "must match a whole element" HS, list, tok);
    }
    cr_assert_eq(has_token(NULL, "upgrade"), 0, "ws_has_token(NULL, ...) should be 0" HS);
    cr_assert_eq(has_token("upgrade", NULL), 0, "ws_has_token(..., NULL) should be 0" HS);
    cr_assert_eq(has_token("upgrade, ,", ""), 0, "ws_has_token(\"upgrade, ,\", \"\") should "
                 "be 0: an empty token is never in a list" HS);
    /* And on the wire, as Firefox sends it. */
    rnd_key(key);
    snprintf(req, sizeof(req), "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
             "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n", key);
    c = raw_request(req);
    wait_status(c, "/chat");
    cr_assert_eq(wsc_status(c), 101, "\"Connection: keep-alive, Upgrade\" and \"Upgrade: "
                 "WebSocket\" should be accepted (101), got %d" HS, wsc_status(c));
    cr_assert_str_eq(wsc_header(c, "Sec-WebSocket-Accept") ? wsc_header(c, "Sec-WebSocket-Accept")
                     : "(none)", accept_of(key),
                     "the 101 should carry Sec-WebSocket-Accept: %s (for the key %s)" HS,
                     accept_of(key), key);
    finish();
}

Test(ex04_handshake, handshake_answers_101)
{
    struct wsc *c;
    json_int_t opens;

    start_app(NULL);
    c = open_client("/chat", NULL);
    wsc_run_for(base, 20);
    opens = app_stat("opens");
    cr_assert_eq(opens, 1, "on_open was called %d times after one handshake; expected 1" HS,
                 (int)opens);
    cr_assert_not(wsc_closed(c), "the server closed the connection after the 101" HS);
    finish();
}

/* Where the lines of a head start and end. */
static size_t line_end(const char *req, size_t from)
{
    return (size_t)(strstr(req + from, "\r\n") - req);
}

Test(ex04_handshake, handshake_in_pieces)
{
    char req[1024];
    struct wsc *c;
    size_t cuts[16], k = 0, prev = 0, n, line2, eol;
    int len;

    start_app(NULL);
    c = client();
    len = wsc_handshake_request(c, "/chat", req, sizeof(req));
    cr_assert_geq(len, 152, "test bug: the request is %d bytes", len);
    n = (size_t)len;
    /* Cut inside the request line, a header name, a header value, and a
     * CRLF (each drawn for this run), and at 5 random places. */
    eol = line_end(req, 0);
    cuts[k++] = 1 + rnd(eol - 1);
    line2 = eol + 2;
    for (size_t skip = rnd(4); skip > 0; skip--)
        line2 = line_end(req, line2) + 2;
    cuts[k++] = line2 + 1 + rnd((size_t)(strchr(req + line2, ':') - req) - line2 - 1);
    cuts[k++] = (size_t)(strchr(req + line2, ':') - req) + 2 + rnd(2);
    for (size_t skip = rnd(5), at = 0; ; skip--) {
        at = line_end(req, at) + 2;
        if (skip == 0) {
            cuts[k++] = at - 1;           /* between '\r' and '\n' */
            break;
        }
    }
    for (int i = 0; i < 5; i++)
        cuts[k++] = 1 + rnd(n - 1);
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    for (size_t i = 0; i < k; i++) {
        if (cuts[i] == prev)
            continue;
        wsc_send_raw(c, req + prev, cuts[i] - prev);
        prev = cuts[i];
        wsc_run_for(base, 15);
        cr_assert_eq(wsc_status(c), 0, "the server answered %d after only %zu of %zu bytes of "
                     "the request head; wait for the empty line that ends it (ws_head_read "
                     "returns WS_HEAD_NEED_MORE until then)" HS, wsc_status(c), prev, n);
        cr_assert_not(wsc_closed(c), "the server closed the connection after %zu of %zu bytes of "
                      "the request head: a head arrives in pieces" HS, prev, n);
    }
    wsc_send_raw(c, req + prev, n - prev);
    wait_status(c, "/chat");
    cr_assert_eq(wsc_status(c), 101, "after the whole head arrived in %zu pieces, expected 101, "
                 "got %d" HS, k + 1, wsc_status(c));
    cr_assert(wsc_accept_ok(c), "wrong Sec-WebSocket-Accept after a head in pieces" HS);
    finish();
}

Test(ex04_handshake, first_frame_with_handshake)
{
    unsigned char buf[2048], text[201];
    size_t tlen = 1 + rnd(200);
    struct wsc *c;
    int n;
    const struct wsc_msg *m;

    rnd_utf8(text, tlen);
    start_app(NULL);
    c = client();
    n = wsc_handshake_request(c, "/chat", (char *)buf, sizeof(buf));
    n += (int)wsc_encode(buf + n, sizeof(buf) - (size_t)n, 1, WS_OP_TEXT, text, tlen, -1);
    wsc_send_raw(c, buf, (size_t)n);    /* one write: the head and a frame */
    wait_status(c, "/chat");
    cr_assert_eq(wsc_status(c), 101, "a handshake with a frame after it: expected 101, got %d"
                 HS, wsc_status(c));
    wait_count(c, 1, "a text frame sent in the same write as the handshake");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_TEXT, "the echo should be a text frame, got opcode %d" FR,
                 m->opcode);
    cr_assert(m->len == tlen && memcmp(m->data, text, tlen) == 0,
              "the echo of the frame that came with the head should be \"%s\", got \"%s\"" FR,
              shown(text, tlen), shown(m->data, m->len));
    finish();
}

Test(ex04_handshake, first_frame_with_handshake_is_not_lost)
{
    /* Same as above, but nothing else is ever sent: the frame's bytes are
     * already in the input buffer after the head, and no other read event
     * will come for them. */
    unsigned char buf[2048];
    char t[2][24];
    struct wsc *c;
    int n;
    struct upto u;

    start_app(NULL);
    c = client();
    n = wsc_handshake_request(c, "/chat", (char *)buf, sizeof(buf));
    for (int i = 0; i < 2; i++) {
        rnd_word(t[i], 1 + rnd(20));
        n += (int)wsc_encode(buf + n, sizeof(buf) - (size_t)n, 1, WS_OP_TEXT, t[i],
                             strlen(t[i]), -1);
    }
    wsc_send_raw(c, buf, (size_t)n);
    wait_status(c, "/chat");
    cr_assert_eq(wsc_status(c), 101, "a handshake with two frames after it: expected 101, got %d"
                 HS, wsc_status(c));
    u.c = c;
    u.n = 2;
    wsc_run_until(base, got_count, &u, scaled(500));
    cr_assert_eq(wsc_count(c), 2, "two frames came in the same write as the head; %zu were "
                 "echoed: after the handshake, read the frames already in the input buffer "
                 "before returning from the read callback" HS, wsc_count(c));
    for (int i = 0; i < 2; i++)
        cr_assert_str_eq((char *)wsc_msg(c, (size_t)i)->data, t[i], "echo %d should be \"%s\", "
                         "got \"%s\"" FR, i, t[i], shown(wsc_msg(c, (size_t)i)->data,
                                                         wsc_msg(c, (size_t)i)->len));
    finish();
}

Test(ex04_handshake, wrong_version_gets_426)
{
    static const char *versions[] = { "8", "7", "12", "14" };
    const char *v = versions[rnd(4)];
    char key[WS_KEY_LEN + 1], req[512];
    struct wsc *c;

    start_app(NULL);
    rnd_key(key);
    snprintf(req, sizeof(req), "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: %s\r\n\r\n", key, v);
    c = raw_request(req);
    wait_status(c, "/chat");
    cr_assert_eq(wsc_status(c), 426, "Sec-WebSocket-Version: %s should get 426 Upgrade Required, "
                 "got %d" HS, v, wsc_status(c));
    cr_assert_str_eq(wsc_header(c, "Sec-WebSocket-Version") ? wsc_header(c, "Sec-WebSocket-Version")
                     : "(none)", "13", "a 426 must say which version the server speaks: "
                     "Sec-WebSocket-Version: 13" HS);
    wsc_run_until(base, got_closed, c, scaled(WAIT_MS));
    cr_assert(wsc_closed(c), "the server should close the connection after the 426" HS);
    cr_assert_eq(app_stat("opens"), 0, "on_open ran for a refused handshake" HS);
    finish();
}

Test(ex04_handshake, plain_get_gets_400)
{
    char req[256], path[24];
    struct wsc *c;

    rnd_word(path, 1 + rnd(20));
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    start_app(NULL);            /* no on_http: plain requests get 400 */
    c = raw_request(req);
    wait_status(c, path);
    cr_assert_eq(wsc_status(c), 400, "a GET without Upgrade: websocket (and no on_http handler) "
                 "should get 400, got %d" HS, wsc_status(c));
    wsc_run_until(base, got_closed, c, scaled(WAIT_MS));
    cr_assert(wsc_closed(c), "the server should close the connection after the 400" HS);
    finish();
}

Test(ex04_handshake, plain_http_goes_to_on_http)
{
    static const char *const opts[] = { "--http", NULL };
    char req[256], path[24], query[24], other[24], want[128];
    struct wsc *hello, *none;

    rnd_word(path, 1 + rnd(20));
    rnd_word(query, 1 + rnd(20));
    rnd_word(other, 1 + rnd(20));
    other[0] = 'x';                     /* not "/hello..." */
    start_app(opts);                    /* on_http answers /hello..., nothing else */
    snprintf(req, sizeof(req), "GET /hello%s?q=%s HTTP/1.1\r\nHost: x\r\n\r\n", path, query);
    hello = raw_request(req);
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", other);
    none = raw_request(req);
    wait_status(hello, "/hello...");
    wsc_run_until(base, got_closed, hello, scaled(WAIT_MS));
    snprintf(want, sizeof(want), "GET /hello%s q=%s\n", path, query);
    cr_assert_eq(wsc_status(hello), 200, "a plain GET /hello%s?q=%s goes to on_http, which "
                 "answers 200; got %d" HS, path, query, wsc_status(hello));
    cr_assert_str_eq(wsc_body(hello), want, "on_http answers with the method, req->path (the "
                     "target up to '?') and req->query (after it): expected \"%s\", got \"%s\""
                     HS, shown(want, strlen(want)),
                     shown(wsc_body(hello), strlen(wsc_body(hello))));
    wsc_run_until(base, got_status, none, scaled(HANDSHAKE_MS));
    cr_assert_eq(wsc_status(none), 404, "on_http returned without answering GET /%s: the server "
                 "must then answer 404 itself (conn_handshake: 404 unless the application "
                 "replied), got %d%s" HS, other, wsc_status(none),
                 wsc_status(none) == 0 ? " (no answer)" : "");
    wsc_run_until(base, got_closed, none, scaled(WAIT_MS));
    cr_assert(wsc_closed(none), "the server should close the connection after the 404" HS);
    cr_assert_eq(app_stat("opens"), 0, "on_open ran for a plain HTTP request" HS);
    finish();
}

Test(ex04_handshake, invalid_handshakes_get_400)
{
    enum { N = 7 };
    static const char *why[N] = {
        "no Sec-WebSocket-Key", "a key that is not the base64 of 16 bytes", "POST instead of GET",
        "HTTP/1.0", "Connection without the upgrade token", "no Host", "not HTTP at all",
    };
    char req[N][512], key[WS_KEY_LEN + 1], shortkey[16];
    unsigned char eight[8];
    struct wsc *c[N];

    rnd_key(key);
    rnd_bytes(eight, sizeof(eight));
    EVP_EncodeBlock((unsigned char *)shortkey, eight, sizeof(eight));
    snprintf(req[0], 512, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
    snprintf(req[1], 512, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", shortkey);
    snprintf(req[2], 512, "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key);
    snprintf(req[3], 512, "GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key);
    snprintf(req[4], 512, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
             "keep-alive\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key);
    snprintf(req[5], 512, "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key);
    snprintf(req[6], 512, "hello %s\r\n\r\n", key);
    start_app(NULL);
    for (size_t i = 0; i < N; i++) {
        c[i] = client();
        wsc_send_raw(c[i], req[i], strlen(req[i]));
    }
    for (size_t i = 0; i < N; i++) {
        wait_status(c[i], "/");
        cr_assert_eq(wsc_status(c[i]), 400, "a handshake with %s should get 400, got %d" HS,
                     why[i], wsc_status(c[i]));
    }
    cr_assert_eq(app_stat("opens"), 0, "on_open ran for an invalid handshake" HS);
    finish();
}

Test(ex04_handshake, oversized_head_gets_431)
{
    char *req = malloc(WS_MAX_HEAD_BYTES + 512), *many = malloc(4096), name[12];
    struct wsc *c, *lines;
    size_t nlines = WS_MAX_HEADERS + 1 + rnd(10), o;
    int n;

    cr_assert(req != NULL && many != NULL);
    n = snprintf(req, 200, "GET /chat HTTP/1.1\r\nHost: x\r\nX-Big: ");
    rnd_word(req + n, WS_MAX_HEAD_BYTES);
    memcpy(req + n + WS_MAX_HEAD_BYTES, "\r\n\r\n", 5);
    /* A small head, but over WS_MAX_HEADERS lines. */
    o = (size_t)snprintf(many, 4096, "GET /chat HTTP/1.1\r\nHost: x\r\n");
    for (size_t i = 0; i < nlines; i++) {
        rnd_word(name, 6);
        o += (size_t)snprintf(many + o, 4096 - o, "X-%s-%zu: %zu\r\n", name, i, i);
    }
    snprintf(many + o, 4096 - o, "\r\n");
    start_app(NULL);
    c = raw_request(req);
    lines = raw_request(many);
    free(req);
    free(many);
    wait_status(c, "/chat (a head of 8 KiB)");
    cr_assert_eq(wsc_status(c), 431, "a request head over WS_MAX_HEAD_BYTES should get 431 "
                 "(ws_head_read returns WS_HEAD_TOO_BIG), got %d" HS, wsc_status(c));
    wsc_run_until(base, got_closed, c, scaled(WAIT_MS));
    cr_assert(wsc_closed(c), "the server should close the connection after the 431" HS);
    wait_status(lines, "/chat (a head of many lines)");
    cr_assert_eq(wsc_status(lines), 431, "a request head of %zu header lines (over "
                 "WS_MAX_HEADERS) should get 431 (ws_head_read returns WS_HEAD_TOO_BIG), got %d"
                 HS, nlines + 1, wsc_status(lines));
    finish();
}

/* ws_handshake_check on one head (read first by the given ws_head_read):
 * checks the status, and the accept value (101) or that it was left
 * untouched. */
static void expect_check(const char *head, int want, const char *key, const char *why)
{
    unsigned char acc[WS_ACCEPT_LEN + 1];
    char what[200];
    json_t *a;
    int status;

    snprintf(what, sizeof(what), "ws_handshake_check on a head with %s", why);
    a = unit(json_pack("{ss so}", "op", "handshake_check", "head", sio_hex(head, strlen(head))),
             what, HS);
    cr_assert_str_eq(judge_str(a, "read", what), "done", "test bug: ws_head_read said %s",
                     judge_str(a, "read", what));
    status = (int)judge_int(a, "status", what);
    cr_assert_eq(status, want, "%s returned %d; expected %d (the checks, in order: GET, "
                 "HTTP/1.1, Host, Upgrade holds websocket, Connection holds upgrade: 400; then "
                 "Sec-WebSocket-Version 13: 426; then the key: 400)" HS, what, status, want);
    unit_bytes("accept", acc, sizeof(acc), what);
    if (want == 101) {
        cr_assert(json_is_true(json_object_get(a, "terminated")), "%s: accept[28] should be "
                  "'\\0'" HS, what);
        cr_assert_str_eq((char *)acc, accept_of(key), "%s wrote the accept value \"%s\"; for "
                         "the key %s it is \"%s\"" HS, what, shown(acc, WS_ACCEPT_LEN), key,
                         accept_of(key));
    } else {
        for (size_t i = 0; i < sizeof(acc); i++)
            cr_assert_eq(acc[i], '#', "%s returned %d but wrote into accept: it is written "
                         "only for 101" HS, what, status);
    }
}

Test(ex04_handshake, handshake_check_returns_101_400_426)
{
    char key[WS_KEY_LEN + 1], bad[WS_KEY_LEN + 1], host[24], h[1024], shortkey[16];
    unsigned char eight[8];
    /* A head: method, version, the Host line (or ""), Upgrade, Connection,
     * the version (NULL: no Sec-WebSocket-Version line), the key line (or
     * ""). */
#define HEAD(m, v, hostl, up, conn, ver, keyl)                                                 \
    (snprintf(h, sizeof(h), "%s / %s\r\n%sUpgrade: %s\r\nConnection: %s\r\n%s%s%s%s\r\n", m, \
              v, hostl, up, conn, ver ? "Sec-WebSocket-Version: " : "", ver ? ver : "",       \
              ver ? "\r\n" : "", keyl), h)
    char hostl[48], keyl[64], badl[64], shortl[64];

    start_app(NULL);
    rnd_key(key);
    rnd_word(host, 1 + rnd(20));
    snprintf(hostl, sizeof(hostl), "Host: %s\r\n", host);
    snprintf(keyl, sizeof(keyl), "Sec-WebSocket-Key: %s\r\n", key);
    memcpy(bad, key, sizeof(bad));
    bad[rnd(22)] = "*.!-_"[rnd(5)];
    snprintf(badl, sizeof(badl), "Sec-WebSocket-Key: %s\r\n", bad);
    rnd_bytes(eight, sizeof(eight));
    EVP_EncodeBlock((unsigned char *)shortkey, eight, sizeof(eight));
    snprintf(shortl, sizeof(shortl), "Sec-WebSocket-Key: %s\r\n", shortkey);

    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", keyl), 101, key,
                 "everything right");
    {
        json_t *a = unit(json_pack("{ss so sb}", "op", "handshake_check", "head",
                                   sio_hex(h, strlen(h)), "null_head", 1),
                         "ws_handshake_check(NULL, accept)", HS);
        cr_assert_eq(judge_int(a, "status", "ws_handshake_check"), 400,
                     "ws_handshake_check(NULL, accept) should return 400" HS);
    }
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "WebSocket", "keep-alive, Upgrade", "13", keyl),
                 101, key, "Connection: keep-alive, Upgrade");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "8", keyl), 426, key,
                 "Sec-WebSocket-Version: 8");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", NULL, keyl), 426, key,
                 "no Sec-WebSocket-Version");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", ""), 400, key,
                 "no Sec-WebSocket-Key");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", shortl), 400, key,
                 "a key that is the base64 of 8 bytes");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", badl), 400, key,
                 "a key with a character outside base64");
    expect_check(HEAD("POST", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", keyl), 400, key,
                 "POST instead of GET");
    expect_check(HEAD("GET", "HTTP/1.0", hostl, "websocket", "Upgrade", "13", keyl), 400, key,
                 "HTTP/1.0");
    expect_check(HEAD("GET", "HTTP/1.1", "", "websocket", "Upgrade", "13", keyl), 400, key,
                 "no Host");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "h2c", "Upgrade", "13", keyl), 400, key,
                 "Upgrade: h2c");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "keep-alive", "13", keyl), 400, key,
                 "Connection: keep-alive");
    expect_check(HEAD("POST", "HTTP/1.1", hostl, "websocket", "Upgrade", "8", keyl), 400, key,
                 "POST and version 8 (the method is checked first)");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "8", shortl), 426, key,
                 "version 8 and a bad key (the version is checked before the key)");
    /* Each check before the version's wins over a wrong version too. */
    expect_check(HEAD("GET", "HTTP/1.0", hostl, "websocket", "Upgrade", "8", keyl), 400, key,
                 "HTTP/1.0 and version 8 (the HTTP version is checked first)");
    expect_check(HEAD("GET", "HTTP/1.1", "", "websocket", "Upgrade", "8", keyl), 400, key,
                 "no Host and version 8 (Host is checked before the version)");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "h2c", "Upgrade", "8", keyl), 400, key,
                 "Upgrade: h2c and version 8 (Upgrade is checked before the version)");
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "keep-alive", "8", keyl), 400, key,
                 "Connection: keep-alive and version 8 (Connection is checked before the "
                 "version)");
    /* Keys of the right length but the wrong form, and one too long. */
    memcpy(bad, key, sizeof(bad));
    bad[22] = "AQgw"[rnd(4)];
    bad[23] = "AQgw"[rnd(4)];
    snprintf(badl, sizeof(badl), "Sec-WebSocket-Key: %s\r\n", bad);
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", badl), 400, key,
                 "a 24-character key that does not end in \"==\"");
    snprintf(badl, sizeof(badl), "Sec-WebSocket-Key: %.20s=%c==\r\n", key, "AQgw"[rnd(4)]);
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", badl), 400, key,
                 "a key with a '=' among its first 22 characters");
    snprintf(badl, sizeof(badl), "Sec-WebSocket-Key: %c%s\r\n", "AQgw"[rnd(4)], key);
    expect_check(HEAD("GET", "HTTP/1.1", hostl, "websocket", "Upgrade", "13", badl), 400, key,
                 "a 25-character key");
#undef HEAD
    finish();
}

/* ======================= frames: the pure functions ====================== */

/* What ws_frame_parse said (the subject's claim, checked against the
 * bytes drawn here). */
struct parsed {
    long long rc;
    int fin, opcode;
    unsigned char mask[4];
    long long payload_len, header_len, payload;   /* payload: offset, -1 NULL */
};

static struct parsed parse(const unsigned char *b, size_t n, size_t max)
{
    json_t *a = unit(json_pack("{ss so sI}", "op", "frame_parse", "buf", sio_hex(b, n), "max",
                               (json_int_t)max), "ws_frame_parse", FR);
    struct parsed p = {
        .rc = judge_int(a, "rc", "ws_frame_parse"),
        .fin = (int)judge_int(a, "fin", "ws_frame_parse"),
        .opcode = (int)judge_int(a, "opcode", "ws_frame_parse"),
        .payload_len = judge_int(a, "payload_len", "ws_frame_parse"),
        .header_len = judge_int(a, "header_len", "ws_frame_parse"),
        .payload = judge_int(a, "payload", "ws_frame_parse"),
    };

    unit_bytes("mask", p.mask, 4, "ws_frame_parse");
    return p;
}

Test(ex04_frames, parse_lengths_7_16_64_bits)
{
    size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000, 2 + rnd(124),
                      128 + rnd(65535 - 128), 65537 + rnd(70000 - 65537) };
    size_t cap = 70000 + 64;
    unsigned char *buf = malloc(cap), *pay = malloc(70000);

    cr_assert(buf && pay);
    rnd_bytes(pay, 70000);
    start_app(NULL);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (int force64 = 0; force64 <= 1; force64++) {
            static const int ops[] = { WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT };
            int op = ops[rnd(3)], fin = (int)rnd(2);
            size_t n = wsc_encode(buf, cap, fin, op, pay, lens[k],
                                  force64 ? (long long)lens[k] : -1);
            size_t hl = force64 ? 14 : lens[k] < 126 ? 6 : lens[k] <= 65535 ? 8 : 14;
            struct parsed f = parse(buf, n, 1 << 20);
            cr_assert_eq(f.rc, (long long)n, "ws_frame_parse on a whole %s frame of %zu payload "
                         "bytes returned %lld; expected %zu (the frame's length)" FR,
                         force64 ? "64-bit-length" : "shortest-length", lens[k], f.rc, n);
            cr_assert_eq(f.header_len, (long long)hl, "payload %zu%s: header_len %lld, expected "
                         "%zu" FR, lens[k], force64 ? " (64-bit length)" : "", f.header_len, hl);
            cr_assert_eq(f.payload_len, (long long)lens[k], "payload_len %lld, expected %zu" FR,
                         f.payload_len, lens[k]);
            cr_assert_eq(f.payload, (long long)hl, "out->payload should point at buf + "
                         "header_len" FR);
            cr_assert_eq(f.fin, fin, "fin should be %d" FR, fin);
            cr_assert_eq(f.opcode, op, "opcode should be %d, got %d" FR, op, f.opcode);
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
    json_t *a;

    rnd_bytes(pay, sizeof(pay));
    start_app(NULL);
    for (int k = 0; k < 2; k++) {
        size_t plen = k == 0 ? 1 + rnd(125) : 126 + rnd(175);
        size_t n = wsc_encode(buf, sizeof(buf), 0, WS_OP_TEXT, pay, plen, -1);
        size_t hl = k == 0 ? 6 : 8;
        struct parsed f;
        for (size_t len = 0; len < n; len++) {
            f = parse(buf, len, 1 << 20);
            cr_assert_eq(f.rc, 0, "ws_frame_parse on the first %zu bytes of a %zu-byte frame "
                         "returned %lld; expected 0 (need more)" FR, len, n, f.rc);
            if (len < hl)
                cr_assert_eq(f.header_len, 0, "with %zu of %zu header bytes, header_len should "
                             "be 0, got %lld" FR, len, hl, f.header_len);
            else {
                cr_assert_eq(f.header_len, (long long)hl, "with the whole header (%zu bytes) but "
                             "not the payload, header_len should be %zu, got %lld" FR, hl, hl,
                             f.header_len);
                cr_assert_eq(f.payload_len, (long long)plen, "payload_len should be known (%zu) "
                             "once the header is complete" FR, plen);
                cr_assert_eq(f.payload, -1, "payload should be NULL until the whole frame is "
                             "there" FR);
            }
        }
        f = parse(buf, n, 1 << 20);
        cr_assert_eq(f.rc, (long long)n, "ws_frame_parse on the whole %zu-byte frame returned "
                     "%lld" FR, n, f.rc);
        cr_assert_eq(f.fin, 0, "a frame with FIN 0: fin should be 0" FR);
    }
    a = unit(json_pack("{ss ss si sb}", "op", "frame_parse", "buf", "", "max", 10, "null_buf", 1),
             "ws_frame_parse(NULL, 0, ...)", FR);
    cr_assert_eq(judge_int(a, "rc", "ws_frame_parse"), 0, "buf NULL, len 0 should return 0" FR);
    a = unit(json_pack("{ss ss si sb si}", "op", "frame_parse", "buf", "", "max", 10, "null_buf", 1,
                       "len", 1 + (int)rnd(100)), "ws_frame_parse(NULL, len > 0, ...)", FR);
    cr_assert_eq(judge_int(a, "rc", "ws_frame_parse"), -WS_CLOSE_INTERNAL, "buf NULL with len > 0 "
                 "should return -1011 (-WS_CLOSE_INTERNAL)" FR);
    a = unit(json_pack("{ss so si sb}", "op", "frame_parse", "buf", sio_hex(buf, 6), "max", 10,
                       "null_out", 1), "ws_frame_parse(buf, len, max, NULL)", FR);
    cr_assert_eq(judge_int(a, "rc", "ws_frame_parse"), -WS_CLOSE_INTERNAL, "out NULL should "
                 "return -1011 (-WS_CLOSE_INTERNAL)" FR);
    finish();
}

Test(ex04_frames, parse_rejects_unmasked_client_frame)
{
    unsigned char buf[160], pay[125];
    size_t plen = rnd(126);
    int op = rnd(2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n;
    struct parsed f;

    rnd_bytes(pay, sizeof(pay));
    start_app(NULL);
    n = wsc_encode_unmasked(buf, sizeof(buf), 1, op, pay, plen);
    f = parse(buf, n, 1024);
    cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "an unmasked client frame should return -1002, got "
                 "%lld: every frame from a client must be masked (RFC 6455, 5.1)" FR, f.rc);
    finish();
}

Test(ex04_frames, parse_rejects_reserved_bits_and_opcodes)
{
    unsigned char buf[64], pay[32];
    struct parsed f;

    rnd_bytes(pay, sizeof(pay));
    start_app(NULL);
    for (int bit = 0; bit < 3; bit++) {
        size_t n = wsc_encode(buf, sizeof(buf), 1, rnd(2) ? WS_OP_TEXT : WS_OP_BINARY, pay,
                              rnd(33), -1);
        buf[0] |= (unsigned char)(0x40 >> bit);
        f = parse(buf, n, 1024);
        cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "a frame with RSV%d set should return -1002, got "
                     "%lld (no extension was agreed)" FR, bit + 1, f.rc);
    }
    for (int op = 3; op < 16; op++) {
        size_t n;
        if (op >= 8 && op <= 10)
            continue;
        n = wsc_encode(buf, sizeof(buf), 1, op, pay, rnd(33), -1);
        f = parse(buf, n, 1024);
        cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "opcode %d is reserved: expected -1002, got "
                     "%lld" FR, op, f.rc);
    }
    finish();
}

Test(ex04_frames, parse_control_frame_rules)
{
    unsigned char buf[256], pay[126];
    size_t n, plen;
    struct parsed f;

    rnd_bytes(pay, sizeof(pay));
    start_app(NULL);
    n = wsc_encode(buf, sizeof(buf), 0, WS_OP_PING, pay, rnd(126), -1);
    f = parse(buf, n, 1024);
    cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "a fragmented ping (FIN 0) should return -1002, got "
                 "%lld" FR, f.rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_PING, pay, 126, -1);
    f = parse(buf, n, 1024);
    cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "a ping of 126 bytes should return -1002, got %lld" FR,
                 f.rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_CLOSE, pay, 125, -1);
    f = parse(buf, n, 1024);
    cr_assert_eq(f.rc, (long long)n, "a close frame of 125 bytes is valid: expected %zu, got "
                 "%lld" FR, n, f.rc);
    plen = 11 + rnd(115);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_PONG, pay, plen, -1);
    f = parse(buf, n, 10);
    cr_assert_eq(f.rc, (long long)n, "max_payload does not apply to control frames: a %zu-byte "
                 "pong with max_payload 10 should return %zu, got %lld" FR, plen, n, f.rc);
    cr_assert_eq(f.opcode, WS_OP_PONG, "the pong's opcode should be 10, got %d" FR, f.opcode);
    finish();
}

Test(ex04_frames, parse_length_over_cap_is_1009)
{
    unsigned char buf[64];
    size_t n, cap = 1000 + rnd(1 << 20);
    struct parsed f;

    start_app(NULL);
    /* Only the 10 bytes of a header announcing 1 TiB: decided at once. */
    wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0, 1LL << 40);
    f = parse(buf, 10, 1 << 20);
    cr_assert_eq(f.rc, -WS_CLOSE_TOO_BIG, "a header announcing 1 TiB with max_payload 1 MiB should "
                 "return -1009 as soon as the length is read, got %lld" FR, f.rc);
    /* The same with a length and a cap drawn for this run. */
    wsc_encode(buf, sizeof(buf), 1, WS_OP_TEXT, "", 0, (long long)(cap + 1 + rnd(1000)));
    f = parse(buf, 10, cap);
    cr_assert_eq(f.rc, -WS_CLOSE_TOO_BIG, "a header announcing more than max_payload (%zu) should "
                 "return -1009 as soon as the length is read, got %lld" FR, cap, f.rc);
    /* A max_payload over WS_PAYLOAD_LIMIT (1 GiB) counts as 1 GiB. */
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0,
                   (long long)WS_PAYLOAD_LIMIT + 1 + (long long)rnd(1 << 20));
    f = parse(buf, n, (size_t)1 << 40);
    cr_assert_eq(f.rc, -WS_CLOSE_TOO_BIG, "a header announcing more than 1 GiB with max_payload "
                 "1 TiB should return -1009 (a max_payload over WS_PAYLOAD_LIMIT counts as "
                 "WS_PAYLOAD_LIMIT), got %lld" FR, f.rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0, (long long)WS_PAYLOAD_LIMIT);
    f = parse(buf, n, (size_t)1 << 40);
    cr_assert_eq(f.rc, 0, "a header announcing exactly 1 GiB with max_payload 1 TiB is allowed: "
                 "expected 0 (need the payload), got %lld" FR, f.rc);
    n = wsc_encode(buf, sizeof(buf), 1, WS_OP_BINARY, "", 0, 5);
    buf[2] |= 0x80;                         /* the top bit of the 64-bit length */
    f = parse(buf, n, 1 << 20);
    cr_assert_eq(f.rc, -WS_CLOSE_PROTOCOL, "a 64-bit length with its top bit set should return "
                 "-1002, got %lld" FR, f.rc);
    {
        size_t plen = 500 + rnd(1500);
        unsigned char *big = malloc(plen + 16), *pay = malloc(plen);
        cr_assert(big && pay);
        rnd_bytes(pay, plen);
        n = wsc_encode(big, plen + 16, 1, WS_OP_CONT, pay, plen, -1);
        f = parse(big, n, plen - 1);
        cr_assert_eq(f.rc, -WS_CLOSE_TOO_BIG, "%zu bytes with max_payload %zu: expected -1009, "
                     "got %lld" FR, plen, plen - 1, f.rc);
        f = parse(big, n, plen);
        cr_assert_eq(f.rc, (long long)n, "%zu bytes with max_payload %zu is allowed: expected "
                     "%zu, got %lld" FR, plen, plen, n, f.rc);
        free(big);
        free(pay);
    }
    finish();
}

/* The header ws_frame_header must write, computed here. */
static size_t header_of(unsigned char *h, int fin, int op, uint64_t len)
{
    h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

Test(ex04_frames, header_encoding_uses_shortest_length)
{
    uint64_t lens[] = { 0, 125, 126, 65535, 65536, 0x100000000ULL, rnd(126),
                        126 + rnd(65535 - 126), 65536 + rnd64() % (1ULL << 40) };
    static const int ops[] = { WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT, WS_OP_CLOSE, WS_OP_PING,
                               WS_OP_PONG };

    start_app(NULL);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        unsigned char want[WS_MAX_HEADER_LEN], got[WS_MAX_HEADER_LEN];
        int fin = i < 6 ? 1 : (int)rnd(2), op = i < 6 ? WS_OP_TEXT : ops[rnd(lens[i] < 126 ? 6 : 3)];
        size_t wn = header_of(want, fin, op, lens[i]), n, gn;
        json_t *a = unit(json_pack("{ss si si sI}", "op", "frame_header", "fin", fin, "opcode", op,
                                   "len", (json_int_t)lens[i]), "ws_frame_header", FR);
        n = (size_t)judge_int(a, "n", "ws_frame_header");
        cr_assert_eq(n, wn, "ws_frame_header for %llu bytes returned %zu; expected %zu "
                     "(7-bit up to 125, 16-bit up to 65535, else 64-bit)" FR,
                     (unsigned long long)lens[i], n, wn);
        gn = unit_bytes("bytes", got, sizeof(got), "ws_frame_header");
        for (size_t k = 0; k < n && k < gn; k++)
            cr_assert_eq(got[k], want[k], "ws_frame_header(fin %d, opcode %d) for %llu bytes: "
                         "byte %zu is 0x%02x, expected 0x%02x (FIN and opcode, then a big-endian "
                         "length, no mask bit)" FR, fin, op, (unsigned long long)lens[i], k,
                         got[k], want[k]);
    }
    {
        unsigned char got[WS_MAX_HEADER_LEN];
        json_t *a = unit(json_pack("{ss si si si}", "op", "frame_header", "fin", 0, "opcode",
                                   WS_OP_PONG, "len", 3), "ws_frame_header", FR);
        cr_assert_eq(judge_int(a, "n", "ws_frame_header"), 2);
        unit_bytes("bytes", got, sizeof(got), "ws_frame_header");
        cr_assert_eq(got[0], 0x0A, "a non-final pong header should start with 0x0A, got 0x%02x"
                     FR, got[0]);
    }
    finish();
}

static size_t mask_job(const unsigned char *data, size_t n, const unsigned char key[4],
                       unsigned char *out)
{
    unit(json_pack("{ss so so}", "op", "mask", "data", sio_hex(data, n), "key", sio_hex(key, 4)),
         "ws_mask", FR);
    return unit_bytes("data", out, n, "ws_mask");
}

Test(ex04_frames, mask_follows_rfc_example)
{
    /* RFC 6455, 5.7: "Hello" masked with 37 fa 21 3d. */
    unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    unsigned char data[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 }, out[5], back[5];
    unsigned char rdata[200], rout[200], rback[200];

    start_app(NULL);
    mask_job(data, 5, key, out);
    cr_assert_eq(memcmp(out, "Hello", 5), 0, "ws_mask on the RFC's example should give \"Hello\", "
                 "got \"%s\": byte i ^= key[i %% 4]" FR, shown(out, 5));
    mask_job(out, 5, key, back);
    cr_assert_eq(memcmp(back, data, 5), 0, "masking twice should give the masked bytes back" FR);
    /* Data and keys drawn for this run, of every length modulo 4. */
    for (int t = 0; t < 6; t++) {
        size_t n = t == 0 ? 0 : 1 + rnd(sizeof(rdata) - 1);
        rnd_bytes(key, 4);
        rnd_bytes(rdata, n);
        cr_assert_eq(mask_job(rdata, n, key, rout), n, "ws_mask changed the length" FR);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(rout[i], rdata[i] ^ key[i % 4], "ws_mask of %zu bytes with the key "
                         "%02x %02x %02x %02x: byte %zu is 0x%02x, expected 0x%02x (byte i ^= "
                         "key[i %% 4])" FR, n, key[0], key[1], key[2], key[3], i, rout[i],
                         rdata[i] ^ key[i % 4]);
        mask_job(rout, n, key, rback);
        cr_assert_eq(memcmp(rback, rdata, n), 0, "masking twice should give the bytes back" FR);
    }
    finish();
}

/* ws_close_parse on p[0..n), *code holding `sentinel` before; returns the
 * result and sets *code. */
static int close_parse(const unsigned char *p, size_t n, unsigned sentinel, unsigned *code)
{
    json_t *a = unit(json_pack("{ss so si}", "op", "close_parse", "payload", sio_hex(p, n), "code",
                               (int)sentinel), "ws_close_parse", CL);

    *code = (unsigned)judge_int(a, "code", "ws_close_parse");
    return (int)judge_int(a, "rc", "ws_close_parse");
}

Test(ex04_frames, close_payload_rules)
{
    unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535,
                       (unsigned)rnd(1000), 1016 + (unsigned)rnd(1984), 5000 + (unsigned)rnd(60536) };
    unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 4999, 3000 + (unsigned)rnd(2000), 3000 + (unsigned)rnd(2000) };
    static const char *const invalid[] = { "\xff", "\xc3\x28", "\xed\xa0\x80", "\xc0\xaf",
                                           "\xf4\x90\x80\x80", "\xe2\x82" };
    unsigned code = 0, sentinel = 50000 + (unsigned)rnd(10000);
    unsigned char p[128];
    size_t r;
    int rc;

    start_app(NULL);
    rc = close_parse(p, 0, sentinel, &code);
    cr_assert_eq(rc, 0, "an empty close payload is valid: expected 0, got %d" CL, rc);
    cr_assert_eq(code, 1005, "an empty close payload means code 1005, got %u" CL, code);
    p[0] = (unsigned char)rnd(256);
    rc = close_parse(p, 1, sentinel, &code);
    cr_assert_eq(rc, 1002, "a 1-byte close payload should give 1002, got %d" CL, rc);
    cr_assert_eq(code, sentinel, "ws_close_parse returned %d but changed *code" CL, rc);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p[0] = (unsigned char)(bad[i] >> 8);
        p[1] = (unsigned char)bad[i];
        r = rnd(30);
        rnd_utf8(p + 2, r);
        rc = close_parse(p, 2 + r, sentinel, &code);
        cr_assert_eq(rc, 1002, "close code %u may not be sent: expected 1002, got %d" CL, bad[i],
                     rc);
        cr_assert_eq(code, sentinel, "ws_close_parse returned %d but changed *code" CL, rc);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        p[0] = (unsigned char)(good[i] >> 8);
        p[1] = (unsigned char)good[i];
        r = i % 2 ? rnd(124) : 0;
        rnd_utf8(p + 2, r);
        rc = close_parse(p, 2 + r, sentinel, &code);
        cr_assert_eq(rc, 0, "close code %u (reason \"%s\") is valid: expected 0, got %d" CL,
                     good[i], shown(p + 2, r), rc);
        cr_assert_eq(code, good[i], "*code should be %u, got %u" CL, good[i], code);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        size_t pre = rnd(40), k = strlen(invalid[i]);
        unsigned c = good[rnd(sizeof(good) / sizeof(good[0]))];
        p[0] = (unsigned char)(c >> 8);
        p[1] = (unsigned char)c;
        rnd_utf8(p + 2, pre);
        memcpy(p + 2 + pre, invalid[i], k);
        rc = close_parse(p, 2 + pre + k, sentinel, &code);
        cr_assert_eq(rc, 1007, "a close reason that is not UTF-8 (\"%s\") should give 1007, got "
                     "%d" CL, shown(p + 2, pre + k), rc);
        cr_assert_eq(code, sentinel, "ws_close_parse returned %d but changed *code" CL, rc);
    }
    finish();
}

/* ======================= frames: on the wire ============================= */

Test(ex04_frames, text_and_binary_are_echoed)
{
    static const size_t lens[] = { 0, 125, 126, 65535, 65536, 100000 };
    static const char *const opts[] = { TEST_CFG, NULL };
    size_t total = 0, n = 0;
    unsigned char *pay[6], *stream;
    struct wsc *c;

    for (size_t k = 0; k < 6; k++) {
        pay[k] = malloc(lens[k] + 1);
        cr_assert_not_null(pay[k]);
        if (k % 2)
            rnd_bytes(pay[k], lens[k]);
        else
            rnd_utf8(pay[k], lens[k]);
        total += lens[k] + 14;
    }
    stream = malloc(total);
    cr_assert_not_null(stream);
    for (size_t k = 0; k < 6; k++)
        n += wsc_encode(stream + n, total - n, 1, k % 2 ? WS_OP_BINARY : WS_OP_TEXT, pay[k],
                        lens[k], -1);
    start_app(opts);
    c = open_client("/echo", NULL);
    /* The six frames as one stream, cut at random places. */
    send_in_pieces(c, stream, n, 12);
    wait_count(c, 6, "6 messages of 0 to 100000 bytes sent to the echo server");
    for (size_t k = 0; k < 6; k++) {
        const struct wsc_msg *m = wsc_msg(c, k);
        int op = k % 2 ? WS_OP_BINARY : WS_OP_TEXT;
        cr_assert_eq(m->opcode, op, "message %zu: expected opcode %d, got %d (a binary message "
                     "stays binary)" FR, k, op, m->opcode);
        cr_assert_eq(m->len, lens[k], "message %zu: %zu bytes sent, %zu echoed: check the 16- "
                     "and 64-bit lengths, in and out" FR, k, lens[k], m->len);
        cr_assert_eq(memcmp(m->data, pay[k], lens[k]), 0, "message %zu (%zu bytes): the bytes "
                     "differ: unmask with the frame's key (ws_mask)" FR, k, lens[k]);
    }
    cr_assert_eq(app_stat("unterminated"), 0, "on_message got a message whose data[len] is not "
                 "'\\0': the contract promises one after the data (allocate one more byte and "
                 "write it before calling on_message)" FR);
    for (size_t k = 0; k < 6; k++)
        free(pay[k]);
    free(stream);
    finish();
}

Test(ex04_frames, fragmented_message_is_reassembled)
{
    static const char *const opts[] = { TEST_CFG, NULL };
    unsigned char a[40], b[40], d[40], ping[20], want[128];
    size_t na = 1 + rnd(30), nb = rnd(30), nd = 1 + rnd(30), np = rnd(20), nw = 0;
    struct wsc *c;
    const struct wsc_msg *m;

    /* A text in 3 fragments, with a 2-byte character ("é", C3 A9) split
     * across the first two, and a ping between them. */
    rnd_utf8(a, na);
    a[na++] = 0xC3;
    d[0] = 0xA9;
    rnd_utf8(d + 1, nb);
    nb++;
    rnd_utf8(b, nd);
    rnd_bytes(ping, np);
    memcpy(want, a, na);
    memcpy(want + na, d, nb);
    memcpy(want + na + nb, b, nd);
    nw = na + nb + nd;
    start_app(opts);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 0, WS_OP_TEXT, a, na);
    wsc_send_frame(c, 1, WS_OP_PING, ping, np);
    wsc_send_frame(c, 0, WS_OP_CONT, d, nb);
    wsc_send_frame(c, 1, WS_OP_CONT, b, nd);
    wait_count(c, 2, "a message in 3 fragments with a ping between them");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_PONG, "the pong should come first (the ping arrived before the "
                 "last fragment): got opcode %d" FR, m->opcode);
    cr_assert(m->len == np && memcmp(m->data, ping, np) == 0, "the pong should carry the ping's "
              "payload \"%s\", got \"%s\"" FR, shown(ping, np), shown(m->data, m->len));
    m = wsc_msg(c, 1);
    cr_assert_eq(m->opcode, WS_OP_TEXT, "the reassembled message should be text, got opcode %d"
                 FR, m->opcode);
    cr_assert(m->len == nw && memcmp(m->data, want, nw) == 0, "expected one message \"%s\", got "
              "\"%s\": join the fragments, and check UTF-8 on the whole message, not per "
              "fragment" FR, shown(want, nw), shown(m->data, m->len));
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_messages(c), 1, "the server echoed %zu messages for one fragmented message: "
                 "on_message ran that many times" FR, wsc_messages(c));
    /* A message left unfinished when the server stops is freed with its
     * connection (a memory-checked run reports a leak otherwise). */
    wsc_send_frame(c, 0, WS_OP_TEXT, a, na - 1);
    wsc_run_for(base, 20);
    finish();
}

Test(ex04_frames, ping_gets_pong_with_same_payload)
{
    unsigned char ping[125];
    size_t n = rnd(126);
    struct wsc *c;
    const struct wsc_msg *m;

    rnd_bytes(ping, n);
    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_PING, ping, n);
    wait_count(c, 1, "a ping");
    m = wsc_msg(c, 0);
    cr_assert_eq(m->opcode, WS_OP_PONG, "a ping should get a pong, got opcode %d" FR, m->opcode);
    cr_assert(m->len == n && memcmp(m->data, ping, n) == 0, "the pong should carry the ping's "
              "%zu bytes \"%s\", got \"%s\"" FR, n, shown(ping, n), shown(m->data, m->len));
    expect_no_echo(c, "a ping is not a message");
    finish();
}

Test(ex04_frames, invalid_utf8_closes_1007)
{
    static const char *const invalid[] = { "\xc3\x28", "\xff", "\xed\xa0\x80", "\xe0\x80\xaf",
                                           "\xf4\x90\x80\x80", "\xc3" };
    unsigned char t[80];
    size_t pre = rnd(30), post = rnd(30), k;
    const char *bad = invalid[rnd(6)];
    struct wsc *c;

    k = strlen(bad);
    rnd_utf8(t, pre);
    memcpy(t + pre, bad, k);
    rnd_utf8(t + pre + k, post);
    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_TEXT, t, pre + k + post);
    expect_close_code(c, WS_CLOSE_BAD_DATA, "a text message with invalid UTF-8",
                      " (check ws_utf8_valid on complete text messages)" FR);
    cr_assert_eq(wsc_messages(c), 0, "on_message ran for a text message that is not UTF-8 (it "
                 "was echoed)" FR);
    finish();
}

Test(ex04_frames, unmasked_frame_closes_1002)
{
    unsigned char buf[160], pay[125];
    size_t plen = 1 + rnd(125);
    struct wsc *c;
    size_t n;

    rnd_utf8(pay, plen);
    n = wsc_encode_unmasked(buf, sizeof(buf), 1, WS_OP_TEXT, pay, plen);
    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_raw(c, buf, n);
    expect_close_code(c, WS_CLOSE_PROTOCOL, "an unmasked client frame", FR);
    cr_assert_eq(wsc_messages(c), 0, "on_message ran for an unmasked frame (it was echoed)" FR);
    finish();
}

Test(ex04_frames, oversized_message_closes_1009)
{
    static const char *const opts[] = { TEST_CFG, NULL };   /* max_message 128 KiB */
    unsigned char *pay = malloc(50 * 1024), hdr[16];
    struct wsc *c1, *c2;
    size_t n;

    cr_assert_not_null(pay);
    rnd_bytes(pay, 50 * 1024);
    start_app(opts);
    /* Exactly max_message, in two fragments cut at random: allowed. */
    {
        size_t max = 131072, cut = 1 + rnd(max - 1);
        unsigned char *exact = malloc(max);
        struct wsc *c0 = open_client("/echo", NULL);
        const struct wsc_msg *m;

        cr_assert_not_null(exact);
        rnd_bytes(exact, max);
        wsc_send_frame(c0, 0, WS_OP_BINARY, exact, cut);
        wsc_send_frame(c0, 1, WS_OP_CONT, exact + cut, max - cut);
        wait_count(c0, 1, "a message of exactly max_message (128 KiB) in two fragments");
        m = wsc_msg(c0, 0);
        cr_assert(m->opcode == WS_OP_BINARY && m->len == max && memcmp(m->data, exact, max) == 0,
                  "a message of exactly max_message (128 KiB) is allowed: expected its echo, "
                  "got %s %u (%zu bytes): the cap is max_message bytes for the whole message, "
                  "its '\\0' not counted" FR, m->opcode == WS_OP_CLOSE ? "a close frame, code" :
                  "opcode", m->opcode == WS_OP_CLOSE ? m->close_code : (unsigned)m->opcode,
                  m->len);
        free(exact);
    }
    /* Three fragments of 50 KiB: the third one crosses 128 KiB. */
    c1 = open_client("/echo", NULL);
    wsc_send_frame(c1, 0, WS_OP_BINARY, pay, 50 * 1024);
    wsc_send_frame(c1, 0, WS_OP_CONT, pay, 50 * 1024);
    wsc_send_frame(c1, 1, WS_OP_CONT, pay, 50 * 1024);
    expect_close_code(c1, WS_CLOSE_TOO_BIG, "fragments adding up to 150 KiB with max_message "
                      "128 KiB", " (pass max_message minus what is already buffered as "
                      "max_payload)" FR);
    /* One header announcing 1 GiB or more, and no payload at all. */
    c2 = open_client("/echo", NULL);
    n = wsc_encode(hdr, sizeof(hdr), 1, WS_OP_BINARY, "", 0, (1LL << 30) + (long long)rnd(1 << 30));
    wsc_send_raw(c2, hdr, n);
    expect_close_code(c2, WS_CLOSE_TOO_BIG, "a header announcing 1 GiB (payload never sent)",
                      " (decide from the header, do not wait for the payload)" FR);
    cr_assert_eq(wsc_messages(c1) + wsc_messages(c2), 0, "on_message ran for an oversized "
                 "message (it was echoed)" FR);
    free(pay);
    finish();
}

Test(ex04_frames, bad_fragmentation_closes_1002)
{
    char t[3][24];
    struct wsc *c1, *c2;

    for (int i = 0; i < 3; i++)
        rnd_word(t[i], 1 + rnd(20));
    start_app(NULL);
    c1 = open_client("/echo", NULL);
    wsc_send_frame(c1, 1, WS_OP_CONT, t[0], strlen(t[0]));
    expect_close_code(c1, WS_CLOSE_PROTOCOL, "a continuation frame with no message started", FR);
    c2 = open_client("/echo", NULL);
    wsc_send_frame(c2, 0, WS_OP_TEXT, t[1], strlen(t[1]));
    wsc_send_frame(c2, 1, WS_OP_TEXT, t[2], strlen(t[2]));
    expect_close_code(c2, WS_CLOSE_PROTOCOL, "a new text frame before the fragmented message "
                      "ended", FR);
    cr_assert_eq(wsc_messages(c1) + wsc_messages(c2), 0, "on_message ran for a badly fragmented "
                 "message (it was echoed)" FR);
    finish();
}

Test(ex04_frames, invalid_close_frame_closes_1002)
{
    unsigned char one = (unsigned char)rnd(256);
    struct wsc *c;

    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_frame(c, 1, WS_OP_CLOSE, &one, 1);
    expect_close_code(c, WS_CLOSE_PROTOCOL, "a close frame with a 1-byte payload",
                      " (ws_close_parse)" CL);
    finish();
}

Test(ex04_frames, close_handshake_completes)
{
    /* The close timeout is long (2 s): every close here must end well
     * before it, on the close frames themselves. */
    static const char *const opts[] = { "--max-message", "131072", "--ping-interval", "10000",
                                        "--close-timeout", "2000", NULL };
    unsigned code = 3000 + (unsigned)rnd(2000);
    char reason[24];
    struct wsc *c, *e, *s;
    const struct wsc_msg *m;
    json_int_t v;
    double t0;

    rnd_word(reason, rnd(20));
    start_app(opts);
    /* The client closes first, with a code drawn for this run. */
    c = open_client("/echo", NULL);
    wsc_send_close(c, code, reason);
    wsc_run_until(base, got_closed, c, scaled(WAIT_MS));
    m = wsc_close_frame(c);
    if (m == NULL)
        expect_alive("the close handshake");
    cr_assert_not_null(m, "after the client's close frame, the server should answer with a close "
                       "frame" CL);
    cr_assert_eq(m->close_code, code, "the server's close frame should echo the code %u, got %u"
                 CL, code, m->close_code);
    cr_assert(wsc_closed(c), "after the close handshake, the server should close the TCP "
              "connection (within %d ms)" CL, WAIT_MS);
    v = wait_stat("closes", 1, WAIT_MS);
    cr_assert_eq(v, 1, "on_close should run once, ran %d times" CL, (int)v);
    v = app_stat("last_code");
    cr_assert_eq(v, code, "on_close should get the peer's code %u, got %d" CL, code, (int)v);
    v = app_stat("conns");
    cr_assert_eq(v, 0, "the connection is still allocated after the close handshake "
                 "(ws_server_conn_count is %d)" CL, (int)v);
    /* A close frame without a code: the answer has none either, and
     * on_close gets 1005. */
    e = open_client("/echo", NULL);
    wsc_send_close(e, 0, NULL);
    wsc_run_until(base, got_closed, e, scaled(WAIT_MS));
    m = wsc_close_frame(e);
    cr_assert(m != NULL && m->close_code == WS_CLOSE_NO_STATUS, "after a close frame without a "
              "code, the server should answer with a close frame without a code either (1005 "
              "may not be sent), got %s %u" CL, m ? "code" : "no close frame",
              m ? m->close_code : 0);
    cr_assert(wsc_closed(e), "after the close handshake, the server should close the TCP "
              "connection" CL);
    v = wait_stat("closes", 2, WAIT_MS);
    cr_assert_eq(v, 2, "on_close should run once per connection, ran %d times for two" CL,
                 (int)v);
    v = app_stat("last_code");
    cr_assert_eq(v, WS_CLOSE_NO_STATUS, "a close frame without a code: on_close should get 1005, "
                 "got %d" CL, (int)v);
    /* The server closes first (ws_conn_close), the client answers: the
     * server closes the TCP connection then, not at the close timeout. */
    s = open_client("/echo", NULL);
    wsc_send_text(s, "cmd:close");
    t0 = fx_now_ms();
    wsc_run_until(base, got_closed, s, scaled(WAIT_MS));
    cr_assert_not_null(wsc_close_frame(s), "cmd:close makes the echo server call ws_conn_close: "
                       "no close frame came" CL);
    cr_assert(wsc_closed(s), "the server closed first and the client answered: the server "
              "should then close the TCP connection" CL);
    v = wait_stat("closes", 3, WAIT_MS);
    cr_assert_eq(v, 3, "on_close should run once per connection, ran %d times for three" CL,
                 (int)v);
    cr_assert_lt(fx_now_ms() - t0, scaled(1000), "the server closed first and the client "
                 "answered at once, but the connection was freed (on_close) only after %.0f ms, "
                 "by the close timeout (2000 ms): once the peer's close frame has arrived and "
                 "ours is written, free the connection" CL, fx_now_ms() - t0);
    v = app_stat("last_code");
    cr_assert_eq(v, WS_CLOSE_NORMAL, "the server closed with 1000 and the client answered with "
                 "1000: on_close should get the peer's code 1000, got %d" CL, (int)v);
    cr_assert_eq(app_stat("conns"), 0, "a connection is still allocated after three close "
                 "handshakes" CL);
    finish();
}

/* Byte i of the echo application's big message of seed s (as
 * subject_ex04.c draws it). */
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

Test(ex04_frames, server_close_flushes_output)
{
    unsigned long long seed = rnd64();
    char cmd[32];
    unsigned char *want = malloc(1u << 20);
    struct wsc *c;
    const struct wsc_msg *m;

    cr_assert_not_null(want);
    big_fill(want, 1u << 20, seed);
    snprintf(cmd, sizeof(cmd), "cmd:big:%016llx", seed);
    start_app(NULL);
    c = open_client("/echo", NULL);
    wsc_send_text(c, cmd);      /* 1 MiB binary message, then ws_conn_close(1000) */
    wsc_run_until(base, got_closed, c, scaled(3 * WAIT_MS));
    if (wsc_count(c) < 2)
        expect_alive("a 1 MiB message then a close");
    cr_assert_null(wsc_error(c), "the server broke the protocol: %s" CL, wsc_error(c));
    cr_assert_geq(wsc_count(c), 2, "the client got %zu frames before the connection ended; "
                  "expected the 1 MiB message then a close frame: free a connection only once "
                  "its output is written (bufferevent_free drops queued output)" CL,
                  wsc_count(c));
    m = wsc_msg(c, 0);
    cr_assert_eq(m->len, 1u << 20, "the 1 MiB message arrived with %zu bytes: output was "
                 "dropped" CL, m->len);
    for (size_t i = 0; i < m->len; i++)
        if (m->data[i] != want[i])
            cr_assert_fail("byte %zu of the 1 MiB message is wrong", i);
    free(want);
    m = wsc_msg(c, 1);
    cr_assert_eq(m->opcode, WS_OP_CLOSE, "after the message, expected the close frame" CL);
    cr_assert_eq(m->close_code, 1000, "expected close code 1000, got %u" CL, m->close_code);
    finish();
}

Test(ex04_frames, close_timeout_frees_connection)
{
    static const char *const opts[] = { "--max-message", "131072", "--ping-interval", "10000",
                                        "--close-timeout", "300", NULL };
    struct wsc_opts mute = { .no_auto_reply = 1 };
    struct wsc *c, *half;
    json_int_t closes;
    char req[1024];
    double t0;
    int n;

    start_app(opts);
    /* A request head that never ends: it may take close_timeout_ms too. */
    half = client();
    n = wsc_handshake_request(half, "/echo", req, sizeof(req));
    cr_assert_gt(n, 40, "test bug: the request is %d bytes", n);
    wsc_send_raw(half, req, 20 + rnd((size_t)n - 40));
    c = open_client("/echo", &mute);    /* will not answer the close frame */
    wsc_send_text(c, "cmd:close");
    t0 = fx_now_ms();
    closes = wait_stat("closes", 1, 2000);
    cr_assert_eq(closes, 1, "the server closed, the peer never answered: the connection "
                 "should be freed after close_timeout_ms (300 ms), with on_close; after 2 s "
                 "on_close ran %d times" LIFE, (int)closes);
    cr_assert(wsc_close_frame(c) != NULL, "the server should have sent a close frame (1000) "
              "before giving up on the peer" CL);
    closes = app_stat("last_code");
    cr_assert_eq(closes, WS_CLOSE_ABNORMAL, "no close frame came back: on_close should get 1006, "
                 "got %d" LIFE, (int)closes);
    wsc_run_until(base, got_closed, half, scaled(1000));
    cr_assert(wsc_closed(half), "a request head that never ended is still open after %.0f ms: "
              "it may take close_timeout_ms (300 ms), then the connection is freed (the timer "
              "armed when it was accepted: do not re-arm it when bytes arrive)" LIFE,
              fx_now_ms() - t0);
    wsc_run_for(base, 20);
    cr_assert_eq(app_stat("conns"), 0, "a connection is still allocated" LIFE);
    finish();
}

Test(ex04_frames, silent_peer_dropped_by_keepalive)
{
    static const char *const opts[] = { "--max-message", "131072", "--ping-interval", "100",
                                        "--close-timeout", "200", NULL };
    struct wsc_opts mute = { .no_auto_reply = 1 };
    struct wsc *dead, *alive;
    json_int_t closes;

    start_app(opts);
    alive = open_client("/echo", NULL);     /* answers pings */
    dead = open_client("/echo", &mute);     /* never reads again */
    wsc_pause(dead);
    closes = wait_stat("closes", 1, 1500);
    cr_assert_eq(closes, 1, "a peer that neither reads nor answers pings should be dropped "
                 "(ping after one silent interval of 100 ms, drop after another); after 1.5 s "
                 "on_close ran %d times" LIFE, (int)closes);
    /* The dropped peer, reading again, finds its connection closed. */
    wsc_resume(dead);
    wsc_run_until(base, got_closed, dead, scaled(WAIT_MS));
    cr_assert(wsc_closed(dead), "on_close ran for the silent peer, but its TCP connection is "
              "still open" LIFE);
    wsc_run_for(base, 400);
    cr_assert_eq(app_stat("closes"), 1, "a peer that answers pings was dropped too" LIFE);
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
    static const char *const opts[] = { TEST_CFG, "--max-output", "65536", "--broadcast", NULL };
    struct wsc_opts small = { .rcvbuf = 4096 };
    struct wsc *fast[3], *slow;
    static char text[16 * 1024];
    size_t sent = 0;
    json_int_t closes = 0;

    start_app(opts);
    for (int i = 0; i < 3; i++)
        fast[i] = open_client("/echo", NULL);
    slow = open_client("/echo", &small);
    wsc_run_for(base, 20);
    wsc_pause(slow);
    rnd_word(text, sizeof(text) - 1);
    /* Rounds of 20 messages until the slow reader is dropped (bounded). */
    for (int round = 0; round < 60 && closes == 0; round++) {
        struct all a = { fast, 3, 0 };
        for (int i = 0; i < 20; i++, sent++)
            wsc_send_text(fast[0], text);
        a.n = sent;
        if (!wsc_run_until(base, all_have, &a, scaled(WAIT_MS)))
            break;                          /* not even the fast readers get them */
        closes = app_stat("closes");
    }
    closes = wait_stat("closes", 1, WAIT_MS);
    cr_assert_eq(closes, 1, "a peer that stopped reading should be dropped once its output "
                 "passes max_output (64 KiB); after %zu broadcasts of 16 KiB it was not" LIFE, sent);
    cr_assert_eq(app_stat("reentered"), 0, "a callback (on_close?) ran from inside ws_conn_send "
                 "or ws_conn_close: drop the connection from the loop instead "
                 "(conn_schedule_free), never while the application walks its list" LIFE);
    for (int i = 0; i < 3; i++) {
        cr_assert_not(wsc_closed(fast[i]), "fast reader %d was disconnected" LIFE, i);
        cr_assert_eq(wsc_messages(fast[i]), sent, "fast reader %d got %zu of %zu messages" LIFE,
                     i, wsc_messages(fast[i]), sent);
    }
    /* The dropped reader, reading again, finds its connection closed. */
    wsc_set_keep(slow, 0);
    wsc_resume(slow);
    wsc_run_until(base, got_closed, slow, scaled(WAIT_MS));
    cr_assert(wsc_closed(slow), "on_close ran for the slow reader, but its TCP connection is "
              "still open" LIFE);
    finish();
}

/* ws_conn_send on the connection opened last; returns its result. */
static int conn_send(int opcode, const void *data, size_t n)
{
    char what[80];

    snprintf(what, sizeof(what), "ws_conn_send(opcode %d, %zu bytes)", opcode, n);
    return (int)judge_int(unit(json_pack("{ss si so}", "op", "send", "opcode", opcode, "data",
                                         sio_hex(data, n)), what, FR), "rc", what);
}

/* ws_conn_close on the connection opened last; returns its result. */
static int conn_close(unsigned code, const void *reason, size_t n)
{
    char what[80];
    json_t *job = json_pack("{ss si}", "op", "close", "code", (int)code);

    json_object_set_new(job, "reason", reason ? sio_hex(reason, n) : json_null());
    snprintf(what, sizeof(what), "ws_conn_close(%u, a reason of %zu bytes)", code, n);
    return (int)judge_int(unit(job, what, CL), "rc", what);
}

Test(ex04_frames, send_and_close_check_their_arguments)
{
    /* 3 s to close: the connection stays listed while the test looks at
     * it after its close. */
    static const char *const opts[] = { "--max-message", "131072", "--ping-interval", "10000",
                                        "--close-timeout", "3000", NULL };
    static const int not_sendable[] = { WS_OP_CONT, WS_OP_CLOSE, WS_OP_PONG, 3, 7, 11 };
    unsigned bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015, 5000, (unsigned)rnd(1000),
                             5000 + (unsigned)rnd(60536) };
    struct wsc_opts mute = { .no_auto_reply = 1 };   /* stays closing: no answer */
    unsigned char text[101], bin[64], ping[126], reason[124], text2[40];
    size_t nt = 1 + rnd(100), nb = 1 + rnd(64), nt2 = 1 + rnd(40);
    unsigned code = 3000 + (unsigned)rnd(2000);
    const struct wsc_msg *m;
    struct wsc *c;
    int rc;

    rnd_utf8(text, nt);
    rnd_bytes(bin, nb);
    rnd_bytes(ping, sizeof(ping));
    rnd_utf8(text2, nt2);
    start_app(opts);
    c = open_client("/echo", &mute);
    /* What may be sent: text, binary, a ping of up to 125 bytes. */
    rc = conn_send(WS_OP_TEXT, text, nt);
    cr_assert_eq(rc, 0, "ws_conn_send of a text on an open connection should return 0, got %d"
                 FR, rc);
    rc = conn_send(WS_OP_BINARY, bin, nb);
    cr_assert_eq(rc, 0, "ws_conn_send of a binary message should return 0, got %d" FR, rc);
    rc = conn_send(WS_OP_PING, ping, WS_MAX_CONTROL_PAYLOAD);
    cr_assert_eq(rc, 0, "ws_conn_send of a 125-byte ping should return 0, got %d" FR, rc);
    /* What may not: a longer ping, other opcodes. */
    rc = conn_send(WS_OP_PING, ping, WS_MAX_CONTROL_PAYLOAD + 1);
    cr_assert_eq(rc, -1, "ws_conn_send of a 126-byte ping should return -1 (control frames carry "
                 "at most 125 bytes), got %d" FR, rc);
    for (size_t i = 0; i < sizeof(not_sendable) / sizeof(not_sendable[0]); i++) {
        rc = conn_send(not_sendable[i], bin, 1 + rnd(nb));
        cr_assert_eq(rc, -1, "ws_conn_send with opcode %d should return -1 (only text, binary and "
                     "ping), got %d" FR, not_sendable[i], rc);
    }
    /* Close codes and reasons that may not be sent. */
    for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        rc = conn_close(bad_codes[i], "x", 1);
        cr_assert_eq(rc, -1, "ws_conn_close with code %u should return -1 (1000 to 4999, not 1004 "
                     "to 1006 or 1015), got %d" CL, bad_codes[i], rc);
    }
    rnd_utf8(reason, sizeof(reason));
    rc = conn_close(WS_CLOSE_NORMAL, reason, sizeof(reason));
    cr_assert_eq(rc, -1, "ws_conn_close with a reason of 124 bytes should return -1 (at most 123: "
                 "a close frame carries 125 bytes, the code takes 2), got %d" CL, rc);
    rnd_utf8(reason, 10);
    reason[1 + rnd(8)] = 0xFF;
    rc = conn_close(WS_CLOSE_NORMAL, reason, 10);
    cr_assert_eq(rc, -1, "ws_conn_close with a reason that is not UTF-8 should return -1, got %d"
                 CL, rc);
    /* None of these was sent: the connection is still open. */
    rc = conn_send(WS_OP_TEXT, text2, nt2);
    cr_assert_eq(rc, 0, "ws_conn_send after refused calls should still work, got %d" FR, rc);
    wait_count(c, 3, "three messages sent with ws_conn_send");
    wsc_run_for(base, 30);
    cr_assert_null(wsc_error(c), "the server broke the protocol: %s" FR, wsc_error(c));
    cr_assert_eq(wsc_count(c), 3, "the client got %zu frames; expected the text, the binary "
                 "message and the second text (the refused calls send nothing)" FR,
                 wsc_count(c));
    m = wsc_msg(c, 0);
    cr_assert(m->opcode == WS_OP_TEXT && m->len == nt && memcmp(m->data, text, nt) == 0,
              "the first frame should be the text sent with ws_conn_send" FR);
    m = wsc_msg(c, 1);
    cr_assert(m->opcode == WS_OP_BINARY && m->len == nb && memcmp(m->data, bin, nb) == 0,
              "the second frame should be the binary message sent with ws_conn_send" FR);
    m = wsc_msg(c, 2);
    cr_assert(m->opcode == WS_OP_TEXT && m->len == nt2 && memcmp(m->data, text2, nt2) == 0,
              "the third frame should be the second text: got opcode %d (%zu bytes)" FR,
              m->opcode, m->len);
    /* A valid close, with a reason of exactly 123 bytes. */
    rnd_utf8(reason, 123);
    rc = conn_close(code, reason, 123);
    cr_assert_eq(rc, 0, "ws_conn_close(%u) with a 123-byte UTF-8 reason should return 0, got %d"
                 CL, code, rc);
    wsc_run_until(base, got_close_frame, c, scaled(WAIT_MS));
    m = wsc_close_frame(c);
    cr_assert_not_null(m, "ws_conn_close returned 0 but no close frame came" CL);
    cr_assert(m->close_code == code && m->len == 123 && memcmp(m->data, reason, 123) == 0,
              "the close frame should carry the code %u and the 123-byte reason, got %u and %zu "
              "bytes" CL, code, m->close_code, m->len);
    /* Closing: nothing more may be sent. */
    rc = conn_send(WS_OP_TEXT, text, nt);
    cr_assert_eq(rc, -1, "ws_conn_send after ws_conn_close should return -1 (the connection is "
                 "closing), got %d" FR, rc);
    rc = conn_close(WS_CLOSE_NORMAL, NULL, 0);
    cr_assert_eq(rc, -1, "a second ws_conn_close should return -1, got %d" CL, rc);
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_count(c), 4, "after the close frame the server sent %zu more frames" CL,
                 wsc_count(c) - 4);
    cr_assert_eq(app_stat("reentered"), 0, "a callback ran from inside ws_conn_send or "
                 "ws_conn_close" LIFE);
    finish();
}

/* What the subject did with its CPU during a wait. */
struct waited {
    double wall, cpu;
    long wakeups;
};

/* On server s (port p): three open connections whose clients answer the
 * keepalive pings, one the server closed whose peer never answers, and a
 * request head that never ends; then the judge watches for 1 s, talking
 * to the server only through those clients. */
static struct waited idle_wait(struct subj *s, int p)
{
    struct wsc_opts mute = { .no_auto_reply = 1 };
    struct subj_usage u0, u1;
    struct waited w;
    struct wsc *c, *half;
    char req[1024], target[16];
    double t0;
    int n, old = port;

    port = p;
    for (int i = 0; i < 3; i++)
        open_client("/echo", NULL);
    c = open_client("/echo", &mute);
    half = client();
    n = wsc_handshake_request(half, "/echo", req, sizeof(req));
    wsc_send_raw(half, req, (size_t)n / 2);
    wsc_send_text(c, "cmd:close");
    wsc_run_until(base, got_close_frame, c, scaled(WAIT_MS));
    snprintf(target, sizeof(target), "port %d", p);
    cr_assert_not_null(wsc_close_frame(c), "cmd:close makes the echo server close: no close "
                       "frame came (%s)" CL, target);
    port = old;
    cr_assert_eq(subj_usage(s, &u0), 0, "cannot read the server's CPU time");
    t0 = fx_now_ms();
    wsc_run_for(base, 1000);
    cr_assert_eq(subj_usage(s, &u1), 0, "cannot read the server's CPU time");
    w.wall = fx_now_ms() - t0;
    w.cpu = u1.cpu_ms - u0.cpu_ms;
    w.wakeups = u1.voluntary_switches - u0.voluntary_switches;
    return w;
}

Test(ex04_frames, timers_sleep_until_due)
{
    /* Keepalive every 200 ms, 600 ms to close: the server has a timer due
     * every few hundred milliseconds, and nothing to do in between. */
    static const char *const opts[] = { "--max-message", "131072", "--ping-interval", "200",
                                        "--close-timeout", "600", NULL };
    struct subj *ref;
    struct waited w, r;
    int refport;

    start_app(opts);
    w = idle_wait(subject, port);
    expect_alive("an idle server");
    /* The reference, in the same conditions, for the scale. */
    ref = start_server("subject-ex04", 1, opts, &refport);
    r = idle_wait(ref, refport);
    cr_log_info("idle 1 s: CPU %.1f ms, %ld wake-ups (the reference: %.1f ms, %ld)", w.cpu,
                w.wakeups, r.cpu, r.wakeups);
    cr_assert_lt(w.cpu, 0.1 * w.wall, "the server used %.0f ms of CPU during %.0f ms in which it "
                 "only had to wait for its timers (the reference: %.0f ms): an event loop "
                 "sleeps until the next timer is due" LIFE, w.cpu, w.wall, r.cpu);
    /* The reference wakes for each keepalive tick, pong and timeout: a few
     * dozen times; a timer re-armed every millisecond wakes about 1000
     * times in this second. */
    cr_assert_leq(w.wakeups, 2 * r.wakeups + 50, "the server went to sleep and woke up %ld times "
                  "during %.0f ms in which it only had to wait (keepalive every 200 ms, a close "
                  "and a request head timing out after 600 ms); the reference, %ld times.  Arm "
                  "each connection's timer for the moment something is due (the next keepalive "
                  "tick, the close timeout) and let the loop sleep until then; a timer re-armed "
                  "every few milliseconds to look at the clock polls, and keeps the machine busy "
                  "for nothing" LIFE, w.wakeups, w.wall, r.wakeups);
    judge_stop(ref, 3000, "the reference's subject-ex04", "");
    finish();
}

/* ======================= chat ============================================ */

static void start_chat(const char *const *opts)
{
    subject_name = "ex04-server";
    subject_hint = CH;
    subject = start_server(subject_name, 0, opts, &port);
}

/* A user name for this run: prefix, '_', 6 random letters or digits. */
static const char *uname(const char *prefix)
{
    static char buf[16][CHAT_MAX_NAME + 1];
    static int k;
    char word[8];

    k = (k + 1) % 16;
    rnd_word(word, 6);
    snprintf(buf[k], sizeof(buf[k]), "%.24s_%s", prefix, word);
    return buf[k];
}

/* Parses item i of c as JSON (the caller decrefs). */
static json_t *item_json(struct wsc *c, size_t i)
{
    const struct wsc_msg *m = wsc_msg(c, i);
    json_t *j;

    cr_assert_not_null(m, "test bug: no item %zu", i);
    cr_assert_eq(m->opcode, WS_OP_TEXT, "the chat should send text frames (JSON); got opcode %d%s"
                 CH, m->opcode, m->opcode == WS_OP_CLOSE ? " (a close frame)" : "");
    j = json_loadb((const char *)m->data, m->len, 0, NULL);
    cr_assert_not_null(j, "the chat sent something that is not JSON: \"%s\"" CH,
                       shown(m->data, m->len));
    return j;
}

/* Asserts that item i of c equals want (stolen; members in any order). */
static void expect_item(struct wsc *c, size_t i, json_t *want, const char *what)
{
    json_t *got;
    char *g, *w;

    cr_assert_not_null(want, "test bug: JSON");
    wait_count(c, i + 1, what);
    got = item_json(c, i);
    g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(json_equal(got, want), "%s: expected %s, got %s" CH, what, w, g);
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}

static json_t *users_of(const char *const *names, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(names[i]));
    return json_pack("{ss so}", "type", "users", "users", list);
}

static json_t *event_of(const char *type, const char *user)
{
    return json_pack("{ss ss}", "type", type, "user", user);
}

static json_t *message_of(const char *from, const char *text)
{
    return json_pack("{ss ss ss}", "type", "message", "from", from, "text", text);
}

/* Percent-encodes everything but A-Z a-z 0-9 _ - in name. */
static void url_name(char *out, size_t cap, const char *name, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)name[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '-')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
    }
    out[o] = '\0';
}

static struct wsc *join_opts(const char *name, const struct wsc_opts *o)
{
    char target[256], enc[200];
    struct wsc *c;
    const struct wsc_msg *m;

    url_name(enc, sizeof(enc), name, strlen(name));
    snprintf(target, sizeof(target), "/ws?name=%s", enc);
    c = open_client(target, o);
    wait_count(c, 1, "the user list sent on joining");
    m = wsc_msg(c, 0);
    cr_assert_neq(m->opcode, WS_OP_CLOSE, "joining as %s: the server closed the connection "
                  "(code %u, \"%s\") instead of sending the user list (chat_on_open)" CH, name,
                  m->close_code, shown(m->data, m->len));
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

/* A newcomer (a probe with a name of its own) is told exactly these users,
 * and itself last: who the chat counts now. */
static void expect_users_now(const char *const *names, size_t n, const char *why)
{
    const char *all[16];
    const char *probe = uname("probe");
    char what[300];
    struct wsc *c;

    cr_assert_lt(n, 16, "test bug");
    memcpy(all, names, n * sizeof(*names));
    all[n] = probe;
    c = join(probe);
    snprintf(what, sizeof(what), "%s: the user list sent to a newcomer", why);
    expect_item(c, 0, users_of(all, n + 1), what);
}

/* Text of a chat message drawn for this run: a quote and a backslash
 * (JSON must escape them), then printable ASCII and UTF-8. */
static const char *rnd_chat_text(void)
{
    static char buf[4][256];
    static int k;
    size_t n = 1 + rnd(100);

    k = (k + 1) % 4;
    memcpy(buf[k], "\"\\ ", 3);
    rnd_utf8((unsigned char *)buf[k] + 3, n);
    buf[k][3 + n] = '\0';
    return buf[k];
}

Test(ex04_chat, name_rules)
{
    enum { NGOOD = 10, NBAD = 12 };
    const char *good[NGOOD] = { "a", "ann", "Bob_2", "x-y", "0", "abcdefghijklmnopqrstuvwxyz012345" };
    const char *bad[NBAD] = { "", "abcdefghijklmnopqrstuvwxyz0123456", "ann bob", "\xc3\xa9",
                              "a.b", "a/b", "<x>", "a\tb" };
    static char extra[8][48];
    struct wsc *gc[NGOOD], *bc[NBAD];

    /* Names drawn for this run: valid ones of 1 to 32 characters, and
     * valid ones spoilt by a character outside the set or one too many. */
    for (int i = 0; i < 4; i++) {
        size_t n = 1 + rnd(CHAT_MAX_NAME);
        rnd_word(extra[i], n);
        if (n > 2)
            extra[i][rnd(n)] = rnd(2) ? '_' : '-';
        extra[i][0] = (char)('A' + i);      /* distinct from each other */
        good[6 + i] = extra[i];
    }
    for (int i = 4; i < 8; i++) {
        size_t n = i == 7 ? CHAT_MAX_NAME + 1 + rnd(8) : 2 + rnd(20);
        rnd_word(extra[i], n);
        if (i < 7)
            extra[i][rnd(n)] = " .!/@:+*"[rnd(8)];
        bad[i + 4] = extra[i];
    }
    start_chat(NULL);
    for (size_t i = 0; i < NGOOD; i++)
        gc[i] = join(good[i]);
    for (size_t i = 0; i < NGOOD; i++) {
        json_t *j = item_json(gc[i], 0);
        json_t *users = json_object_get(j, "users");
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "users",
                         "\"%s\" is a valid name (1-32 of A-Z a-z 0-9 _ -), but the server "
                         "did not send the user list: %s" CH, good[i],
                         shown(wsc_msg(gc[i], 0)->data, wsc_msg(gc[i], 0)->len));
        cr_assert_str_eq(json_string_value(json_array_get(users, json_array_size(users) - 1)),
                         good[i], "\"%s\" joined: the user list should end with it" CH, good[i]);
        json_decref(j);
    }
    for (size_t i = 0; i < NBAD; i++) {
        char target[256], enc[200];
        url_name(enc, sizeof(enc), bad[i], strlen(bad[i]));
        snprintf(target, sizeof(target), "/ws?name=%s", enc);
        bc[i] = open_client(target, NULL);
    }
    for (size_t i = 0; i < NBAD; i++) {
        json_t *j;
        const char *reason;
        char what[120];
        snprintf(what, sizeof(what), "\"%s\" is not a valid name (1-32 of A-Z a-z 0-9 _ -)",
                 shown(bad[i], strlen(bad[i])));
        wait_count(bc[i], 1, what);
        j = item_json(bc[i], 0);
        reason = json_string_value(json_object_get(j, "reason"));
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")) ?
                         json_string_value(json_object_get(j, "type")) : "(none)", "error",
                         "%s: the server should refuse it with an error, got %s" CH, what,
                         shown(wsc_msg(bc[i], 0)->data, wsc_msg(bc[i], 0)->len));
        cr_assert(reason != NULL && strstr(reason, "invalid name") != NULL, "%s: the reason "
                  "should contain \"invalid name\", got \"%s\"" CH, what,
                  reason ? reason : "(none)");
        json_decref(j);
    }
    finish();
}

Test(ex04_chat, join_gets_user_list)
{
    const char *names[3] = { uname("ann"), uname("cy"), uname("bob") };
    struct wsc *bob;

    start_chat(NULL);
    join(names[0]);
    join(names[1]);
    bob = join(names[2]);
    expect_item(bob, 0, users_of(names, 3),
                "the first message to bob, who joined after ann and cy (3 users joined)");
    finish();
}

Test(ex04_chat, others_get_join_event)
{
    const char *ann_n = uname("ann"), *cy_n = uname("cy"), *bob_n = uname("bob");
    struct wsc *ann, *cy;

    start_chat(NULL);
    ann = join(ann_n);
    cy = join(cy_n);
    join(bob_n);
    expect_item(ann, 1, event_of("join", cy_n), "ann's second message");
    expect_item(ann, 2, event_of("join", bob_n), "ann's third message");
    expect_item(cy, 1, event_of("join", bob_n), "cy's second message");
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_count(ann), 3, "ann should have exactly 3 messages (users, join cy, join "
                 "bob), got %zu" CH, wsc_count(ann));
    finish();
}

Test(ex04_chat, message_reaches_everyone_with_sender)
{
    struct wsc *u[5];
    const char *names[5];
    const char *text = rnd_chat_text();

    for (int i = 0; i < 5; i++)
        names[i] = uname("u");
    start_chat(NULL);
    for (int i = 0; i < 5; i++)
        u[i] = join(names[i]);
    say(u[2], text);
    for (int i = 0; i < 5; i++) {
        size_t last = (size_t)(4 - i) + 1;  /* users + joins after i */
        expect_item(u[i], last, message_of(names[2], text),
                    "the message u2 sent, as seen by each user (u2 included)");
    }
    finish();
}

Test(ex04_chat, order_kept_per_sender)
{
    struct wsc *u[4];
    const char *names[4] = { uname("s0"), uname("s1"), uname("s2"), uname("r") };
    const int per = 40;
    char text[64], tag[12];

    rnd_word(tag, 8);
    start_chat(NULL);
    for (int i = 0; i < 4; i++)
        u[i] = join(names[i]);
    wsc_run_for(base, 30);
    for (int k = 0; k < per; k++)
        for (int s = 0; s < 3; s++) {
            snprintf(text, sizeof(text), "%s-%d", tag, k);
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
            int s = -1;
            for (int k = 0; k < 3 && from != NULL; k++)
                if (strcmp(from, names[k]) == 0)
                    s = k;
            cr_assert(s >= 0 && t != NULL && strncmp(t, tag, strlen(tag)) == 0, "user %s, item "
                      "%zu: expected a message from s0..s2, got %s" CH, names[i], m,
                      shown(wsc_msg(u[i], m)->data, wsc_msg(u[i], m)->len));
            cr_assert_eq(atoi(t + strlen(tag) + 1), next[s], "user %s: from %s expected message "
                         "%d next, got %s: each sender's messages must arrive in order" CH,
                         names[i], from, next[s], t);
            next[s]++;
            json_decref(j);
        }
    }
    finish();
}

Test(ex04_chat, leave_on_close)
{
    const char *ann_n = uname("ann"), *bob_n = uname("bob");
    const char *left[1] = { ann_n };
    char reason[24];
    struct wsc *ann, *bob;

    rnd_word(reason, rnd(20));
    start_chat(NULL);
    ann = join(ann_n);
    bob = join(bob_n);
    wait_count(ann, 2, "ann: users, join bob");
    wsc_send_close(bob, rnd(2) ? 1000 : 1001, reason);
    expect_item(ann, 2, event_of("leave", bob_n), "after bob's close frame, ann's next message");
    expect_users_now(left, 1, "bob left");
    finish();
}

Test(ex04_chat, leave_on_abrupt_disconnect_during_broadcast)
{
    struct wsc *u[5];
    const char *names[5];
    const char *left[4];
    char text[40], tag[12];

    rnd_word(tag, 8);
    for (int i = 0; i < 5; i++)
        names[i] = uname((const char *[]){ "a", "b", "c", "d", "e" }[i]);
    start_chat(NULL);
    for (int i = 0; i < 5; i++)
        u[i] = join(names[i]);
    wsc_run_for(base, 30);
    /* a broadcasts while c vanishes (a TCP reset) in the middle. */
    for (int k = 0; k < 30; k++) {
        snprintf(text, sizeof(text), "m%d-%s", k, tag);
        say(u[0], text);
        if (k == 10)
            wsc_abort(u[2]);
    }
    for (int i = 0; i < 5; i++) {
        size_t first, seen = 0;
        int left_events = 0;
        if (i == 2)
            continue;
        first = (size_t)(4 - i) + 1;
        wait_count(u[i], first + 31, "30 messages and a leave event");
        for (size_t m = first; m < wsc_count(u[i]); m++) {
            json_t *j = item_json(u[i], m);
            const char *type = json_string_value(json_object_get(j, "type"));
            cr_assert_not_null(type, "user %s: a message without a type" CH, names[i]);
            if (strcmp(type, "message") == 0) {
                snprintf(text, sizeof(text), "m%zu-%s", seen++, tag);
                cr_assert_str_eq(json_string_value(json_object_get(j, "text")), text,
                                 "user %s missed or reordered a message while c vanished" CH,
                                 names[i]);
            } else {
                cr_assert_str_eq(type, "leave", "user %s: unexpected %s event" CH, names[i], type);
                cr_assert_str_eq(json_string_value(json_object_get(j, "user")), names[2],
                                 "user %s: a leave event for someone else than c" CH, names[i]);
                left_events++;
            }
            json_decref(j);
        }
        cr_assert_eq(seen, 30, "user %s got %zu of a's 30 messages" CH, names[i], seen);
        cr_assert_eq(left_events, 1, "user %s got %d leave events for c; expected 1" CH,
                     names[i], left_events);
    }
    for (int i = 0, k = 0; i < 5; i++)
        if (i != 2)
            left[k++] = names[i];
    expect_users_now(left, 4, "c vanished");
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
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")) ?
                     json_string_value(json_object_get(j, "type")) : "(none)", "error",
                     "%s: the first message should be {\"type\":\"error\",...}" CH, what);
    cr_assert(reason != NULL && strstr(reason, reason_part) != NULL, "%s: the reason should "
              "contain \"%s\", got \"%s\"" CH, what, reason_part, reason ? reason : "(none)");
    json_decref(j);
}

Test(ex04_chat, invalid_name_refused)
{
    char long_name[48], spaced[48], accented[48], t[5][128];
    const char *ann_n = uname("ann");
    const char *left[1] = { ann_n };
    const struct { const char *target, *reason, *why; } cases[] = {
        { "/ws", "missing name", "no name" },
        { "/ws?name=", "invalid name", "an empty name" },
        { t[2], "invalid name", "a 33-character name" },
        { t[3], "invalid name", "a name with a space" },
        { t[4], "invalid name", "a name with a non-ASCII letter" },
    };
    struct wsc *ann;

    rnd_word(long_name, CHAT_MAX_NAME + 1);
    rnd_word(spaced, 2 + rnd(10));
    rnd_word(accented, 1 + rnd(10));
    snprintf(t[2], sizeof(t[2]), "/ws?name=%s", long_name);
    snprintf(t[3], sizeof(t[3]), "/ws?name=%c%%20%s", 'a' + (int)rnd(26), spaced);
    snprintf(t[4], sizeof(t[4]), "/ws?name=%s%%C3%%A9", accented);
    start_chat(NULL);
    ann = join(ann_n);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsc *c = open_client(cases[i].target, NULL);
        expect_refused(c, cases[i].reason, cases[i].why);
    }
    wsc_run_for(base, 30);
    cr_assert_eq(wsc_count(ann), 1, "ann got %zu messages; refused users must not be announced"
                 CH, wsc_count(ann));
    expect_users_now(left, 1, "refused users must not be counted");
    finish();
}

Test(ex04_chat, taken_name_refused)
{
    const char *ann_n = uname("ann");
    char target[64], what[80], other[CHAT_MAX_NAME + 1];
    const char *both[2] = { ann_n, other };
    struct wsc *c, *o;

    start_chat(NULL);
    join(ann_n);
    snprintf(target, sizeof(target), "/ws?name=%s", ann_n);
    snprintf(what, sizeof(what), "a second \"%s\"", ann_n);
    c = open_client(target, NULL);
    expect_refused(c, "name taken", what);
    /* Names are compared exactly: the same name in another case is another
     * user. */
    snprintf(other, sizeof(other), "%s", ann_n);
    other[0] = (char)(other[0] ^ 0x20);     /* "ann_..." -> "Ann_..." */
    o = join(other);
    expect_item(o, 0, users_of(both, 2), "\"ann_...\" and \"Ann_...\" are two names "
                "(compared exactly, not without case): the user list sent to Ann_...");
    expect_users_now(both, 2, "the second ann was refused, Ann joined");
    finish();
}

/* {"type":"message","text":"<n letters>"}, the text drawn for this run, in a
 * malloc'd string; *text points at the text inside it. */
static char *long_message(size_t n, const char **text)
{
    static const char head[] = "{\"type\":\"message\",\"text\":\"";
    char *s = malloc(sizeof(head) + n + 3);

    cr_assert_not_null(s);
    memcpy(s, head, sizeof(head) - 1);
    rnd_word(s + sizeof(head) - 1, n);
    memcpy(s + sizeof(head) - 1 + n, "\"}", 3);
    *text = s + sizeof(head) - 1;
    return s;
}

/* Item i of c is {"type":"message","from":from,"text":text[0..n)}
 * (checked without printing a megabyte). */
static void expect_long_message(struct wsc *c, size_t i, const char *from, const char *text,
                                size_t n, const char *what)
{
    json_t *j;
    const char *t;

    wait_count(c, i + 1, what);
    j = item_json(c, i);
    t = json_string_value(json_object_get(j, "text"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")) ?
                     json_string_value(json_object_get(j, "type")) : "(none)", "message",
                     "%s: expected a message, got %s" CH, what,
                     shown(wsc_msg(c, i)->data, wsc_msg(c, i)->len));
    cr_assert_str_eq(json_string_value(json_object_get(j, "from")) ?
                     json_string_value(json_object_get(j, "from")) : "(none)", from,
                     "%s: \"from\" should be %s" CH, what, from);
    cr_assert(t != NULL && json_string_length(json_object_get(j, "text")) == n &&
              memcmp(t, text, n) == 0, "%s: the text should be the %zu bytes sent, got %zu" CH,
              what, n, t ? json_string_length(json_object_get(j, "text")) : 0);
    json_decref(j);
}

Test(ex04_chat, bad_messages_get_error)
{
    static const char *bad[] = {
        "not json", "[1,2]", "{\"type\":\"shout\",\"text\":\"x\"}", "{\"type\":\"message\"}",
        "{\"type\":\"message\",\"text\":42}",
    };
    const char *ann_n = uname("ann"), *bob_n = uname("bob"), *text = rnd_chat_text();
    const char *long_text, *max_text;
    char *too_long = long_message(CHAT_MAX_TEXT + 1, &long_text);
    char *max_len = long_message(CHAT_MAX_TEXT, &max_text);
    struct wsc *ann, *bob;
    size_t n = sizeof(bad) / sizeof(bad[0]);
    char bin[96];

    /* A binary frame holding a valid chat message: still refused. */
    snprintf(bin, sizeof(bin), "{\"type\":\"message\",\"text\":\"%s\"}", uname("binary"));
    start_chat(NULL);
    ann = join(ann_n);
    bob = join(bob_n);
    wait_count(ann, 2, "ann: users, join bob");
    for (size_t i = 0; i < n; i++)
        wsc_send_text(bob, bad[i]);
    wsc_send_frame(bob, 1, WS_OP_BINARY, bin, strlen(bin));
    wsc_send_text(bob, too_long);
    say(bob, text);
    for (size_t i = 0; i <= n + 1; i++) {
        json_t *j;
        wait_count(bob, 2 + i, "error events for bad messages");
        j = item_json(bob, 1 + i);
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")) ?
                         json_string_value(json_object_get(j, "type")) : "(none)", "error",
                         "bad message %zu (\"%s\") should get {\"type\":\"error\",...} back" CH,
                         i, i < n ? bad[i] : i == n ? "a binary frame, even holding a chat "
                         "message" : "a text of CHAT_MAX_TEXT + 1 bytes (1 MiB + 1: too long)");
        cr_assert(json_is_string(json_object_get(j, "reason")), "an error needs a reason" CH);
        json_decref(j);
    }
    expect_item(bob, 3 + n, message_of(bob_n, text), "after the bad messages, bob's good one");
    expect_item(ann, 2, message_of(bob_n, text), "ann should see only bob's good message");
    /* The limits of a good one: exactly CHAT_MAX_TEXT bytes, and none. */
    wsc_send_text(bob, max_len);
    say(bob, "");
    expect_long_message(ann, 3, bob_n, max_text, CHAT_MAX_TEXT, "a text of exactly "
                        "CHAT_MAX_TEXT bytes (1 MiB) is allowed: ann's next message");
    expect_long_message(bob, 4 + n, bob_n, max_text, CHAT_MAX_TEXT, "a text of exactly "
                        "CHAT_MAX_TEXT bytes (1 MiB) is allowed: bob's next message");
    expect_item(ann, 4, message_of(bob_n, ""), "an empty text is allowed: ann's next message");
    free(too_long);
    free(max_len);
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
    static const char *const opts[] = { TEST_CFG, "--max-output", "131072", NULL };
    struct wsc_opts small = { .rcvbuf = 4096 };
    const char *names[3] = { uname("f0"), uname("f1"), uname("f2") }, *slow_n = uname("slow");
    struct wsc *fast[3], *slow;
    static char text[16 * 1024];
    size_t sent = 0, msgs[3];
    int dropped = 0;

    start_chat(opts);
    fast[0] = join(names[0]);
    fast[1] = join(names[1]);
    slow = join_opts(slow_n, &small);
    fast[2] = join(names[2]);
    wsc_run_for(base, 30);
    wsc_pause(slow);
    rnd_word(text, sizeof(text) - 1);
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
        if (!wsc_run_until(base, all_have, &a, scaled(WAIT_MS)))
            break;                          /* not even the fast readers get them */
        dropped = leave_seen(fast[1]);
    }
    if (!dropped)
        expect_alive("the slow reader");
    cr_assert(dropped, "a user who stopped reading should be dropped once the output passes "
              "max_output (128 KiB), and the others told {\"type\":\"leave\"}; after %zu "
              "messages of 16 KiB nothing happened" CH, sent);
    wsc_run_for(base, 50);
    for (int i = 0; i < 3; i++) {
        size_t got = 0;
        char from[64];
        snprintf(from, sizeof(from), "\"from\":\"%s\"", names[0]);
        cr_assert_not(wsc_closed(fast[i]), "fast user f%d was disconnected" CH, i);
        for (size_t m = 0; m < wsc_count(fast[i]); m++) {
            const struct wsc_msg *w = wsc_msg(fast[i], m);
            if (strstr((char *)w->data, from) != NULL)
                got++;
        }
        cr_assert_eq(got, sent, "fast user f%d got %zu of the %zu messages while the slow one "
                     "was dropped" CH, i, got, sent);
    }
    expect_users_now(names, 3, "the slow reader was dropped");
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

static const char *all_text;

static int all_last_is(void *arg)
{
    struct all *a = arg;

    for (size_t i = 0; i < a->k; i++) {
        const struct wsc_msg *m = wsc_last(a->cs[i]);
        if (wsc_closed(a->cs[i]))
            continue;
        if (m == NULL || strstr((char *)m->data, all_text) == NULL)
            return 0;
    }
    return 1;
}

Test(ex04_chat, five_hundred_clients_receive_broadcast, .timeout = 90)
{
    enum { N = 500, BATCH = 50 };
    static struct wsc *u[N];
    struct wsc *probe;
    char target[48], tag[12], text[40], want[64];
    struct all a;
    size_t ok = 0;
    json_t *j;

    rnd_word(tag, 8);
    snprintf(text, sizeof(text), "to all 500 %s", tag);
    snprintf(want, sizeof(want), "\"text\":\"%s\"", text);
    all_text = want;
    start_chat(NULL);
    for (size_t b = 0; b < N; b += BATCH) {
        for (size_t i = b; i < b + BATCH; i++) {
            snprintf(target, sizeof(target), "/ws?name=u%zu_%s", i, tag);
            u[i] = client();
            wsc_set_keep(u[i], 0);
            wsc_handshake(u[i], target, NULL);
        }
        a.cs = u + b;
        a.k = BATCH;
        for (size_t i = b; i < b + BATCH; i++)
            wait_status(u[i], target);
        wsc_run_until(base, all_joined, &a, scaled(10000));
        if (!all_joined(&a))
            expect_alive("500 clients joining");
        for (size_t i = b; i < b + BATCH; i++)
            cr_assert_eq(wsc_status(u[i]), 101, "client %zu of %d: no 101 (got %d)" HS, i, N,
                         wsc_status(u[i]));
    }
    /* A newcomer is told of all N users, and itself. */
    probe = join(uname("probe"));
    j = item_json(probe, 0);
    cr_assert_eq(json_array_size(json_object_get(j, "users")), N + 1, "%d users joined; a "
                 "newcomer was told of %zu users (itself included)" CH, N,
                 json_array_size(json_object_get(j, "users")));
    json_decref(j);
    say(u[123], text);
    a.cs = u;
    a.k = N;
    wsc_run_until(base, all_last_is, &a, scaled(20000));
    for (size_t i = 0; i < N; i++) {
        const struct wsc_msg *m = wsc_last(u[i]);
        if (!wsc_closed(u[i]) && m && strstr((char *)m->data, want))
            ok++;
    }
    if (ok != N)
        expect_alive("a broadcast to 500 users");
    cr_assert_eq(ok, N, "%zu of %d users received the broadcast" CH, ok, N);
    finish();
}

Test(ex04_chat, page_served_at_root)
{
    struct wsc *page, *ref, *plain, *none;
    struct subj *refsrv;
    int refport;
    char word[24], req[128];

    start_chat(NULL);
    /* The page the given chat_page.c holds, as the reference serves it. */
    refsrv = start_server("ex04-server", 1, NULL, &refport);
    page = raw_request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ref = raw_request_at(refport, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    rnd_word(word, 10);
    snprintf(req, sizeof(req), "GET /ws?name=%s HTTP/1.1\r\nHost: x\r\n\r\n", word);
    plain = raw_request(req);
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", word);
    none = raw_request(req);
    wait_status(page, "/");
    wsc_run_until(base, got_closed, page, scaled(WAIT_MS));
    wsc_run_until(base, got_closed, ref, scaled(WAIT_MS));
    cr_assert_eq(wsc_status(ref), 200, "test bug: the reference served / with %d",
                 wsc_status(ref));
    cr_assert_eq(wsc_status(page), 200, "GET / should get 200 and the chat page, got %d (body: "
                 "\"%s\")" CH, wsc_status(page), shown(wsc_body(page), strlen(wsc_body(page))));
    cr_assert(wsc_header(page, "Content-Type") &&
              strstr(wsc_header(page, "Content-Type"), "text/html"),
              "GET / should be served as text/html" CH);
    cr_assert_str_eq(wsc_body(page), wsc_body(ref), "GET / should serve chat_page_html" CH);
    wait_status(plain, "/ws");
    cr_assert_eq(wsc_status(plain), 400, "GET /ws without the WebSocket headers should get 400, "
                 "got %d" CH, wsc_status(plain));
    wait_status(none, "/nothing");
    cr_assert_eq(wsc_status(none), 404, "GET /%s should get 404, got %d" CH, word,
                 wsc_status(none));
    judge_stop(refsrv, 3000, "the reference's ex04-server", "");
    finish();
}

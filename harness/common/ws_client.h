/*
 * ws_client.h - a WebSocket client (RFC 6455) for the tests, written from
 * the RFC and independent of the code under test: it runs on the test's own
 * event_base, beside the server.
 *
 * A client connects at once (wsc_new) and does nothing until told:
 * wsc_handshake() sends a valid opening handshake; wsc_send_raw() sends any
 * bytes (malformed requests, broken frames).  It reads the server's answer:
 * the status line and headers, then either frames (after a 101) or a body
 * (until the server closes).  Frames from the server are checked against the
 * RFC (never masked, no reserved bits, control frames short and final...);
 * a violation is recorded in wsc_error() and the client stops reading.
 *
 * Like a browser, the client answers a ping with a pong and a close frame
 * with a close frame (same code), unless told otherwise.  Complete messages
 * (fragments joined), close frames and pongs are kept in order and can be
 * read back with wsc_msg(); wsc_set_keep(c, 0) only counts them (for many
 * clients).
 *
 * Single-threaded: call everything from the thread that runs the loop, or
 * while the loop is not running.
 */
#ifndef WS_CLIENT_H
#define WS_CLIENT_H

#include <stddef.h>

struct event_base;
struct wsc;

/* One thing received, in order of arrival. */
struct wsc_msg {
    int opcode;               /* 1 text, 2 binary, 8 close, 10 pong */
    unsigned char *data;      /* payload ('\0' added after it); for a close
                                 frame, the reason */
    size_t len;
    unsigned close_code;      /* close frames: the code (1005 when none) */
};

/* Options; zero means the default. */
struct wsc_opts {
    int rcvbuf;               /* SO_RCVBUF in bytes, set before connecting
                                 (a small one makes a slow reader) */
    int no_auto_reply;        /* 1: answer neither pings nor close frames */
};

/*
 * Starts connecting to 127.0.0.1:port.  Returns NULL on failure with a
 * reason in err.  opts may be NULL.  Free with wsc_free() before the base.
 */
struct wsc *wsc_new(struct event_base *base, int port, const struct wsc_opts *opts,
                    char *err, size_t errlen);

/* Frees the client and closes its socket (if still open).  NULL: no-op. */
void wsc_free(struct wsc *c);

/*
 * Sends a valid opening handshake for `target` (e.g. "/ws?name=ann"), with
 * a fresh key, and remembers the accept value the server must answer.
 * extra_headers: NULL or more header lines, each ending in "\r\n".
 * Returns 0, or -1 on error.
 */
int wsc_handshake(struct wsc *c, const char *target, const char *extra_headers);

/* The handshake request wsc_handshake() would send, written into buf
 * ('\0'-terminated); the client then expects its answer.  Returns the
 * length, or -1 when buf is too small.  For tests that send it themselves
 * (in pieces, or with a frame after it). */
int wsc_handshake_request(struct wsc *c, const char *target, char *buf, size_t len);

/* Sends bytes as they are.  Returns 0, or -1 when the client is closed. */
int wsc_send_raw(struct wsc *c, const void *data, size_t len);

/*
 * Writes a masked client frame into buf: fin, opcode (any 4-bit value) and
 * payload, with a fresh mask key (random: the generator is seeded from
 * getrandom() once per process); len64 >= 0 forces a 64-bit length field
 * with that value (whatever the payload's length), -1 means the real length
 * in the shortest encoding.  Returns the frame's length, or 0 when buf is
 * too small.  wsc_encode_unmasked() does the same without a mask.
 */
size_t wsc_encode(unsigned char *buf, size_t cap, int fin, int opcode, const void *payload,
                  size_t len, long long len64);
size_t wsc_encode_unmasked(unsigned char *buf, size_t cap, int fin, int opcode,
                           const void *payload, size_t len);

/* The Sec-WebSocket-Accept value for key: base64(SHA-1(key + GUID)), 28
 * characters and a '\0' in out.  Returns 0, or -1 on an OpenSSL failure. */
int wsc_accept_for(const char *key, char out[32]);

/* Sends one masked frame.  Returns 0, or -1 on error. */
int wsc_send_frame(struct wsc *c, int fin, int opcode, const void *payload, size_t len);
/* Sends a text message in one frame. */
int wsc_send_text(struct wsc *c, const char *text);
/* Sends a close frame: code 0 means an empty payload. */
int wsc_send_close(struct wsc *c, unsigned code, const char *reason);

/* Stops reading from the socket (the server's output then piles up). */
void wsc_pause(struct wsc *c);
/* Reads again after wsc_pause(). */
void wsc_resume(struct wsc *c);
/* Closes the socket at once with a TCP reset (SO_LINGER 0). */
void wsc_abort(struct wsc *c);

/* Keep received messages (1, the default) or only count them (0). */
void wsc_set_keep(struct wsc *c, int keep);

/* The server's HTTP status (0 until the status line arrived). */
int wsc_status(const struct wsc *c);
/* A response header (any case), or NULL. */
const char *wsc_header(const struct wsc *c, const char *name);
/* 1 when the 101 had the right Sec-WebSocket-Accept, Upgrade and
 * Connection headers. */
int wsc_accept_ok(const struct wsc *c);
/* The body of a non-101 response, read until the server closed ('\0'
 * terminated; "" when none). */
const char *wsc_body(const struct wsc *c);

/* Messages, close frames and pongs received (also counted when not kept). */
size_t wsc_count(const struct wsc *c);
/* Text and binary messages only. */
size_t wsc_messages(const struct wsc *c);
/* Entry i (kept mode), or NULL. */
const struct wsc_msg *wsc_msg(const struct wsc *c, size_t i);
/* The last text or binary message, also in counting mode, or NULL. */
const struct wsc_msg *wsc_last(const struct wsc *c);
/* The close frame received, or NULL. */
const struct wsc_msg *wsc_close_frame(const struct wsc *c);
/* Pongs received. */
size_t wsc_pongs(const struct wsc *c);

/* 1 once the server closed the TCP connection (EOF or reset), or after
 * wsc_abort(). */
int wsc_closed(const struct wsc *c);
/* How the server broke the protocol, or NULL. */
const char *wsc_error(const struct wsc *c);

/*
 * Runs the loop until done(arg) returns non-zero or timeout_ms passes.
 * Returns 1 when done, 0 on timeout.  done is checked before each turn.
 */
int wsc_run_until(struct event_base *base, int (*done)(void *arg), void *arg,
                  unsigned timeout_ms);

/* Runs the loop for ms milliseconds. */
void wsc_run_for(struct event_base *base, unsigned ms);

#endif /* WS_CLIENT_H */

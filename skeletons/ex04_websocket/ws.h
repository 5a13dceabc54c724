/*
 * ws.h - Exercise 4, the protocol layer: WebSocket (RFC 6455) on a libevent
 * bufferevent, with no WebSocket library (libevent 2.1 has none).
 *
 * This header is the contract between your code (ws.c) and everything else:
 * the chat (chat.c), the tests, the grader and the program ex04-server.  Do
 * not edit it.  Read docs/en/ex04_websocket.md (or docs/fr/) first.
 *
 * Three parts:
 *   1. pure functions over bytes and strings (no I/O, no allocation): the
 *      handshake's checks, the frame decoder and encoder, masking, the close
 *      payload.  The tests and the fuzzer call them directly.
 *   2. given helpers (ws_util.c): SHA-1 + base64 through OpenSSL, UTF-8
 *      validation, a bounded reader for the request head.
 *   3. a server: it accepts TCP connections, answers the opening handshake,
 *      reads and writes frames, and tells the application (the chat) what
 *      happens through four callbacks.
 *
 * Everything runs on one thread, the one that runs the event_base.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;

/* ---- Constants ---------------------------------------------------------- */

/* Appended to the client's key before hashing (RFC 6455, section 1.3). */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A valid Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters of the
 * base64 alphabet followed by "==". */
#define WS_KEY_LEN 24
/* Sec-WebSocket-Accept is the base64 of a 20-byte SHA-1: 28 characters. */
#define WS_ACCEPT_LEN 28
/* The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask key. */
#define WS_MAX_HEADER_LEN 14
/* Control frames (close, ping, pong) carry at most 125 bytes. */
#define WS_MAX_CONTROL_PAYLOAD 125
/* ws_frame_parse() treats a larger max_payload as this one (1 GiB). */
#define WS_PAYLOAD_LIMIT ((size_t)1 << 30)

/* Limits of the request head reader (ws_head_read): the request line and
 * the header lines with their line ends, and the number of header lines.
 * Browsers send about 1 KiB in 10 to 20 lines. */
#define WS_MAX_HEAD_BYTES 8192
#define WS_MAX_HEADERS 48

/* Frame opcodes (RFC 6455, section 5.2). */
enum ws_opcode {
    WS_OP_CONT = 0x0,    /* continuation of a fragmented message */
    WS_OP_TEXT = 0x1,    /* a text message: UTF-8 */
    WS_OP_BINARY = 0x2,  /* a binary message */
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* Close codes used here (RFC 6455, section 7.4.1). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,    /* the peer broke a framing rule */
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,   /* never sent: "the close frame had no code" */
    WS_CLOSE_ABNORMAL = 1006,    /* never sent: "no close frame at all" */
    WS_CLOSE_BAD_DATA = 1007,    /* a text message that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,      /* the application refuses (e.g. a bad name) */
    WS_CLOSE_TOO_BIG = 1009,     /* a message over the size limit */
    WS_CLOSE_INTERNAL = 1011
};

/* ---- 1. Pure functions (TODO: you write them in ws.c) ------------------ */

/*
 * Returns 1 when the comma-separated list `list` (an HTTP header value such
 * as "keep-alive, Upgrade") holds `token`, compared without regard to case
 * and ignoring spaces and tabs around each element; 0 otherwise.  A token
 * must match a whole element: "upgraded" does not hold "upgrade".
 * NULL or empty arguments return 0.
 */
int ws_has_token(const char *list, const char *token);

/*
 * Computes the Sec-WebSocket-Accept value for the client's key:
 * base64(SHA-1(key followed by WS_GUID)), written into out as 28 characters
 * and a '\0'.  For the RFC's example key "dGhlIHNhbXBsZSBub25jZQ==" it is
 * "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".  The key is used as it is (checking its
 * format is ws_handshake_check's job).
 * Returns 0, or -1 (out untouched) when key or out is NULL or the key is
 * longer than 64 characters.
 */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

struct ws_head;

/*
 * Checks a complete request head that asks for a WebSocket upgrade, and
 * returns the HTTP status the server must answer with:
 *   101  valid: method GET, version HTTP/1.1, a Host header, Upgrade holds
 *        the token "websocket", Connection holds the token "upgrade",
 *        Sec-WebSocket-Version is "13", and Sec-WebSocket-Key is a valid key
 *        (see WS_KEY_LEN).  The accept value is then written into `accept`.
 *   426  everything is valid but Sec-WebSocket-Version is missing or not
 *        "13" (the reply must say "Sec-WebSocket-Version: 13").
 *   400  anything else (checked in this order: method, version, Host,
 *        Upgrade, Connection, then the version (426), then the key).
 * `accept` is written only when the result is 101.  head NULL returns 400.
 */
int ws_handshake_check(const struct ws_head *head, char accept[WS_ACCEPT_LEN + 1]);

/* One frame as ws_frame_parse() read it. */
struct ws_frame {
    int fin;                      /* 1: last frame of its message */
    enum ws_opcode opcode;
    unsigned char mask[4];        /* the masking key */
    uint64_t payload_len;
    size_t header_len;            /* 2 to 14 bytes; 0 while incomplete */
    const unsigned char *payload; /* inside buf, still masked; NULL until
                                     the whole frame is in buf */
};

/*
 * Decodes one frame sent by a client, from the start of buf[0..len).
 * Pure: reads buf only, writes *out only.
 *
 * Returns
 *   > 0  the whole frame is in buf: the number of bytes it takes (header
 *        and payload); *out is filled, out->payload points into buf.
 *   0    need more bytes.  out->header_len is 0 while the header itself is
 *        incomplete; once the header is complete, every field of *out but
 *        payload is set (payload is NULL), so the caller knows how many
 *        bytes the frame needs: header_len + payload_len.
 *   < 0  the frame breaks a rule; the value is minus the close code to
 *        send:
 *          -WS_CLOSE_PROTOCOL (-1002): a reserved bit (RSV1-3) is set, the
 *             opcode is unknown, the frame is not masked (every client frame
 *             must be), a control frame is fragmented (FIN 0) or carries more
 *             than 125 bytes, or a 64-bit length has its top bit set;
 *          -WS_CLOSE_TOO_BIG (-1009): a data frame (text, binary or
 *             continuation) announces more than max_payload bytes.  This is
 *             decided as soon as the length is read, without waiting for the
 *             payload.  max_payload does not apply to control frames.
 * A larger max_payload than WS_PAYLOAD_LIMIT counts as WS_PAYLOAD_LIMIT.
 * Lengths need not use the shortest encoding.  buf NULL with len 0 returns
 * 0; out NULL, or buf NULL with len > 0, returns -WS_CLOSE_INTERNAL.
 */
ssize_t ws_frame_parse(const unsigned char *buf, size_t len, size_t max_payload,
                       struct ws_frame *out);

/*
 * Writes the header of a server frame (never masked) carrying len payload
 * bytes into out, using the shortest length encoding (7, 16 or 64 bits).
 * fin is 0 or 1.  Returns the header's length: 2, 4 or 10.
 */
size_t ws_frame_header(unsigned char out[WS_MAX_HEADER_LEN], int fin,
                       enum ws_opcode opcode, uint64_t len);

/*
 * Masks or unmasks data[0..len) in place: byte i is XORed with key[i % 4]
 * (the same operation does both).  len 0 is a no-op.
 */
void ws_mask(unsigned char *data, size_t len, const unsigned char key[4]);

/*
 * Checks the (unmasked) payload of a close frame.  Returns 0 when it is
 * valid and sets *code: 1005 (WS_CLOSE_NO_STATUS) for an empty payload, else
 * its first two bytes (big-endian).  Otherwise returns the close code to
 * fail the connection with: 1002 for a 1-byte payload or a code that may not
 * be sent (below 1000, 1004 to 1006, 1015 to 2999, 5000 and up; 1012 to 1014
 * are allowed), 1007 when the reason (the bytes after the code) is not
 * UTF-8.  *code is then untouched.
 */
int ws_close_parse(const unsigned char *payload, size_t len, unsigned *code);

/* ---- 2. Given helpers (ws_util.c) -------------------------------------- */

/*
 * Writes base64(SHA-1(data[0..len))) and a '\0' into out (28 characters;
 * outlen must be at least 29).  OpenSSL does the work (EVP_Digest with
 * EVP_sha1, then EVP_EncodeBlock).  Returns 0, or -1 on an OpenSSL failure or
 * a too small out.
 */
int ws_sha1_base64(const void *data, size_t len, char *out, size_t outlen);

/*
 * Returns 1 when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), else 0.  len 0 is valid.
 */
int ws_utf8_valid(const unsigned char *s, size_t len);

/* A request head, read line by line.  Every string is owned by the head and
 * freed by ws_head_clear(). */
struct ws_head {
    char *method;                 /* "GET" */
    char *target;                 /* "/ws?name=ann" */
    char *version;                /* "HTTP/1.1" */
    size_t nheaders;
    struct {
        char *name;               /* as sent, e.g. "Sec-WebSocket-Key" */
        char *value;              /* spaces around it removed */
    } headers[WS_MAX_HEADERS];
    size_t bytes;                 /* bytes read so far */
};

enum ws_head_status {
    WS_HEAD_NEED_MORE = 0,        /* no empty line yet: call again later */
    WS_HEAD_DONE,                 /* the head is complete */
    WS_HEAD_TOO_BIG,              /* over WS_MAX_HEAD_BYTES or WS_MAX_HEADERS:
                                     answer 431 */
    WS_HEAD_BAD                   /* not a request line, or a malformed header
                                     line: answer 400 */
};

/*
 * Reads whole lines (CRLF or LF ends) of a request head from `in`, removing
 * them, until the empty line that ends the head; what follows it (the first
 * frames, say) stays in `in`.  Call it again with the same head each time
 * more bytes arrive: the head keeps what it has read.  It never reads more
 * than WS_MAX_HEAD_BYTES.  Header lines with the same name (any case) are
 * joined into one, their values separated by ", " (RFC 7230, 3.2.2).
 * This is not an HTTP parser: no bodies, no continuation lines (refused),
 * no absolute targets (the target must start with '/').
 */
enum ws_head_status ws_head_read(struct ws_head *head, struct evbuffer *in);

/* The value of header `name` (any case), or NULL when it is absent. */
const char *ws_head_get(const struct ws_head *head, const char *name);

/* Frees what the head holds and zeroes it.  NULL is a no-op. */
void ws_head_clear(struct ws_head *head);

/* ---- 3. The server ----------------------------------------------------- */

struct ws_server;
struct ws_conn;

/* Limits and timers of every connection of a server. */
struct ws_config {
    size_t max_message;         /* the largest message, once reassembled from
                                   its fragments; over it: close 1009 */
    size_t max_output;          /* high-water mark of a connection's output
                                   buffer: when a send leaves more than this
                                   queued (the peer reads too slowly), the
                                   connection is dropped */
    unsigned ping_interval_ms;  /* keepalive: after a silent interval the
                                   server sends a ping; after another silent
                                   one it drops the peer as dead */
    unsigned close_timeout_ms;  /* how long a closing connection, a plain HTTP
                                   reply, or a request head may take */
};

#define WS_DEFAULT_MAX_MESSAGE ((size_t)2 << 20)   /* 2 MiB */
#define WS_DEFAULT_MAX_OUTPUT ((size_t)8 << 20)    /* 8 MiB */
#define WS_DEFAULT_PING_INTERVAL_MS 20000u
#define WS_DEFAULT_CLOSE_TIMEOUT_MS 5000u

/* Fills cfg with the defaults above (given, ws_util.c). */
void ws_config_default(struct ws_config *cfg);

/* What the application receives with on_http and on_open.  The strings are
 * valid only during the callback. */
struct ws_request {
    const char *method;          /* "GET" */
    const char *path;            /* "/ws" (the target up to '?') */
    const char *query;           /* "name=ann" (after '?'), or NULL */
    const struct ws_head *head;  /* every header: ws_head_get(req->head, ...) */
};

/*
 * The application's callbacks; each receives the `arg` given to
 * ws_server_new().  No callback ever runs from inside a ws_conn_* call: they
 * all run from the event loop.  So an application may walk its own list of
 * connections and send to each without any of them being freed under it.
 */
struct ws_handlers {
    /* A request without "Upgrade: websocket" arrived.  Answer it with
     * ws_conn_http_reply() before returning (otherwise the server answers
     * 404).  NULL: every such request gets 400. */
    void (*on_http)(struct ws_conn *c, const struct ws_request *req, void *arg);
    /* The handshake succeeded: the 101 is queued and the connection is open.
     * The application may send, or close at once (to refuse a bad name). */
    void (*on_open)(struct ws_conn *c, const struct ws_request *req, void *arg);
    /* A whole message (fragments joined).  opcode is WS_OP_TEXT (valid
     * UTF-8) or WS_OP_BINARY; data[len] is '\0' (not counted in len); data
     * is valid only during the callback. */
    void (*on_message)(struct ws_conn *c, enum ws_opcode opcode,
                       const unsigned char *data, size_t len, void *arg);
    /* Called exactly once for every connection that got on_open, just before
     * it is freed: after a close handshake, a protocol error, the peer
     * vanishing, a keepalive or close timeout, or a slow reader being
     * dropped.  code is the code of the close frame received from the peer
     * (1005 when it had none), or 1006 when none was received.  c may not be
     * sent to any more; it is freed when the callback returns. */
    void (*on_close)(struct ws_conn *c, unsigned code, void *arg);
};

/*
 * Creates a server on `base` listening on addr:port (port 0: a free port,
 * see ws_server_port(); addr NULL: "127.0.0.1").  cfg NULL means the
 * defaults; cfg and handlers are copied.  Returns NULL on failure with a
 * reason in err (when err is not NULL).  Free it with ws_server_free()
 * before freeing base.
 */
struct ws_server *ws_server_new(struct event_base *base, const char *addr, int port,
                                const struct ws_config *cfg,
                                const struct ws_handlers *handlers, void *arg,
                                char *err, size_t errlen);

/* The TCP port the server listens on. */
int ws_server_port(const struct ws_server *s);

/* Connections not yet freed, in any state (handshake, open, closing). */
size_t ws_server_conn_count(const struct ws_server *s);

/*
 * Closes every connection at once (queued output is dropped, on_close is
 * NOT called) and frees the server.  NULL is a no-op.  Never call it from
 * one of the server's callbacks.
 */
void ws_server_free(struct ws_server *s);

/*
 * Queues a message (WS_OP_TEXT or WS_OP_BINARY) or a ping (WS_OP_PING, at
 * most 125 bytes) in one frame.  The caller keeps ownership of data.
 * Returns 0 when queued; -1 when the connection is not open (closing,
 * dropped, or a refused name), for another opcode or an oversized ping, or
 * when this send pushed the output buffer past max_output: the connection
 * is then dropped, and on_close comes later, from the loop.  Never calls a
 * callback and never frees anything, so it is safe inside a broadcast loop;
 * on -1, just go on with the next connection.
 */
int ws_conn_send(struct ws_conn *c, enum ws_opcode opcode, const void *data, size_t len);

/*
 * Starts the closing handshake: queues a close frame with `code` (1000 to
 * 4999, not 1004 to 1006 or 1015) and `reason` (NULL or at most 123 bytes of
 * UTF-8), then stops delivering messages.  The connection is freed later,
 * once the close frame is written and the peer has answered (or after
 * close_timeout_ms), and on_close is called then.  Returns 0, or -1 when the
 * connection is not open or the code or reason is invalid.  Never calls a
 * callback and never frees anything.
 */
int ws_conn_close(struct ws_conn *c, unsigned code, const char *reason);

/*
 * For on_http only: queues the reply "HTTP/1.1 status", with Content-Type
 * (NULL: text/plain; charset=utf-8), Content-Length and "Connection: close",
 * then the body; the connection is freed once it is written.  Returns 0, or
 * -1 when called outside on_http or twice.
 */
int ws_conn_http_reply(struct ws_conn *c, int status, const char *content_type,
                       const void *body, size_t len);

/* The application's pointer for this connection (NULL at first). */
void ws_conn_set_data(struct ws_conn *c, void *data);
void *ws_conn_get_data(const struct ws_conn *c);

#endif /* WS_H */

/*
 * chat.c - Exercise 4, the chat: users join with GET /ws?name=NAME, every
 * message goes to everyone, and everyone sees who joins and who leaves.
 *
 * YOUR FILE.  Fill in every TODO(ex04); the contract (with the JSON
 * protocol) is in chat.h, the protocol layer's in ws.h, and the guide in
 * docs/en/ex04_websocket.md.  Run `make ex04 TESTARGS='--filter ex04_chat*'`
 * once the handshake and frames suites pass.
 *
 * The plan.  The chat is four callbacks of the protocol layer (ws.h):
 *   chat_on_http     GET / gets the page, GET /ws without WebSocket 400;
 *   chat_on_open     checks the name, adds a `struct chat_user` to the list,
 *                    sends the newcomer the user list and the others "join";
 *   chat_on_message  parses the JSON (jansson) and broadcasts it;
 *   chat_on_close    removes the user and tells the others "leave".
 * The user list is a TAILQ (sys/queue.h) in the order users joined.  The
 * protocol layer never calls back from inside ws_conn_send(), and frees a
 * connection only from the loop, after chat_on_close: so broadcast() may
 * walk the list without a user disappearing under it.
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

struct chat_user {
    TAILQ_ENTRY(chat_user) link;
    struct ws_conn *conn;
    char name[CHAT_MAX_NAME + 1];
};

struct chat_server {
    struct ws_server *ws;
    TAILQ_HEAD(, chat_user) users;  /* in the order they joined */
    size_t nusers;
};

/* ---- Given: JSON out ------------------------------------------------------ */

/* Given: sends `msg` (not consumed) to one connection as a text frame.
 * Returns ws_conn_send's result, or -1 when JSON encoding fails. */
static int send_json(struct ws_conn *c, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = -1;

    if (text != NULL)
        rc = ws_conn_send(c, WS_OP_TEXT, text, strlen(text));
    free(text);
    return rc;
}

/* Given: sends {"type":"error","reason":reason} to one connection. */
static void send_error(struct ws_conn *c, const char *reason)
{
    json_t *msg = json_pack("{s:s, s:s}", "type", "error", "reason", reason);

    if (msg != NULL)
        send_json(c, msg);
    json_decref(msg);
}

/* Given: the user with that name, or NULL. */
static struct chat_user *find_user(struct chat_server *s, const char *name)
{
    struct chat_user *u;

    TAILQ_FOREACH(u, &s->users, link)
        if (strcmp(u->name, name) == 0)
            return u;
    return NULL;
}

/* ---- Your part ------------------------------------------------------------ */

int chat_name_valid(const char *name)
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (; name[n] != '\0'; n++) {
        char ch = name[n];
        if (n == CHAT_MAX_NAME ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return n > 0;
}

/* Sends `msg` (not consumed) to every user but `except` (NULL: everyone). */
static void broadcast(struct chat_server *s, const json_t *msg, const struct chat_user *except)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t len;
    struct chat_user *u;

    if (text == NULL)
        return;
    len = strlen(text);
    /* ws_conn_send never frees or calls back: a user whose send fails (a
     * slow reader being dropped) stays in the list until chat_on_close. */
    TAILQ_FOREACH(u, &s->users, link)
        if (u != except)
            ws_conn_send(u->conn, WS_OP_TEXT, text, len);
    free(text);
}

static void chat_on_http(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    static const char ws_only[] =
        "this is the chat's WebSocket endpoint: connect with a WebSocket client to "
        "/ws?name=NAME\n";
    static const char none[] = "no such page: the chat is at /\n";

    (void)arg;
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/") == 0)
        ws_conn_http_reply(c, 200, "text/html; charset=utf-8", chat_page_html,
                           strlen(chat_page_html));
    else if (strcmp(req->path, "/ws") == 0)
        ws_conn_http_reply(c, 400, NULL, ws_only, sizeof(ws_only) - 1);
    else
        ws_conn_http_reply(c, 404, NULL, none, sizeof(none) - 1);
}

/* Refuses a connection: an error event, then a close frame 1008. */
static void refuse(struct ws_conn *c, const char *reason)
{
    send_error(c, reason);
    ws_conn_close(c, WS_CLOSE_POLICY, reason);
}

static void chat_on_open(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    struct chat_server *s = arg;
    struct evkeyvalq query;
    const char *name = NULL;
    char reason[96];
    struct chat_user *u, *v;
    json_t *users = NULL, *msg = NULL;

    TAILQ_INIT(&query);
    if (strcmp(req->path, "/ws") != 0) {
        refuse(c, "unknown path: connect to /ws?name=NAME");
        goto out;
    }
    if (req->query != NULL && evhttp_parse_query_str(req->query, &query) == 0)
        name = evhttp_find_header(&query, "name");
    if (name == NULL) {
        refuse(c, "missing name: connect to /ws?name=NAME");
        goto out;
    }
    if (!chat_name_valid(name)) {
        refuse(c, "invalid name: 1 to 32 characters among A-Z a-z 0-9 _ -");
        goto out;
    }
    if (find_user(s, name) != NULL) {
        snprintf(reason, sizeof(reason), "name taken: %s", name);
        refuse(c, reason);
        goto out;
    }
    if ((u = calloc(1, sizeof(*u))) == NULL) {
        refuse(c, "server out of memory");
        goto out;
    }
    strcpy(u->name, name);
    u->conn = c;
    ws_conn_set_data(c, u);
    TAILQ_INSERT_TAIL(&s->users, u, link);
    s->nusers++;

    users = json_array();
    TAILQ_FOREACH(v, &s->users, link)
        json_array_append_new(users, json_string(v->name));
    msg = json_pack("{s:s, s:o}", "type", "users", "users", users);
    if (msg != NULL)
        send_json(c, msg);
    json_decref(msg);
    msg = json_pack("{s:s, s:s}", "type", "join", "user", u->name);
    if (msg != NULL)
        broadcast(s, msg, u);
    json_decref(msg);
out:
    evhttp_clear_headers(&query);
}

static void chat_on_message(struct ws_conn *c, enum ws_opcode opcode, const unsigned char *data,
                            size_t len, void *arg)
{
    struct chat_server *s = arg;
    struct chat_user *u = ws_conn_get_data(c);
    json_t *in = NULL, *text, *out;
    const char *type;

    if (u == NULL)
        return;                     /* refused, closing */
    if (opcode != WS_OP_TEXT) {
        send_error(c, "binary frames are not supported: send JSON text");
        return;
    }
    in = json_loadb((const char *)data, len, 0, NULL);
    if (!json_is_object(in)) {
        send_error(c, "not a JSON object");
        goto out;
    }
    type = json_string_value(json_object_get(in, "type"));
    if (type == NULL || strcmp(type, "message") != 0) {
        send_error(c, "unknown type: expected {\"type\":\"message\",\"text\":...}");
        goto out;
    }
    text = json_object_get(in, "text");
    if (!json_is_string(text)) {
        send_error(c, "\"text\" must be a string");
        goto out;
    }
    if (json_string_length(text) > CHAT_MAX_TEXT) {
        send_error(c, "text too long");
        goto out;
    }
    out = json_pack("{s:s, s:s, s:O}", "type", "message", "from", u->name, "text", text);
    if (out != NULL)
        broadcast(s, out, NULL);
    json_decref(out);
out:
    json_decref(in);
}

static void chat_on_close(struct ws_conn *c, unsigned code, void *arg)
{
    struct chat_server *s = arg;
    struct chat_user *u = ws_conn_get_data(c);
    json_t *msg;

    (void)code;
    if (u == NULL)
        return;                     /* never joined */
    ws_conn_set_data(c, NULL);
    TAILQ_REMOVE(&s->users, u, link);
    s->nusers--;
    msg = json_pack("{s:s, s:s}", "type", "leave", "user", u->name);
    if (msg != NULL)
        broadcast(s, msg, NULL);
    json_decref(msg);
    free(u);
}

/* ---- Given: the server ---------------------------------------------------- */

struct chat_server *chat_server_new(struct event_base *base, const char *addr, int port,
                                    const struct ws_config *cfg, char *err, size_t errlen)
{
    static const struct ws_handlers handlers = {
        .on_http = chat_on_http,
        .on_open = chat_on_open,
        .on_message = chat_on_message,
        .on_close = chat_on_close,
    };
    struct chat_server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    TAILQ_INIT(&s->users);
    s->ws = ws_server_new(base, addr, port, cfg, &handlers, s, err, errlen);
    if (s->ws == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

int chat_server_port(const struct chat_server *s)
{
    return s ? ws_server_port(s->ws) : -1;
}

size_t chat_server_user_count(const struct chat_server *s)
{
    return s ? s->nusers : 0;
}

void chat_server_free(struct chat_server *s)
{
    struct chat_user *u;

    if (s == NULL)
        return;
    ws_server_free(s->ws);          /* calls no callback */
    while ((u = TAILQ_FIRST(&s->users)) != NULL) {
        TAILQ_REMOVE(&s->users, u, link);
        free(u);
    }
    free(s);
}

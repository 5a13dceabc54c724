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
    /* TODO(ex04): 1 to CHAT_MAX_NAME characters among A-Z a-z 0-9 '_' '-'.  Hint:
     * NULL -> 0; walk the string, refuse any other character and a
     * (CHAT_MAX_NAME + 1)th one; an empty name is refused too. */
    (void)name;
    return 0;
}

/* Sends `msg` (not consumed) to every user but `except` (NULL: everyone). */
static void broadcast(struct chat_server *s, const json_t *msg, const struct chat_user *except)
{
    /* TODO(ex04): send msg to every user but `except`.  Hint: json_dumps(msg,
     * JSON_COMPACT) once, TAILQ_FOREACH over s->users, ws_conn_send(u->conn,
     * WS_OP_TEXT, text, strlen(text)), free(text).  When a send returns -1 go on
     * with the next user: never remove a user here (chat_on_close does, later). */
    (void)s;
    (void)msg;
    (void)except;
}

static void chat_on_http(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    /* TODO(ex04): GET / -> 200 with chat_page_html as "text/html;
     * charset=utf-8"; path "/ws" -> 400 with a reason; anything else -> 404.
     * Hint: ws_conn_http_reply(c, status, content_type, body, len). */
    (void)c;
    (void)req;
    (void)arg;
}

/* Refuses a connection: an error event, then a close frame 1008. */
static void refuse(struct ws_conn *c, const char *reason)
{
    send_error(c, reason);
    ws_conn_close(c, WS_CLOSE_POLICY, reason);
}

static void chat_on_open(struct ws_conn *c, const struct ws_request *req, void *arg)
{
    /* TODO(ex04): admit the user, or refuse them.  Hint: path must be "/ws"; the
     * name comes from req->query with evhttp_parse_query_str(req->query, &query)
     * and evhttp_find_header(&query, "name") (evhttp_clear_headers at the end);
     * missing, !chat_name_valid or find_user -> refuse(c, reason) with "missing
     * name", "invalid name" or "name taken: NAME"; else calloc a chat_user,
     * ws_conn_set_data(c, u), TAILQ_INSERT_TAIL, nusers++, send_json the
     * {"type":"users"} list to c (json_array + json_string per user), then
     * broadcast {"type":"join","user":name} to the others. */
    (void)req;
    (void)arg;
    (void)refuse;
    (void)find_user;
    (void)broadcast;
    ws_conn_close(c, WS_CLOSE_INTERNAL, "TODO(ex04): chat_on_open in chat.c");
}

static void chat_on_message(struct ws_conn *c, enum ws_opcode opcode, const unsigned char *data,
                            size_t len, void *arg)
{
    /* TODO(ex04): parse the message and broadcast it.  Hint: u == NULL (refused) ->
     * return; not WS_OP_TEXT -> send_error; json_loadb(data, len, 0, NULL) must
     * be an object with "type" "message" and a string "text" of at most
     * CHAT_MAX_TEXT bytes (json_string_length), else send_error(c, reason);
     * then json_pack("{s:s, s:s, s:O}", "type", "message", "from", u->name,
     * "text", text) and broadcast it to everyone; json_decref what you made. */
    (void)arg;
    (void)c;
    (void)opcode;
    (void)data;
    (void)len;
}

static void chat_on_close(struct ws_conn *c, unsigned code, void *arg)
{
    /* TODO(ex04): the user leaves.  Hint: u = ws_conn_get_data(c); NULL -> return
     * (never joined); ws_conn_set_data(c, NULL), TAILQ_REMOVE, nusers--,
     * broadcast {"type":"leave","user":name}, free(u).  This runs from the loop,
     * never inside a broadcast: the list may change here. */
    (void)arg;
    (void)c;
    (void)code;
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

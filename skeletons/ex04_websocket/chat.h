/*
 * chat.h - Exercise 4, the chat: a WebSocket mini-chat on top of the
 * protocol layer (ws.h).
 *
 * This header is the contract between your code (chat.c) and everything
 * else: the tests, the grader and the program ex04-server.  Do not edit it.
 *
 * Routes:
 *   GET /ws?name=NAME   WebSocket: join the chat as NAME.
 *   GET /               the chat page (HTML + JavaScript) for a browser.
 *   GET /ws without the WebSocket headers: 400; anything else: 404.
 *
 * Names: 1 to CHAT_MAX_NAME characters among A-Z a-z 0-9 '_' '-', unique
 * among connected users (compared exactly: "ann" and "Ann" are two names).
 *
 * Messages are JSON text frames (UTF-8, no binary frames).
 * Client to server:
 *   {"type":"message","text":"hello"}      text: a string of at most
 *                                          CHAT_MAX_TEXT bytes (may be empty)
 * Server to client:
 *   {"type":"users","users":["ann","bob"]} to a newcomer, first: everyone
 *                                          connected, in the order they
 *                                          joined, the newcomer last
 *   {"type":"join","user":"bob"}           to everyone else, when bob joins
 *   {"type":"leave","user":"bob"}          to everyone else, when bob leaves
 *                                          (close, error, vanished peer,
 *                                          timeout or slow reader dropped)
 *   {"type":"message","from":"ann","text":"hello"}
 *                                          to everyone, the sender included,
 *                                          in the order the server received
 *                                          them
 *   {"type":"error","reason":"..."}        to one client.  After a refused
 *                                          name it is followed by a close
 *                                          frame 1008 (WS_CLOSE_POLICY); for
 *                                          a bad message (not JSON, unknown
 *                                          type, no text, binary frame, text
 *                                          too long) the client stays.
 * Objects may carry more members later: clients ignore the ones they do not
 * know.
 */
#ifndef CHAT_H
#define CHAT_H

#include <stddef.h>

#include "ws.h"

#define CHAT_MAX_NAME 32
#define CHAT_MAX_TEXT ((size_t)1 << 20)   /* 1 MiB of UTF-8 */

struct event_base;
struct chat_server;

/*
 * Returns 1 when name is a valid user name (see above), else 0 (NULL too).
 */
int chat_name_valid(const char *name);

/*
 * Starts a chat server on `base` listening on addr:port (port 0: a free
 * port; addr NULL: "127.0.0.1"), with the protocol limits in cfg (NULL: the
 * defaults of ws_config_default()).  Returns NULL on failure with a reason
 * in err (when err is not NULL).  Free it with chat_server_free() before
 * freeing base.
 */
struct chat_server *chat_server_new(struct event_base *base, const char *addr, int port,
                                    const struct ws_config *cfg, char *err, size_t errlen);

/* The TCP port the server listens on. */
int chat_server_port(const struct chat_server *s);

/* How many users are in the chat now (joined, not yet left). */
size_t chat_server_user_count(const struct chat_server *s);

/* Closes every connection (no leave events are sent) and frees the server.
 * NULL is a no-op.  Never call it from inside the loop's callbacks. */
void chat_server_free(struct chat_server *s);

/* ---- Given (chat_page.c) ------------------------------------------------- */

/* The chat page served at GET / (a '\0'-terminated HTML document). */
extern const char chat_page_html[];

#endif /* CHAT_H */

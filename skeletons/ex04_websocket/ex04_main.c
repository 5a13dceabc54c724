/*
 * ex04_main.c - build/bin/ex04-server: the WebSocket mini-chat as a program.
 * Given code (not a TODO file): it runs your chat_server_new() on a loop
 * until SIGINT or SIGTERM.
 *
 *   build/bin/ex04-server [--port P] [--addr A]
 *
 * --port 0 (the default is 8080) picks a free port.  The first line on
 * stdout is "ex04-server: listening on http://ADDR:PORT/"; open that address
 * in a browser to chat, or connect a WebSocket client to
 * ws://ADDR:PORT/ws?name=NAME.
 */
#include "chat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: ex04-server [--port P] [--addr A]\n"
                 "Serves the chat page at http://A:P/ and the chat at ws://A:P/ws?name=NAME.\n"
                 "Defaults: --addr 127.0.0.1 --port 8080; --port 0 picks a free port.\n");
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "ex04-server: signal %d, stopping\n", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    long port = 8080;
    char err[256] = "";
    int rc = 1;
    struct event_base *base = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    struct chat_server *chat = NULL;

    for (int i = 1; i < argc; i++) {
        char *end = NULL;

        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "ex04-server: invalid port '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if ((base = event_base_new()) == NULL) {
        fprintf(stderr, "ex04-server: event_base_new failed\n");
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, "ex04-server: cannot catch signals\n");
        goto out;
    }
    chat = chat_server_new(base, addr, (int)port, NULL, err, sizeof(err));
    if (chat == NULL) {
        fprintf(stderr, "ex04-server: %s\n", err);
        goto out;
    }
    printf("ex04-server: listening on http://%s:%d/\n", addr, chat_server_port(chat));
    fflush(stdout);
    event_base_dispatch(base);
    printf("ex04-server: stopped with %zu users connected\n", chat_server_user_count(chat));
    rc = 0;
out:
    chat_server_free(chat);
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

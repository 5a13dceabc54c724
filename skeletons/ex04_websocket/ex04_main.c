/*
 * ex04_main.c - build/bin/ex04-server: the WebSocket mini-chat as a program.
 * Given code (not a TODO file): it runs your chat_server_new() on a loop
 * until SIGINT or SIGTERM, then frees everything and exits 0.
 *
 *   build/bin/ex04-server [--port P] [--addr A] [--max-message N]
 *                         [--max-output N] [--ping-interval MS]
 *                         [--close-timeout MS]
 *
 * --port 0 (the default is 8080) picks a free port.  The limits and timers
 * are those of struct ws_config (ws.h); left out, they keep the defaults of
 * ws_config_default().  The first line on stdout is "ex04-server: listening
 * on http://ADDR:PORT/"; open that address in a browser to chat, or connect
 * a WebSocket client to ws://ADDR:PORT/ws?name=NAME.  Bad arguments: a
 * message on stderr and exit status 2.
 *
 * The tests (make ex04) start this program too, with --port and the limits
 * of each test, and play its users.
 */
#include "chat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sandbox.h"

static void usage(FILE *out)
{
    struct ws_config d;

    ws_config_default(&d);
    fprintf(out, "usage: ex04-server [--port P] [--addr A] [--max-message N] [--max-output N]\n"
                 "                   [--ping-interval MS] [--close-timeout MS]\n"
                 "Serves the chat page at http://A:P/ and the chat at ws://A:P/ws?name=NAME.\n"
                 "Defaults: --addr 127.0.0.1 --port 8080 (0 picks a free port) --max-message %zu\n"
                 "--max-output %zu --ping-interval %u --close-timeout %u\n",
            d.max_message, d.max_output, d.ping_interval_ms, d.close_timeout_ms);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "ex04-server: signal %d, stopping\n", (int)sig);
    event_base_loopexit(arg, NULL);
}

/* Reads a decimal number from min to max.  Returns 0, or -1 with a
 * message. */
static int parse_number(const char *opt, const char *s, unsigned long long min,
                        unsigned long long max, unsigned long long *out)
{
    char *end = NULL;

    if (s[0] >= '0' && s[0] <= '9') {
        *out = strtoull(s, &end, 10);
        if (*end == '\0' && *out >= min && *out <= max)
            return 0;
    }
    fprintf(stderr, "ex04-server: %s takes a number from %llu to %llu, not '%s'\n", opt, min,
            max, s);
    return -1;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    unsigned long long port = 8080, v;
    char err[256] = "";
    int rc = 1;
    struct event_base *base = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    struct chat_server *chat = NULL;
    struct ws_config cfg;

    ws_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (val == NULL) {
            fprintf(stderr, "ex04-server: %s: unknown option, or its value is missing\n", opt);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(opt, "--addr") == 0) {
            addr = val;
        } else if (strcmp(opt, "--port") == 0) {
            if (parse_number(opt, val, 0, 65535, &port) < 0)
                return 2;
        } else if (strcmp(opt, "--max-message") == 0) {
            if (parse_number(opt, val, 1, (unsigned long long)1 << 40, &v) < 0)
                return 2;
            cfg.max_message = (size_t)v;
        } else if (strcmp(opt, "--max-output") == 0) {
            if (parse_number(opt, val, 1, (unsigned long long)1 << 40, &v) < 0)
                return 2;
            cfg.max_output = (size_t)v;
        } else if (strcmp(opt, "--ping-interval") == 0) {
            if (parse_number(opt, val, 1, 3600000, &v) < 0)
                return 2;
            cfg.ping_interval_ms = (unsigned)v;
        } else if (strcmp(opt, "--close-timeout") == 0) {
            if (parse_number(opt, val, 1, 3600000, &v) < 0)
                return 2;
            cfg.close_timeout_ms = (unsigned)v;
        } else {
            fprintf(stderr, "ex04-server: unknown option %s\n", opt);
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* Line by line even into a file (the tests keep a log of it): your
     * prints are there even when the server has to be killed. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The code under test may not start other programs (see
     * harness/common/sandbox.h); by hand, this changes nothing else. */
    wb_sandbox_enter_or_die();
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
    chat = chat_server_new(base, addr, (int)port, &cfg, err, sizeof(err));
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
    libevent_global_shutdown();
    return rc;
}

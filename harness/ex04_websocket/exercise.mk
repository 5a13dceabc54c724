# Exercise 4: a WebSocket mini-chat (see the Makefile for the keys).
EXERCISES  += ex04
ex04_DIR    := ex04_websocket
ex04_TODO   := ws.c chat.c
ex04_GIVEN  := ws_util.c chat_page.c
ex04_MAIN   := ex04_main.c
ex04_PROG   := ex04-server
ex04_TESTS  := harness/ex04_websocket/test_ex04.c
ex04_BENCH  := harness/ex04_websocket/bench_ex04.c
ex04_COMMON := harness/common/ws_client.c
ex04_PKGS   := libevent jansson libcrypto

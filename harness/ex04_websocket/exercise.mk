# Exercise 4: a WebSocket mini-chat (see the Makefile for the keys).
#   subject-ex04  the protocol-layer tests' subject: an echo server over ws.c
#                 alone (not chat.c), with a job channel for the unit jobs
#   ex04-server   the chat program, the chat tests' subject
EXERCISES     += ex04
ex04_DIR      := ex04_websocket
ex04_TODO     := ws.c chat.c
ex04_GIVEN    := ws_util.c
ex04_PROGS    := ex04-server subject-ex04
ex04_SUBJECTS := subject-ex04 ex04-server
ex04-server_SRC   := skeletons/ex04_websocket/ex04_main.c skeletons/ex04_websocket/chat_page.c \
                     harness/common/sandbox.c
subject-ex04_SRC  := harness/ex04_websocket/subject_ex04.c $(SUBJECT_IO)
subject-ex04_TODO := ws.c
ex04_TESTS    := harness/ex04_websocket/test_ex04.c
ex04_BENCH    := harness/ex04_websocket/bench_ex04.c
ex04_JUDGE    := harness/common/ws_client.c
ex04_PKGS     := libevent jansson libcrypto
ex04_JPKGS    := libcrypto

# Exercise 3: an HTTP endpoint with an outbox, background delivery, timers
# and a worker thread (see the Makefile for the keys).
EXERCISES   += ex03
ex03_DIR    := ex03_background
ex03_TODO   := ex03.c
ex03_GIVEN  := ex03_server.c ex03_db.c ex03_http.c
ex03_MAIN   := ex03_main.c
ex03_PROG   := ex03-server
ex03_TESTS  := harness/ex03_background/test_ex03.c
ex03_BENCH  := harness/ex03_background/bench_ex03.c
ex03_COMMON := harness/common/notify_sink.c harness/common/test_client.c
ex03_PKGS   := libevent libevent_pthreads jansson sqlite3

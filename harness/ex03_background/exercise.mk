# Exercise 3: an HTTP endpoint with an outbox, background delivery, timers
# and a worker thread (see the Makefile for the keys).  The subject is the
# student's server itself: the judge starts build/bin/ex03-server, plays its
# clients and its notification receiver, and reads its database file.
EXERCISES       += ex03
ex03_DIR        := ex03_background
ex03_TODO       := ex03.c
ex03_GIVEN      := ex03_server.c ex03_db.c ex03_http.c
ex03_PROGS      := ex03-server
ex03_SUBJECTS   := ex03-server
ex03-server_SRC := skeletons/ex03_background/ex03_main.c harness/common/sandbox.c
ex03_TESTS      := harness/ex03_background/test_ex03.c
ex03_BENCH      := harness/ex03_background/bench_ex03.c
ex03_JUDGE      := harness/common/notify_sink.c harness/common/test_client.c
ex03_PKGS       := libevent libevent_pthreads jansson sqlite3
ex03_JPKGS      := sqlite3

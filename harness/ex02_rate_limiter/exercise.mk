# Exercise 2: a rate limiter (see the Makefile for the keys).
EXERCISES     += ex02
ex02_DIR      := ex02_rate_limiter
ex02_TODO     := ex02.c
ex02_GIVEN    := ex02_http.c
ex02_PROGS    := ex02 subject-ex02
ex02_SUBJECTS := subject-ex02
ex02_SRC            := skeletons/ex02_rate_limiter/ex02_main.c harness/common/fixture_server.c
subject-ex02_SRC    := harness/ex02_rate_limiter/subject_ex02.c $(SUBJECT_IO)
ex02_TESTS    := harness/ex02_rate_limiter/test_ex02.c
ex02_BENCH    := harness/ex02_rate_limiter/bench_ex02.c
ex02_PKGS     := libevent jansson

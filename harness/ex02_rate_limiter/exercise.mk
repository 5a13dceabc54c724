# Exercise 2: a rate limiter (see the Makefile for the keys).
EXERCISES  += ex02
ex02_DIR   := ex02_rate_limiter
ex02_TODO  := ex02.c
ex02_GIVEN := ex02_http.c
ex02_MAIN  := ex02_main.c
ex02_TESTS := harness/ex02_rate_limiter/test_ex02.c
ex02_BENCH := harness/ex02_rate_limiter/bench_ex02.c
ex02_PKGS  := libevent

# Exercise 1: sequential vs concurrent fetch (see the Makefile for the keys).
EXERCISES  += ex01
ex01_DIR   := ex01_comparison
ex01_TODO  := ex01.c
ex01_GIVEN := ex01_util.c
ex01_MAIN  := ex01_main.c
ex01_TESTS := harness/ex01_comparison/test_ex01.c
ex01_BENCH := harness/ex01_comparison/bench_ex01.c
ex01_PKGS  := libevent

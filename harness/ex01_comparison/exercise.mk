# Exercise 1: sequential vs concurrent fetch (see the Makefile for the keys).
EXERCISES     += ex01
ex01_DIR      := ex01_comparison
ex01_TODO     := ex01.c
ex01_GIVEN    := ex01_util.c
ex01_PROGS    := ex01 subject-ex01
ex01_SUBJECTS := subject-ex01
ex01_SRC            := skeletons/ex01_comparison/ex01_main.c harness/common/fixture_server.c
subject-ex01_SRC    := harness/ex01_comparison/subject_ex01.c $(SUBJECT_IO)
ex01_TESTS    := harness/ex01_comparison/test_ex01.c
ex01_BENCH    := harness/ex01_comparison/bench_ex01.c
ex01_PKGS     := libevent jansson

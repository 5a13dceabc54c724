/* wrap-end.c - follows the reference solution (see wrap-begin.c). */
#undef ex01_fetch_sequential
#undef ex01_fetch_concurrent

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ex01_fetch_sequential(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[]);
int ex01_fetch_concurrent(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[]);

/* The arguments of a driver, to pass them on. */
#define ARGS struct event_base *base, struct evdns_base *dns, \
             const char *const urls[], size_t n, unsigned timeout_ms, \
             struct ex01_result results[]
#define PASS base, dns, urls, n, timeout_ms, results

/*
 * wrap-begin.c - run-selftest.sh builds each case's ex01.c as
 *     wrap-begin.c + solutions/ex01_comparison/ex01.c + wrap-end.c + CASE.c
 * so that a case is a few lines around the reference solution: here the
 * reference's two drivers become the static functions ref_fetch_sequential
 * and ref_fetch_concurrent (a static declaration before a plain one gives
 * the function internal linkage), and CASE.c defines the real drivers.
 * Words between @ signs in CASE.c (@ROOT@, @OUT@, ...) are replaced with
 * the run's values (see make_case in run-selftest.sh).  The file has no
 * #line directive: the static check rejects those.
 */
#include <stddef.h>

struct event_base;
struct evdns_base;
struct ex01_result;

static int ref_fetch_sequential(struct event_base *, struct evdns_base *,
                                const char *const *, size_t, unsigned,
                                struct ex01_result *);
static int ref_fetch_concurrent(struct event_base *, struct evdns_base *,
                                const char *const *, size_t, unsigned,
                                struct ex01_result *);
#define ex01_fetch_sequential ref_fetch_sequential
#define ex01_fetch_concurrent ref_fetch_concurrent

/*
 * ex01.h - Exercise 1: fetch URLs one after another, then all at once.
 *
 * This header is the contract between your code (ex01.c) and everything
 * else: the tests, the grader and the ex01 program.  Do not edit it.
 *
 * The two functions below are the C counterparts of
 *
 *     for url in urls:                      # ex01_fetch_sequential
 *         results.append(await fetch(url))
 *
 *     results = await asyncio.gather(*(fetch(u) for u in urls))
 *                                           # ex01_fetch_concurrent
 *
 * Both run the caller's event loop until every URL has an outcome, then
 * return.  Read docs/en/ex01_comparison.md (or docs/fr/) first.
 */
#ifndef EX01_H
#define EX01_H

#include <stddef.h>

struct event_base;
struct evdns_base;

/* Used when the caller passes timeout_ms == 0. */
#define EX01_DEFAULT_TIMEOUT_MS 5000u
/* The largest timeout accepted. */
#define EX01_MAX_TIMEOUT_MS 600000u

/* How the fetch of one URL ended. */
enum ex01_outcome {
    EX01_NOT_RUN = 0,    /* no outcome recorded: the fetch never ended */
    EX01_OK,             /* a complete HTTP response arrived, whatever its
                            status (a 404 is an OK fetch: see http_status) */
    EX01_ERR_URL,        /* not an absolute http:// URL with a host;
                            nothing was sent */
    EX01_ERR_CONNECTION, /* refused, reset, closed before the response
                            was complete, or not HTTP */
    EX01_ERR_TIMEOUT,    /* connecting, or waiting for the next bytes of
                            the response, took longer than the timeout */
    EX01_ERR_INTERNAL    /* out of memory, or libevent refused a call */
};

/* The result of fetching urls[i] is results[i], whatever the order in which
 * the fetches ended. */
struct ex01_result {
    const char *url;          /* urls[i] itself (borrowed, not copied) */
    enum ex01_outcome outcome;
    int http_status;          /* 200, 404, ...; 0 unless outcome == EX01_OK */
    char *body;               /* a malloc'd copy of the response body with a
                                 '\0' added after it; NULL unless EX01_OK.
                                 Freed by ex01_results_free(). */
    size_t body_len;          /* bytes in body, not counting the '\0' */
    double elapsed_ms;        /* from this URL's start to its outcome,
                                 measured with ex01_now_ms() */
};

/*
 * Fetches urls[0..n-1] with HTTP GET one after another: the request for
 * urls[i + 1] starts only after urls[i] has its outcome.  A failed URL does
 * not stop the others.
 *
 * base     the event loop to run; the function runs it until every URL has
 *          an outcome, and leaves any other events on it (a server the
 *          caller runs on the same loop, say) registered and untouched.
 * dns      resolver for host names, or NULL (names then resolve with a
 *          blocking lookup; IP addresses never need one).
 * urls     n URLs; each must stay valid while results are used.
 * timeout_ms  per request: how long connecting, and each wait for more of
 *          the response, may take.  0 means EX01_DEFAULT_TIMEOUT_MS.
 * results  n entries, written by the function whatever they held before;
 *          the caller owns the array and frees what the entries point to
 *          with ex01_results_free().
 *
 * Returns 0 when every URL has an outcome (even if all of them failed).
 * Returns -1, having written nothing, when base is NULL, urls or results
 * is NULL while n > 0, a URL is NULL, or timeout_ms > EX01_MAX_TIMEOUT_MS.
 * n == 0 returns 0 at once without running the loop.
 */
int ex01_fetch_sequential(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[]);

/*
 * Same contract as ex01_fetch_sequential(), but every request starts before
 * the loop first runs, so all of them are in flight at once and the whole
 * call takes about as long as the slowest URL, not the sum of them.
 * Each request uses a connection of its own.
 */
int ex01_fetch_concurrent(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[]);

/* ---- Given (ex01_util.c): you do not write these. ---------------------- */

/* Frees the bodies of results[0..n-1] and sets every entry back to zero
 * (EX01_NOT_RUN).  NULL results is a no-op. */
void ex01_results_free(struct ex01_result results[], size_t n);

/* A constant name for an outcome, e.g. "EX01_ERR_TIMEOUT"; "unknown" for a
 * value outside the enum. */
const char *ex01_outcome_name(enum ex01_outcome outcome);

/* Milliseconds on a monotonic clock, from an arbitrary origin. */
double ex01_now_ms(void);

#endif /* EX01_H */

/*
 * judge.h - the Criterion side of subject.h: start a subject, give it jobs,
 * stop it, and fail the test with a message a student can act on when the
 * subject does not start, does not answer in time, crashes, or does not
 * stop cleanly.
 *
 * Every function here fails the current test (cr_assert) rather than
 * returning an error.  Every subject started with judge_start() is freed by
 * judge_cleanup(), which each suite's .fini calls.
 *
 * Messages end with how to rerun the test alone, and under valgrind or gdb
 * (docs/en/grading.md#debugging-a-failing-test).
 */
#ifndef WB_JUDGE_H
#define WB_JUDGE_H

#include <jansson.h>

#include "subject.h"

struct event_base;

/* A subject program and its arguments (NULL-terminated, may be NULL). */
struct subj *judge_start(struct event_base *base, const char *program,
                         const char *const *args);

/* The same, with every field of spec (reference, scratch, bind_port). */
struct subj *judge_start_spec(struct event_base *base, const struct subj_spec *spec);

/*
 * Gives job (stolen: the function drops it) an "id", sends it, runs base
 * until the answer comes, and returns the answer (the caller decrefs it).
 * `what` names the call in messages ("ex01_fetch_concurrent of 10 URLs"),
 * `hint` is appended to them (the TODO and the guide).  Fails the test when
 * no answer comes within timeout_ms, or when the subject ends.
 */
json_t *judge_call(struct subj *s, json_t *job, double timeout_ms, const char *what,
                   const char *hint);

/* Sends a job (stolen) without waiting; returns the id it was given. */
json_int_t judge_send(struct subj *s, json_t *job);

/*
 * Waits for the answer to the job with this id (as judge_call()).
 */
json_t *judge_answer(struct subj *s, json_int_t id, double timeout_ms, const char *what,
                     const char *hint);

/*
 * Fails the test for a job that got no answer within waited_ms (a caller
 * that waits in slices, checking other things meanwhile, calls this at the
 * end), or for a subject that ended meanwhile (then the message says how).
 */
void judge_no_answer(struct subj *s, double waited_ms, const char *what, const char *hint);

/*
 * Stops the subject (job channel closed, SIGTERM, grace_ms, SIGKILL) and
 * fails the test unless it exited with status 0: a crash, a sanitizer's
 * report (the first error, with its place in the student's files) or a
 * hang at exit.
 */
void judge_stop(struct subj *s, double grace_ms, const char *what, const char *hint);

/* Frees every subject judge_start() made (for the suites' .fini). */
void judge_cleanup(void);

/* "make ex01 TEST=suite::test" for the current test, in a static buffer. */
const char *judge_rerun(void);

/* The subject's output, shaped for a failure message ("" when empty):
 * "\n  its output (last lines):\n  | ...". Static buffer. */
const char *judge_output(struct subj *s);

/* A JSON field's value, with a test failure when it is missing or has the
 * wrong type ("answer of ...: expected an integer \"rc\""). */
json_int_t judge_int(const json_t *obj, const char *key, const char *what);
double judge_num(const json_t *obj, const char *key, const char *what);
const char *judge_str(const json_t *obj, const char *key, const char *what);
json_t *judge_array(const json_t *obj, const char *key, size_t n, const char *what);

/* A random 64-bit token for this test (from getrandom), as 16 hex digits in
 * a static buffer: inputs the subject cannot have known in advance. */
const char *judge_token(void);
unsigned long long judge_random(void);

#endif /* WB_JUDGE_H */

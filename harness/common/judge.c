/*
 * judge.c - Criterion helpers around subject.h (see judge.h).
 */
#include "judge.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define JUDGE_MAX_SUBJECTS 64
#define JUDGE_OUTPUT_BYTES 1500

static struct subj *judge_subjects[JUDGE_MAX_SUBJECTS];
static size_t judge_nsubjects;
static json_int_t judge_next_id = 1;

const char *judge_rerun(void)
{
    static char buf[512];
    const char *suite = criterion_current_test ? criterion_current_test->category : NULL;
    const char *name = criterion_current_test ? criterion_current_test->name : NULL;
    char ex[16] = "";

    if (suite == NULL || name == NULL)
        return "";
    snprintf(ex, sizeof(ex), "%.*s", (int)strcspn(suite, "_"), suite);
    snprintf(buf, sizeof(buf), "\n  rerun it alone: make %s TEST=%s::%s (under valgrind or gdb: "
             "docs/en/grading.md#debugging-a-failing-test)", ex, suite, name);
    return buf;
}

const char *judge_output(struct subj *s)
{
    static char buf[JUDGE_OUTPUT_BYTES * 2 + 128];
    const char *out = subj_output(s, JUDGE_OUTPUT_BYTES);
    size_t o = 0;

    buf[0] = '\0';
    if (out[0] == '\0')
        return buf;
    o += (size_t)snprintf(buf, sizeof(buf), "\n  its output (last lines):");
    while (*out != '\0' && o + 8 < sizeof(buf)) {
        size_t k = strcspn(out, "\n");
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\n  | %.*s", (int)k, out);
        out += k + (out[k] == '\n');
    }
    return buf;
}

struct subj *judge_start_spec(struct event_base *base, const struct subj_spec *spec)
{
    char err[SUBJ_ERR_LEN] = "";
    struct subj *s;

    cr_assert_lt(judge_nsubjects, JUDGE_MAX_SUBJECTS, "test bug: too many subjects");
    s = subj_start(base, spec, err, sizeof(err));
    cr_assert_not_null(s, "cannot start %s: %s", spec->program, err);
    judge_subjects[judge_nsubjects++] = s;
    return s;
}

struct subj *judge_start(struct event_base *base, const char *program, const char *const *args)
{
    struct subj_spec spec = { .program = program, .args = args, .channel = 1 };

    return judge_start_spec(base, &spec);
}

void judge_cleanup(void)
{
    for (size_t i = 0; i < judge_nsubjects; i++)
        subj_free(judge_subjects[i]);
    judge_nsubjects = 0;
}

json_int_t judge_send(struct subj *s, json_t *job)
{
    json_int_t id = judge_next_id++;

    cr_assert_not_null(job, "test bug: no job (out of memory?)");
    json_object_set_new(job, "id", json_integer(id));
    cr_assert_eq(subj_send(s, job), 0, "cannot send a job to the subject: %s%s%s",
                 subj_error(s), judge_output(s), judge_rerun());
    json_decref(job);
    return id;
}

/* Is this stack frame line (" #4 0x... in fetch_start /path/ex01.c:123")
 * in one of the student's files: a name of WB_TODO_FILES (the grader sets
 * it), else anything under skeletons/ or solutions/? */
static int judge_frame_is_students(const char *line, size_t len)
{
    const char *todo = getenv("WB_TODO_FILES");
    char name[128];

    if (todo == NULL || todo[0] == '\0') {
        for (size_t i = 0; i + 10 <= len; i++)
            if (memcmp(line + i, "skeletons/", 10) == 0 || memcmp(line + i, "solutions/", 10) == 0)
                return 1;
        return 0;
    }
    while (*todo != '\0') {
        size_t k = strcspn(todo, " ");
        if (k > 0 && k + 2 < sizeof(name)) {
            snprintf(name, sizeof(name), "/%.*s:", (int)k, todo);
            size_t n = strlen(name);
            for (size_t i = 0; i + n <= len; i++)
                if (memcmp(line + i, name, n) == 0)
                    return 1;
        }
        todo += k + (todo[k] == ' ');
    }
    return 0;
}

/* Sanitizer reports: the first error line and the first frame in the
 * student's files, for the failure message. */
static void judge_sanitizer_summary(struct subj *s, char *buf, size_t len)
{
    const char *out = subj_output(s, 64 * 1024);
    const char *err = strstr(out, "ERROR: AddressSanitizer");
    const char *frame = NULL;

    if (err == NULL)
        err = strstr(out, "ERROR: LeakSanitizer");
    if (err == NULL)
        err = strstr(out, "runtime error:");
    buf[0] = '\0';
    if (err == NULL)
        return;
    /* The first stack frame after it that is in the student's code. */
    for (const char *p = err; *p != '\0'; ) {
        size_t n = strcspn(p, "\n");
        const char *in = strstr(p, " in ");
        if (in != NULL && in < p + n && judge_frame_is_students(p, n)) {
            frame = in + 4;
            break;
        }
        p += n + (p[n] == '\n');
    }
    snprintf(buf, len, "\n  %.*s%s%.*s%s", (int)strcspn(err, "\n"), err,
             frame ? "\n  first place in your code: " : "",
             frame ? (int)strcspn(frame, "\n") : 0, frame ? frame : "",
             strstr(err, "LeakSanitizer") != NULL
                 ? "\n  (memory allocated there is never freed: who frees it, and when? "
                   "docs/en/course.md#create_task-as-fire-and-forget-who-frees-it)"
                 : "");
}

json_t *judge_answer(struct subj *s, json_int_t id, double timeout_ms, const char *what,
                     const char *hint)
{
    int timed_out = 0;
    json_t *answer = subj_call_wait(s, id, timeout_ms, &timed_out);
    char san[600];

    if (answer != NULL)
        return answer;
    if (timed_out)
        cr_assert_fail("%s: no answer within %.0f ms: your code did not return (is it still a TODO, or "
                "does it wait for an event that never comes?)%s%s%s", what,
                timeout_ms * subj_time_scale(), hint ? hint : "", judge_output(s), judge_rerun());
    judge_sanitizer_summary(s, san, sizeof(san));
    cr_assert_fail("%s: %s%s%s%s%s", what, subj_error(s), san, hint ? hint : "", judge_output(s),
            judge_rerun());
    return NULL;
}

void judge_no_answer(struct subj *s, double waited_ms, const char *what, const char *hint)
{
    char san[600];

    if (subj_exit_status(s) == NULL && subj_error(s)[0] == '\0')
        cr_assert_fail("%s: no answer within %.0f ms: your code did not return (is it still a "
                       "TODO, or does it wait for an event that never comes?)%s%s%s", what,
                       waited_ms, hint ? hint : "", judge_output(s), judge_rerun());
    judge_sanitizer_summary(s, san, sizeof(san));
    cr_assert_fail("%s: %s%s%s%s%s", what, subj_error(s)[0] ? subj_error(s) : "the subject ended",
                   san, hint ? hint : "", judge_output(s), judge_rerun());
}

json_t *judge_call(struct subj *s, json_t *job, double timeout_ms, const char *what,
                   const char *hint)
{
    json_int_t id = judge_send(s, job);

    return judge_answer(s, id, timeout_ms, what, hint);
}

void judge_stop(struct subj *s, double grace_ms, const char *what, const char *hint)
{
    struct subj_exit e;
    char how[200], san[600];

    subj_stop(s, grace_ms, &e);
    if (e.exited && e.status == 0)
        return;
    subj_exit_describe(&e, how, sizeof(how));
    judge_sanitizer_summary(s, san, sizeof(san));
    cr_assert_fail("%s: when asked to stop, the subject %s instead of exiting with status 0%s%s%s%s",
            what, how, san, hint ? hint : "", judge_output(s), judge_rerun());
}

json_int_t judge_int(const json_t *obj, const char *key, const char *what)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_integer(v), "%s: the subject's answer lacks an integer \"%s\"", what, key);
    return json_integer_value(v);
}

double judge_num(const json_t *obj, const char *key, const char *what)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_number(v), "%s: the subject's answer lacks a number \"%s\"", what, key);
    return json_number_value(v);
}

const char *judge_str(const json_t *obj, const char *key, const char *what)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_string(v), "%s: the subject's answer lacks a string \"%s\"", what, key);
    return json_string_value(v);
}

json_t *judge_array(const json_t *obj, const char *key, size_t n, const char *what)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_array(v), "%s: the subject's answer lacks an array \"%s\"", what, key);
    cr_assert_eq(json_array_size(v), n, "%s: \"%s\" has %zu entries; expected %zu", what, key,
                 json_array_size(v), n);
    return v;
}

unsigned long long judge_random(void)
{
    unsigned long long v = 0;

    cr_assert_eq(getrandom(&v, sizeof(v), 0), (ssize_t)sizeof(v), "getrandom failed");
    return v;
}

const char *judge_token(void)
{
    static char buf[4][20];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%016llx", judge_random());
    return buf[k];
}

/*
 * rubric.c - exercise discovery and strict rubric.json validation.
 *
 * The validator is table driven: each JSON object lists its allowed keys,
 * and each key is read with a typed getter. Adding a key ("groups",
 * "timing", ...) means adding it to the table and reading it in
 * rubric_parse_top or rubric_parse_test.
 */
#include "rubric.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const rubric_top_keys[] = {
    "exercise", "title", "timeout_s", "jobs", "tests", NULL
};

static const char *const rubric_test_keys[] = {
    "suite", "test", "points", "title", "hint", NULL
};

/* Formats an error message into err (truncated to RUBRIC_ERR_LEN bytes). */
static void rubric_seterr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, RUBRIC_ERR_LEN, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Discovery                                                           */
/* ------------------------------------------------------------------ */

static int rubric_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns 1 when DIR/NAME/rubric.json is a regular file. */
static int rubric_has_file(const char *harness, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/%s/rubric.json", harness, name);

    if (n < 0 || (size_t)n >= sizeof(path))
        return 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int rubric_push_name(char ***names, size_t *count, const char *name)
{
    char **grown = NULL;
    char *copy = strdup(name);

    if (copy == NULL)
        return -1;
    grown = realloc(*names, (*count + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(copy);
        return -1;
    }
    grown[(*count)++] = copy;
    *names = grown;
    return 0;
}

int rubric_discover(const char *root, char ***names, size_t *count,
                    char err[RUBRIC_ERR_LEN])
{
    char harness[PATH_MAX];
    DIR *dir = NULL;
    struct dirent *de;
    int n;

    *names = NULL;
    *count = 0;
    n = snprintf(harness, sizeof(harness), "%s/harness", root);
    if (n < 0 || (size_t)n >= sizeof(harness)) {
        rubric_seterr(err, "root path is too long");
        goto err;
    }
    dir = opendir(harness);
    if (dir == NULL) {
        rubric_seterr(err, "cannot open %s: %s (is --root right?)",
                      harness, strerror(errno));
        goto err;
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || !rubric_has_file(harness, de->d_name))
            continue;
        if (rubric_push_name(names, count, de->d_name) < 0) {
            rubric_seterr(err, "out of memory");
            goto err;
        }
    }
    closedir(dir);
    dir = NULL;
    if (*count == 0) {
        rubric_seterr(err, "no exercise found: %s has no */rubric.json",
                      harness);
        goto err;
    }
    qsort(*names, *count, sizeof(**names), rubric_cmp_names);
    return 0;

err:
    if (dir != NULL)
        closedir(dir);
    rubric_free_names(*names, *count);
    *names = NULL;
    *count = 0;
    return -1;
}

void rubric_free_names(char **names, size_t count)
{
    size_t i;

    if (names == NULL)
        return;
    for (i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

void rubric_short_id(const char *exdir, char *out, size_t outlen)
{
    size_t len = strcspn(exdir, "_");

    if (outlen == 0)
        return;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, exdir, len);
    out[len] = '\0';
}

/* ------------------------------------------------------------------ */
/* Typed getters                                                       */
/* ------------------------------------------------------------------ */

/* Context of a validation error: file and location inside it. */
struct rubric_ctx {
    const char *path;
    char where[32];
    char *err;
};

static int rubric_fail(struct rubric_ctx *ctx, const char *what,
                       const char *key)
{
    rubric_seterr(ctx->err, "%s: %s: %s \"%s\"", ctx->path,
                  ctx->where, what, key);
    return -1;
}

static int rubric_check_keys(struct rubric_ctx *ctx, json_t *obj,
                             const char *const *allowed)
{
    const char *key;
    json_t *value;
    size_t i;

    if (!json_is_object(obj)) {
        rubric_seterr(ctx->err, "%s: %s: expected a JSON object",
                      ctx->path, ctx->where);
        return -1;
    }
    json_object_foreach(obj, key, value) {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL)
            return rubric_fail(ctx, "unknown key", key);
    }
    return 0;
}

/*
 * Copies the non-empty string obj[key] into *out (malloc'd). An absent key
 * leaves *out NULL and is an error only when required is set.
 */
static int rubric_get_string(struct rubric_ctx *ctx, json_t *obj,
                             const char *key, int required, char **out)
{
    json_t *value = json_object_get(obj, key);

    *out = NULL;
    if (value == NULL)
        return required ? rubric_fail(ctx, "missing key", key) : 0;
    if (!json_is_string(value) || json_string_length(value) == 0)
        return rubric_fail(ctx, "expected a non-empty string for", key);
    *out = strdup(json_string_value(value));
    if (*out == NULL)
        return rubric_fail(ctx, "out of memory reading", key);
    return 0;
}

/*
 * Reads the integer obj[key] into *out; it must lie in [min, max]. An
 * absent key stores def when def >= 0 and is an error when def < 0.
 */
static int rubric_get_int(struct rubric_ctx *ctx, json_t *obj, const char *key,
                          json_int_t min, json_int_t max, int def, int *out)
{
    json_t *value = json_object_get(obj, key);
    json_int_t v;

    if (value == NULL) {
        if (def < 0)
            return rubric_fail(ctx, "missing key", key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(value))
        return rubric_fail(ctx, "expected an integer for", key);
    v = json_integer_value(value);
    if (v < min || v > max) {
        rubric_seterr(ctx->err, "%s: %s: \"%s\" must be between %"
                      JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT
                      ", got %" JSON_INTEGER_FORMAT, ctx->path, ctx->where,
                      key, min, max, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rubric parsing                                                      */
/* ------------------------------------------------------------------ */

static int rubric_parse_test(struct rubric_ctx *ctx, json_t *obj,
                             struct rubric_test *t)
{
    if (rubric_check_keys(ctx, obj, rubric_test_keys) < 0 ||
        rubric_get_string(ctx, obj, "suite", 1, &t->suite) < 0 ||
        rubric_get_string(ctx, obj, "test", 1, &t->test) < 0 ||
        rubric_get_string(ctx, obj, "title", 1, &t->title) < 0 ||
        rubric_get_string(ctx, obj, "hint", 0, &t->hint) < 0 ||
        rubric_get_int(ctx, obj, "points", 0, RUBRIC_MAX_POINTS, -1,
                       &t->points) < 0)
        return -1;
    return 0;
}

static int rubric_parse_tests(struct rubric_ctx *ctx, json_t *arr,
                              struct rubric *r)
{
    size_t i;

    if (arr == NULL)
        return rubric_fail(ctx, "missing key", "tests");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return rubric_fail(ctx, "expected a non-empty array for", "tests");
    r->tests = calloc(json_array_size(arr), sizeof(*r->tests));
    if (r->tests == NULL)
        return rubric_fail(ctx, "out of memory reading", "tests");
    for (i = 0; i < json_array_size(arr); i++) {
        snprintf(ctx->where, sizeof(ctx->where), "tests[%zu]", i);
        r->ntests = i + 1; /* so rubric_free releases partial entries */
        if (rubric_parse_test(ctx, json_array_get(arr, i), &r->tests[i]) < 0)
            return -1;
        if (rubric_find_test(r, r->tests[i].suite, r->tests[i].test) !=
            (long)i)
            return rubric_fail(ctx, "duplicate test", r->tests[i].test);
        r->max_score += r->tests[i].points;
    }
    return 0;
}

static int rubric_parse_top(struct rubric_ctx *ctx, json_t *root,
                            struct rubric *r)
{
    snprintf(ctx->where, sizeof(ctx->where), "top level");
    if (rubric_check_keys(ctx, root, rubric_top_keys) < 0 ||
        rubric_get_string(ctx, root, "title", 1, &r->title) < 0 ||
        rubric_get_int(ctx, root, "timeout_s", 1, RUBRIC_MAX_TIMEOUT_S,
                       RUBRIC_DEFAULT_TIMEOUT_S, &r->timeout_s) < 0 ||
        rubric_get_int(ctx, root, "jobs", 1, RUBRIC_MAX_JOBS,
                       RUBRIC_DEFAULT_JOBS, &r->jobs) < 0)
        return -1;
    if (rubric_get_string(ctx, root, "exercise", 1, &r->exdir) < 0)
        return -1;
    return rubric_parse_tests(ctx, json_object_get(root, "tests"), r);
}

static int rubric_check_exdir(struct rubric_ctx *ctx, const struct rubric *r,
                              const char *exdir)
{
    if (strcmp(r->exdir, exdir) == 0)
        return 0;
    rubric_seterr(ctx->err,
                  "%s: \"exercise\" is \"%s\" but the directory is \"%s\"",
                  ctx->path, r->exdir, exdir);
    return -1;
}

int rubric_load(const char *root, const char *exdir, struct rubric **out,
                char err[RUBRIC_ERR_LEN])
{
    char path[PATH_MAX];
    char id[64];
    struct rubric_ctx ctx = { path, "", err };
    struct rubric *r = NULL;
    json_t *json = NULL;
    json_error_t jerr;
    int n;

    *out = NULL;
    n = snprintf(path, sizeof(path), "%s/harness/%s/rubric.json", root, exdir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        rubric_seterr(err, "rubric path for %s is too long", exdir);
        goto err;
    }
    json = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (json == NULL) {
        rubric_seterr(err, "%s:%d:%d: %s", path, jerr.line,
                      jerr.column, jerr.text);
        goto err;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rubric_seterr(err, "out of memory loading %s", path);
        goto err;
    }
    if (rubric_parse_top(&ctx, json, r) < 0 ||
        rubric_check_exdir(&ctx, r, exdir) < 0)
        goto err;
    rubric_short_id(exdir, id, sizeof(id));
    r->path = strdup(path);
    r->id = strdup(id);
    if (r->path == NULL || r->id == NULL) {
        rubric_seterr(err, "out of memory loading %s", path);
        goto err;
    }
    json_decref(json);
    *out = r;
    return 0;

err:
    if (json != NULL)
        json_decref(json);
    rubric_free(r);
    return -1;
}

void rubric_free(struct rubric *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->ntests; i++) {
        free(r->tests[i].suite);
        free(r->tests[i].test);
        free(r->tests[i].title);
        free(r->tests[i].hint);
    }
    free(r->tests);
    free(r->path);
    free(r->exdir);
    free(r->id);
    free(r->title);
    free(r);
}

long rubric_find_test(const struct rubric *r, const char *suite,
                      const char *test)
{
    size_t i;

    for (i = 0; i < r->ntests; i++) {
        if (r->tests[i].suite == NULL || r->tests[i].test == NULL)
            continue;
        if (strcmp(r->tests[i].suite, suite) == 0 &&
            strcmp(r->tests[i].test, test) == 0)
            return (long)i;
    }
    return -1;
}

/*
 * rubric.c - exercise discovery and strict rubric.json validation.
 *
 * The validator is table driven: each JSON object lists its allowed keys,
 * and each key is read with a typed getter. Adding a key means adding it
 * to the table and reading it in the parse function of its object.
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
    "exercise", "title", "timeout_s", "memory_mb", "jobs", "budget_s", "todo", "symbols",
    "groups", "tests", "timing", "memcheck", NULL
};

static const char *const rubric_test_keys[] = {
    "suite", "test", "points", "title", "hint", "group", "timeout_s", NULL
};

static const char *const rubric_symbols_keys[] = {
    "exports", "allow", "deny", NULL
};

static const char *const rubric_group_keys[] = {
    "name", "title", "requires", NULL
};

static const char *const rubric_memcheck_keys[] = {
    "title", "points", "hint", NULL
};

static const char *const rubric_timing_keys[] = {
    "title", "bench", "rounds", "repeat", "points", "bands", NULL
};

static const char *const rubric_band_keys[] = {
    "max_ratio", "points", NULL
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
    char where[64];
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

/* Sets ctx->where to "prefix[i]". */
static void rubric_where(struct rubric_ctx *ctx, const char *prefix, size_t i)
{
    snprintf(ctx->where, sizeof(ctx->where), "%s[%zu]", prefix, i);
}

/*
 * Reads obj[key], an array of non-empty strings, into a malloc'd array of
 * malloc'd copies. An absent key gives *out NULL, *n 0 (an error when
 * required). check, when not NULL, validates each string (returns 0 when
 * valid) and what names the rule it enforces.
 */
static int rubric_get_strings(struct rubric_ctx *ctx, json_t *obj,
                              const char *key, int required,
                              int (*check)(const char *), const char *what,
                              char ***out, size_t *n)
{
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;

    *out = NULL;
    *n = 0;
    if (arr == NULL)
        return required ? rubric_fail(ctx, "missing key", key) : 0;
    if (!json_is_array(arr))
        return rubric_fail(ctx, "expected an array of strings for", key);
    if (json_array_size(arr) == 0)
        return 0;
    *out = calloc(json_array_size(arr), sizeof(**out));
    if (*out == NULL)
        return rubric_fail(ctx, "out of memory reading", key);
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return rubric_fail(ctx, "expected non-empty strings in", key);
        if (check != NULL && check(json_string_value(v)) != 0) {
            rubric_seterr(ctx->err, "%s: %s: \"%s\" in \"%s\" is not %s",
                          ctx->path, ctx->where, json_string_value(v), key,
                          what);
            return -1;
        }
        if (((*out)[i] = strdup(json_string_value(v))) == NULL)
            return rubric_fail(ctx, "out of memory reading", key);
        *n = i + 1;
    }
    return 0;
}

static void rubric_free_strings(char **v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* ------------------------------------------------------------------ */
/* Value rules                                                         */
/* ------------------------------------------------------------------ */

static int rubric_is_ident_char(char c, int first)
{
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '.' || c == '$' ||
                      c == '@');
}

/* A symbol name, or a non-empty prefix of one followed by '*'. */
static int rubric_check_pattern(const char *s)
{
    size_t i, len = strlen(s);

    if (len > 0 && s[len - 1] == '*')
        len--;
    if (len == 0)
        return -1;
    for (i = 0; i < len; i++)
        if (!rubric_is_ident_char(s[i], i == 0))
            return -1;
    return 0;
}

/* A symbol name without wildcard. */
static int rubric_check_symbol(const char *s)
{
    return strchr(s, '*') != NULL ? -1 : rubric_check_pattern(s);
}

/* A relative path without "." or ".." components. */
static int rubric_check_relpath(const char *s)
{
    const char *p = s;
    size_t len;

    if (*s == '/')
        return -1;
    while (*p != '\0') {
        len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        p += len + (p[len] == '/');
    }
    return 0;
}

/* A make target name: letters, digits, '_' and '-'. */
static int rubric_check_target(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '-' || *s == '_' || (*s >= '0' && *s <= '9') ||
            (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
            continue;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Symbols, groups, timing                                             */
/* ------------------------------------------------------------------ */

static int rubric_parse_symbols(struct rubric_ctx *ctx, json_t *obj,
                                struct rubric *r)
{
    struct rubric_symbols *s;

    if (obj == NULL)
        return 0;
    snprintf(ctx->where, sizeof(ctx->where), "symbols");
    if (rubric_check_keys(ctx, obj, rubric_symbols_keys) < 0)
        return -1;
    if ((s = r->symbols = calloc(1, sizeof(*s))) == NULL)
        return rubric_fail(ctx, "out of memory reading", "symbols");
    if (rubric_get_strings(ctx, obj, "exports", 1, rubric_check_symbol,
                           "a symbol name", &s->exports, &s->nexports) < 0 ||
        rubric_get_strings(ctx, obj, "allow", 1, rubric_check_pattern,
                           "a symbol name or a prefix followed by '*'",
                           &s->allow, &s->nallow) < 0 ||
        rubric_get_strings(ctx, obj, "deny", 0, rubric_check_pattern,
                           "a symbol name or a prefix followed by '*'",
                           &s->deny, &s->ndeny) < 0)
        return -1;
    if (s->nexports == 0)
        return rubric_fail(ctx, "expected a non-empty array for", "exports");
    return 0;
}

static long rubric_find_group(const struct rubric *r, size_t upto,
                              const char *name)
{
    size_t i;

    for (i = 0; i < upto; i++)
        if (strcmp(r->groups[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Resolves the names of "requires" to indexes of earlier groups. */
static int rubric_resolve_requires(struct rubric_ctx *ctx, struct rubric *r,
                                   size_t gi, char **names, size_t n)
{
    struct rubric_group *g = &r->groups[gi];
    long idx;
    size_t i;

    if (n == 0)
        return 0;
    if ((g->requires = calloc(n, sizeof(*g->requires))) == NULL)
        return rubric_fail(ctx, "out of memory reading", "requires");
    for (i = 0; i < n; i++) {
        idx = rubric_find_group(r, gi, names[i]);
        if (idx < 0)
            return rubric_fail(ctx, "\"requires\" names no group listed "
                               "before this one:", names[i]);
        g->requires[g->nrequires++] = (size_t)idx;
    }
    return 0;
}

static int rubric_parse_group(struct rubric_ctx *ctx, json_t *obj,
                              struct rubric *r, size_t gi)
{
    struct rubric_group *g = &r->groups[gi];
    char **names = NULL;
    size_t n = 0;
    int rc = -1;

    if (rubric_check_keys(ctx, obj, rubric_group_keys) < 0 ||
        rubric_get_string(ctx, obj, "name", 1, &g->name) < 0 ||
        rubric_get_string(ctx, obj, "title", 1, &g->title) < 0 ||
        rubric_get_strings(ctx, obj, "requires", 0, NULL, NULL, &names,
                           &n) < 0)
        goto out;
    if (rubric_find_group(r, gi, g->name) >= 0) {
        rubric_fail(ctx, "duplicate group", g->name);
        goto out;
    }
    rc = rubric_resolve_requires(ctx, r, gi, names, n);

out:
    rubric_free_strings(names, n);
    return rc;
}

static int rubric_parse_groups(struct rubric_ctx *ctx, json_t *arr,
                               struct rubric *r)
{
    size_t i;

    if (arr == NULL)
        return 0;
    snprintf(ctx->where, sizeof(ctx->where), "top level");
    if (!json_is_array(arr))
        return rubric_fail(ctx, "expected an array for", "groups");
    if (json_array_size(arr) == 0)
        return 0;
    r->groups = calloc(json_array_size(arr), sizeof(*r->groups));
    if (r->groups == NULL)
        return rubric_fail(ctx, "out of memory reading", "groups");
    for (i = 0; i < json_array_size(arr); i++) {
        rubric_where(ctx, "groups", i);
        r->ngroups = i + 1; /* so rubric_free releases partial entries */
        if (rubric_parse_group(ctx, json_array_get(arr, i), r, i) < 0)
            return -1;
    }
    return 0;
}

static int rubric_parse_band(struct rubric_ctx *ctx, json_t *obj,
                             struct rubric_timing *t, size_t i)
{
    struct rubric_band *b = &t->bands[i];
    json_t *ratio = json_object_get(obj, "max_ratio");

    if (rubric_check_keys(ctx, obj, rubric_band_keys) < 0 ||
        rubric_get_int(ctx, obj, "points", 0, t->points, -1, &b->points) < 0)
        return -1;
    if (ratio == NULL)
        return rubric_fail(ctx, "missing key", "max_ratio");
    if (!json_is_number(ratio) || json_number_value(ratio) <= 0.0)
        return rubric_fail(ctx, "expected a positive number for",
                           "max_ratio");
    b->max_ratio = json_number_value(ratio);
    if (i == 0 && b->points != t->points)
        return rubric_fail(ctx, "the first band must give all the timing "
                           "points:", "points");
    if (i > 0 && b->max_ratio <= t->bands[i - 1].max_ratio)
        return rubric_fail(ctx, "must be larger than the previous band's:",
                           "max_ratio");
    if (i > 0 && b->points > t->bands[i - 1].points)
        return rubric_fail(ctx, "must not exceed the previous band's:",
                           "points");
    return 0;
}

static int rubric_parse_bands(struct rubric_ctx *ctx, json_t *arr,
                              struct rubric_timing *t)
{
    size_t i;

    if (arr == NULL)
        return rubric_fail(ctx, "missing key", "bands");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return rubric_fail(ctx, "expected a non-empty array for", "bands");
    t->bands = calloc(json_array_size(arr), sizeof(*t->bands));
    if (t->bands == NULL)
        return rubric_fail(ctx, "out of memory reading", "bands");
    for (i = 0; i < json_array_size(arr); i++) {
        rubric_where(ctx, "timing.bands", i);
        if (rubric_parse_band(ctx, json_array_get(arr, i), t, i) < 0)
            return -1;
        t->nbands = i + 1;
    }
    return 0;
}

static int rubric_parse_timing(struct rubric_ctx *ctx, json_t *obj,
                               struct rubric *r)
{
    struct rubric_timing *t;

    if (obj == NULL)
        return 0;
    snprintf(ctx->where, sizeof(ctx->where), "timing");
    if (rubric_check_keys(ctx, obj, rubric_timing_keys) < 0)
        return -1;
    if ((t = r->timing = calloc(1, sizeof(*t))) == NULL)
        return rubric_fail(ctx, "out of memory reading", "timing");
    if (rubric_get_string(ctx, obj, "title", 1, &t->title) < 0 ||
        rubric_get_string(ctx, obj, "bench", 1, &t->bench) < 0 ||
        rubric_get_int(ctx, obj, "rounds", 1, RUBRIC_MAX_ROUNDS,
                       RUBRIC_DEFAULT_ROUNDS, &t->rounds) < 0 ||
        rubric_get_int(ctx, obj, "repeat", 1, RUBRIC_MAX_REPEAT,
                       RUBRIC_DEFAULT_REPEAT, &t->repeat) < 0 ||
        rubric_get_int(ctx, obj, "points", 1, RUBRIC_MAX_POINTS, -1,
                       &t->points) < 0)
        return -1;
    if (rubric_check_target(t->bench) != 0)
        return rubric_fail(ctx, "expected letters, digits, '_' and '-' in",
                           "bench");
    return rubric_parse_bands(ctx, json_object_get(obj, "bands"), t);
}

static int rubric_parse_memcheck(struct rubric_ctx *ctx, json_t *obj, struct rubric *r)
{
    struct rubric_memcheck *m;

    if (obj == NULL)
        return 0;
    snprintf(ctx->where, sizeof(ctx->where), "memcheck");
    if (rubric_check_keys(ctx, obj, rubric_memcheck_keys) < 0)
        return -1;
    if ((m = r->memcheck = calloc(1, sizeof(*m))) == NULL)
        return rubric_fail(ctx, "out of memory reading", "memcheck");
    if (rubric_get_string(ctx, obj, "title", 1, &m->title) < 0 ||
        rubric_get_string(ctx, obj, "hint", 0, &m->hint) < 0 ||
        rubric_get_int(ctx, obj, "points", 1, RUBRIC_MAX_POINTS, -1, &m->points) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tests and top level                                                 */
/* ------------------------------------------------------------------ */

static int rubric_parse_test(struct rubric_ctx *ctx, json_t *obj,
                             struct rubric *r, struct rubric_test *t)
{
    char *group = NULL;
    int rc = -1;

    t->group = -1;
    if (rubric_check_keys(ctx, obj, rubric_test_keys) < 0 ||
        rubric_get_string(ctx, obj, "suite", 1, &t->suite) < 0 ||
        rubric_get_string(ctx, obj, "test", 1, &t->test) < 0 ||
        rubric_get_string(ctx, obj, "title", 1, &t->title) < 0 ||
        rubric_get_string(ctx, obj, "hint", 0, &t->hint) < 0 ||
        rubric_get_string(ctx, obj, "group", 0, &group) < 0 ||
        rubric_get_int(ctx, obj, "points", 0, RUBRIC_MAX_POINTS, -1,
                       &t->points) < 0 ||
        rubric_get_int(ctx, obj, "timeout_s", 1, RUBRIC_MAX_TIMEOUT_S,
                       r->timeout_s, &t->timeout_s) < 0)
        goto out;
    if (group != NULL &&
        (t->group = rubric_find_group(r, r->ngroups, group)) < 0) {
        rubric_fail(ctx, "\"group\" names no group:", group);
        goto out;
    }
    rc = 0;

out:
    free(group);
    return rc;
}

static int rubric_parse_tests(struct rubric_ctx *ctx, json_t *arr,
                              struct rubric *r)
{
    size_t i;

    snprintf(ctx->where, sizeof(ctx->where), "top level");
    if (arr == NULL)
        return rubric_fail(ctx, "missing key", "tests");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return rubric_fail(ctx, "expected a non-empty array for", "tests");
    r->tests = calloc(json_array_size(arr), sizeof(*r->tests));
    if (r->tests == NULL)
        return rubric_fail(ctx, "out of memory reading", "tests");
    for (i = 0; i < json_array_size(arr); i++) {
        rubric_where(ctx, "tests", i);
        r->ntests = i + 1; /* so rubric_free releases partial entries */
        if (rubric_parse_test(ctx, json_array_get(arr, i), r,
                              &r->tests[i]) < 0)
            return -1;
        if (rubric_find_test(r, r->tests[i].suite, r->tests[i].test) !=
            (long)i)
            return rubric_fail(ctx, "duplicate test", r->tests[i].test);
        r->test_points += r->tests[i].points;
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
        rubric_get_int(ctx, root, "memory_mb", RUBRIC_MIN_MEMORY_MB,
                       RUBRIC_MAX_MEMORY_MB, RUBRIC_DEFAULT_MEMORY_MB,
                       &r->memory_mb) < 0 ||
        rubric_get_int(ctx, root, "jobs", 1, RUBRIC_MAX_JOBS,
                       RUBRIC_DEFAULT_JOBS, &r->jobs) < 0 ||
        rubric_get_int(ctx, root, "budget_s", 10, RUBRIC_MAX_BUDGET_S,
                       RUBRIC_DEFAULT_BUDGET_S, &r->budget_s) < 0 ||
        rubric_get_string(ctx, root, "exercise", 1, &r->exdir) < 0 ||
        rubric_get_strings(ctx, root, "todo", 0, rubric_check_relpath,
                           "a relative path inside skeletons/<exercise>/",
                           &r->todo, &r->ntodo) < 0)
        return -1;
    if (json_object_get(root, "todo") != NULL && r->ntodo == 0)
        return rubric_fail(ctx, "expected a non-empty array for", "todo");
    if (rubric_parse_symbols(ctx, json_object_get(root, "symbols"), r) < 0 ||
        rubric_parse_groups(ctx, json_object_get(root, "groups"), r) < 0 ||
        rubric_parse_tests(ctx, json_object_get(root, "tests"), r) < 0 ||
        rubric_parse_timing(ctx, json_object_get(root, "timing"), r) < 0 ||
        rubric_parse_memcheck(ctx, json_object_get(root, "memcheck"), r) < 0)
        return -1;
    r->max_score = r->test_points + (r->timing ? r->timing->points : 0) +
                   (r->memcheck ? r->memcheck->points : 0);
    return 0;
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

static void rubric_free_symbols(struct rubric_symbols *s)
{
    if (s == NULL)
        return;
    rubric_free_strings(s->exports, s->nexports);
    rubric_free_strings(s->allow, s->nallow);
    rubric_free_strings(s->deny, s->ndeny);
    free(s);
}

static void rubric_free_timing(struct rubric_timing *t)
{
    if (t == NULL)
        return;
    free(t->title);
    free(t->bench);
    free(t->bands);
    free(t);
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
    for (i = 0; i < r->ngroups; i++) {
        free(r->groups[i].name);
        free(r->groups[i].title);
        free(r->groups[i].requires);
    }
    free(r->groups);
    rubric_free_strings(r->todo, r->ntodo);
    rubric_free_symbols(r->symbols);
    rubric_free_timing(r->timing);
    if (r->memcheck != NULL) {
        free(r->memcheck->title);
        free(r->memcheck->hint);
        free(r->memcheck);
    }
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

int rubric_pattern_match(const char *pattern, const char *name)
{
    size_t len = strlen(pattern);

    if (len > 0 && pattern[len - 1] == '*')
        return strncmp(pattern, name, len - 1) == 0;
    return strcmp(pattern, name) == 0;
}

static int rubric_match_any(char *const *patterns, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (rubric_pattern_match(patterns[i], name))
            return 1;
    return 0;
}

int rubric_symbol_allowed(const struct rubric_symbols *s, const char *name)
{
    return rubric_match_any(s->allow, s->nallow, name) &&
           !rubric_match_any(s->deny, s->ndeny, name);
}

int rubric_symbol_listed(const struct rubric_symbols *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->nallow; i++)
        if (strcmp(s->allow[i], name) == 0)
            return !rubric_match_any(s->deny, s->ndeny, name);
    return 0;
}

int rubric_symbol_exported(const struct rubric_symbols *s, const char *name)
{
    return rubric_match_any(s->exports, s->nexports, name);
}

int rubric_is_todo(const struct rubric *r, const char *path)
{
    size_t i;

    for (i = 0; i < r->ntodo; i++)
        if (strcmp(r->todo[i], path) == 0)
            return 1;
    return 0;
}

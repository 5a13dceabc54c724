/*
 * rubric.h - exercise discovery and rubric.json loading for the grader.
 *
 * An exercise lives in ROOT/harness/<exdir>/ and is described by
 * ROOT/harness/<exdir>/rubric.json. <exdir> looks like "ex01_comparison";
 * the short id is the part before the first '_' ("ex01").
 *
 * Rubric format (validated strictly: unknown keys, missing keys, wrong
 * types and out-of-range numbers are errors):
 *
 *   {
 *     "exercise": "ex01_comparison",   must equal <exdir>
 *     "title": "...",
 *     "timeout_s": 120,                optional, 1..RUBRIC_MAX_TIMEOUT_S
 *     "jobs": 1,                       optional, 1..RUBRIC_MAX_JOBS
 *     "tests": [                       at least one entry
 *       { "suite": "...", "test": "...", "points": 2, "title": "...",
 *         "hint": "..." }              hint optional, points >= 0
 *     ]
 *   }
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * failure, with a one-line English message written into the caller-owned
 * buffer err (RUBRIC_ERR_LEN bytes). Nothing is printed.
 */
#ifndef GRADER_RUBRIC_H
#define GRADER_RUBRIC_H

#include <stddef.h>

#define RUBRIC_ERR_LEN 256
#define RUBRIC_DEFAULT_TIMEOUT_S 120
#define RUBRIC_MAX_TIMEOUT_S 3600
#define RUBRIC_DEFAULT_JOBS 1
#define RUBRIC_MAX_JOBS 64
#define RUBRIC_MAX_POINTS 1000

struct rubric_test {
    char *suite;  /* Criterion suite name, never NULL */
    char *test;   /* Criterion test name, never NULL */
    char *title;  /* human-readable title, never NULL */
    char *hint;   /* documentation pointer, NULL when absent */
    int points;   /* >= 0 */
};

struct rubric {
    char *path;     /* file the rubric was loaded from */
    char *exdir;    /* "ex01_comparison" */
    char *id;       /* "ex01" */
    char *title;
    int timeout_s;  /* wall-clock and CPU limit of the test run */
    int jobs;       /* Criterion -j value */
    struct rubric_test *tests;
    size_t ntests;  /* >= 1 */
    int max_score;  /* sum of all points */
};

/*
 * Lists the exercise directories of root: the names of the entries of
 * ROOT/harness that contain a rubric.json, sorted with strcmp.
 * On success *names is a malloc'd array of *count malloc'd strings, owned
 * by the caller (release with rubric_free_names). A missing or empty
 * harness directory is an error. On failure *names is NULL and *count 0.
 */
int rubric_discover(const char *root, char ***names, size_t *count,
                    char err[RUBRIC_ERR_LEN]);

/* Frees an array returned by rubric_discover. NULL is accepted. */
void rubric_free_names(char **names, size_t count);

/*
 * Writes the short id of exdir ("ex01" for "ex01_comparison", the whole
 * name when it has no '_') into out, truncated to outlen - 1 bytes.
 */
void rubric_short_id(const char *exdir, char *out, size_t outlen);

/*
 * Loads and validates ROOT/harness/<exdir>/rubric.json. On success *out is
 * a new rubric owned by the caller (release with rubric_free). On failure
 * *out is NULL and err names the file and the problem.
 */
int rubric_load(const char *root, const char *exdir, struct rubric **out,
                char err[RUBRIC_ERR_LEN]);

/* Frees a rubric. NULL is accepted. */
void rubric_free(struct rubric *r);

/*
 * Returns the index of the test suite::test in r->tests, or -1 when the
 * rubric does not list it.
 */
long rubric_find_test(const struct rubric *r, const char *suite,
                      const char *test);

#endif

/*
 * rubric.h - exercise discovery and rubric.json loading for the grader.
 *
 * An exercise lives in ROOT/harness/<exdir>/ and is described by
 * ROOT/harness/<exdir>/rubric.json. <exdir> looks like "ex01_comparison";
 * the short id is the part before the first '_' ("ex01").
 *
 * Rubric format (validated strictly: unknown keys, missing keys, wrong
 * types, out-of-range numbers and dangling names are errors):
 *
 *   {
 *     "exercise": "ex01_comparison",   must equal <exdir>
 *     "title": "...",
 *     "timeout_s": 60,                 optional, 1..RUBRIC_MAX_TIMEOUT_S:
 *                                      wall-clock (and CPU) limit of each
 *                                      test's run (default 60)
 *     "memory_mb": 1024,               optional, address-space limit of
 *                                      each run, 64..65536 (default 1024)
 *     "jobs": 1,                       optional, 1..RUBRIC_MAX_JOBS; kept
 *                                      for old rubrics, no effect: every
 *                                      test runs alone
 *     "budget_s": 900,                 optional, 10..36000: wall-clock
 *                                      budget of the exercise's whole
 *                                      grading (build, tests, timing,
 *                                      coverage); what is left when it
 *                                      runs out scores 0
 *     "todo": ["ex01.c"],              optional: the files students edit,
 *                                      relative to skeletons/<exdir>/;
 *                                      needed by the manifest and checked
 *                                      in the submission before the build
 *     "symbols": {                     optional: the static check of the
 *       "exports": ["ex01_fetch_sequential", ...],   compiled TODO files;
 *       "allow": ["evhttp_*", "malloc", ...],        '*' only at the end
 *       "deny": ["evbuffer_write*", ...]             optional, beats allow
 *     },
 *     "groups": [                      optional
 *       { "name": "handshake", "title": "...", "requires": [] },
 *       { "name": "frames", "title": "...", "requires": ["handshake"] }
 *     ],                               a group may only require groups
 *                                      listed before it (so no cycles)
 *     "tests": [                       at least one entry
 *       { "suite": "...", "test": "...", "points": 2, "title": "...",
 *         "hint": "...",               optional
 *         "group": "frames",           optional, a group's name
 *         "timeout_s": 30 }            optional, overrides the top level's
 *     ],
 *     "timing": {                      optional
 *       "title": "Speed of your fetch code against the reference",
 *       "bench": "bench-ex01",         the timing judge, ROOT/build/bin/
 *       "rounds": 15,                  optional, 1..RUBRIC_MAX_ROUNDS:
 *                                      its --rounds (paired runs) (15)
 *       "repeat": 3,                   optional: how many times at most
 *                                      the grader runs it, when a ratio
 *                                      lands near a band's edge (3)
 *       "points": 4,
 *       "bands": [ {"max_ratio": 1.5, "points": 4},
 *                  {"max_ratio": 2.5, "points": 2} ]
 *     },                               max_ratio increasing, points not
 *                                      increasing, bands[0].points ==
 *                                      points
 *     "memcheck": {                    optional: the tests that pass run
 *       "title": "...",                again with the code built with ASan,
 *       "points": 3,                   UBSan and LeakSanitizer; points in
 *       "hint": "docs/..."             proportion to the tests still clean
 *     }                                (grade.h)
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
#define RUBRIC_DEFAULT_TIMEOUT_S 60
#define RUBRIC_MAX_TIMEOUT_S 3600
#define RUBRIC_DEFAULT_MEMORY_MB 1024
#define RUBRIC_MIN_MEMORY_MB 64
#define RUBRIC_MAX_MEMORY_MB 65536
#define RUBRIC_DEFAULT_JOBS 1
#define RUBRIC_DEFAULT_BUDGET_S 900
#define RUBRIC_MAX_BUDGET_S 36000
#define RUBRIC_MAX_JOBS 64
#define RUBRIC_MAX_POINTS 1000
#define RUBRIC_DEFAULT_ROUNDS 15
#define RUBRIC_MAX_ROUNDS 51
#define RUBRIC_DEFAULT_REPEAT 3
#define RUBRIC_MAX_REPEAT 64

struct rubric_test {
    char *suite;   /* Criterion suite name, never NULL */
    char *test;    /* Criterion test name, never NULL */
    char *title;   /* human-readable title, never NULL */
    char *hint;    /* documentation pointer, NULL when absent */
    int points;    /* >= 0 */
    int timeout_s; /* this test's limit (the top level's when absent) */
    long group;    /* index in rubric->groups, -1 when in no group */
};

struct rubric_group {
    char *name;
    char *title;
    size_t *requires;  /* indexes of required groups, all < own index */
    size_t nrequires;
};

struct rubric_band {
    double max_ratio;  /* > 0, increasing from band to band */
    int points;        /* not increasing from band to band */
};

struct rubric_timing {
    char *title;
    char *bench;       /* "bench-ex01": make target and binary name */
    int rounds;        /* --rounds of the timing judge: paired runs */
    int repeat;        /* runs of the timing judge at most (near a band
                          edge, it measures again) */
    int points;        /* == bands[0].points */
    struct rubric_band *bands;
    size_t nbands;     /* >= 1 */
};

/* The memory check (grade.h). */
struct rubric_memcheck {
    char *title;
    char *hint;        /* NULL when absent */
    int points;
};

/* A symbol pattern: a name, or a prefix followed by '*'. */
struct rubric_symbols {
    char **exports;    /* global symbols the TODO files may define */
    size_t nexports;
    char **allow;      /* undefined symbols they may use */
    size_t nallow;
    char **deny;       /* exceptions to allow */
    size_t ndeny;
};

struct rubric {
    char *path;     /* file the rubric was loaded from */
    char *exdir;    /* "ex01_comparison" */
    char *id;       /* "ex01" */
    char *title;
    int timeout_s;  /* default per-test limit */
    int memory_mb;  /* RLIMIT_AS of every run */
    int jobs;       /* unused (compatibility) */
    int budget_s;   /* wall-clock budget of the whole exercise's grading */
    char **todo;    /* NULL when the rubric has no "todo" */
    size_t ntodo;
    struct rubric_symbols *symbols; /* NULL: no static check */
    struct rubric_group *groups;
    size_t ngroups;
    struct rubric_test *tests;
    size_t ntests;  /* >= 1 */
    struct rubric_timing *timing;   /* NULL: no timing criterion */
    struct rubric_memcheck *memcheck; /* NULL: no memory check */
    int test_points; /* sum of the tests' points */
    int max_score;   /* test_points + timing and memcheck points */
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

/* Returns 1 when name matches pattern (exact, or prefix + '*'). */
int rubric_pattern_match(const char *pattern, const char *name);

/*
 * Returns 1 when the TODO files may call (reference) the undefined symbol
 * name: it matches an "allow" pattern and no "deny" pattern.
 */
int rubric_symbol_allowed(const struct rubric_symbols *s, const char *name);

/* Returns 1 when "allow" names name in full (no wildcard) and no "deny"
 * pattern matches it. */
int rubric_symbol_listed(const struct rubric_symbols *s, const char *name);

/* Returns 1 when the TODO files may define the global symbol name. */
int rubric_symbol_exported(const struct rubric_symbols *s, const char *name);

/* Returns 1 when path (relative to skeletons/<exdir>/) is a TODO file. */
int rubric_is_todo(const struct rubric *r, const char *path);

#endif

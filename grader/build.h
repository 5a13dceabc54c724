/*
 * build.h - the grader's own build of a submission's TODO files, and of the
 * reference: only the TODO files' C source enters it, into a private
 * folder, and what is compiled is exactly what was checked.
 *
 *   1. build_prepare(): the rubric's TODO files (regular files, 1 MiB at
 *      most) are copied from the submission into WORK/src/<exdir>/, with a
 *      #line that names the student's own file; every other file of the
 *      submission's exercise folder is ignored (build_ignored() lists them).
 *      The text is checked (srccheck_source), preprocessed once with the
 *      kit's flags (ROOT/build/kit/<exdir>.cflags, at -O1), and the
 *      preprocessed text is checked (srccheck_preprocessed).
 *   2. build_variant(): that preprocessed text is compiled to assembly with
 *      the variant's flags (ROOT/build/kit/<variant>.vflags), the assembly
 *      is checked (srccheck_assembly), assembled, and the object checked
 *      (symcheck_object); then each subject program of the exercise is
 *      linked with the kit's trusted objects (ROOT/build/kit/<variant>/
 *      <exdir>/<program>.link) into WORK/<variant>/bin/.  Every variant
 *      that is linked is checked; the variants share one preprocessed text,
 *      so no code can reach one build and not another.
 * The compiler runs in ROOT under the runner's limits (time, memory, file
 * size) and the remaining budget (spec->deadline).
 *
 * The reference (spec->trusted) goes through the same steps without the
 * checks; a handout's reference (spec->prebuilt) comes as objects in
 * SRC/<variant>/<exdir>/<file>.o, a folder of the workbook, never of a
 * submission.
 *
 * Functions return 0 with out->status set (a submission that does not
 * compile or is rejected is not an error), or -1 when out of memory.
 */
#ifndef GRADER_BUILD_H
#define GRADER_BUILD_H

#include <limits.h>
#include <stddef.h>

#include "apiset.h"
#include "rubric.h"

enum build_variant { BUILD_TEST, BUILD_BENCH, BUILD_COV, BUILD_ASAN, BUILD_NVARIANTS };

struct build_spec {
    const char *root;       /* trusted workbook (absolute): the kit, headers */
    const struct rubric *r;
    const char *src;        /* the TODO files' folder: SUBMISSION/<exdir>, or
                               a reference folder laid out like solutions/ */
    const char *work;       /* private build folder (absolute) */
    const char *logdir;     /* where the logs go (absolute) */
    int trusted;            /* the reference: no checks */
    int prebuilt;           /* src holds <variant>/<exdir>/<file>.o */
    int static_check;       /* 0: --no-static-check (maintainers' tests) */
    const struct apiset *api; /* NULL: wildcards need no declaration */
    double deadline;        /* monotonic seconds (build_now()); 0: none */
    int timeout_s;          /* per compiler run */
    int memory_mb;          /* per compiler run */
};

enum build_status {
    BUILD_OK,
    BUILD_UNGRADABLE,       /* missing TODO file, does not compile */
    BUILD_REJECTED,         /* a check found something: reasons */
    BUILD_TIMEOUT,          /* the budget ran out */
    BUILD_ERROR             /* the kit or a tool is missing: note */
};

struct build_out {
    enum build_status status;
    char *reasons;          /* REJECTED: '\n'-separated findings (malloc'd) */
    char note[1024];        /* UNGRADABLE, TIMEOUT, ERROR: one sentence */
    char log[PATH_MAX];     /* the compiler's output to show, or "" */
};

const char *build_variant_name(enum build_variant v);

/* Monotonic seconds, the clock of spec->deadline. */
double build_now(void);

/* Step 1.  out must be zeroed by the caller. */
int build_prepare(const struct build_spec *spec, struct build_out *out);

/* Step 2 for variant v (after a BUILD_OK build_prepare()). */
int build_variant(const struct build_spec *spec, enum build_variant v, struct build_out *out);

/* WORK/<variant>/bin: the folder of the variant's programs. */
int build_bindir(const struct build_spec *spec, enum build_variant v, char *out, size_t len);

/*
 * The entries of the submission's exercise folder that are not TODO files,
 * as "a, b, c" (malloc'd; NULL when there are none or out of memory).
 */
char *build_ignored(const struct build_spec *spec);

/* Frees out->reasons. */
void build_out_clear(struct build_out *out);

#endif

/*
 * batch.h - grading a folder of submissions for instructors.
 *
 * Each subdirectory of the batch folder (hidden ones excepted) is one
 * submission laid out like skeletons/ (NAME/ex01_comparison/ex01.c ...).
 * Each is graded by a child grader (this same program, re-executed with
 * --submission DIR/NAME --out OUT/NAME --quiet), several at once with
 * --jobs N, so that OUT/NAME/ holds that submission's results.json,
 * summary.md, junit.xml and logs, and OUT/NAME/grader.log its output.
 * Each child grades with its own copy of the workbook, OUT/NAME/workbook
 * (the trusted files and the trusted build: judges, kit, objects; files
 * read-only), removed when it is done, and its own build folder; each job
 * slot runs its subjects as its own uid (subject_uid + slot), so that
 * nothing one submission's code does reaches another's grading.
 * The reference is built once, before the children start, into
 * OUT/ref-build, which every child then reuses. Finally OUT/grades.csv
 * gets one line per submission:
 *     name,score,max_score,<one column per exercise id>,status
 * where status is "ok" when every exercise was graded, else the exercises
 * that were not ("ex01:rejected ex02:ungradable"), or "error: ..." when
 * the child grader failed.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * failure, with a one-line English message in the caller-owned buffer err
 * (BATCH_ERR_LEN bytes).
 */
#ifndef GRADER_BATCH_H
#define GRADER_BATCH_H

#include <stddef.h>

#include "rubric.h"

#define BATCH_ERR_LEN 256
#define BATCH_MAX_JOBS 64

struct batch_opts {
    const char *self;       /* absolute path of this program */
    const char *root;       /* absolute */
    const char *dir;        /* absolute: the folder of submissions */
    const char *out;        /* absolute: created if needed */
    const char *reference;  /* absolute, or NULL when there is none */
    int ref_prebuilt;       /* reference holds prebuilt objects */
    unsigned subject_uid;   /* the first job slot's subject uid */
    int keep_workbooks;     /* 0: remove each copy once graded */
    struct rubric *const *rubrics; /* the exercises to grade */
    size_t count;
    const char *const *child_args; /* extra arguments for every child
                                      (--exercise, --no-timing, ...),
                                      NULL-terminated */
    int jobs;               /* 1..BATCH_MAX_JOBS */
    int timing;             /* 0: --no-timing (no reference build) */
    int quiet;              /* no progress line per submission */
};

/*
 * Grades every submission and writes OUT/grades.csv. Returns 0 when every
 * child grader ran (whatever the scores), 1 when some failed (their
 * status says so), -1 on an error that stopped the batch.
 * Must run after runner_init.
 */
int batch_run(const struct batch_opts *o, char err[BATCH_ERR_LEN]);

#endif

/*
 * manifest.h - the integrity manifest: the files students must not edit,
 * with their SHA-256, in ROOT/grader/manifest.sha256.
 *
 * Format: sha256sum's ("<64 hex digits>  <path>\n", path relative to the
 * workbook root), sorted by path (strcmp), so `sha256sum -c` can check it
 * too. It lists every file of the git index and of the working tree (not
 * ignored) under
 *   harness/, grader/ (except grader/manifest.sha256 and grader/tests/),
 *   skeletons/ (except each exercise's TODO files: its rubric's "todo"),
 *   scripts/, and the Makefile.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * failure, with a one-line English message in the caller-owned buffer err
 * (MANIFEST_ERR_LEN bytes). Nothing is printed.
 */
#ifndef GRADER_MANIFEST_H
#define GRADER_MANIFEST_H

#include <stddef.h>

#include "rubric.h"

#define MANIFEST_ERR_LEN 256
#define MANIFEST_PATH "grader/manifest.sha256"

/*
 * Builds the manifest text of root from its files as described above
 * (uses `git ls-files`). rubrics (n of them) must be every exercise of
 * root, each with a "todo" list. On success *text is malloc'd, owned by
 * the caller.
 */
int manifest_build(const char *root, struct rubric *const *rubrics, size_t n,
                   char **text, char err[MANIFEST_ERR_LEN]);

/* Writes text to ROOT/grader/manifest.sha256 (atomically). */
int manifest_write(const char *root, const char *text,
                   char err[MANIFEST_ERR_LEN]);

/*
 * Compares the copies under subroot with the manifest of root. *warning
 * is NULL when every file matches, else a malloc'd text (owned by the
 * caller) naming each missing or changed file, and each file added under
 * harness/ or grader/. A missing manifest is reported in *warning too.
 * Returns -1 only when the manifest is unreadable or malformed.
 */
int manifest_verify(const char *root, const char *subroot, char **warning,
                    char err[MANIFEST_ERR_LEN]);

/*
 * Compares the manifest file of root with text (what manifest_build gives
 * now). Returns 0 when they are equal, 1 when the file is stale (*diff, a
 * malloc'd text owned by the caller, lists the differing lines), -1 on
 * error.
 */
int manifest_compare(const char *root, const char *text, char **diff,
                     char err[MANIFEST_ERR_LEN]);

#endif

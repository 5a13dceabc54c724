/*
 * kit.h - the grader's kit: what `make kits` writes in ROOT/build/kit/ so
 * that the grader can compile and link a submission's TODO files itself,
 * with exactly the flags and the trusted objects the workbook's own builds
 * use.  One argument per line, paths relative to ROOT (the grader runs the
 * compiler in ROOT):
 *
 *   build/kit/<exdir>.cflags          the flags of the preprocessor and the
 *                                     compiler for a TODO file
 *   build/kit/<variant>.vflags        what a variant adds (-O2, --coverage,
 *                                     -fsanitize=...)
 *   build/kit/<variant>/<exdir>/<program>.link
 *                                     "todo:<file>" lines (the TODO files
 *                                     the program links), then the trusted
 *                                     objects and the link flags
 *
 * An argument vector grows with kit_args_push() and is always
 * NULL-terminated (v[n] == NULL), ready for runner_spec.argv.
 * Error convention: 0 / -1 (out of memory, unreadable file: err set).
 */
#ifndef GRADER_KIT_H
#define GRADER_KIT_H

#include <stddef.h>

#define KIT_ERR_LEN 256

struct kit_args {
    char **v;     /* owned strings, v[n] == NULL */
    size_t n, cap;
};

int kit_args_push(struct kit_args *a, const char *s);

/*
 * Appends the lines of file to a; lines "todo:NAME" go to todo instead
 * (when todo is not NULL; else they are skipped).  Empty lines are skipped.
 */
int kit_args_read(struct kit_args *a, const char *file, struct kit_args *todo,
                  char err[KIT_ERR_LEN]);

void kit_args_free(struct kit_args *a);

#endif

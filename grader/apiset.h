/*
 * apiset.h - the public API a TODO file may call through a wildcard of the
 * rubric's "allow" list.
 *
 * A rubric allows libraries by prefix ("evhttp_*", "json_*").  A prefix
 * alone would also admit a library's internal functions, which its shared
 * object exports for its own use (libevent's evutil_*_ functions, some of
 * which open and read any file).  So a name that an allow pattern matches
 * only through its '*' is allowed when, in addition, a public header
 * declares it: the installed headers of the libraries the exercises use,
 * the C library's usual headers, and the exercise's own headers in the
 * trusted workbook (any identifier those name, data included).  The declarations are read from GCC itself
 * (gcc -fsyntax-only -aux-info), never guessed.  Names a rubric lists in
 * full are the maintainers' explicit choice and need no declaration.
 *
 * Error convention: 0 / -1 with a one-line reason in err.
 */
#ifndef GRADER_APISET_H
#define GRADER_APISET_H

#include <stddef.h>

#define APISET_ERR_LEN 256

struct apiset {
    char **names;   /* sorted, unique */
    size_t n;
};

/*
 * Collects the functions declared by the public headers and by the *.h of
 * exheaders (the exercise's folder in the trusted workbook), compiled with
 * the arguments in cflags_file (one per line: the grader's kit).  Work
 * files go into workdir.  On success *a owns its names (apiset_free).
 */
int apiset_load(struct apiset *a, const char *exheaders, const char *cflags_file,
                const char *workdir, char err[APISET_ERR_LEN]);

/* 1 when name is declared. */
int apiset_has(const struct apiset *a, const char *name);

void apiset_free(struct apiset *a);

#endif

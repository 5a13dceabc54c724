/*
 * srccheck.h - the checks of a TODO file's text, before and after the
 * preprocessor, and of the assembly the compiler made of it.  Together
 * with symcheck.h they decide whether a submission may be built and run
 * (issue "Only the student's C source reaches the build").
 *
 * 1. The source itself (srccheck_source), read as the preprocessor reads
 *    it (backslash-newline joined, comments and literals skipped):
 *    rejected are directives that could make the preprocessor lie about
 *    where text comes from or read other files than it says:
 *      - linemarkers ("# 12 "file" 3") and #line;
 *      - #include_next, #import;
 *      - #pragma GCC system_header (and any _Pragma operator, which could
 *        spell it);
 *      - trigraphs (??= and friends, which -std=c11 honours), so that no
 *        directive hides behind one.
 * 2. The preprocessed text (srccheck_preprocessed): every file its
 *    linemarkers name must resolve (realpath) to the TODO file itself, one
 *    of the exercise's own headers in the trusted workbook (not a TODO
 *    file), or a file under a system include folder (/usr/include,
 *    /usr/lib/gcc, /usr/local/include).  An #include of the solutions, of
 *    another exercise or of any other file shows up there, under its true
 *    path, whatever the source did.
 * 3. The assembly (srccheck_assembly): no inline assembly at all (the
 *    compiler brackets it with #APP / #NO_APP): no exercise needs it, and
 *    assembler directives such as .incbin or .include read files.
 * The object compiled from that very assembly is then checked by
 * symcheck.h; nothing else of the submission reaches the build.
 *
 * Findings are appended, one line each ("ex01.c:12: ..."), to a malloc'd
 * text (*reasons, NULL while there are none).  Functions return 0, or -1
 * when out of memory or a file cannot be read (err set).
 */
#ifndef GRADER_SRCCHECK_H
#define GRADER_SRCCHECK_H

#include <stddef.h>

#define SRCCHECK_ERR_LEN 256

/*
 * Checks the text of the TODO file at path, reported as `name` ("ex01.c").
 */
int srccheck_source(const char *path, const char *name, char **reasons,
                    char err[SRCCHECK_ERR_LEN]);

/*
 * Checks the preprocessor's output ipath of the TODO file staged at
 * staged (its #line names display, the path the student knows), reported as
 * name.  exdir is the exercise's header folder in the trusted workbook
 * (absolute); todo[] (ntodo) lists the exercise's TODO file names, which
 * may not be included.  cwd is the folder the preprocessor ran in
 * (relative linemarkers resolve against it).
 */
int srccheck_preprocessed(const char *ipath, const char *staged, const char *display,
                          const char *name, const char *exdir, char *const *todo,
                          size_t ntodo, const char *cwd, char **reasons,
                          char err[SRCCHECK_ERR_LEN]);

/* Checks the compiler's assembly output spath of the TODO file name. */
int srccheck_assembly(const char *spath, const char *name, char **reasons,
                      char err[SRCCHECK_ERR_LEN]);

/* Appends "line\n" to the malloc'd *reasons; -1 when out of memory. */
int srccheck_add(char **reasons, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

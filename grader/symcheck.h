/*
 * symcheck.h - the check of every object compiled from a submission's TODO
 * files, in every variant that is linked into a program (the tests', the
 * timing's, the coverage's and the memory check's), in the spirit of
 * CS:APP's datalab checker.  Before any of its code runs, each object is
 * inspected with binutils (nm, objdump, run through the runner, never a
 * shell), and the exercise is rejected when an object
 *   - defines a global symbol of any binding (strong, weak, common, GNU
 *     unique, indirect) that the rubric's "exports" does not list, or
 *     defines an exported one as anything but a plain function;
 *   - defines an indirect function (ifunc), or a GNU-unique symbol;
 *   - references (strongly or weakly) an undefined symbol that "allow"
 *     does not permit or that "deny" forbids; a name that an allow pattern
 *     matches only through its '*' must also be declared by a public header
 *     (apiset.h), so that a library's internal functions stay out;
 *   - has a constructor or destructor section (.init_array, .fini_array,
 *     .preinit_array, .ctors, .dtors, .init, .fini): code that would run
 *     before the subject's sandbox is complete;
 *   - contains a system call instruction (syscall, sysenter, int $0x80;
 *     svc on aarch64).
 * (srccheck.h checks the source, the preprocessed text and the assembly.)
 *
 * Symbols that the compiler emits on its own are allowed implicitly:
 * __stack_chk_fail / __stack_chk_guard (stack protector), __errno_location
 * (errno), __ctype_*_loc (<ctype.h>), __NAME_chk (fortify) or
 * __isoc99_NAME / __isoc23_NAME (scanf family) whenever NAME is allowed,
 * and, in their variants only, the coverage runtime (__gcov_*) and the
 * sanitizers' (__asan_*, __ubsan_*, __sanitizer_*).
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * an internal error (a tool cannot run, no object file), with a one-line
 * English message in the caller-owned buffer err (SYMCHECK_ERR_LEN bytes).
 * A rejected submission is not an error: see struct symcheck_result.
 */
#ifndef GRADER_SYMCHECK_H
#define GRADER_SYMCHECK_H

#include <stddef.h>

#include "apiset.h"
#include "rubric.h"

#define SYMCHECK_ERR_LEN 256
#define SYMCHECK_TIMEOUT_S 60

struct symcheck_result {
    char *reasons;  /* '\n'-separated, one line per finding ("ex01.c:
                       calls fork(), which exercise ex01 does not allow");
                       NULL when the objects pass */
    size_t count;   /* number of lines in reasons */
};

/*
 * Checks one object, obj, compiled from the TODO file src_name ("ex01.c")
 * in variant ("test", "bench", "cov", "asan"); api may be NULL (then a
 * wildcard match needs no declaration: maintainers' fixtures only).  The
 * tools' output goes to logbase.nm.log, logbase.sections.log and
 * logbase.disasm.log.  r->symbols must not be NULL.  Findings are appended
 * to res (zero it before the first call; clear it with symcheck_clear,
 * also after a failure).
 */
int symcheck_object(const struct rubric *r, const struct apiset *api, const char *obj,
                    const char *src_name, const char *variant, const char *logbase,
                    struct symcheck_result *res, char err[SYMCHECK_ERR_LEN]);

/* Frees what res holds and zeroes it. */
void symcheck_clear(struct symcheck_result *res);

#endif

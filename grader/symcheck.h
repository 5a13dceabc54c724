/*
 * symcheck.h - the static check of a compiled submission, in the spirit of
 * CS:APP's datalab checker: before any of its code runs, the object files
 * of an exercise's TODO files are inspected with binutils (nm, objdump,
 * run through the runner, never a shell), and the exercise is rejected
 * when they
 *   - define a global symbol that the rubric's "exports" does not list
 *     (a helper that is not static could replace harness code);
 *   - reference an undefined symbol that "allow" does not permit, or that
 *     "deny" forbids (fork, exec*, exit, open, write, dlopen, syscall...);
 *   - define an indirect function (ifunc), whose resolver runs at load
 *     time;
 *   - have a constructor or destructor section (.init_array, .fini_array,
 *     .preinit_array, .ctors, .dtors, .init, .fini): code that would run
 *     outside the tests, before the sandbox is in place;
 *   - contain a system call instruction (syscall, sysenter, int $0x80;
 *     svc on aarch64).
 * (grade.c adds one more rule from the compiler's -MMD list: a TODO file
 * may include only its exercise's own headers, never the solutions.)
 *
 * Symbols that the compiler emits on its own are allowed implicitly:
 * __stack_chk_fail / __stack_chk_guard (stack protector), __errno_location
 * (errno), __ctype_*_loc (<ctype.h>), and __NAME_chk (fortify) or
 * __isoc99_NAME / __isoc23_NAME (scanf family) whenever NAME is allowed.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * an internal error (a tool cannot run, no object file), with a one-line
 * English message in the caller-owned buffer err (SYMCHECK_ERR_LEN bytes).
 * A rejected submission is not an error: see struct symcheck_result.
 */
#ifndef GRADER_SYMCHECK_H
#define GRADER_SYMCHECK_H

#include <stddef.h>

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
 * Checks the objects compiled from r's TODO files in objdir (for a TODO
 * file "x.c", objdir/x.o; without a "todo" list, every objdir/ *.o). The
 * tools' output goes to files named logbase.nm.log, logbase.sections.log
 * and logbase.disasm.log. r->symbols must not be NULL. Fills *res (clear
 * it with symcheck_clear, also after a failure).
 */
int symcheck_run(const struct rubric *r, const char *objdir,
                 const char *logbase, struct symcheck_result *res,
                 char err[SYMCHECK_ERR_LEN]);

/* Frees what res holds and zeroes it. */
void symcheck_clear(struct symcheck_result *res);

#endif

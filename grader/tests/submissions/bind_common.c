/*
 * Class 14: interposition through a common definition (nm kind C) of a C
 * library variable, stdout: linked in, it would take the place of the C
 * library's own.  Expected: REJECTED by the static check, 0 points.
 */
__attribute__((common)) FILE *stdout;

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

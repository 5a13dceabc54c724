/*
 * Class 14: interposition through a GNU unique definition (nm kind u) of a
 * C library variable, optind; C has no other way to make one than an
 * assembler directive.  Expected: REJECTED by the static check (inline
 * assembly, and the unique symbol), 0 points.
 */
extern int optind;
__asm__(".type optind, @gnu_unique_object");
int optind = 1;

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

/*
 * Class 14: include laundering by a linemarker: marking what follows as a
 * system header (flag 3) hid an #include of the reference solution from
 * the old include check.  The whole TODO file (not wrapped around the
 * reference: it includes it).  Expected: REJECTED by the static check,
 * 0 points.
 */
# 1 "/usr/include/stdio.h" 3
#include "@SOLUTION@"

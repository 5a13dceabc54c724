/*
 * Class 14: include laundering by #pragma GCC system_header (and the same
 * through the _Pragma operator) before an #include of the reference
 * solution.  The whole TODO file.  Expected: REJECTED by the static check,
 * 0 points.
 */
#pragma GCC system_header
#define HIDE _Pragma("GCC system_header")
HIDE
#include "@SOLUTION@"

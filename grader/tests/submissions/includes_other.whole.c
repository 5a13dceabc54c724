/*
 * Class 14: a plain #include of the reference solution.  The whole TODO
 * file.  Expected: REJECTED by the static check (the preprocessed text
 * reads a file that is not one of the exercise's headers), 0 points.
 */
#include "@SOLUTION@"

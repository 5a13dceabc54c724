/*
 * Class 14: interposition through a weak definition of a C library
 * function (nm kind W).  Linked into the subject, it would replace malloc
 * for the whole process, libevent included.  Expected: REJECTED by the
 * static check, 0 points.
 */
__attribute__((weak)) void *malloc(size_t size)
{
    return calloc(1, size);
}

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

/* Graded with --no-static-check. In the 3-URL concurrent test, allocates
 * and touches 16 MiB blocks until malloc fails (RLIMIT_AS), then writes
 * through the NULL it got: CRASH, 0 for that test only. */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    const size_t block = 16u << 20;
    char *p;

    if (n == 3) {
        do {
            p = malloc(block);
            memset(p, 1, block); /* unchecked: crashes once malloc fails */
        } while (p != NULL);
    }
    return ref_fetch_concurrent(PASS);
}

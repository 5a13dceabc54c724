/*
 * The subject's limits (DESIGN.md, invariant 5), with --no-static-check:
 * three tests whose subject misbehaves and is ended by its sandbox, each
 * failing alone.
 *   ex01_sequential::elapsed_time_of_each_url (3 URLs, sequential): exit(0)
 *     before answering: an early exit is no pass;
 *   ex01_concurrent::http_status_is_reported (3 URLs, concurrent): takes
 *     16 MiB blocks until malloc fails (RLIMIT_AS), then writes through the
 *     NULL it got (with MALLOC_PERTURB_ off: malloc would fill each block,
 *     and a second of memset is longer than the judge waits for a start);
 *   ex01_concurrent::large_body_is_intact (2 URLs, 5 s timeout): prints for
 *     ever, 60 KiB at a time, until RLIMIT_FSIZE stops its log (in lines of
 *     60 bytes, 64 MiB take seconds of system calls, and the judge would
 *     fail the test first because nothing was started).
 */
#include <malloc.h>

int ex01_fetch_sequential(ARGS)
{
    if (n == 3)
        exit(0);
    return ref_fetch_sequential(PASS);
}

int ex01_fetch_concurrent(ARGS)
{
    if (n == 3) {
        char *p;
        mallopt(M_PERTURB, 0);   /* no fill: see above */
        do {
            p = malloc(16u << 20);
            *(volatile char *)p = 1;   /* unchecked: crashes once malloc fails */
        } while (p != NULL);
    }
    if (n == 2 && timeout_ms == 5000) {
        static char block[1024 * 60];
        for (size_t i = 0; i < sizeof block; i += 60)
            memcpy(block + i, "flood flood flood flood flood flood flood flood flood flood\n", 60);
        for (;;)
            fwrite(block, 1, sizeof block, stdout);
    }
    return ref_fetch_concurrent(PASS);
}

/* Graded with --no-static-check. A fork bomb in one test (the 5-URL
 * sequential one): the harness's seccomp filter makes every fork() fail,
 * so the loop spins until Criterion's timeout: TIMEOUT, 0 for that test
 * only. */
int ex01_fetch_sequential(ARGS)
{
    if (n == 5)
        for (;;)
            fork();
    return ref_fetch_sequential(PASS);
}
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

/* Graded with --no-static-check. Prints forever in the test of the 1 MiB
 * bodies (2 URLs, 5 s timeout): the grader keeps 64 KiB, stops the run
 * after 16 MiB, and that test alone scores 0 (FAIL). */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    if (n == 2 && timeout_ms == 5000)
        for (;;)
            fputs("flood flood flood flood flood flood flood flood flood\n",
                  stdout);
    return ref_fetch_concurrent(PASS);
}

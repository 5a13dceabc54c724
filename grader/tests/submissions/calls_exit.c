/* Expected: REJECTED by the static check (exit), 0 points. */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    if (n == 3)
        exit(0); /* the 3-URL test "passes" with no assertion */
    return ref_fetch_concurrent(PASS);
}

/* Expected: REJECTED by the static check (fork), 0 points. */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    if (n == 1000 && fork() == 0)
        pause();
    return ref_fetch_concurrent(PASS);
}

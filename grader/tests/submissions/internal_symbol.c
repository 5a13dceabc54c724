/*
 * Class 14: a libevent internal function, which the rubric's evutil_*
 * pattern would admit by its name: evutil_open_closeonexec_() opens any
 * file.  No public header declares it (its name ends in '_'), so the
 * static check refuses it.  Expected: REJECTED, 0 points.
 */
int evutil_open_closeonexec_(const char *pathname, int flags, unsigned mode);

int ex01_fetch_sequential(ARGS)
{
    int fd = evutil_open_closeonexec_("../../solutions/ex01_comparison/ex01.c", 0, 0);

    (void)fd;
    return ref_fetch_sequential(PASS);
}
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

/*
 * Class 14: interposition through an indirect function (nm kind i) named
 * like a libevent function, event_base_loop: its resolver would run when
 * the program is loaded, before any sandbox.  Expected: REJECTED by the
 * static check, 0 points.
 */
static int my_loop(struct event_base *b, int flags)
{
    (void)b;
    (void)flags;
    return 0;
}

static void *resolve_loop(void)
{
    return (void *)(size_t)my_loop;
}

int event_base_loop(struct event_base *, int) __attribute__((ifunc("resolve_loop")));

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

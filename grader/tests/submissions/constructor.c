/* Expected: REJECTED by the static check (.init_array), 0 points: a
 * constructor runs before main, outside any test and before the sandbox. */
static int early_ran;

__attribute__((constructor)) static void early(void) { early_ran = 1; }

int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS)
{
    return early_ran ? ref_fetch_concurrent(PASS) : -1;
}

/* Expected: REJECTED by the static check, 0 points: a helper and a
 * variable that are not static are global symbols the rubric does not
 * export (one with the name of a library function would replace it). */
int calls_made;

int count_call(void);
int count_call(void) { return ++calls_made; }

int ex01_fetch_sequential(ARGS)
{
    count_call();
    return ref_fetch_sequential(PASS);
}
int ex01_fetch_concurrent(ARGS)
{
    count_call();
    return ref_fetch_concurrent(PASS);
}

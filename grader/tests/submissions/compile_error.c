/* Expected: 0 points, UNGRADABLE: "does not compile". */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS) }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

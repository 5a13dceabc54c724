/* Expected: REJECTED by the static check (it includes a file from another
 * exercise; the solutions would be caught the same way), 0 points. */
#include "../../skeletons/ex02_rate_limiter/ex02_http.h"
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_concurrent(PASS); }

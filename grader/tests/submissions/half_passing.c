/* Passes the static check. The concurrent driver is the sequential one:
 * exactly ex01_concurrent::results_follow_url_order,
 * ex01_concurrent::all_requests_in_flight_at_once and
 * ex01_concurrent::two_hundred_urls_at_once fail. */
int ex01_fetch_sequential(ARGS) { return ref_fetch_sequential(PASS); }
int ex01_fetch_concurrent(ARGS) { return ref_fetch_sequential(PASS); }

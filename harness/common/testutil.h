/*
 * testutil.h - small helpers shared by the Criterion harnesses.
 *
 * WB_ASSERT_NO_LEAKS() ends a test that must be leak-free: in a sanitizer
 * build (make memcheck) it asks LeakSanitizer for a report now and fails the
 * test when anything leaked, since Criterion would otherwise pass a test whose
 * process leaks at exit.  Elsewhere it does nothing.  Free everything the
 * test allocated before calling it.
 */
#ifndef WB_TESTUTIL_H
#define WB_TESTUTIL_H

#include <criterion/criterion.h>

#if defined(__SANITIZE_ADDRESS__)
#define WB_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WB_HAVE_LSAN 1
#endif
#endif

#ifdef WB_HAVE_LSAN
int __lsan_do_recoverable_leak_check(void);
#define WB_ASSERT_NO_LEAKS()                                                  \
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,                       \
                 "memory leaked (see LeakSanitizer's report above): free "    \
                 "every body, connection and request before returning")
#else
#define WB_ASSERT_NO_LEAKS() ((void)0)
#endif

#endif /* WB_TESTUTIL_H */

/*
 * subject_io.h - the subject's side of the judge's channel (see subject.h):
 * jobs arrive on fd 3 and answers leave on fd 4, one JSON object per line.
 *
 * A subject program (given code, linked with the student's code) calls
 * sio_init() first thing in main(): it confines the process (the seccomp
 * filter of sandbox.h, without exec) and checks that the channel is there.
 * Then it reads jobs with sio_read_job(), does them with the student's
 * functions, and answers each with sio_answer(), echoing the job's "id".
 * Unsolicited lines (events, such as "job 3 started") go out with
 * sio_event().  Anything the subject writes is a claim that the judge
 * checks; stdout and stderr are free for the student's own prints (they go
 * to a log the judge shows on failure).
 */
#ifndef WB_SUBJECT_IO_H
#define WB_SUBJECT_IO_H

#include <jansson.h>

/* The channel's file descriptors in a subject. */
#define SIO_JOB_FD 3
#define SIO_ANSWER_FD 4

/*
 * Confines the process and checks the channel.  Exits with status 2 and a
 * message on stderr when fd 3 or 4 is missing (the program was run by hand:
 * it says how to run it), or, under WB_REQUIRE_SANDBOX=1, when the filter
 * cannot be installed.  `name` is the program's name for messages.
 */
void sio_init(const char *name);

/*
 * Reads the next job (blocking).  Returns a new reference to a JSON object,
 * or NULL at the end of the channel (the judge is done: return from main)
 * or when a line is not a JSON object (a message on stderr).
 */
json_t *sio_read_job(void);

/*
 * Writes obj as one line on the answer channel, with "id" copied from job
 * (when job is not NULL), and drops the caller's reference to obj.
 * Returns 0, or -1 when the channel is gone.
 */
int sio_answer(const json_t *job, json_t *obj);

/* Same as sio_answer(NULL, obj): a line without an id. */
int sio_event(json_t *obj);

/* Hex of n bytes as a new JSON string (lowercase); NULL on no memory. */
json_t *sio_hex(const void *data, size_t n);

/*
 * Decodes a hex JSON string into a malloc'd buffer (plus a '\0' after it).
 * Returns it with *n set, or NULL when str is not valid hex.
 */
unsigned char *sio_unhex(const json_t *str, size_t *n);

#endif /* WB_SUBJECT_IO_H */

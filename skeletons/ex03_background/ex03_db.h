/*
 * ex03_db.h - the SQLite side of exercise 3 (given code, ex03_db.c).
 *
 * One `struct ex03_db` is one connection to the database file, with its
 * statements prepared once at open.  Every function runs on the loop thread
 * and returns quickly: in WAL mode with synchronous=NORMAL an insert takes
 * tens of microseconds, so calling SQLite from a handler is fine (see the
 * guide: "when sync is fine").
 *
 * Group commit (see the guide: "what one loop turn buys you").  The writes
 * of one loop turn share one transaction: the turn's first write opens it
 * and calls the turn hook, and the server commits it with
 * ex03_db_end_turn() once every callback of the turn has run, before the
 * loop writes the turn's replies and notifications to their sockets.  A
 * handler still writes its rows between ex03_db_begin() and
 * ex03_db_commit() (a savepoint inside the turn's transaction), and
 * ex03_db_rollback() still undoes that handler's rows and nothing else.
 * So: rows you ex03_db_commit() before replying are durable before the
 * reply leaves; 300 users that arrive in one turn cost one COMMIT, not 300.
 *
 * The schema:
 *   users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, email TEXT
 *         UNIQUE COLLATE NOCASE, created_at TEXT)
 *   outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER,
 *          event TEXT, idempotency_key TEXT UNIQUE, payload TEXT,
 *          attempts INTEGER, last_error TEXT, created_at TEXT,
 *          delivered_at TEXT)        -- delivered_at NULL: still pending
 * AUTOINCREMENT: an id is never given twice, so neither is an idempotency
 * key.  Times are UTC, "YYYY-MM-DDTHH:MM:SS.sssZ".
 *
 * Return codes: EX03_DB_OK (0), EX03_DB_NOT_FOUND, EX03_DB_CONFLICT (a
 * UNIQUE constraint refused the row), EX03_DB_ERROR (anything else; the
 * message is in ex03_db_errmsg()).  Text goes in through bound parameters
 * only, never pasted into SQL, so "'); DROP TABLE users;--" is just a name.
 */
#ifndef EX03_DB_H
#define EX03_DB_H

#include <stddef.h>
#include <stdint.h>

#include "ex03.h"

enum ex03_db_rc {
    EX03_DB_OK = 0,
    EX03_DB_NOT_FOUND = 1,
    EX03_DB_CONFLICT = 2,
    EX03_DB_ERROR = -1
};

struct ex03_db;

/* A user row.  Strings are NUL-terminated copies. */
struct ex03_user {
    int64_t id;
    char name[EX03_NAME_MAX_CHARS * 4 + 1];     /* UTF-8: up to 4 bytes a char */
    char email[EX03_EMAIL_MAX_BYTES + 1];
    char created_at[32];
};

/*
 * Opens (or creates) the database at `path`, sets WAL mode,
 * synchronous=NORMAL and a busy timeout, creates the tables when absent and
 * prepares the statements.  Returns EX03_DB_OK and the connection in *out
 * (free it with ex03_db_close()), or EX03_DB_ERROR with a reason in err.
 */
int ex03_db_open(const char *path, struct ex03_db **out, char *err, size_t errlen);

/* Commits the open turn (ex03_db_end_turn()), finalizes the statements and
 * closes the connection.  NULL is a no-op. */
void ex03_db_close(struct ex03_db *db);

/* The message of the last error on this connection. */
const char *ex03_db_errmsg(const struct ex03_db *db);

/*
 * A handler's transaction: its rows are kept together, or dropped together.
 * ex03_db_begin() starts it (EX03_DB_ERROR when one is already open: end
 * each one in the handler that began it), ex03_db_commit() keeps its rows
 * (they are committed with the turn's, before any reply leaves; EX03_DB_ERROR
 * when none is open), ex03_db_rollback() drops them (harmless when none is
 * open).  EX03_DB_OK or EX03_DB_ERROR.
 */
int ex03_db_begin(struct ex03_db *db);
int ex03_db_commit(struct ex03_db *db);
int ex03_db_rollback(struct ex03_db *db);

/*
 * For the server (given code).  ex03_db_set_turn_hook(): `cb(arg)` is
 * called when a loop turn's first write opens the turn's transaction.
 * ex03_db_end_turn(): commits it (a no-op when nothing was written).  A
 * handler's transaction still open then was never ended: its rows are
 * dropped, a message goes to stderr and every later ex03_db_begin() fails,
 * as after a BEGIN that is never committed.  EX03_DB_OK, or EX03_DB_ERROR
 * when the COMMIT failed (the turn's rows are then rolled back).
 */
void ex03_db_set_turn_hook(struct ex03_db *db, void (*cb)(void *arg), void *arg);
int ex03_db_end_turn(struct ex03_db *db);

/*
 * Inserts a user (name and email as given: validate them first) and fills
 * *out with the new row (its id from the database, created_at the time now).
 * EX03_DB_OK, EX03_DB_CONFLICT when the email exists (any case), or
 * EX03_DB_ERROR.  Call it inside a transaction when more rows must go with
 * it.
 */
int ex03_db_insert_user(struct ex03_db *db, const char *name, const char *email,
                        struct ex03_user *out);

/*
 * Inserts a pending outbox row for `user_id`: the event name, the
 * idempotency key and the payload (the body to POST, JSON text).  Sets
 * *outbox_id.  EX03_DB_OK, EX03_DB_CONFLICT (the key exists), EX03_DB_ERROR.
 */
int ex03_db_insert_outbox(struct ex03_db *db, int64_t user_id, const char *event,
                          const char *key, const char *payload, int64_t *outbox_id);

/* Reads user `id` into *out: EX03_DB_OK, EX03_DB_NOT_FOUND or EX03_DB_ERROR. */
int ex03_db_get_user(struct ex03_db *db, int64_t id, struct ex03_user *out);

/*
 * Calls each(user, arg) for at most `limit` users by increasing id; stops
 * early when `each` returns non-zero.  EX03_DB_OK or EX03_DB_ERROR.
 */
int ex03_db_list_users(struct ex03_db *db, long limit,
                       int (*each)(const struct ex03_user *user, void *arg), void *arg);

/*
 * Calls each(outbox_id, key, payload, arg) for every pending outbox row, by
 * increasing id; the strings are valid during the call only.  Stops early
 * when `each` returns non-zero.  EX03_DB_OK or EX03_DB_ERROR.
 */
int ex03_db_outbox_pending(struct ex03_db *db,
                           int (*each)(int64_t outbox_id, const char *key,
                                       const char *payload, void *arg),
                           void *arg);

/* Counts one failed attempt of outbox row `outbox_id` and records why
 * (`error` may be NULL).  EX03_DB_OK or EX03_DB_ERROR. */
int ex03_db_outbox_failed(struct ex03_db *db, int64_t outbox_id, const char *error);

/* Counts the successful attempt and sets delivered_at: the row is no longer
 * pending.  EX03_DB_OK or EX03_DB_ERROR. */
int ex03_db_outbox_delivered(struct ex03_db *db, int64_t outbox_id);

/* Number of pending outbox rows, or -1 on error. */
long ex03_db_outbox_count_pending(struct ex03_db *db);

#endif /* EX03_DB_H */

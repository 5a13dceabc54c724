/*
 * ex03_db.c - given code for exercise 3: SQLite open, schema and prepared
 * statements (see ex03_db.h).  Not a TODO file.
 */
#include "ex03_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define EX03_BUSY_TIMEOUT_MS 2000

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  event TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL UNIQUE,"
    "  payload TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created_at TEXT NOT NULL,"
    "  delivered_at TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE delivered_at IS NULL;";

/* The prepared statements, in the order of their SQL below. */
enum stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_INSERT_USER, ST_INSERT_OUTBOX,
    ST_GET_USER, ST_LIST_USERS, ST_PENDING, ST_FAILED, ST_DELIVERED,
    ST_COUNT_PENDING, ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT request",
    [ST_RELEASE] = "RELEASE request",
    [ST_ROLLBACK_TO] = "ROLLBACK TO request",
    [ST_INSERT_USER] = "INSERT INTO users(name, email, created_at) VALUES (?1, ?2, ?3)",
    [ST_INSERT_OUTBOX] = "INSERT INTO outbox(user_id, event, idempotency_key, payload, created_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_GET_USER] = "SELECT id, name, email, created_at FROM users WHERE id = ?1",
    [ST_LIST_USERS] = "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT ?1",
    [ST_PENDING] = "SELECT id, idempotency_key, payload FROM outbox"
                   " WHERE delivered_at IS NULL ORDER BY id",
    [ST_FAILED] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
    [ST_DELIVERED] = "UPDATE outbox SET attempts = attempts + 1, last_error = NULL,"
                     " delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
    [ST_COUNT_PENDING] = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
};

/*
 * Group commit.  The first write of a loop turn opens the turn's
 * transaction (BEGIN IMMEDIATE) and calls the turn hook, which makes the
 * server call ex03_db_end_turn() once the callbacks of the turn have run:
 * one COMMIT for every request served in the turn.  Inside it, the
 * transaction of a handler (ex03_db_begin() ... ex03_db_commit()) is a
 * savepoint, so that ex03_db_rollback() undoes that handler's rows only.
 */
struct ex03_db {
    sqlite3 *conn;
    sqlite3_stmt *st[ST_COUNT];
    int turn_open;                  /* BEGIN IMMEDIATE done, COMMIT to come */
    int in_request;                 /* a handler's savepoint is open */
    int left_open;                  /* ... and was left open at a turn's end */
    void (*on_turn)(void *arg);
    void *on_turn_arg;
};

static void set_err(char *err, size_t errlen, const char *what, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", what, why);
}

int ex03_db_open(const char *path, struct ex03_db **out, char *err, size_t errlen)
{
    struct ex03_db *db = NULL;
    char *msg = NULL;

    if (out == NULL || path == NULL || path[0] == '\0') {
        set_err(err, errlen, "ex03_db_open", "no database path");
        return EX03_DB_ERROR;
    }
    *out = NULL;
    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        set_err(err, errlen, "ex03_db_open", "out of memory");
        return EX03_DB_ERROR;
    }
    /* No global statistics of SQLite's memory use: they take a lock around
     * every allocation (a tenth of the time of an insert).  Only possible
     * before SQLite's first use; later calls fail, harmlessly. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        set_err(err, errlen, path, db->conn ? sqlite3_errmsg(db->conn) : "cannot open");
        goto err;
    }
    sqlite3_busy_timeout(db->conn, EX03_BUSY_TIMEOUT_MS);
    /* WAL: readers never block the writer, and a commit is one append to the
     * log; synchronous=NORMAL syncs at checkpoints rather than at every
     * commit (a power cut may lose the last commits, never corrupt). */
    if (sqlite3_exec(db->conn, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db->conn, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errlen, path, msg ? msg : sqlite3_errmsg(db->conn));
        sqlite3_free(msg);
        goto err;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(db->conn, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &db->st[i], NULL) != SQLITE_OK) {
            set_err(err, errlen, stmt_sql[i], sqlite3_errmsg(db->conn));
            goto err;
        }
    }
    *out = db;
    return EX03_DB_OK;
err:
    ex03_db_close(db);
    return EX03_DB_ERROR;
}

void ex03_db_close(struct ex03_db *db)
{
    if (db == NULL)
        return;
    ex03_db_end_turn(db);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_close(db->conn);
    free(db);
}

const char *ex03_db_errmsg(const struct ex03_db *db)
{
    return db && db->conn ? sqlite3_errmsg(db->conn) : "no database";
}

/* Runs a statement that returns no row, then resets it. */
static int step_done(struct ex03_db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(db->conn);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return EX03_DB_OK;
    if (rc == SQLITE_CONSTRAINT && (ext == SQLITE_CONSTRAINT_UNIQUE ||
                                    ext == SQLITE_CONSTRAINT_PRIMARYKEY))
        return EX03_DB_CONFLICT;
    return EX03_DB_ERROR;
}

void ex03_db_set_turn_hook(struct ex03_db *db, void (*cb)(void *arg), void *arg)
{
    db->on_turn = cb;
    db->on_turn_arg = arg;
}

/* Opens the turn's transaction if it is not open yet. */
static int turn_begin(struct ex03_db *db)
{
    if (db->turn_open)
        return EX03_DB_OK;
    if (step_done(db, db->st[ST_BEGIN]) != EX03_DB_OK)
        return EX03_DB_ERROR;
    db->turn_open = 1;
    if (db->on_turn != NULL)
        db->on_turn(db->on_turn_arg);
    return EX03_DB_OK;
}

int ex03_db_end_turn(struct ex03_db *db)
{
    int rc;

    if (db == NULL || !db->turn_open)
        return EX03_DB_OK;
    if (db->in_request && !db->left_open) {
        /* A handler began a transaction and never ended it: like a real
         * transaction that is never committed, its rows are dropped and
         * every later ex03_db_begin() fails. */
        fprintf(stderr, "ex03_db: a transaction was left open at the end of a loop turn: "
                "end it in the same handler, with ex03_db_commit() or ex03_db_rollback(); "
                "every later ex03_db_begin() fails\n");
        db->left_open = 1;
    }
    if (db->in_request)
        step_done(db, db->st[ST_ROLLBACK_TO]);
    rc = step_done(db, db->st[ST_COMMIT]);
    db->turn_open = 0;
    if (rc == EX03_DB_OK)
        return EX03_DB_OK;
    /* SQLite may have rolled back already (then ROLLBACK would replace the
     * COMMIT's message, which ex03_db_errmsg() gives). */
    if (!sqlite3_get_autocommit(db->conn) && step_done(db, db->st[ST_ROLLBACK]) != EX03_DB_OK)
        db->turn_open = 1;                 /* still open: the next turn retries */
    return EX03_DB_ERROR;
}

int ex03_db_begin(struct ex03_db *db)
{
    if (db->in_request || turn_begin(db) != EX03_DB_OK ||
        step_done(db, db->st[ST_SAVEPOINT]) != EX03_DB_OK)
        return EX03_DB_ERROR;
    db->in_request = 1;
    return EX03_DB_OK;
}

int ex03_db_commit(struct ex03_db *db)
{
    if (!db->in_request)
        return EX03_DB_ERROR;              /* no transaction open */
    if (db->left_open) {                   /* its rows were dropped */
        db->in_request = db->left_open = 0;
        return EX03_DB_ERROR;
    }
    if (step_done(db, db->st[ST_RELEASE]) != EX03_DB_OK)
        return EX03_DB_ERROR;
    db->in_request = 0;
    return EX03_DB_OK;
}

int ex03_db_rollback(struct ex03_db *db)
{
    if (!db->in_request)
        return EX03_DB_OK;                 /* no transaction open */
    if (db->left_open) {                   /* its rows were dropped already */
        db->in_request = db->left_open = 0;
        return EX03_DB_OK;
    }
    if (step_done(db, db->st[ST_ROLLBACK_TO]) != EX03_DB_OK ||
        step_done(db, db->st[ST_RELEASE]) != EX03_DB_OK)
        return EX03_DB_ERROR;
    db->in_request = 0;
    return EX03_DB_OK;
}

/* The time now, UTC, as "YYYY-MM-DDTHH:MM:SS.sssZ" (24 bytes and the NUL).
 * Rows get their times from here, bound as parameters: one clock read per
 * row, cheaper than SQLite's strftime() and INSERT ... RETURNING.  The
 * date and time of day are formatted once per second (loop thread only:
 * the database is never used from another thread). */
static void now_utc(char out[32])
{
    static time_t last_sec = -1;
    static char last[24];                    /* "YYYY-MM-DDTHH:MM:SS" of last_sec */
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last_sec) {
        strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
        last_sec = ts.tv_sec;
    }
    snprintf(out, 32, "%s.%03dZ", last, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static void read_user(sqlite3_stmt *st, struct ex03_user *u)
{
    u->id = sqlite3_column_int64(st, 0);
    copy_text(u->name, sizeof(u->name), st, 1);
    copy_text(u->email, sizeof(u->email), st, 2);
    copy_text(u->created_at, sizeof(u->created_at), st, 3);
}

int ex03_db_insert_user(struct ex03_db *db, const char *name, const char *email,
                        struct ex03_user *out)
{
    sqlite3_stmt *st = db->st[ST_INSERT_USER];
    char created_at[32];
    int rc;

    if (name == NULL || email == NULL || out == NULL || turn_begin(db) != EX03_DB_OK)
        return EX03_DB_ERROR;
    now_utc(created_at);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, created_at, -1, SQLITE_STATIC);
    rc = step_done(db, st);
    if (rc == EX03_DB_OK) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_last_insert_rowid(db->conn);
        snprintf(out->name, sizeof(out->name), "%s", name);
        snprintf(out->email, sizeof(out->email), "%s", email);
        memcpy(out->created_at, created_at, sizeof(created_at));
    }
    return rc;
}

int ex03_db_insert_outbox(struct ex03_db *db, int64_t user_id, const char *event,
                          const char *key, const char *payload, int64_t *outbox_id)
{
    sqlite3_stmt *st = db->st[ST_INSERT_OUTBOX];
    char created_at[32];
    int rc;

    if (event == NULL || key == NULL || payload == NULL || turn_begin(db) != EX03_DB_OK)
        return EX03_DB_ERROR;
    now_utc(created_at);
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, payload, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, created_at, -1, SQLITE_STATIC);
    rc = step_done(db, st);
    if (rc == EX03_DB_OK && outbox_id != NULL)
        *outbox_id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

int ex03_db_get_user(struct ex03_db *db, int64_t id, struct ex03_user *out)
{
    sqlite3_stmt *st = db->st[ST_GET_USER];
    int rc, ret;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_user(st, out);
        ret = EX03_DB_OK;
    } else {
        ret = rc == SQLITE_DONE ? EX03_DB_NOT_FOUND : EX03_DB_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int ex03_db_list_users(struct ex03_db *db, long limit,
                       int (*each)(const struct ex03_user *, void *), void *arg)
{
    sqlite3_stmt *st = db->st[ST_LIST_USERS];
    struct ex03_user u;
    int rc;

    sqlite3_bind_int64(st, 1, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_user(st, &u);
        if (each(&u, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_outbox_pending(struct ex03_db *db,
                           int (*each)(int64_t, const char *, const char *, void *),
                           void *arg)
{
    sqlite3_stmt *st = db->st[ST_PENDING];
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *key = sqlite3_column_text(st, 1);
        const unsigned char *payload = sqlite3_column_text(st, 2);
        if (each(sqlite3_column_int64(st, 0), key ? (const char *)key : "",
                 payload ? (const char *)payload : "", arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_outbox_failed(struct ex03_db *db, int64_t outbox_id, const char *error)
{
    sqlite3_stmt *st = db->st[ST_FAILED];

    if (turn_begin(db) != EX03_DB_OK)
        return EX03_DB_ERROR;
    sqlite3_bind_int64(st, 1, outbox_id);
    if (error != NULL)
        sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
    return step_done(db, st) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_outbox_delivered(struct ex03_db *db, int64_t outbox_id)
{
    sqlite3_stmt *st = db->st[ST_DELIVERED];
    char delivered_at[32];

    if (turn_begin(db) != EX03_DB_OK)
        return EX03_DB_ERROR;
    now_utc(delivered_at);
    sqlite3_bind_int64(st, 1, outbox_id);
    sqlite3_bind_text(st, 2, delivered_at, -1, SQLITE_STATIC);
    return step_done(db, st) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
}

long ex03_db_outbox_count_pending(struct ex03_db *db)
{
    sqlite3_stmt *st = db->st[ST_COUNT_PENDING];
    long n = -1;

    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

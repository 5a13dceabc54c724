/*
 * ex03_db.c - given code for exercise 3: SQLite open, schema and prepared
 * statements (see ex03_db.h).  Not a TODO file.
 */
#include "ex03_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/* The prepared statements, in the order of their SQL below. */
enum stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INSERT_USER, ST_INSERT_OUTBOX,
    ST_GET_USER, ST_LIST_USERS, ST_PENDING, ST_FAILED, ST_DELIVERED,
    ST_COUNT_PENDING, ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT_USER] = "INSERT INTO users(name, email, created_at) VALUES (?1, ?2, " NOW_SQL ")"
                       " RETURNING id, created_at",
    [ST_INSERT_OUTBOX] = "INSERT INTO outbox(user_id, event, idempotency_key, payload, created_at)"
                         " VALUES (?1, ?2, ?3, ?4, " NOW_SQL ")",
    [ST_GET_USER] = "SELECT id, name, email, created_at FROM users WHERE id = ?1",
    [ST_LIST_USERS] = "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT ?1",
    [ST_PENDING] = "SELECT id, idempotency_key, payload FROM outbox"
                   " WHERE delivered_at IS NULL ORDER BY id",
    [ST_FAILED] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
    [ST_DELIVERED] = "UPDATE outbox SET attempts = attempts + 1, last_error = NULL,"
                     " delivered_at = " NOW_SQL " WHERE id = ?1 AND delivered_at IS NULL",
    [ST_COUNT_PENDING] = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
};

struct ex03_db {
    sqlite3 *conn;
    sqlite3_stmt *st[ST_COUNT];
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

int ex03_db_begin(struct ex03_db *db)
{
    return step_done(db, db->st[ST_BEGIN]) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_commit(struct ex03_db *db)
{
    return step_done(db, db->st[ST_COMMIT]) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_rollback(struct ex03_db *db)
{
    if (sqlite3_get_autocommit(db->conn))
        return EX03_DB_OK;                 /* no transaction open */
    return step_done(db, db->st[ST_ROLLBACK]) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
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
    int rc, ext, ret = EX03_DB_ERROR;

    if (name == NULL || email == NULL || out == NULL)
        return EX03_DB_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, email, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        snprintf(out->name, sizeof(out->name), "%s", name);
        snprintf(out->email, sizeof(out->email), "%s", email);
        copy_text(out->created_at, sizeof(out->created_at), st, 1);
        rc = sqlite3_step(st);               /* finish the statement */
        ret = rc == SQLITE_DONE ? EX03_DB_OK : EX03_DB_ERROR;
    } else {
        ext = sqlite3_extended_errcode(db->conn);
        if (rc == SQLITE_CONSTRAINT && ext == SQLITE_CONSTRAINT_UNIQUE)
            ret = EX03_DB_CONFLICT;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int ex03_db_insert_outbox(struct ex03_db *db, int64_t user_id, const char *event,
                          const char *key, const char *payload, int64_t *outbox_id)
{
    sqlite3_stmt *st = db->st[ST_INSERT_OUTBOX];
    int rc;

    if (event == NULL || key == NULL || payload == NULL)
        return EX03_DB_ERROR;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, event, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, payload, -1, SQLITE_TRANSIENT);
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

    sqlite3_bind_int64(st, 1, outbox_id);
    if (error != NULL)
        sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
    return step_done(db, st) == EX03_DB_OK ? EX03_DB_OK : EX03_DB_ERROR;
}

int ex03_db_outbox_delivered(struct ex03_db *db, int64_t outbox_id)
{
    sqlite3_stmt *st = db->st[ST_DELIVERED];

    sqlite3_bind_int64(st, 1, outbox_id);
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

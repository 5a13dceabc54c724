/*
 * ex03_internal.h - the server's insides, shared by the given code
 * (ex03_server.c) and your ex03.c.  Do not edit it.
 *
 * Who does what:
 *   ex03_server.c (given)  starts and stops the server, owns the lists below
 *                          and frees what is left in them at the end, routes
 *                          each request, and answers GET /users..., /health
 *                          and /sync.
 *   ex03.c (yours)         POST /users, the outbox's delivery, /async, /cpu:
 *                          the functions at the end of this header.
 *
 * Everything here runs on the loop thread, except what is marked "worker".
 * The given code writes the replies answered in a loop turn itself, after
 * the turn's COMMIT (ex03_server.c, turn_end_cb()), and uses the close
 * callback of the clients' connections for that: do not set one
 * (evhttp_connection_set_closecb()) on a connection evhttp gave you.
 */
#ifndef EX03_INTERNAL_H
#define EX03_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

#include "ex03.h"
#include "ex03_db.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_connection;
struct evhttp_request;

/* The event name of the notification, and the prefix of its key. */
#define EX03_EVENT_USER_CREATED "user.created"
#define EX03_KEY_PREFIX "user-created-"

/*
 * A request answered later, from a timer (/async) or after a worker thread
 * (/cpu).  Made by ex03_pending_new(), which links it in server->pending;
 * answer `req` exactly once, then ex03_pending_free() it.  If the server
 * stops first, ex03_server_free() answers 503 and frees it for you.
 */
struct ex03_pending {
    TAILQ_ENTRY(ex03_pending) link;   /* in server->pending */
    struct ex03_server *server;
    struct evhttp_request *req;       /* owned by evhttp until answered */
    struct event *ev;                 /* yours to create: the timer (/async)
                                         or the "work done" event (/cpu);
                                         ex03_pending_free() frees it */
    long ms;                          /* the ms= parameter */
    double start_ms;                  /* ex03_now_ms() at arrival */

    /* /cpu only. */
    pthread_t thread;
    int thread_started;               /* set it once pthread_create() has
                                         succeeded: ex03_pending_free() then
                                         joins the thread */
    atomic_int stop;                  /* set when the server stops: the
                                         worker should return early */
    atomic_int burning;               /* given: 1 while ex03_cpu_burn() runs
                                         on this job (do not touch) */
    /* Written by the worker before it hands the job back, read by the loop
     * thread after (the hand-off orders the two). */
    unsigned long long rounds;
    double worked_ms;
    char digest[17];
};

/* The states of a delivery (see struct ex03_delivery). */
enum ex03_delivery_state {
    EX03_DLV_NEW = 0,     /* made, not yet queued */
    EX03_DLV_READY,       /* in server->ready: waiting for a free connection */
    EX03_DLV_SENDING,     /* its request is in flight on server->conns[slot] */
    EX03_DLV_WAITING      /* its retry timer is armed (backoff) */
};

/*
 * One outbox row on its way to the receiver.  Made by ex03_delivery_new(),
 * which links it in server->deliveries; freed by ex03_delivery_free() once
 * delivered, or by ex03_server_free() when the server stops first (the row
 * then stays pending in the database).
 */
struct ex03_delivery {
    TAILQ_ENTRY(ex03_delivery) link;        /* in server->deliveries */
    TAILQ_ENTRY(ex03_delivery) ready_link;  /* in server->ready, when READY */
    struct ex03_server *server;
    int64_t outbox_id;
    char *key;                              /* "user-created-<id>", owned */
    char *payload;                          /* the JSON body to POST, owned */
    unsigned attempts;                      /* attempts that have ended */
    enum ex03_delivery_state state;
    int slot;                               /* index in server->conns when
                                               SENDING, else -1 */
    struct event *retry_timer;              /* yours to create; freed by
                                               ex03_delivery_free() */
};

TAILQ_HEAD(ex03_pending_list, ex03_pending);
TAILQ_HEAD(ex03_delivery_list, ex03_delivery);

struct ex03_server {
    struct event_base *base;
    struct evhttp *http;
    struct ex03_db *db;

    /* The configuration, defaults applied. */
    size_t max_body;
    unsigned retry_base_ms;
    unsigned retry_max_ms;
    unsigned notify_timeout_ms;

    /* The receiver of the notifications, from notify_url. */
    char *notify_host;                      /* "127.0.0.1" */
    int notify_port;                        /* 80 when the URL has none */
    char *notify_target;                    /* path and query: "/notify" */
    char *notify_hosthdr;                   /* the Host header: "127.0.0.1:9090" */

    /* Connections to the receiver, made at start (given), kept alive and
     * reused; one request in flight on each at most. */
    unsigned nconns;
    struct evhttp_connection **conns;       /* nconns entries */
    unsigned char *conn_busy;               /* conn_busy[i]: conns[i] has a
                                               request in flight */

    struct event *turn_end;                 /* at the end of a loop turn that
                                               has written or answered:
                                               ex03_db_end_turn(), then the
                                               turn's messages go out (given) */
    struct evhttp_connection **answered;    /* the turn's answered clients */
    unsigned nanswered, answered_cap;       /* (given) */

    struct ex03_delivery_list deliveries;   /* every delivery not yet done */
    struct ex03_delivery_list ready;        /* READY ones, oldest first */
    struct ex03_pending_list pending;       /* /async and /cpu not answered */
};

/* ---- Given (ex03_server.c) ---------------------------------------------- */

/* Makes a pending request for `req` (ms and start_ms filled in, ev NULL, no
 * thread) and links it in s->pending.  NULL when out of memory. */
struct ex03_pending *ex03_pending_new(struct ex03_server *s, struct evhttp_request *req,
                                      long ms);

/* Unlinks p and frees it: tells its worker to stop and joins it (if
 * thread_started), frees p->ev.  Does NOT answer p->req: answer first.
 * Loop thread only; never from the worker.  NULL is a no-op.  A job whose
 * worker is still inside ex03_cpu_burn() while thread_started is 0 cannot
 * be freed safely (the worker would write to freed memory): the program
 * then says so on stderr and aborts. */
void ex03_pending_free(struct ex03_pending *p);

/*
 * The CPU-heavy work of /cpu (worker): hashes rounds of 4 KiB for `ms`
 * milliseconds of wall time, or until *stop is set (seen within about
 * 25 ms), and fills p->rounds (as it goes), p->worked_ms and p->digest;
 * p->burning is 1 while it runs.  Touches nothing but p's /cpu fields.
 */
void ex03_cpu_burn(struct ex03_pending *p);

/* Makes a delivery (strings copied, state EX03_DLV_NEW, slot -1, no timer)
 * and links it in s->deliveries.  NULL when out of memory. */
struct ex03_delivery *ex03_delivery_new(struct ex03_server *s, int64_t outbox_id,
                                        const char *key, const char *payload);

/* Unlinks d (from s->deliveries and, when READY, from s->ready), frees its
 * timer and strings, and d.  Never while its request is in flight (SENDING):
 * the request's callback would then use freed memory.  NULL is a no-op. */
void ex03_delivery_free(struct ex03_delivery *d);

/* ---- Yours (ex03.c) ----------------------------------------------------- */

/* POST /users.  Must answer req (201, or an error) before it returns, and
 * start the notification's delivery only after the answer. */
void ex03_handle_create_user(struct ex03_server *s, struct evhttp_request *req);

/* GET /async?ms=N: answer 200 {"waited_ms": N} after N ms, from a timer. */
void ex03_handle_async(struct ex03_server *s, struct evhttp_request *req);

/* GET /cpu?ms=N: run ex03_cpu_burn() on a worker thread, answer from the
 * loop thread. */
void ex03_handle_cpu(struct ex03_server *s, struct evhttp_request *req);

/* Called by ex03_server_new() once the connections exist: queues a delivery
 * for every pending outbox row.  0, or -1 on a database error. */
int ex03_outbox_resume(struct ex03_server *s);

#endif /* EX03_INTERNAL_H */

/*
 * ex03_load.c - exercise 3's side-by-side benchmark driver: one run of
 * POST /users under load against one server (ours or the FastAPI peer),
 * with the receiver of its notifications, then the count of what arrived.
 * Built and called by harness/peers/ex03/run.sh.
 *
 *   ex03-load [--conns N] [--duration S] [--drain-max S] --db FILE
 *             [--log FILE] -- SERVER-COMMAND ARGS...
 *
 * In the server's command, "{PORT}" and "{NOTIFY}" are replaced by the port
 * it must listen on (127.0.0.1) and the receiver's URL.  One run:
 *   1. the receiver starts (its own thread and event_base, evhttp on a free
 *      port): for each notification it counts the id of its Idempotency-Key
 *      "user-created-<id>" (a second one is a duplicate) and keeps the first
 *      arrival time; it answers 200 at once;
 *   2. the server starts (a child process, killed if we die), stdout and
 *      stderr to --log; we wait until its port accepts connections;
 *   3. the load: N kept-alive connections, each sending POST /users (a
 *      distinct email each time) as soon as the previous reply is in, for
 *      S seconds; every reply must be 201; latency = request written to
 *      reply read, per request;
 *   4. the drain: we wait until every created user's notification has
 *      arrived, or --drain-max seconds after the last reply;
 *   5. the server's VmHWM is read, the server gets SIGTERM, the receiver
 *      stops, and the users table of --db is compared with what arrived:
 *      a row without a notification is "lost", a notification received
 *      twice a "duplicate".
 * It prints one line of JSON on stdout (the metrics, see print_result()),
 * progress and problems on stderr.  Exit 0, or 1 when the run could not be
 * made (the server did not start...); a lost row is a metric, not an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include <sqlite3.h>

#define MAX_CONNS 1000
#define START_TIMEOUT_S 20.0        /* the server must accept by then */
#define TAIL_TIMEOUT_S 5.0          /* replies still in flight after the load */
#define KEY_PREFIX "user-created-"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growable array of doubles indexed by user id (0 = nothing yet). */
struct by_id {
    double *v;
    size_t cap;
};

static int by_id_set(struct by_id *a, size_t id, double x)
{
    if (id >= a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap <= id)
            cap *= 2;
        double *v = realloc(a->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        memset(v + a->cap, 0, (cap - a->cap) * sizeof(*v));
        a->v = v;
        a->cap = cap;
    }
    a->v[id] = x;
    return 0;
}

static double by_id_get(const struct by_id *a, size_t id)
{
    return id < a->cap ? a->v[id] : 0;
}

/* ======================================================================== */
/* The receiver: its own thread and loop.                                   */
/* ======================================================================== */

struct receiver {
    struct event_base *base;
    struct evhttp *http;
    int port;
    pthread_t thread;
    /* Written by the receiver's thread; read by the main thread while it
     * runs (the atomics) or after it has been joined (the rest). */
    atomic_long received;       /* notifications, duplicates included */
    atomic_long distinct;       /* distinct ids */
    atomic_llong last_ns;       /* arrival of the latest one */
    long duplicates;
    long malformed;             /* no or bad key, or the body does not name it */
    struct by_id first;         /* first arrival time by id */
    unsigned char *count;       /* arrivals by id (saturates at 255) */
    size_t count_cap;
};

static void receiver_cb(struct evhttp_request *req, void *arg)
{
    struct receiver *r = arg;
    double t = now_s();
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "Idempotency-Key");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char *end = NULL;
    long long id = -1;

    if (key != NULL && strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) == 0)
        id = strtoll(key + strlen(KEY_PREFIX), &end, 10);
    if (id <= 0 || *end != '\0' || id > 100000000 ||
        evbuffer_search(in, key, strlen(key), NULL).pos < 0) {
        r->malformed++;
    } else {
        size_t i = (size_t)id;
        if (i >= r->count_cap) {
            size_t cap = r->count_cap ? r->count_cap : 4096;
            while (cap <= i)
                cap *= 2;
            unsigned char *c = realloc(r->count, cap);
            if (c == NULL) {
                evhttp_send_error(req, 500, "out of memory");
                return;
            }
            memset(c + r->count_cap, 0, cap - r->count_cap);
            r->count = c;
            r->count_cap = cap;
        }
        if (r->count[i] == 0) {
            by_id_set(&r->first, i, t);
            atomic_fetch_add(&r->distinct, 1);
        } else {
            r->duplicates++;
        }
        if (r->count[i] < 255)
            r->count[i]++;
    }
    atomic_fetch_add(&r->received, 1);
    atomic_store(&r->last_ns, (long long)(t * 1e9));
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    event_base_dispatch(r->base);
    return NULL;
}

static int receiver_start(struct receiver *r)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    r->base = event_base_new();
    r->http = r->base ? evhttp_new(r->base) : NULL;
    if (r->http == NULL)
        return -1;
    evhttp_set_gencb(r->http, receiver_cb, r);
    evhttp_set_allowed_methods(r->http, EVHTTP_REQ_POST);
    bs = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", 0);
    if (bs == NULL ||
        getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) != 0)
        return -1;
    r->port = ntohs(sin.sin_port);
    return pthread_create(&r->thread, NULL, receiver_main, r) == 0 ? 0 : -1;
}

/* ======================================================================== */
/* The load: N connections, one request at a time on each.                  */
/* ======================================================================== */

struct load;

struct conn {
    struct load *load;
    struct bufferevent *bev;
    double sent_at;            /* 0: nothing in flight */
    int index;
};

struct load {
    struct event_base *base;
    int port;
    int nconns;
    double start, stop_sending, load_end;
    long next_user;            /* the next email's number */
    long in_flight;
    long created, errors;
    uint32_t *lat_us;          /* one per 201 */
    size_t nlat, caplat;
    struct by_id replied;      /* reply time by user id */
    struct conn conns[MAX_CONNS];
    struct event *tick;
};

static void conn_send(struct conn *c);

static void load_maybe_done(struct load *L)
{
    if (L->in_flight == 0 && now_s() >= L->stop_sending)
        event_base_loopexit(L->base, NULL);
}

static void conn_close(struct conn *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->sent_at > 0) {
        c->sent_at = 0;
        c->load->in_flight--;
    }
}

/* Parses one full response at the head of `in`, if there is one.  Returns 1
 * (status and id set, bytes drained), 0 (incomplete) or -1 (garbage). */
static int parse_response(struct evbuffer *in, int *status, long long *id)
{
    struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    size_t hlen, blen = 0, total;
    char *h, *p, *body;

    if (eoh.pos < 0)
        return evbuffer_get_length(in) > 65536 ? -1 : 0;
    hlen = (size_t)eoh.pos + 4;
    h = (char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
    if (h == NULL || hlen < 12 || strncmp(h, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(h + 9);
    for (p = h; p < h + hlen - 16; p++) {
        if ((p == h || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            blen = strtoul(p + 15, NULL, 10);
            break;
        }
        if ((p == h || p[-1] == '\n') && strncasecmp(p, "transfer-encoding:", 18) == 0)
            return -1;               /* neither server chunks a JSON reply */
    }
    total = hlen + blen;
    if (evbuffer_get_length(in) < total)
        return 0;
    body = (char *)evbuffer_pullup(in, (ev_ssize_t)total) + hlen;
    *id = -1;
    for (size_t i = 0; i + 5 < blen; i++) {
        if (memcmp(body + i, "\"id\":", 5) == 0) {
            *id = strtoll(body + i + 5, NULL, 10);
            break;
        }
    }
    evbuffer_drain(in, total);
    return 1;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct load *L = c->load;
    int status = 0, rc;
    long long id = -1;

    while ((rc = parse_response(bufferevent_get_input(bev), &status, &id)) == 1) {
        double t = now_s();
        if (c->sent_at <= 0) {                       /* a reply to nothing */
            L->errors++;
            continue;
        }
        if (status == 201 && id > 0) {
            double us = (t - c->sent_at) * 1e6;
            if (L->nlat == L->caplat) {
                size_t cap = L->caplat ? L->caplat * 2 : 65536;
                uint32_t *v = realloc(L->lat_us, cap * sizeof(*v));
                if (v == NULL) {
                    L->errors++;
                    continue;
                }
                L->lat_us = v;
                L->caplat = cap;
            }
            L->lat_us[L->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
            L->created++;
            by_id_set(&L->replied, (size_t)id, t);
        } else {
            L->errors++;
        }
        L->load_end = t;
        c->sent_at = 0;
        L->in_flight--;
        conn_send(c);
    }
    if (rc < 0) {
        fprintf(stderr, "ex03-load: connection %d: unreadable response\n", c->index);
        L->errors++;
        conn_close(c);
        load_maybe_done(L);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    fprintf(stderr, "ex03-load: connection %d: %s\n", c->index,
            (what & BEV_EVENT_EOF) ? "closed by the server" : "error");
    c->load->errors++;
    conn_close(c);
    load_maybe_done(c->load);
}

static int conn_open(struct conn *c)
{
    struct load *L = c->load;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)L->port) };

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->bev = bufferevent_socket_new(L->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        return -1;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        return -1;
    }
    int one = 1;
    setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

/* Sends the next POST /users on c, unless the load is over. */
static void conn_send(struct conn *c)
{
    struct load *L = c->load;
    char body[128];
    int blen;

    if (now_s() >= L->stop_sending || c->bev == NULL) {
        load_maybe_done(L);
        return;
    }
    blen = snprintf(body, sizeof(body), "{\"name\":\"User %ld\",\"email\":\"user%ld@example.org\"}",
                    L->next_user, L->next_user);
    L->next_user++;
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "POST /users HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                        L->port, blen, body);
    c->sent_at = now_s();
    L->in_flight++;
}

/* Ends the load at stop_sending even if some connection hangs: then the
 * tail gets TAIL_TIMEOUT_S before we give up on it. */
static void load_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load *L = arg;

    (void)fd;
    (void)what;
    if (now_s() >= L->stop_sending + TAIL_TIMEOUT_S) {
        fprintf(stderr, "ex03-load: %ld replies still missing; giving up on them\n",
                L->in_flight);
        L->errors += L->in_flight;
        event_base_loopexit(L->base, NULL);
    } else {
        load_maybe_done(L);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_sorted_u32(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ======================================================================== */
/* The server process.                                                      */
/* ======================================================================== */

static pid_t server_pid = -1;

static int free_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Returns a copy of `arg` with every "{PORT}" and "{NOTIFY}" replaced. */
static char *substitute(const char *arg, const char *port, const char *notify)
{
    size_t n = strlen(arg) + 1;
    for (const char *p = arg; *p; p++)
        n += strlen(notify) + strlen(port);        /* generous */
    char *out = malloc(n), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = arg; *p;) {
        if (strncmp(p, "{PORT}", 6) == 0) {
            o = stpcpy(o, port);
            p += 6;
        } else if (strncmp(p, "{NOTIFY}", 8) == 0) {
            o = stpcpy(o, notify);
            p += 8;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static pid_t server_spawn(char **argv, const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    /* The child: die with us; output to the log. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(argv[0], argv);
    fprintf(stderr, "ex03-load: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int port_accepts(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU seconds (user + system) the process has used so far. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');            /* after the command's name */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* SIGTERM, then SIGKILL after 5 s. */
static void server_stop(void)
{
    int status;

    if (server_pid <= 0)
        return;
    kill(server_pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            server_pid = -1;
            return;
        }
        usleep(10000);
    }
    fprintf(stderr, "ex03-load: the server ignored SIGTERM for 5 s; killing it\n");
    kill(server_pid, SIGKILL);
    waitpid(server_pid, &status, 0);
    server_pid = -1;
}

static void on_signal(int sig)
{
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ======================================================================== */
/* main                                                                     */
/* ======================================================================== */

static void usage(void)
{
    fprintf(stderr, "usage: ex03-load [--conns N] [--duration S] [--drain-max S] --db FILE "
                    "[--log FILE] -- SERVER-COMMAND ARGS...\n");
}

int main(int argc, char **argv)
{
    static struct load L;
    static struct receiver R;
    const char *db_path = NULL, *log = NULL;
    double duration = 5, drain_max = 8;
    int nconns = 50, argi;
    char portstr[16], notify[64];
    char **sargv = NULL;
    int rc = 1;

    for (argi = 1; argi < argc; argi++) {
        if (strcmp(argv[argi], "--") == 0) {
            argi++;
            break;
        } else if (argi + 1 < argc && strcmp(argv[argi], "--conns") == 0) {
            nconns = atoi(argv[++argi]);
        } else if (argi + 1 < argc && strcmp(argv[argi], "--duration") == 0) {
            duration = atof(argv[++argi]);
        } else if (argi + 1 < argc && strcmp(argv[argi], "--drain-max") == 0) {
            drain_max = atof(argv[++argi]);
        } else if (argi + 1 < argc && strcmp(argv[argi], "--db") == 0) {
            db_path = argv[++argi];
        } else if (argi + 1 < argc && strcmp(argv[argi], "--log") == 0) {
            log = argv[++argi];
        } else {
            usage();
            return 2;
        }
    }
    if (argi >= argc || db_path == NULL || nconns < 1 || nconns > MAX_CONNS ||
        !(duration > 0 && duration <= 60) || !(drain_max >= 0 && drain_max <= 60)) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (evthread_use_pthreads() != 0 || receiver_start(&R) != 0) {
        fprintf(stderr, "ex03-load: cannot start the receiver\n");
        return 1;
    }

    /* The server. */
    L.port = free_port();
    snprintf(portstr, sizeof(portstr), "%d", L.port);
    snprintf(notify, sizeof(notify), "http://127.0.0.1:%d/notify", R.port);
    sargv = calloc((size_t)(argc - argi + 1), sizeof(*sargv));
    for (int i = argi; sargv != NULL && i < argc; i++)
        if ((sargv[i - argi] = substitute(argv[i], portstr, notify)) == NULL)
            return 1;
    if (sargv == NULL || L.port <= 0)
        return 1;
    server_pid = server_spawn(sargv, log);
    if (server_pid < 0) {
        fprintf(stderr, "ex03-load: fork: %s\n", strerror(errno));
        return 1;
    }
    double t0 = now_s();
    while (!port_accepts(L.port)) {
        int status;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            server_pid = -1;
            fprintf(stderr, "ex03-load: the server exited before listening (see %s)\n",
                    log ? log : "its output");
            goto out;
        }
        if (now_s() - t0 > START_TIMEOUT_S) {
            fprintf(stderr, "ex03-load: the server is not listening after %.0f s\n",
                    START_TIMEOUT_S);
            goto out;
        }
        usleep(20000);
    }
    double startup_s = now_s() - t0;
    double server_cpu0 = cpu_s(server_pid), self_cpu0 = cpu_s(getpid());

    /* The load. */
    L.base = event_base_new();
    L.nconns = nconns;
    L.next_user = 1;
    L.tick = L.base ? event_new(L.base, -1, EV_PERSIST, load_tick_cb, &L) : NULL;
    if (L.tick == NULL)
        goto out;
    event_add(L.tick, &(struct timeval){ .tv_sec = 0, .tv_usec = 50000 });
    L.start = now_s();
    L.stop_sending = L.start + duration;
    L.load_end = L.start;
    for (int i = 0; i < nconns; i++) {
        L.conns[i].load = &L;
        L.conns[i].index = i;
        if (conn_open(&L.conns[i]) != 0) {
            fprintf(stderr, "ex03-load: cannot open connection %d\n", i);
            goto out;
        }
        conn_send(&L.conns[i]);
    }
    event_base_dispatch(L.base);
    double load_end = L.load_end;
    long distinct_at_end = atomic_load(&R.distinct);
    double server_cpu = cpu_s(server_pid) - server_cpu0, self_cpu = cpu_s(getpid()) - self_cpu0;

    /* The drain: every created user notified, or the deadline. */
    while (atomic_load(&R.distinct) < L.created && now_s() < load_end + drain_max)
        usleep(2000);
    long hwm = vm_hwm_kb(server_pid);
    server_stop();
    event_base_loopexit(R.base, NULL);
    pthread_join(R.thread, NULL);

    /* The count: rows in the database against what arrived. */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long rows = 0, lost = 0, outbox_pending = -1, nlag = 0;
    double last = 0;
    double *lag = calloc((size_t)L.created + 1, sizeof(*lag));
    if (lag == NULL || sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT id FROM users", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "ex03-load: cannot read %s: %s\n", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t id = (size_t)sqlite3_column_int64(st, 0);
        double arrived = by_id_get(&R.first, id), replied = by_id_get(&L.replied, id);
        rows++;
        if (arrived <= 0) {
            lost++;
            continue;
        }
        if (arrived > last)
            last = arrived;
        /* The receiver may read a notification before the load's thread
         * reads the reply it follows: that is no lag. */
        if (replied > 0 && nlag < L.created)
            lag[nlag++] = arrived > replied ? arrived - replied : 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL", -1, &st,
                           NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        outbox_pending = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    qsort(L.lat_us, L.nlat, sizeof(*L.lat_us), cmp_u32);
    qsort(lag, (size_t)nlag, sizeof(*lag), cmp_double);
    double load_s = load_end - L.start;
    double drain_s = last > load_end ? last - load_end : 0;
    long delivered = rows - lost;
    printf("{\"req_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
           "\"created\": %ld, \"errors\": %ld, \"load_s\": %.3f, "
           "\"pending_at_load_end\": %ld, \"delivered_per_s_during_load\": %.1f, "
           "\"drain_ms\": %.1f, \"notified_rows_per_s\": %.1f, "
           "\"notify_lag_p50_ms\": %.3f, \"notify_lag_p99_ms\": %.3f, "
           "\"rows\": %ld, \"lost\": %ld, \"duplicates\": %ld, \"malformed\": %ld, "
           "\"outbox_pending_after_stop\": %ld, \"peak_rss_kb\": %ld, \"startup_s\": %.2f, "
           "\"server_cpu_pct\": %.1f, \"loadgen_cpu_pct\": %.1f, \"server_cpu_us_per_req\": %.1f}\n",
           (double)L.created / load_s, pct_sorted_u32(L.lat_us, L.nlat, 0.50) / 1e3,
           pct_sorted_u32(L.lat_us, L.nlat, 0.99) / 1e3,
           L.nlat ? L.lat_us[L.nlat - 1] / 1e3 : 0.0, L.created, L.errors, load_s,
           L.created - distinct_at_end, (double)distinct_at_end / load_s, drain_s * 1e3,
           (double)delivered / (load_s + drain_s),
           nlag ? lag[(size_t)(0.50 * (double)(nlag - 1) + 0.5)] * 1e3 : 0.0,
           nlag ? lag[(size_t)(0.99 * (double)(nlag - 1) + 0.5)] * 1e3 : 0.0, rows, lost,
           R.duplicates, R.malformed, outbox_pending, hwm, startup_s,
           100 * server_cpu / load_s, 100 * self_cpu / load_s,
           L.created ? server_cpu * 1e6 / (double)L.created : 0.0);
    fflush(stdout);
    if (lost > 0 || R.duplicates > 0 || L.errors > 0)
        fprintf(stderr, "ex03-load: %ld errors, %ld rows of %ld without a notification, "
                        "%ld duplicates\n", L.errors, lost, rows, R.duplicates);
    free(lag);
    rc = 0;
out:
    server_stop();
    return rc;
}

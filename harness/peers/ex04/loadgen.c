/*
 * loadgen.c - exercise 4's load generator for `make bench`: N WebSocket
 * clients (RFC 6455, written here from the RFC like harness/common/ws_client.c
 * but leaner: no copy per message) on one libevent loop, against any server
 * that speaks the chat's JSON protocol (skeletons/ex04_websocket/chat.h).
 *
 *   ex04-loadgen --port P --pid PID --clients N[,N2...] [--senders 10]
 *                [--window 4] [--seconds 1.5] [--text-bytes 64]
 *
 * One run against one server process (PID: the server itself, whose /proc
 * entries it reads):
 *  1. warm-up: one client joins, sends a message, gets it back and leaves
 *     (the server's lazy initialisation is not counted as per-client memory),
 *     then VmRSS with 0 clients;
 *  then for each N of --clients (increasing):
 *  2. clients join in batches of 50 up to N (each batch waits for its
 *     {"type":"users"}), then every join event is awaited; VmRSS with N idle
 *     clients: mem_per_client = (VmRSS(N) - VmRSS(0)) / N;
 *  3. first N only: a short unmeasured load (JIT, caches), drained;
 *  4. the measured window: `senders` clients (spread over the N) each keep at
 *     most W messages in flight (sent, not yet received back by themselves:
 *     the broadcast includes the sender) for S seconds, then stop; the window
 *     ends when every client has received every message sent.  Each message
 *     text carries its send time (CLOCK_MONOTONIC, same process): every
 *     receipt gives one latency sample (read time of the callback that got
 *     it).  PID's utime+stime (/proc/PID/stat) and the generator's own CPU
 *     (getrusage) are read at both ends; VmHWM at the end.
 * Prints one JSON object per N on stdout: clients, senders, window, messages,
 * deliveries, window_s, deliveries_per_s, p50_ms, p99_ms,
 * server_cpu_us_per_delivery, server_cpu_util, loadgen_cpu_util,
 * mem_per_client_kib, rss0_kb, rssN_kb, hwm_kb, lost, failed; progress on
 * stderr.  Exit status 0; 1 when a client failed (handshake, protocol, error
 * event, close) or a message was lost; 2 on usage errors.  Everything is
 * bounded: each phase has a deadline and alarm() ends the run after 60 s.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define BATCH 50
#define MAX_CLIENTS 5000
#define MAX_SENDERS 64
#define MAX_SAMPLES (4u << 20)

struct client {
    struct bufferevent *bev;
    int idx;
    int open;                   /* 101 received */
    int joined;                 /* {"type":"users"} received */
    int failed;
    char accept[32];
    uint64_t events;            /* users/join/leave/error messages */
    uint64_t got[3];            /* chat messages received, per phase */
    unsigned char *frag;        /* a fragmented message being joined */
    size_t frag_len;
    int frag_op;
};

struct sender {
    struct client *c;
    int outstanding;            /* sent, not yet received back */
    uint64_t seq;
};

static struct event_base *base;
static int port, server_pid;
static int nclients, nsenders = 10, window = 4, text_bytes = 64;
static double seconds = 1.5;  /* the measured window */
static struct client *clients;
static struct sender senders[MAX_SENDERS];
static int phase;               /* 1 warm-up load, 2 measured */
static int sending;             /* senders refill their window */
static uint64_t sent[3];        /* messages sent, per phase */
static uint32_t *samples;       /* latencies of the measured phase, µs */
static size_t nsamples;
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static int nfailed;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fail(struct client *c, const char *why)
{
    if (!c->failed) {
        c->failed = 1;
        nfailed++;
        fprintf(stderr, "ex04-loadgen: client %d: %s\n", c->idx, why);
    }
    bufferevent_disable(c->bev, EV_READ);
}

/* ---- sending -------------------------------------------------------------- */

static void send_frame(struct client *c, int opcode, const void *payload, size_t len)
{
    unsigned char buf[16 + 1024];
    unsigned char *b = len + 16 <= sizeof(buf) ? buf : malloc(len + 16);
    const unsigned char *p = payload;
    size_t pos = 2;
    uint32_t r = (uint32_t)next_rand() | 1u;
    unsigned char key[4] = { (unsigned char)r, (unsigned char)(r >> 8),
                             (unsigned char)(r >> 16), (unsigned char)(r >> 24) };

    if (b == NULL)
        return;
    b[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        b[1] = (unsigned char)(0x80 | len);
    } else if (len <= 0xFFFF) {
        b[1] = 0x80 | 126;
        b[2] = (unsigned char)(len >> 8);
        b[3] = (unsigned char)len;
        pos = 4;
    } else {
        b[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            b[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        pos = 10;
    }
    memcpy(b + pos, key, 4);
    pos += 4;
    for (size_t i = 0; i < len; i++)
        b[pos + i] = p[i] ^ key[i & 3];
    bufferevent_write(c->bev, b, pos + len);
    if (b != buf)
        free(b);
}

/* {"type":"message","text":"@@PHASE T_NS SENDER SEQ xxxx..."} */
static void send_chat(struct sender *s, int ph)
{
    char text[1024], msg[1200];
    int n = snprintf(text, sizeof(text), "@@%d %" PRIu64 " %d %" PRIu64 " ", ph, now_ns(),
                     (int)(s - senders), s->seq++);
    int m;

    while (n < text_bytes && n < (int)sizeof(text) - 1)
        text[n] = (char)('a' + n % 26), n++;
    text[n] = '\0';
    m = snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"text\":\"%s\"}", text);
    send_frame(s->c, 1, msg, (size_t)m);
    s->outstanding++;
    sent[ph]++;
}

static void refill(struct sender *s)
{
    while (sending && s->outstanding < window && !s->c->failed)
        send_chat(s, phase);
}

/* ---- receiving ------------------------------------------------------------ */

static uint64_t recv_ns;        /* when the current read callback began */

/* Reads a decimal number at *p (< end), then one space; -1 when none. */
static int64_t number(const unsigned char **p, const unsigned char *end)
{
    int64_t v = 0;
    const unsigned char *q = *p;

    if (q >= end || *q < '0' || *q > '9')
        return -1;
    while (q < end && *q >= '0' && *q <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*q++ - '0');
    if (q >= end || *q != ' ')
        return -1;
    *p = q + 1;
    return v;
}

static void on_text(struct client *c, const unsigned char *p, size_t n)
{
    const unsigned char *at = memmem(p, n, "@@", 2), *end = p + n;
    int64_t ph, t, sid;

    if (at == NULL) {
        c->events++;
        if (!c->joined && memmem(p, n, "\"users\"", 7) != NULL)
            c->joined = 1;
        else if (memmem(p, n, "\"error\"", 7) != NULL)
            fail(c, "the server sent an error event");
        return;
    }
    at += 2;
    ph = number(&at, end);
    t = number(&at, end);
    sid = number(&at, end);
    if (ph < 0 || ph > 2 || t < 0 || sid < 0 || sid >= nsenders) {
        fail(c, "unreadable chat message");
        return;
    }
    c->got[ph]++;
    if (ph == 2 && nsamples < MAX_SAMPLES)
        samples[nsamples++] = recv_ns > (uint64_t)t ? (uint32_t)((recv_ns - (uint64_t)t) / 1000u) : 0;
    if (senders[sid].c == c) {
        senders[sid].outstanding--;
        if (ph == phase)
            refill(&senders[sid]);
    }
}

static void on_frame(struct client *c, int fin, int op, const unsigned char *p, size_t n)
{
    if (op == 9) {                                          /* ping */
        send_frame(c, 10, p, n);
        return;
    }
    if (op == 10)
        return;
    if (op == 8) {                                          /* close: echo it */
        unsigned char code[2] = { 0x03, 0xE8 };
        if (n >= 2)
            memcpy(code, p, 2);
        send_frame(c, 8, code, 2);
        fail(c, "the server closed the connection");
        return;
    }
    if (op == 0 || !fin) {                                  /* fragments */
        unsigned char *g;
        if ((op == 0) != (c->frag_op != 0)) {
            fail(c, "bad fragment sequence");
            return;
        }
        if ((g = realloc(c->frag, c->frag_len + n + 1)) == NULL) {
            fail(c, "out of memory");
            return;
        }
        c->frag = g;
        memcpy(c->frag + c->frag_len, p, n);
        c->frag_len += n;
        if (op != 0)
            c->frag_op = op;
        if (fin) {
            if (c->frag_op == 1)
                on_text(c, c->frag, c->frag_len);
            c->frag_len = 0;
            c->frag_op = 0;
        }
        return;
    }
    if (op == 1)
        on_text(c, p, n);
}

static int read_head(struct client *c, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char *head, *acc;
    size_t len;

    if (end.pos < 0) {
        if (evbuffer_get_length(in) > 16384)
            fail(c, "response head over 16 KiB");
        return 0;
    }
    len = (size_t)end.pos + 4;
    head = malloc(len + 1);
    if (head == NULL) {
        fail(c, "out of memory");
        return 0;
    }
    evbuffer_remove(in, head, len);
    head[len] = '\0';
    acc = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        fail(c, "no 101 Switching Protocols");
    } else if (acc == NULL) {
        fail(c, "no Sec-WebSocket-Accept");
    } else {
        acc += 23;
        while (*acc == ' ')
            acc++;
        if (strncmp(acc, c->accept, 28) != 0)
            fail(c, "wrong Sec-WebSocket-Accept");
        else
            c->open = 1;
    }
    free(head);
    return c->open;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    recv_ns = now_ns();
    if (!c->open && !read_head(c, in))
        return;
    while (!c->failed) {
        size_t avail = evbuffer_get_length(in), hlen = 2;
        unsigned char *h;
        uint64_t len;

        if (avail < 2)
            return;
        h = evbuffer_pullup(in, (ev_ssize_t)(avail < 10 ? avail : 10));
        if ((h[0] & 0x70) || (h[1] & 0x80)) {
            fail(c, "reserved bit or mask in a server frame");
            return;
        }
        len = h[1] & 0x7F;
        if (len == 126) {
            if (avail < 4)
                return;
            len = (uint64_t)h[2] << 8 | h[3];
            hlen = 4;
        } else if (len == 127) {
            if (avail < 10)
                return;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hlen = 10;
            if (len > (64u << 20)) {
                fail(c, "server frame over 64 MiB");
                return;
            }
        }
        if (avail - hlen < len)
            return;
        h = evbuffer_pullup(in, (ev_ssize_t)(hlen + len));
        on_frame(c, h[0] >> 7, h[0] & 0x0F, h + hlen, (size_t)len);
        evbuffer_drain(in, hlen + len);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct client *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        fail(c, (what & BEV_EVENT_EOF) ? "connection closed by the server"
                                       : "connection error");
}

static int client_start(struct client *c, int idx, const char *name)
{
    unsigned char nonce[16], d[EVP_MAX_MD_SIZE];
    char key[32], both[96], req[512];
    unsigned dlen = 0;
    struct sockaddr_in sin;
    int one = 1, n;
    evutil_socket_t fd = socket(AF_INET, SOCK_STREAM, 0);

    c->idx = idx;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        return -1;
    }
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    for (int i = 0; i < 16; i++)
        nonce[i] = (unsigned char)next_rand();
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
    snprintf(both, sizeof(both), "%s%s", key, GUID);
    if (EVP_Digest(both, strlen(both), d, &dlen, EVP_sha1(), NULL) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)c->accept, d, (int)dlen);
    n = snprintf(req, sizeof(req),
                 "GET /ws?name=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n", name, port, key);
    bufferevent_write(c->bev, req, (size_t)n);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin));
}

static void client_free(struct client *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = NULL;
    free(c->frag);
    c->frag = NULL;
}

/* ---- the loop ------------------------------------------------------------- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until done() or ms milliseconds; returns 1 when done. */
static int run_until(int (*done)(void *), void *arg, unsigned ms)
{
    int fired = 0, ok;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    struct event *t = evtimer_new(base, deadline_cb, &fired);

    evtimer_add(t, &tv);
    while (!(ok = done != NULL && done(arg)) && !fired && nfailed == 0)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return ok;
}

struct range {
    int from, to;
};

static int range_joined(void *arg)
{
    struct range *r = arg;

    for (int i = r->from; i < r->to; i++)
        if (!clients[i].joined)
            return 0;
    return 1;
}

static int joins_seen(void *arg)
{
    uint64_t want = 0, got = 0;

    (void)arg;
    /* client i: its users list, then the joins of i+1 .. N-1 */
    for (int i = 0; i < nclients; i++) {
        want += (uint64_t)(nclients - i);
        got += clients[i].events;
    }
    return got >= want;
}

static int warm_back(void *arg)
{
    return ((struct client *)arg)->got[0] >= 1;
}

static int drained(void *arg)
{
    int ph = *(int *)arg;

    for (int i = 0; i < nclients; i++)
        if (clients[i].got[ph] < sent[ph])
            return 0;
    return 1;
}

/* ---- measures ------------------------------------------------------------- */

static long status_kb(const char *key)
{
    char path[64], line[256];
    long v = -1;
    size_t kl = strlen(key);
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", server_pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* utime + stime of the server, in seconds. */
static double server_cpu(void)
{
    char path[64], buf[4096];
    unsigned long ut = 0, st = 0;
    size_t n;
    char *p;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", server_pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if ((p = strrchr(buf, ')')) == NULL)
        return -1;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double q)
{
    size_t i;

    if (nsamples == 0)
        return -1;
    i = (size_t)(q * (double)(nsamples - 1) + 0.5);
    return (double)samples[i] / 1000.0;
}

/* One load phase: senders refill their windows for `secs`, then stop; waits
 * until every message reached every client.  Returns 1 when drained. */
static int load(int ph, double secs)
{
    unsigned ms = (unsigned)(secs * 1000);

    phase = ph;
    sending = 1;
    for (int k = 0; k < nsenders; k++)
        refill(&senders[k]);
    run_until(NULL, NULL, ms);
    sending = 0;
    return run_until(drained, &ph, 10000);
}

static void usage(void)
{
    fprintf(stderr, "usage: ex04-loadgen --port P --pid PID --clients N[,N2...] [--senders K] "
                    "[--window W] [--seconds S] [--text-bytes B]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    char name[64];
    int steps[8], nsteps = 0, maxc = 0, rc = 0;
    long rss0;
    uint64_t tstart = now_ns();

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) {
            port = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--pid") == 0) {
            server_pid = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--clients") == 0) {
            for (char *p = argv[i + 1]; nsteps < 8 && *p != '\0'; p += *p == ',') {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v <= maxc || v > MAX_CLIENTS)
                    usage();
                steps[nsteps++] = maxc = (int)v;
                p = end;
            }
        } else if (strcmp(argv[i], "--senders") == 0) {
            nsenders = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--window") == 0) {
            window = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--text-bytes") == 0) {
            text_bytes = atoi(argv[i + 1]);
        } else {
            usage();
        }
    }
    if (argc % 2 != 1 || port <= 0 || server_pid <= 0 || nsteps == 0 || nsenders < 1 ||
        nsenders > MAX_SENDERS || nsenders > steps[0] || window < 1 || seconds <= 0 ||
        seconds > 10 || text_bytes < 40 || text_bytes > 900)
        usage();
    signal(SIGPIPE, SIG_IGN);
    alarm(60);
    base = event_base_new();
    clients = calloc((size_t)maxc + 1, sizeof(*clients));
    samples = malloc(MAX_SAMPLES * sizeof(*samples));
    if (base == NULL || clients == NULL || samples == NULL)
        return 1;
    rng ^= (uint64_t)getpid() << 32 ^ now_ns();

    /* 1. warm-up client: joins, one message back, leaves. */
    {
        struct client *w = &clients[maxc];
        struct range r = { maxc, maxc + 1 };
        if (client_start(w, maxc, "warmup") != 0 || !run_until(range_joined, &r, 10000)) {
            fprintf(stderr, "ex04-loadgen: the warm-up client could not join\n");
            return 1;
        }
        senders[0].c = w;
        send_chat(&senders[0], 0);
        if (!run_until(warm_back, w, 10000)) {
            fprintf(stderr, "ex04-loadgen: the warm-up message did not come back\n");
            return 1;
        }
        w->failed = 1;                      /* leaving: its close is no failure */
        send_frame(w, 8, "\x03\xE8", 2);
        run_until(NULL, NULL, 50);
        client_free(w);
        memset(&senders[0], 0, sizeof(senders[0]));
        run_until(NULL, NULL, 150);
    }
    rss0 = status_kb("VmRSS");

    for (int st = 0; st < nsteps && rc == 0; st++) {
        long rssn, hwm;
        double c0, c1, s0, s1, win;
        uint64_t t0, t1, tj, deliveries = 0, lost = 0;
        int ok;

        /* 2. clients join in batches up to steps[st]; memory with them idle. */
        tj = now_ns();
        for (int from = nclients; from < steps[st]; from += BATCH) {
            struct range r = { from, from + BATCH < steps[st] ? from + BATCH : steps[st] };
            for (int i = r.from; i < r.to; i++) {
                snprintf(name, sizeof(name), "c%d", i);
                if (client_start(&clients[i], i, name) != 0) {
                    fprintf(stderr, "ex04-loadgen: cannot start client %d\n", i);
                    return 1;
                }
            }
            nclients = r.to;
            if (!run_until(range_joined, &r, 15000)) {
                fprintf(stderr, "ex04-loadgen: clients %d-%d did not all join\n", r.from,
                        r.to - 1);
                return 1;
            }
        }
        if (!run_until(joins_seen, NULL, 15000)) {
            fprintf(stderr, "ex04-loadgen: join events missing\n");
            return 1;
        }
        tj = now_ns() - tj;
        run_until(NULL, NULL, 200);
        rssn = status_kb("VmRSS");
        for (int k = 0; k < nsenders; k++)
            senders[k] = (struct sender){ &clients[(long)k * nclients / nsenders], 0, 0 };
        for (int i = 0; i < nclients; i++)
            clients[i].got[1] = clients[i].got[2] = 0;
        sent[1] = sent[2] = 0;
        nsamples = 0;

        /* 3. unmeasured load (first step only), 4. the measured window. */
        if (st == 0 && !load(1, seconds / 4)) {
            fprintf(stderr, "ex04-loadgen: the warm-up load did not drain\n");
            return 1;
        }
        c0 = server_cpu();
        s0 = self_cpu();
        t0 = now_ns();
        ok = load(2, seconds);
        t1 = now_ns();
        c1 = server_cpu();
        s1 = self_cpu();
        hwm = status_kb("VmHWM");
        for (int i = 0; i < nclients; i++) {
            deliveries += clients[i].got[2];
            if (clients[i].got[2] < sent[2])
                lost += sent[2] - clients[i].got[2];
        }
        qsort(samples, nsamples, sizeof(*samples), cmp_u32);
        win = (double)(t1 - t0) / 1e9;
        printf("{\"clients\": %d, \"senders\": %d, \"window\": %d, \"messages\": %" PRIu64
               ", \"deliveries\": %" PRIu64 ", \"window_s\": %.3f, \"deliveries_per_s\": %.1f"
               ", \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"server_cpu_us_per_delivery\": %.3f"
               ", \"server_cpu_util\": %.3f, \"loadgen_cpu_util\": %.3f"
               ", \"mem_per_client_kib\": %.2f, \"rss0_kb\": %ld, \"rssN_kb\": %ld"
               ", \"hwm_kb\": %ld, \"lost\": %" PRIu64 ", \"failed\": %d}\n",
               nclients, nsenders, window, sent[2], deliveries, win,
               (double)deliveries / win, pct_ms(0.50), pct_ms(0.99),
               deliveries ? (c1 - c0) * 1e6 / (double)deliveries : -1.0, (c1 - c0) / win,
               (s1 - s0) / win, (double)(rssn - rss0) / nclients, rss0, rssn, hwm, lost,
               nfailed);
        fflush(stdout);
        fprintf(stderr, "ex04-loadgen: %d clients: joins %.2f s, measured %.2f s (%.0f s since start)\n",
                nclients, (double)tj / 1e9, win, (double)(now_ns() - tstart) / 1e9);
        if (!ok || lost != 0 || nfailed != 0)
            rc = 1;
    }
    for (int i = 0; i < nclients; i++)
        client_free(&clients[i]);
    event_base_free(base);
    free(clients);
    free(samples);
    return rc;
}

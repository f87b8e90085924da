/*
 * nspsim_host.c - the host process of a C NSPv2 provider under nspsim: a fork server, and in
 * each forked child the provider's host process for one run. PROTOCOL.md describes the wire.
 *
 *   nspsim_host SOCKET LIBRARY entry|routines SYMBOL ID|- NAME [ARG...]
 *
 * The server dlopens LIBRARY once (its undefined Winsock/kernel32 symbols resolve against this
 * executable, linked with -rdynamic), resolves SYMBOL, and answers on its stdout. Then it serves
 * commands read from stdin: FORK connects to nspsim's Unix socket SOCKET and forks; the child
 * keeps the connection, runs the provider's host main (`entry`) or advertises the table
 * `routines` itself, reports what was advertised, and serves NSPv2 calls one at a time until
 * nspsim closes the socket. Every run thus starts from the state the library had right after
 * loading: fresh provider state, at the cost of a fork.
 *
 * Provider code never writes into the protocol: the server moves its stdout to a private
 * descriptor and points fd 1 at stderr before loading the library, and a child has neither
 * the control pipe nor stdin.
 *
 * Every read of memory a provider wrote (the NextEx buffer, *lpdwBufferLength) is bounded by
 * the sizes the host itself allocated; what the bytes mean is judged by nspsim, in Rust.
 *
 * In live mode (NSPSIM_HOST_LIVE=1) a child runs each work item on a real thread, and the
 * threads' operations join the serve thread's under one lock (PROTOCOL.md, "Live mode").
 */
#if defined(__linux__)
#define _GNU_SOURCE
#elif defined(__APPLE__)
#define _DARWIN_C_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "nspsim_host.h"

/* ---- Limits (a bound on everything a peer can ask for) ---- */
#define NH_MAX_FRAME (64u << 20)  /* a request or reply body */
#define NH_MAX_OPS (NH_MAX_FRAME - 64u) /* a reply's operations: the frame less its header */
#define NH_MAX_WORK 65536u        /* pending work items in one run */
#define NH_MAX_PENDING 65536u     /* NextEx/SetServiceEx calls not yet completed */
#define NH_MAX_CHILDREN 4096u     /* live children of the fork server */

/* A limit of the host that a provider reached: reported to nspsim as an `L` operation, which
 * it reports as a fault naming the limit (PROTOCOL.md), never as a crash. */
enum { LIMIT_REPLY = 1, LIMIT_PENDING = 2 };

/* What memory given to a call is filled with when the host frees it: a provider that reads it
 * after completing the call reads this, the same in every run. */
#define NH_POISON 0xDD

/* Exit statuses of a child that gave up on its own (nspsim reports them as they are). */
#define NH_EXIT_PROTOCOL 97 /* a malformed request: a bug in nspsim */
#define NH_EXIT_NOMEM 98    /* the host itself ran out of memory */

/* Request and reply tags; PROTOCOL.md. */
enum {
    REQ_STARTUP = 1,
    REQ_CLEANUP = 2,
    REQ_BEGIN = 3,
    REQ_NEXT_EX = 4,
    REQ_END = 5,
    REQ_SET_SERVICE = 6,
    REQ_RUNDOWN = 7,
    REQ_RUN_WORK = 8,
    REQ_POLL = 9,
};
enum {
    OP_COMPLETE = 'C',
    OP_DEFER = 'D',
    OP_UNADVERTISE = 'U',
    OP_LIMIT = 'L',
    OP_LATE_WRITE = 'W',
    OP_THREAD = 'T',
    OP_THREAD_END = 'E',
    OP_WORK_CRASH = 'X',
};

unsigned char nh_provider_id[16];
int nh_have_id;

/* ------------------------------------------------------------------------------------------ */
/* Byte buffers and frames                                                                      */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} buf_t;

static void die_nomem(void)
{
    static const char msg[] = "nspsim host: out of memory\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(NH_EXIT_NOMEM);
}

static void buf_reserve(buf_t *b, size_t more)
{
    size_t want;
    unsigned char *p;
    if (more > NH_MAX_FRAME || b->len + more <= b->cap) {
        if (more > NH_MAX_FRAME) {
            die_nomem();
        }
        return;
    }
    want = b->cap ? b->cap : 256;
    while (want < b->len + more) {
        want *= 2;
    }
    p = realloc(b->data, want);
    if (p == NULL) {
        die_nomem();
    }
    b->data = p;
    b->cap = want;
}

static void put(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
}
/* Little-endian on the wire; the host is little-endian (x86-64, arm64), asserted here. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire is little-endian, like the host");
static void put_u8(buf_t *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(buf_t *b, int32_t v) { put(b, &v, 4); }
static void put_u64(buf_t *b, uint64_t v) { put(b, &v, 8); }

/* A bounds-checked reader of one request. */
typedef struct {
    const unsigned char *p;
    size_t left;
    int bad;
} rd_t;

static void get(rd_t *r, void *out, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
}
static uint8_t get_u8(rd_t *r) { uint8_t v; get(r, &v, 1); return v; }
static uint32_t get_u32(rd_t *r) { uint32_t v; get(r, &v, 4); return v; }
static uint64_t get_u64(rd_t *r) { uint64_t v; get(r, &v, 8); return v; }

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c += (size_t)w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends `body` as one frame: a u32 length, then the bytes, in one system call when the
 * socket takes it all (a call's round trip is a handful of system calls; each one counts). */
static int send_frame(int fd, const buf_t *body)
{
    uint32_t n = (uint32_t)body->len;
    struct iovec iov[2];
    ssize_t w;
    iov[0].iov_base = &n;
    iov[0].iov_len = 4;
    iov[1].iov_base = body->data;
    iov[1].iov_len = body->len;
    do {
        w = writev(fd, iov, body->len > 0 ? 2 : 1);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        return -1;
    }
    if ((size_t)w == 4 + body->len) {
        return 0;
    }
    /* A partial write (a large frame): finish it the slow way. */
    if ((size_t)w < 4) {
        if (write_all(fd, (unsigned char *)&n + w, 4 - (size_t)w) != 0) {
            return -1;
        }
        w = 4;
    }
    return write_all(fd, body->data + ((size_t)w - 4), body->len - ((size_t)w - 4));
}

/* A reader that takes what the peer has sent in one read() and hands out frames from it:
 * usually a whole request arrives in one system call. */
typedef struct {
    int fd;
    /* Nanoseconds to poll a socket for the next bytes before sleeping in read() (0: sleep at
     * once, as for the control pipe). */
    long spin_ns;
    unsigned char data[65536];
    size_t start, end;
} reader_t;

/* How long a run's host polls its socket before it sleeps in read(). nspsim sends the next
 * request a few microseconds after a reply; a host asleep by then is woken by the kernel, and
 * on a virtual machine whose other vCPU went idle that wake-up alone costs tens of
 * microseconds, most of a call's round trip. Bounded, and each poll yields the CPU, so a busy
 * machine's other work (another exploration worker) is delayed by little: with 50 µs,
 * `explore --jobs 2` on 2 busy cores was sometimes slower than with no spin at all; 20 µs
 * was not. nspsim's side spins the same way for the reply (host.rs, SPIN). */
#define NH_SPIN_NS 20000L

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* read() on the reader's descriptor, after up to spin_ns of polling it (a socket) without
 * sleeping: MSG_DONTWAIT reads what is there or fails with EAGAIN at once. */
static ssize_t reader_read(reader_t *rd, void *p, size_t n)
{
    if (rd->spin_ns > 0) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            ssize_t r = recv(rd->fd, p, n, MSG_DONTWAIT);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                return r;
            }
            if (elapsed_ns(&start) >= rd->spin_ns) {
                break;
            }
            sched_yield();
        }
    }
    return read(rd->fd, p, n);
}

/* 1: read all n bytes; 0: end of file before the first byte; -1: error or a short read. */
static int reader_fill(reader_t *rd, void *p, size_t n)
{
    unsigned char *c = p;
    size_t got = 0;
    while (got < n) {
        size_t have = rd->end - rd->start;
        ssize_t r;
        if (have > 0) {
            size_t take = have < n - got ? have : n - got;
            memcpy(c + got, rd->data + rd->start, take);
            rd->start += take;
            got += take;
            continue;
        }
        if (n - got >= sizeof(rd->data)) {
            /* A large body goes straight to its destination. */
            r = reader_read(rd, c + got, n - got);
        } else {
            rd->start = rd->end = 0;
            r = reader_read(rd, rd->data, sizeof(rd->data));
            if (r > 0) {
                rd->end = (size_t)r;
                continue;
            }
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            return got == 0 ? 0 : -1;
        }
        got += (size_t)r;
    }
    return 1;
}

/* Reads one frame into `in`. 1: a frame; 0: end of file; -1: an error or an oversized frame. */
static int recv_frame(reader_t *rd, buf_t *in)
{
    uint32_t n;
    int r = reader_fill(rd, &n, 4);
    if (r <= 0) {
        return r;
    }
    if (n > NH_MAX_FRAME) {
        return -1;
    }
    in->len = 0;
    buf_reserve(in, n);
    in->len = n;
    return n == 0 || reader_fill(rd, in->data, n) == 1 ? 1 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* The child: one run's host process                                                            */

/* Live mode (NSPSIM_HOST_LIVE=1, PROTOCOL.md "Live mode"): a work item is a real thread,
 * started at once, and what it does goes into the same operations as the serve thread's, under
 * `g_mu`. In sim mode the host has one thread and never takes the lock, so a sim run's bytes
 * and costs are what they were. The lock is never held while provider code runs: a provider
 * thread that completes a call while the serve thread waits on the provider's own lock must
 * not deadlock on ours. */
static int g_live;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER; /* an operation, or a thread ended */
static uint32_t g_threads_running;
static void lock(void)
{
    if (g_live) {
        pthread_mutex_lock(&g_mu);
    }
}
static void unlock(void)
{
    if (g_live) {
        pthread_mutex_unlock(&g_mu);
    }
}

/* A provider thread that crashed (live mode): its token and signal, set once by the signal
 * handler (the thread then stops there for good), reported by the serve thread as an `X`
 * operation before the process dies of that signal (see crash_handler). */
static volatile sig_atomic_t g_crash_sig;
static volatile uint64_t g_crash_token;
static int g_crash_reported; /* the signal of the crash the last reply reported */

static buf_t g_ops;          /* the operations of the current call, as sent */
static uint32_t g_nops;
static uint8_t g_limit;      /* a limit reached during the current call (LIMIT_*), or 0 */

/* Whether `n` more bytes of operations fit in the reply; when not, the call's reply is only
 * the limit (the instance is dead for nspsim then, so what is dropped is never needed). */
static int ops_room(size_t n)
{
    if (g_limit != 0) {
        return 0;
    }
    if (n > NH_MAX_OPS - g_ops.len) {
        g_limit = LIMIT_REPLY;
        return 0;
    }
    return 1;
}
static uint64_t g_next_token = 1;
/* The token of the work item this thread runs, 0 on the serve thread: per thread, since in
 * live mode every work item is a thread of its own. */
static _Thread_local uint64_t g_running_work;

typedef struct {
    uint64_t token;
    nh_work_fn fn;
    void *ctx;
} work_t;
static work_t *g_work;
static size_t g_nwork, g_capwork;

/* A NextEx or SetServiceEx call the provider has not completed: the memory it was given stays
 * allocated until it is (a completion from a work item after the lookup ended still writes to
 * memory the host owns). Each entry is its own heap block, so the `*lpdwBufferLength` handed to
 * the provider never moves while the table changes. */
typedef struct {
    uint64_t h;
    int is_next;
    uint32_t len;       /* *lpdwBufferLength (NextEx) */
    uint32_t cap;       /* the buffer's size as given */
    unsigned char *mem; /* the NextEx buffer, or the SetServiceEx query set */
    size_t size;        /* bytes allocated at `mem` */
    /* Once completed: a copy of `mem` and `len` as they were at completion. The memory is
     * kept until the request (or work item) that completed it returns; then a difference is
     * a write after completion, reported, and the memory is poisoned and freed. */
    unsigned char *snapshot;
    uint32_t snapshot_len;
} pending_t;
static pending_t **g_pending;
static size_t g_npending, g_cappending;
/* Completed during the current request (or, in live mode, by this provider thread), freed when
 * it returns: per thread, since each thread's memory rule is its own. */
static _Thread_local pending_t **g_retired;
static _Thread_local size_t g_nretired, g_capretired;

uint64_t nh_current_work(void)
{
    return g_running_work;
}

void nh_note_unadvertise(void)
{
    lock();
    if (ops_room(1)) {
        put_u8(&g_ops, OP_UNADVERTISE);
        g_nops++;
    }
    unlock();
}

static void retired_check(void);
static void retired_free(void);

/* A provider thread (live mode): runs the callback, releases the memory of the calls it
 * completed, and says it ended (`E`). */
typedef struct {
    uint64_t token;
    nh_work_fn fn;
    void *ctx;
} thread_start_t;

static void *thread_main(void *arg)
{
    thread_start_t start = *(thread_start_t *)arg;
    free(arg);
    g_running_work = start.token;
    nh_call_work(start.fn, start.ctx, start.token);
    lock();
    retired_check();
    unlock();
    retired_free();
    lock();
    if (ops_room(9)) {
        put_u8(&g_ops, OP_THREAD_END);
        put_u64(&g_ops, start.token);
        g_nops++;
    }
    g_threads_running--;
    pthread_cond_broadcast(&g_cv);
    unlock();
    free(g_retired);
    return NULL;
}

/* Live mode: starts the work item on a thread of its own now, and appends `T`. The lock is
 * held across pthread_create, so the thread's own operations (and its `E`) follow the `T`. */
static uint64_t start_thread(nh_work_fn fn, void *ctx, int is_thread)
{
    uint64_t token = 0;
    pthread_attr_t attr;
    pthread_t t;
    thread_start_t *start = malloc(sizeof(*start));
    if (start == NULL) {
        return 0;
    }
    lock();
    if (g_threads_running < NH_MAX_WORK && ops_room(10)) {
        start->token = g_next_token;
        start->fn = fn;
        start->ctx = ctx;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, thread_main, start) == 0) {
            token = g_next_token++;
            start = NULL;
            g_threads_running++;
            put_u8(&g_ops, OP_THREAD);
            put_u64(&g_ops, token);
            put_u8(&g_ops, (uint8_t)(is_thread ? 1 : 0));
            g_nops++;
        }
        pthread_attr_destroy(&attr);
    }
    unlock();
    free(start);
    return token;
}

uint64_t nh_queue_work(nh_work_fn fn, void *ctx, int is_thread)
{
    uint64_t token;
    if (g_live) {
        return start_thread(fn, ctx, is_thread);
    }
    if (g_nwork >= NH_MAX_WORK || !ops_room(10)) {
        return 0;
    }
    if (g_nwork == g_capwork) {
        size_t cap = g_capwork ? g_capwork * 2 : 16;
        work_t *w = realloc(g_work, cap * sizeof(*w));
        if (w == NULL) {
            return 0;
        }
        g_work = w;
        g_capwork = cap;
    }
    token = g_next_token++;
    g_work[g_nwork].token = token;
    g_work[g_nwork].fn = fn;
    g_work[g_nwork].ctx = ctx;
    g_nwork++;
    put_u8(&g_ops, OP_DEFER);
    put_u64(&g_ops, token);
    put_u8(&g_ops, (uint8_t)(is_thread ? 1 : 0));
    g_nops++;
    return token;
}

/* Registers a pending call owning `mem` (`size` bytes); on failure frees `mem` and dies (out
 * of memory). The caller has checked NH_MAX_PENDING. */
static pending_t *pending_add(uint64_t h, int is_next, unsigned char *mem, size_t size)
{
    pending_t *p;
    if (g_npending >= NH_MAX_PENDING) {
        free(mem);
        die_nomem();
    }
    if (g_npending == g_cappending) {
        size_t cap = g_cappending ? g_cappending * 2 : 16;
        pending_t **t = realloc(g_pending, cap * sizeof(*t));
        if (t == NULL) {
            free(mem);
            die_nomem();
        }
        g_pending = t;
        g_cappending = cap;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        free(mem);
        die_nomem();
    }
    p->h = h;
    p->is_next = is_next;
    p->mem = mem;
    p->size = size;
    g_pending[g_npending++] = p;
    return p;
}

/* A completed call's memory leaves the pending table with a snapshot, to be checked and freed
 * when the current request returns. */
static void pending_retire(size_t i)
{
    pending_t *p = g_pending[i];
    g_pending[i] = g_pending[--g_npending];
    if (g_nretired == g_capretired) {
        size_t cap = g_capretired ? g_capretired * 2 : 16;
        pending_t **t = realloc(g_retired, cap * sizeof(*t));
        if (t == NULL) {
            die_nomem();
        }
        g_retired = t;
        g_capretired = cap;
    }
    p->snapshot = malloc(p->size);
    if (p->snapshot == NULL) {
        die_nomem();
    }
    memcpy(p->snapshot, p->mem, p->size);
    p->snapshot_len = p->len;
    g_retired[g_nretired++] = p;
}

/* The current request returned: each call completed during it is checked for writes after its
 * completion (a `W` operation: the call's handle, 0 the NextEx buffer, 1 *lpdwBufferLength,
 * 2 the SetServiceEx query set). Called with the lock held, since it appends operations; it
 * only reads the provider's memory. */
static void retired_check(void)
{
    size_t i;
    for (i = 0; i < g_nretired; i++) {
        const pending_t *p = g_retired[i];
        int what = -1;
        if (memcmp(p->snapshot, p->mem, p->size) != 0) {
            what = p->is_next ? 0 : 2;
        } else if (p->is_next && p->snapshot_len != p->len) {
            what = 1;
        }
        if (what >= 0 && ops_room(10)) {
            put_u8(&g_ops, OP_LATE_WRITE);
            put_u64(&g_ops, p->h);
            put_u8(&g_ops, (uint8_t)what);
            g_nops++;
        }
    }
}

/* Then the checked calls' memory is poisoned and freed, with the lock NOT held: a provider
 * that corrupted the heap makes free() abort here, and a thread that died holding the lock
 * would hang the serve thread, turning a crash into a timeout. The list is this thread's own,
 * so nothing else touches it. A write in a later request lands in freed memory, which only
 * the AddressSanitizer host catches. */
static void retired_free(void)
{
    size_t i;
    for (i = 0; i < g_nretired; i++) {
        pending_t *p = g_retired[i];
        memset(p->mem, NH_POISON, p->size);
        free(p->mem);
        free(p->snapshot);
        free(p);
    }
    g_nretired = 0;
}

static void complete_locked(uint64_t h, int32_t code);

void nh_complete(uint64_t h, int32_t code)
{
    lock();
    complete_locked(h, code);
    if (g_live) {
        pthread_cond_broadcast(&g_cv);
    }
    unlock();
}

static void complete_locked(uint64_t h, int32_t code)
{
    size_t i;
    const pending_t *p = NULL;
    uint32_t n = 0;
    for (i = 0; i < g_npending; i++) {
        if (g_pending[i]->h == h) {
            p = g_pending[i];
            break;
        }
    }
    if (p != NULL && p->is_next) {
        /* The NextEx output goes up to its last non-zero byte (it was zero-filled, so nspsim
         * restores the rest). Reads stay within `cap`. */
        n = p->cap;
        while (n > 0 && p->mem[n - 1] == 0) {
            n--;
        }
    }
    if (!ops_room(14 + (p != NULL && p->is_next ? 20 + (size_t)n : 0))) {
        return;
    }
    put_u8(&g_ops, OP_COMPLETE);
    put_u64(&g_ops, h);
    put_i32(&g_ops, code);
    if (p != NULL && p->is_next) {
        /* The buffer's address (the result's pointers are relative to it), *lpdwBufferLength,
         * and the bytes. */
        put_u8(&g_ops, 1);
        put_u64(&g_ops, (uint64_t)(uintptr_t)p->mem);
        put_u32(&g_ops, p->len);
        put_u32(&g_ops, p->cap);
        put_u32(&g_ops, n);
        put(&g_ops, p->mem, n);
    } else {
        put_u8(&g_ops, 0);
    }
    g_nops++;
    if (p != NULL) {
        /* Not freed yet: the provider may still be running on its stack (completing from
         * inside its NextEx is the common case), so the memory lives until the request or
         * work item of the thread that completed it returns, and is checked then. In live
         * mode that is the completing thread's, not the call's: a provider whose NextEx
         * waits for another thread to complete it, then writes, writes to freed memory
         * unnoticed unless the host is the AddressSanitizer one. */
        pending_retire(i);
    }
}

/* A query set image (PROTOCOL.md): copied into fresh 8-aligned memory at B, B added to the
 * pointer field at each relocation. Every relocation and the offset it holds must lie inside
 * the image. NULL with r->bad set on a malformed image. */
static unsigned char *read_image(rd_t *r, size_t *size)
{
    uint32_t n = get_u32(r);
    uint32_t nrel;
    uint32_t i;
    unsigned char *mem;
    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    /* calloc: at least the 112-byte WSAQUERYSET2W, zero beyond the image; malloc's alignment
     * (16) covers the 8 every part needs. */
    *size = n < 112 ? 112 : n;
    mem = calloc(1, *size);
    if (mem == NULL) {
        die_nomem();
    }
    get(r, mem, n);
    nrel = get_u32(r);
    for (i = 0; i < nrel && !r->bad; i++) {
        uint32_t at = get_u32(r);
        uint64_t v;
        if (at > n || n - at < 8) {
            r->bad = 1;
            break;
        }
        memcpy(&v, mem + at, 8);
        if (v >= n) {
            r->bad = 1;
            break;
        }
        v += (uint64_t)(uintptr_t)mem;
        memcpy(mem + at, &v, 8);
    }
    if (r->bad) {
        free(mem);
        return NULL;
    }
    return mem;
}

static void protocol_error(const char *what)
{
    fprintf(stderr, "nspsim host: malformed request from nspsim (%s)\n", what);
    _exit(NH_EXIT_PROTOCOL);
}

/* The AddressSanitizer host keeps ASan's own handlers, which report the crash (status 86). */
#if defined(__SANITIZE_ADDRESS__)
#define NH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NH_ASAN 1
#endif
#endif

#if !defined(NH_ASAN)
/* Live mode: a provider thread that crashes stops in this handler, after saying which one it
 * was, so that the serve thread can name its work item before the process dies of the same
 * signal (PROTOCOL.md "Live mode"). On the serve thread the signal takes its default action at
 * once, as without the handler. Only async-signal-safe calls here. */
static int g_crash_claimed; /* a provider thread's crash was recorded */

static void crash_handler(int sig)
{
    int none = 0;
    uint64_t token = g_running_work;
    if (token == 0) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    /* The first thread to crash is the one reported: its token is set before its signal, which
     * is what the serve thread looks at. */
    if (__atomic_compare_exchange_n(&g_crash_claimed, &none, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        g_crash_token = token;
        __atomic_store_n(&g_crash_sig, sig, __ATOMIC_SEQ_CST);
    }
    for (;;) {
        pause();
    }
}

/* The signals a crash of provider code raises. */
static const int g_crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

static void install_crash_handler(void)
{
    size_t i;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = crash_handler;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(g_crash_signals) / sizeof(g_crash_signals[0]); i++) {
        sigaction(g_crash_signals[i], &sa, NULL);
    }
}
#else
static void install_crash_handler(void)
{
}
#endif

/* Live mode, request 9: waits at most `wait_us` for something to report (an operation of a
 * provider thread, a thread's end, a crash), unless there is something already or no thread
 * runs. A crash is seen when the wait ends (a signal handler cannot signal a condition). */
static void poll_wait(uint32_t wait_us)
{
    struct timespec until;
    if (!g_live) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(wait_us / 1000000u);
    until.tv_nsec += (long)(wait_us % 1000000u) * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_mu);
    while (g_nops == 0 && g_limit == 0 && __atomic_load_n(&g_crash_sig, __ATOMIC_ACQUIRE) == 0
           && g_threads_running > 0) {
        if (pthread_cond_timedwait(&g_cv, &g_mu, &until) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

/* Runs one request and builds its reply in `out`. */
static void serve(rd_t *r, buf_t *out)
{
    uint8_t tag = get_u8(r);
    int32_t ret = 0;
    uint64_t value = 0;
    uint32_t err = 0;
    int err_set;

    nh_last_error_reset();
    if (__atomic_load_n(&g_crash_sig, __ATOMIC_ACQUIRE) != 0) {
        /* A provider thread crashed while nobody asked: the provider is not called again. */
        tag = 0;
    }
    switch (tag) {
    case 0:
        break;
    case REQ_STARTUP:
        ret = nh_call_startup(&value);
        break;
    case REQ_CLEANUP: {
        uint64_t session = get_u64(r);
        if (r->bad) {
            protocol_error("Cleanup");
        }
        ret = nh_call_cleanup(session);
        break;
    }
    case REQ_BEGIN: {
        uint32_t flags = get_u32(r);
        uint64_t session = get_u64(r);
        size_t size;
        unsigned char *qs = read_image(r, &size);
        if (r->bad) {
            protocol_error("Begin");
        }
        ret = nh_call_begin(qs, flags, session, &value);
        /* The restrictions are the caller's, valid for the call only: poisoned, so a provider
         * that kept a pointer into them reads the same garbage in every run. */
        memset(qs, NH_POISON, size);
        free(qs);
        break;
    }
    case REQ_NEXT_EX: {
        uint64_t h = get_u64(r);
        uint64_t lookup = get_u64(r);
        uint32_t flags = get_u32(r);
        uint32_t cap = get_u32(r);
        pending_t *p;
        unsigned char *mem;
        if (r->bad) {
            protocol_error("NextEx");
        }
        /* Zero-filled, so a provider that reads what it did not write reads the same bytes in
         * every run; at least 8 bytes so a zero-length buffer is still a valid pointer. */
        mem = calloc(1, cap < 8 ? 8 : cap);
        if (mem == NULL) {
            die_nomem();
        }
        lock();
        if (g_npending >= NH_MAX_PENDING) {
            g_limit = LIMIT_PENDING; /* the provider is not called */
            unlock();
            free(mem);
            break;
        }
        p = pending_add(h, 1, mem, cap < 8 ? 8 : cap);
        p->cap = cap;
        p->len = cap;
        unlock();
        nh_call_next_ex(h, lookup, flags, &p->len, mem);
        break;
    }
    case REQ_END: {
        uint64_t lookup = get_u64(r);
        if (r->bad) {
            protocol_error("End");
        }
        ret = nh_call_end(lookup);
        break;
    }
    case REQ_SET_SERVICE: {
        uint64_t h = get_u64(r);
        uint64_t session = get_u64(r);
        uint32_t op = get_u32(r);
        uint32_t flags = get_u32(r);
        size_t size;
        unsigned char *qs = read_image(r, &size);
        if (r->bad) {
            protocol_error("SetServiceEx");
        }
        lock();
        if (g_npending >= NH_MAX_PENDING) {
            free(qs);
            g_limit = LIMIT_PENDING; /* the provider is not called */
            unlock();
            break;
        }
        /* The registration stays valid until the call completes: the client waits for it. */
        (void)pending_add(h, 0, qs, size);
        unlock();
        nh_call_set_service(h, qs, op, flags, session);
        break;
    }
    case REQ_RUNDOWN: {
        uint64_t session = get_u64(r);
        if (r->bad) {
            protocol_error("Rundown");
        }
        nh_call_rundown(session);
        break;
    }
    case REQ_RUN_WORK: {
        uint64_t token = get_u64(r);
        size_t i;
        work_t w;
        if (r->bad) {
            protocol_error("RunWork");
        }
        for (i = 0; i < g_nwork && g_work[i].token != token; i++) {
        }
        if (i == g_nwork) {
            ret = -1; /* no such work item: nspsim asked twice */
            break;
        }
        w = g_work[i];
        g_work[i] = g_work[--g_nwork];
        g_running_work = token;
        nh_call_work(w.fn, w.ctx, token);
        g_running_work = 0;
        break;
    }
    case REQ_POLL: {
        uint32_t wait_us = get_u32(r);
        if (r->bad) {
            protocol_error("Poll");
        }
        poll_wait(wait_us);
        break;
    }
    default:
        protocol_error("unknown request");
    }
    lock();
    retired_check();
    unlock();
    retired_free();
    lock();
    if (__atomic_load_n(&g_crash_sig, __ATOMIC_ACQUIRE) != 0 && g_limit == 0) {
        /* Room is kept: the crash is the one operation that must arrive. */
        if (g_ops.len > NH_MAX_OPS - 16) {
            g_ops.len = 0;
            g_nops = 0;
        }
        put_u8(&g_ops, OP_WORK_CRASH);
        put_u64(&g_ops, (uint64_t)g_crash_token);
        put_u8(&g_ops, (uint8_t)g_crash_sig);
        g_nops++;
        g_crash_reported = (int)g_crash_sig;
    }
    err_set = nh_last_error_get(&err);
    out->len = 0;
    put_u8(out, 'R');
    put_i32(out, ret);
    put_u8(out, (uint8_t)err_set);
    put_u32(out, err);
    put_u64(out, value);
    if (g_limit != 0) {
        /* Only the limit: nspsim ends the instance with a fault naming it. */
        put_u32(out, 1);
        put_u8(out, OP_LIMIT);
        put_u8(out, g_limit);
    } else {
        put_u32(out, g_nops);
        put(out, g_ops.data, g_ops.len);
    }
    g_ops.len = 0;
    g_nops = 0;
    g_limit = 0;
    unlock();
}

/* After a reply that reported a provider thread's crash: the process dies of that signal, as
 * it would have without the handler. */
static void die_of_crash(void)
{
    int sig = g_crash_reported;
    if (sig != 0) {
        signal(sig, SIG_DFL);
        raise(sig);
        _exit(128 + sig);
    }
}

/* The child's life: run the host main, say what it advertised, serve calls until nspsim
 * closes the socket. Never returns. */
_Noreturn static void child_main(int sock, void *sym, int is_entry, int argc, char **argv)
{
    buf_t in = { 0 }, out = { 0 };
    static reader_t rd; /* 64 KiB: not on the stack */
    struct nh_advert ad;
    int32_t ret;

    rd.fd = sock;
    if (g_live) {
        install_crash_handler();
    }

    ret = is_entry ? nh_run_entry(sym, argc, argv) : nh_advertise_symbol(sym);
    nh_advert_get(&ad);
    put_u8(&out, 'H');
    put_i32(&out, ret);
    put_u8(&out, (uint8_t)ad.advertised);
    put(&out, ad.guid, 16);
    put_u32(&out, ad.cb_size);
    put_u32(&out, ad.major);
    put_u32(&out, ad.minor);
    put_u8(&out, ad.slots);
    put_u32(&out, ad.rejected_error);
    put(&out, ad.rejected_guid, 16);
    /* Operations done by the host main (work it queued) stay in g_ops and travel with the
     * first call's reply, when nspsim has a call to hand them to. */
    if (send_frame(sock, &out) != 0) {
        _exit(0);
    }
    for (;;) {
        int got = recv_frame(&rd, &in);
        rd_t r;
        if (got == 0) {
            /* nspsim is done with this run. The provider's buffered output is flushed, but no
             * destructor or atexit handler of its runs: nothing it does now is observed. A
             * provider thread still running ends with the process. */
            fflush(NULL);
            _exit(0);
        }
        if (got < 0) {
            protocol_error("frame");
        }
        /* Spin for the next request only once the run has begun: a child forked ahead waits
         * for its run's first request as long as the run before it lasts. */
        rd.spin_ns = NH_SPIN_NS;
        r.p = in.data;
        r.left = in.len;
        r.bad = 0;
        serve(&r, &out);
        if (send_frame(sock, &out) != 0) {
            _exit(0);
        }
        die_of_crash();
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The fork server                                                                              */

/* A child is named by its fork's sequence number, never by its pid: once a child is reaped
 * its pid may be reused by a new child while nspsim has not yet asked about the old one. */
typedef struct {
    pid_t pid;
    uint32_t seq;
    int done;     /* reaped; `status` is valid */
    int released; /* nspsim no longer asks about it */
    int status;
} child_t;
static child_t g_children[NH_MAX_CHILDREN];
static size_t g_nchildren;

static child_t *child_by_seq(uint32_t seq)
{
    size_t i;
    for (i = 0; i < g_nchildren; i++) {
        if (g_children[i].seq == seq) {
            return &g_children[i];
        }
    }
    return NULL;
}

/* The entry of a child not reaped yet: at most one has a given pid (a pid is not reused before
 * its process is reaped). */
static child_t *child_live(pid_t pid)
{
    size_t i;
    for (i = 0; i < g_nchildren; i++) {
        if (g_children[i].pid == pid && !g_children[i].done) {
            return &g_children[i];
        }
    }
    return NULL;
}

/* Reaps every child that has exited, and forgets those nspsim released. */
static void sweep(void)
{
    size_t i;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        child_t *c;
        if (pid <= 0) {
            break;
        }
        c = child_live(pid);
        if (c != NULL) {
            c->done = 1;
            c->status = status;
        }
    }
    for (i = 0; i < g_nchildren;) {
        if (g_children[i].done && g_children[i].released) {
            g_children[i] = g_children[--g_nchildren];
        } else {
            i++;
        }
    }
}

/* The status reply (after `u8 0`): u8 how (0 exited, 1 killed by a signal, 2 killed by the
 * host, 3 unknown child, 4 still running), i32 the exit status or the signal number. `S`
 * never blocks: nspsim polls, so one child's slow exit never holds up the control channel
 * that every run of this provider shares. `K` kills and reaps (a SIGKILLed child is reaped at
 * once). A child whose end was reported is released. */
static void child_status(uint32_t seq, int kill_now, buf_t *out)
{
    child_t *c;
    int killed = 0;
    sweep();
    c = child_by_seq(seq);
    if (c == NULL) {
        put_u8(out, 3);
        put_i32(out, 0);
        return;
    }
    if (kill_now && !c->done) {
        kill(c->pid, SIGKILL);
        killed = 1;
        for (;;) {
            int status;
            pid_t got = waitpid(c->pid, &status, 0);
            if (got == c->pid) {
                c->done = 1;
                c->status = status;
                break;
            }
            if (got < 0 && errno != EINTR) {
                put_u8(out, 3);
                put_i32(out, 0);
                return;
            }
        }
    }
    if (!c->done) {
        put_u8(out, 4);
        put_i32(out, 0);
        return;
    }
    c->released = 1; /* reported: nspsim is done with it */
    if (killed) {
        put_u8(out, 2);
        put_i32(out, SIGKILL);
    } else if (WIFSIGNALED(c->status)) {
        put_u8(out, 1);
        put_i32(out, WTERMSIG(c->status));
    } else {
        put_u8(out, 0);
        put_i32(out, WEXITSTATUS(c->status));
    }
}

/* Connects to nspsim's listening socket. `@NAME` is Linux's abstract namespace (no file, so
 * nothing is left behind when nspsim dies by a signal); anything else is a path. */
static int connect_to(const char *path)
{
    struct sockaddr_un addr;
    socklen_t len;
    size_t n = strlen(path);
    int fd;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
#if defined(__linux__)
    /* Only Linux has the abstract namespace; nspsim names a socket file elsewhere (host.rs,
     * `listen`), so a leading '@' never reaches this on macOS. */
    if (path[0] == '@') {
        /* sun_path[0] stays NUL; the name follows, and the length says where it ends. */
        if (n > sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(addr.sun_path + 1, path + 1, n - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else
#endif
    {
        if (n >= sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(addr.sun_path, path, n + 1);
        len = (socklen_t)sizeof(addr);
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void reply_error(int ctl, buf_t *out, const char *text)
{
    out->len = 0;
    put_u8(out, 1);
    put(out, text, strlen(text));
    (void)send_frame(ctl, out);
}

static int parse_id(const char *hex, unsigned char id[16])
{
    int i;
    for (i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        id[i] = (unsigned char)v;
    }
    return hex[32] == '\0' ? 0 : -1;
}

/* The child prepared for the next `F` (0: none), and its fork's sequence number. */
static pid_t g_spare;
static uint32_t g_spare_seq;
/* The last fork's sequence number, and the token nspsim gave (NSPSIM_HOST_TOKEN): both go on
 * every connection first, so nspsim takes only the connection of the fork it asked for. */
static uint32_t g_seq;
static uint64_t g_token;
/* Test only (NSPSIM_HOST_TEST_FAIL_FORK=N): the Nth fork fails after its connection was made,
 * as a fork refused for lack of memory or processes would. 0: never. */
static unsigned long g_fail_fork_at;
static unsigned long g_forks;

/* Connects to nspsim's socket, says which fork the connection is (`I`, the sequence number and
 * the token), and forks a run's host process holding that connection. The connection is made
 * before the fork, so nspsim's accept never waits for the child; when the fork fails, the
 * connection is closed and nspsim, expecting a later sequence number, discards it. Returns the
 * child's pid, or -1 with `msg` set. */
static pid_t spawn_child(const char *sock_path, int ctl_out, void *sym, int is_entry, int argc, char **argv,
                         uint32_t *seq_out, char *msg, size_t msg_size)
{
    int sock;
    pid_t pid;
    buf_t ident = { 0 };
    int sent;
    if (g_nchildren == NH_MAX_CHILDREN) {
        snprintf(msg, msg_size, "too many provider host processes at once");
        return -1;
    }
    sock = connect_to(sock_path);
    if (sock < 0) {
        snprintf(msg, msg_size, "cannot connect to nspsim's socket: %s", strerror(errno));
        return -1;
    }
    g_seq++;
    put_u8(&ident, 'I');
    put_u32(&ident, g_seq);
    put_u64(&ident, g_token);
    sent = send_frame(sock, &ident);
    free(ident.data);
    if (sent != 0) {
        snprintf(msg, msg_size, "cannot write to nspsim's socket: %s", strerror(errno));
        close(sock);
        return -1;
    }
    fflush(NULL); /* no buffered output is duplicated into the child */
    g_forks++;
    if (g_fail_fork_at != 0 && g_forks == g_fail_fork_at) {
        pid = -1;
        errno = EAGAIN;
    } else {
        pid = fork();
    }
    if (pid < 0) {
        snprintf(msg, msg_size, "fork failed: %s", strerror(errno));
        close(sock);
        return -1;
    }
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
#if defined(__linux__)
        /* Die with the fork server, which dies when nspsim does (its stdin closes). A parent
         * death signal is Linux's own (prctl); elsewhere (macOS) a child whose server died
         * lives on until nspsim's end of its socket closes, which nspsim's exit does: its
         * next read sees end-of-file and it exits. Only a child stuck in a provider's call
         * then outlives nspsim, as it would a hung call's deadline. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) {
            _exit(0);
        }
#endif
        close(ctl_out);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            close(null_fd);
        }
        signal(SIGPIPE, SIG_DFL);
        /* argv[6..] is NAME ARG... (NULL-terminated): entry's argv. */
        child_main(sock, sym, is_entry, argc - 6, argv + 6);
    }
    close(sock);
    g_children[g_nchildren].pid = pid;
    g_children[g_nchildren].seq = g_seq;
    g_children[g_nchildren].done = 0;
    g_children[g_nchildren].released = 0;
    g_children[g_nchildren].status = 0;
    g_nchildren++;
    *seq_out = g_seq;
    return pid;
}

/* Reads NSPSIM_HOST_TOKEN (hex) and the test hook, and removes them from the environment
 * before the provider's code runs. */
static void read_environment(void)
{
    const char *t = getenv("NSPSIM_HOST_TOKEN");
    const char *f = getenv("NSPSIM_HOST_TEST_FAIL_FORK");
    const char *live = getenv("NSPSIM_HOST_LIVE");
    g_live = live != NULL && strcmp(live, "1") == 0;
    if (t != NULL) {
        g_token = (uint64_t)strtoull(t, NULL, 16);
    }
    if (f != NULL) {
        g_fail_fork_at = strtoul(f, NULL, 10);
    }
    unsetenv("NSPSIM_HOST_TOKEN");
    unsetenv("NSPSIM_HOST_TEST_FAIL_FORK");
    unsetenv("NSPSIM_HOST_LIVE");
}

int main(int argc, char **argv)
{
    const char *sock_path, *lib_path, *mode, *symbol, *id;
    int ctl_in = 0, ctl_out;
    int is_entry;
    void *lib, *sym;
    buf_t in = { 0 }, out = { 0 };
    static reader_t control; /* the control pipe, read the same way */
    char msg[1024];

    /* Keep the protocol's stdout to ourselves; anything else written to fd 1 (a provider's
     * printf, the library's constructors) goes to stderr. */
    ctl_out = dup(1);
    if (ctl_out < 0 || dup2(2, 1) < 0) {
        return 2;
    }
    fcntl(ctl_out, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN); /* a closed peer is an error return, not a death */
    read_environment();

    if (argc < 7) {
        reply_error(ctl_out, &out, "usage: nspsim_host SOCKET LIBRARY entry|routines SYMBOL ID|- NAME [ARG...]");
        return 2;
    }
    sock_path = argv[1];
    lib_path = argv[2];
    mode = argv[3];
    symbol = argv[4];
    id = argv[5];
    is_entry = strcmp(mode, "entry") == 0;
    if (strcmp(id, "-") != 0) {
        if (parse_id(id, nh_provider_id) != 0) {
            reply_error(ctl_out, &out, "the provider id is not 32 hex digits");
            return 2;
        }
        nh_have_id = 1;
    }

    lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *e = dlerror();
        reply_error(ctl_out, &out, e != NULL ? e : "dlopen failed");
        return 3;
    }
    dlerror();
    sym = dlsym(lib, symbol);
    if (sym == NULL) {
        snprintf(msg, sizeof(msg), "the library has no exported symbol `%s`", symbol);
        reply_error(ctl_out, &out, msg);
        return 3;
    }
    out.len = 0;
    put_u8(&out, 0);
    if (send_frame(ctl_out, &out) != 0) {
        return 0;
    }

    control.fd = ctl_in;
    for (;;) {
        rd_t r;
        uint8_t cmd;
        int got = recv_frame(&control, &in);
        if (got <= 0) {
            break; /* nspsim closed the pipe: it is done (or gone) */
        }
        sweep();
        r.p = in.data;
        r.left = in.len;
        r.bad = 0;
        cmd = get_u8(&r);
        out.len = 0;
        if (cmd == 'F') {
            pid_t pid;
            uint32_t seq;
            if (g_spare <= 0) {
                g_spare = spawn_child(sock_path, ctl_out, sym, is_entry, argc, argv, &g_spare_seq, msg, sizeof(msg));
                if (g_spare < 0) {
                    g_spare = 0;
                    reply_error(ctl_out, &out, msg);
                    continue;
                }
            }
            pid = g_spare;
            seq = g_spare_seq;
            g_spare = 0;
            put_u8(&out, 0);
            put_u32(&out, (uint32_t)pid);
            put_u32(&out, seq);
            (void)send_frame(ctl_out, &out);
            /* Fork the next run's child now, while nspsim runs this one: a fork and the host
             * main cost more than a whole run's calls. Its connection queues behind this one
             * and says its sequence number, so nspsim's next accept finds the child of its next
             * `F`. A failure here is reported by that `F`, which tries again. */
            g_spare = spawn_child(sock_path, ctl_out, sym, is_entry, argc, argv, &g_spare_seq, msg, sizeof(msg));
            if (g_spare < 0) {
                g_spare = 0;
            }
        } else if (cmd == 'S' || cmd == 'K') {
            uint32_t seq = get_u32(&r);
            put_u8(&out, 0);
            child_status(seq, cmd == 'K', &out);
            (void)send_frame(ctl_out, &out);
        } else if (cmd == 'R') {
            child_t *c = child_by_seq(get_u32(&r));
            if (c != NULL) {
                c->released = 1;
            }
            sweep();
        } else {
            reply_error(ctl_out, &out, "unknown command");
        }
    }
    /* Done: no child outlives its fork server. */
    {
        size_t i;
        for (i = 0; i < g_nchildren; i++) {
            if (!g_children[i].done) {
                kill(g_children[i].pid, SIGKILL);
            }
        }
        for (i = 0; i < g_nchildren; i++) {
            if (!g_children[i].done) {
                int status;
                while (waitpid(g_children[i].pid, &status, 0) < 0 && errno == EINTR) {
                }
            }
        }
    }
    return 0;
}

/*
 * nspsim_host.h - the seam between the two halves of nspsim's C provider host.
 *
 * The host is two translation units because their headers cannot meet: nspsim_winapi.c is
 * compiled against nspsim's Windows headers (Win64 SOCKADDR, AF_INET6 = 23, ...) and defines
 * the Winsock/kernel32 functions a provider calls; nspsim_host.c is compiled against the
 * POSIX headers (sockets, fork, dlopen) and runs the fork server and the call protocol. This
 * header uses only C's own types so both can include it.
 */
#ifndef NSPSIM_HOST_H
#define NSPSIM_HOST_H

#include <stddef.h>
#include <stdint.h>

/* A work item's callback: LPTHREAD_START_ROUTINE, spelled without Windows types. */
typedef uint32_t (*nh_work_fn)(void *ctx);

/* ---- Provided by nspsim_host.c, called by the Windows API half. ---- */

/* The provider's id as the scenario gives it, in GUID memory layout; `nh_have_id` is 0 when
 * nspsim did not pass one (then the first GUID advertised is taken). */
extern unsigned char nh_provider_id[16];
extern int nh_have_id;

/* WSAProviderCompleteAsyncCall: appends a completion to the current call's operations,
 * with the NextEx output buffer when `h` names a NextEx call still pending here. Any thread
 * may call it (live mode: under the host's lock). */
void nh_complete(uint64_t h, int32_t code);
/* QueueUserWorkItem/CreateThread: records a work item and appends its token to the current
 * call's operations (live mode: starts it on a thread of its own). Returns the token, or 0
 * when the table is full (or the thread cannot be created). Any thread may call it. */
uint64_t nh_queue_work(nh_work_fn fn, void *ctx, int is_thread);
/* WSAUnadvertiseProvider: appends an `unadvertise` operation (nspsim records, does not act). */
void nh_note_unadvertise(void);
/* The token of the work item running on this thread, 0 on the call thread (for
 * GetCurrentThreadId). */
uint64_t nh_current_work(void);

/* ---- Provided by nspsim_winapi.c, called by the protocol half. ---- */

/* The calling thread's last error. `nh_last_error_reset` starts a call;
 * `nh_last_error_get` says whether the provider set it during the call. */
void nh_last_error_reset(void);
int nh_last_error_get(uint32_t *value);

/* What WSAAdvertiseProvider recorded. */
struct nh_advert {
    int advertised;           /* the scenario's id was advertised and not unadvertised */
    unsigned char guid[16];   /* the id advertised */
    uint32_t cb_size, major, minor;
    uint8_t slots;            /* bit i: slot i of the NSPV2_ROUTINE is non-NULL */
    uint32_t rejected_error;  /* the error of the last refused WSAAdvertiseProvider, or 0 */
    unsigned char rejected_guid[16];
};
void nh_advert_get(struct nh_advert *out);

/* Runs `int entry(int argc, char **argv)`. */
int nh_run_entry(void *entry, int argc, char **argv);
/* The host's own host main for `routines = SYMBOL`: WSAStartup, then WSAAdvertiseProvider of
 * the table at `table` under the scenario's id. Returns 0 or the Winsock error. */
int nh_advertise_symbol(void *table);

/* The seven entry points of the advertised table. Each checks its slot: a NULL slot is never
 * called (nspsim does not call an absent entry point; this is a second guard). */
int32_t nh_call_startup(uint64_t *session_out);
int32_t nh_call_cleanup(uint64_t session);
int32_t nh_call_begin(void *qs, uint32_t flags, uint64_t session, uint64_t *lookup_out);
void nh_call_next_ex(uint64_t h, uint64_t lookup, uint32_t flags, uint32_t *len, void *buf);
int32_t nh_call_end(uint64_t lookup);
void nh_call_set_service(uint64_t h, void *qs, uint32_t op, uint32_t flags, uint64_t session);
void nh_call_rundown(uint64_t session);
/* Runs a work item's callback as the logical thread `token`. */
void nh_call_work(nh_work_fn fn, void *ctx, uint64_t token);

#endif /* NSPSIM_HOST_H */

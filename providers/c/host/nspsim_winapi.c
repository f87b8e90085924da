/*
 * nspsim_winapi.c - the Winsock and kernel32 functions nspsim's headers declare, as the
 * provider host process exports them (the host is linked with -rdynamic, so a provider
 * library's undefined symbols resolve here when the host dlopens it).
 *
 * Compiled against nspsim's own Windows headers, so every signature is checked against the
 * declarations a provider compiles with. In sim mode the host runs provider code on one thread;
 * work a provider hands to the thread pool (QueueUserWorkItem, CreateThread) is not started here
 * but recorded, and nspsim's scheduler decides when it runs (DESIGN.md, "C providers"). In live
 * mode nspsim_host.c starts a real thread for it (PROTOCOL.md, "Live mode").
 *
 * Semantics (docs/semantics.md): WSAAdvertiseProvider refuses an id other than the scenario's
 * with WSAEINVALIDPROVIDER (S3.1); the routine table is copied at advertise time, reading no
 * more than its cbSize; a short table or a NULL required slot is recorded as it is and left to
 * the dispatcher, which refuses it when the scenario advertises (S1.5, S3.1).
 */
/* POSIX 2008 with XSI (recursive mutexes), before any header includes the C library's. */
#if defined(__linux__)
#define _GNU_SOURCE
#elif defined(__APPLE__)
#define _DARWIN_C_SOURCE
#endif

#include <winsock2.h>
#include <ws2spi.h>
#include <windows.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nspsim_host.h"

NSPSIM_STATIC_ASSERT(sizeof(pthread_mutex_t) <= sizeof(CRITICAL_SECTION),
                     "CRITICAL_SECTION must hold this host's pthread_mutex_t");
NSPSIM_STATIC_ASSERT(sizeof(NSPV2_ROUTINE) == 72, "NSPV2_ROUTINE is 72 bytes on Win64");

/* ---- Last error: one per thread, as on Windows (in live mode provider threads are real). ---- */

static _Thread_local DWORD g_last_error;
static _Thread_local int g_last_error_set;

void nh_last_error_reset(void)
{
    g_last_error = 0;
    g_last_error_set = 0;
}

int nh_last_error_get(uint32_t *value)
{
    *value = g_last_error;
    return g_last_error_set;
}

DWORD WINAPI GetLastError(void)
{
    return g_last_error;
}

VOID WINAPI SetLastError(DWORD dwErrCode)
{
    g_last_error = dwErrCode;
    g_last_error_set = 1;
}

int WSAAPI WSAGetLastError(void)
{
    return (int)g_last_error;
}

void WSAAPI WSASetLastError(int iError)
{
    SetLastError((DWORD)iError);
}

/* ---- WSAStartup / WSACleanup: reference counted, as in Ws2_32. ---- */

/* Atomic: in live mode a provider's own threads may call WSAStartup and WSACleanup. */
static int g_wsa_refs;

int WSAAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData)
{
    WORD version = wVersionRequested;

    if (lpWSAData == NULL) {
        return WSAEFAULT;
    }
    if (LOBYTE(version) < 1) {
        return WSAVERNOTSUPPORTED;
    }
    /* Winsock 2.2 is the highest; a higher request gets 2.2, as on Windows. */
    if (LOBYTE(version) > 2 || (LOBYTE(version) == 2 && HIBYTE(version) > 2)) {
        version = MAKEWORD(2, 2);
    }
    memset(lpWSAData, 0, sizeof(*lpWSAData));
    lpWSAData->wVersion = version;
    lpWSAData->wHighVersion = MAKEWORD(2, 2);
    lpWSAData->iMaxSockets = 0; /* ignored since Winsock 2, and 0 on Windows too */
    lpWSAData->iMaxUdpDg = 0;
    lpWSAData->lpVendorInfo = NULL;
    memcpy(lpWSAData->szDescription, "nspsim provider host (WinSock 2.0)", sizeof("nspsim provider host (WinSock 2.0)"));
    memcpy(lpWSAData->szSystemStatus, "Running", sizeof("Running"));
    __atomic_add_fetch(&g_wsa_refs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int WSAAPI WSACleanup(void)
{
    int refs = __atomic_load_n(&g_wsa_refs, __ATOMIC_SEQ_CST);
    do {
        if (refs == 0) {
            WSASetLastError(WSANOTINITIALISED);
            return SOCKET_ERROR;
        }
    } while (!__atomic_compare_exchange_n(&g_wsa_refs, &refs, refs - 1, 0, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    return 0;
}

/* ---- Advertising ---- */

static struct nh_advert g_advert;
static NSPV2_ROUTINE g_table; /* the copy the host calls through */

void nh_advert_get(struct nh_advert *out)
{
    *out = g_advert;
}

INT WSAAPI WSAAdvertiseProvider(const GUID *puuidProviderId, const LPCNSPV2_ROUTINE pNSPv2Routine)
{
    unsigned char id[16];
    DWORD cb;
    size_t n;

    if (puuidProviderId == NULL || pNSPv2Routine == NULL) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    if (__atomic_load_n(&g_wsa_refs, __ATOMIC_SEQ_CST) == 0) {
        WSASetLastError(WSANOTINITIALISED);
        return SOCKET_ERROR;
    }
    memcpy(id, puuidProviderId, 16);
    if (nh_have_id ? memcmp(id, nh_provider_id, 16) != 0 : g_advert.advertised && memcmp(id, g_advert.guid, 16) != 0) {
        /* Not the provider the scenario installed: Windows' answer for an id not in the
         * catalog (S3.1). Remembered, so a build that fails can name the id the code used. */
        g_advert.rejected_error = WSAEINVALIDPROVIDER;
        memcpy(g_advert.rejected_guid, id, 16);
        WSASetLastError(WSAEINVALIDPROVIDER);
        return SOCKET_ERROR;
    }
    if (g_advert.advertised) {
        WSASetLastError(WSAEINVAL); /* already advertised (S3.2) */
        return SOCKET_ERROR;
    }
    /* Copy the table, reading no more of the provider's memory than its cbSize says it has;
     * slots past a short table read as NULL. */
    memcpy(&cb, &pNSPv2Routine->cbSize, sizeof(cb));
    n = cb < sizeof(NSPV2_ROUTINE) ? cb : sizeof(NSPV2_ROUTINE);
    memset(&g_table, 0, sizeof(g_table));
    memcpy(&g_table, pNSPv2Routine, n);
    g_table.cbSize = cb;

    g_advert.advertised = 1;
    memcpy(g_advert.guid, id, 16);
    g_advert.cb_size = cb;
    g_advert.major = n >= 8 ? g_table.dwMajorVersion : 0;
    g_advert.minor = n >= 12 ? g_table.dwMinorVersion : 0;
    g_advert.slots = (uint8_t)((g_table.NSPv2Startup != NULL ? 1u : 0u) | (g_table.NSPv2Cleanup != NULL ? 2u : 0u) |
                               (g_table.NSPv2LookupServiceBegin != NULL ? 4u : 0u) |
                               (g_table.NSPv2LookupServiceNextEx != NULL ? 8u : 0u) |
                               (g_table.NSPv2LookupServiceEnd != NULL ? 16u : 0u) |
                               (g_table.NSPv2SetServiceEx != NULL ? 32u : 0u) |
                               (g_table.NSPv2ClientSessionRundown != NULL ? 64u : 0u));
    return 0;
}

/* In the simulation the scenario's steps decide when a provider stops being reachable; the
 * host records the call (an `unadvertise` operation nspsim may log) and answers as Ws2_32
 * would: 0 for the advertised id, WSAEINVAL for any other, for NULL, and for an id already
 * unadvertised (Ws2_32 no longer has it in its advertised list; WSAEINVAL is the only error
 * Microsoft documents). The table stays callable: the dispatcher, not the host, decides
 * reachability; a later WSAAdvertiseProvider of the same id is accepted again. */
INT WSAAPI WSAUnadvertiseProvider(const GUID *puuidProviderId)
{
    if (puuidProviderId == NULL || !g_advert.advertised || memcmp(puuidProviderId, g_advert.guid, 16) != 0) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    g_advert.advertised = 0;
    nh_note_unadvertise();
    return 0;
}

/* Ws2_32 checks the handle and the call's state; here the dispatcher does (S6.2), so every
 * completion is passed on, in order, and the host answers 0. */
INT WSAAPI WSAProviderCompleteAsyncCall(HANDLE hAsyncCall, INT iRetCode)
{
    nh_complete((uint64_t)(uintptr_t)hAsyncCall, iRetCode);
    return 0;
}

/* ---- Calls into the advertised table ---- */

int nh_run_entry(void *entry, int argc, char **argv)
{
    int (*fn)(int, char **);
    memcpy(&fn, &entry, sizeof(fn)); /* dlsym's object pointer as a function pointer */
    return fn(argc, argv);
}

int nh_advertise_symbol(void *table)
{
    WSADATA data;
    GUID id;
    int err = WSAStartup(MAKEWORD(2, 2), &data);
    if (err != 0) {
        return err;
    }
    memcpy(&id, nh_provider_id, 16);
    if (WSAAdvertiseProvider(&id, (LPCNSPV2_ROUTINE)table) == SOCKET_ERROR) {
        return WSAGetLastError();
    }
    return 0;
}

/* Each call gets its own copy of the provider id: a provider that writes through
 * lpProviderId cannot change the host's. */
static GUID call_guid(void)
{
    GUID g;
    memcpy(&g, nh_provider_id, 16);
    if (!nh_have_id) {
        memcpy(&g, g_advert.guid, 16);
    }
    return g;
}

static int32_t absent_slot(void)
{
    WSASetLastError(WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}

int32_t nh_call_startup(uint64_t *session_out)
{
    GUID g = call_guid();
    LPVOID arg = NULL;
    int32_t ret;
    if (g_table.NSPv2Startup == NULL) {
        return absent_slot();
    }
    ret = g_table.NSPv2Startup(&g, &arg);
    *session_out = (uint64_t)(uintptr_t)arg;
    return ret;
}

int32_t nh_call_cleanup(uint64_t session)
{
    GUID g = call_guid();
    if (g_table.NSPv2Cleanup == NULL) {
        return absent_slot();
    }
    return g_table.NSPv2Cleanup(&g, (LPVOID)(uintptr_t)session);
}

int32_t nh_call_begin(void *qs, uint32_t flags, uint64_t session, uint64_t *lookup_out)
{
    GUID g = call_guid();
    HANDLE h = NULL;
    int32_t ret;
    if (g_table.NSPv2LookupServiceBegin == NULL) {
        return absent_slot();
    }
    ret = g_table.NSPv2LookupServiceBegin(&g, (LPWSAQUERYSET2W)qs, flags, (LPVOID)(uintptr_t)session, &h);
    *lookup_out = (uint64_t)(uintptr_t)h;
    return ret;
}

void nh_call_next_ex(uint64_t h, uint64_t lookup, uint32_t flags, uint32_t *len, void *buf)
{
    if (g_table.NSPv2LookupServiceNextEx == NULL) {
        nh_complete(h, WSAEOPNOTSUPP);
        return;
    }
    g_table.NSPv2LookupServiceNextEx((HANDLE)(uintptr_t)h, (HANDLE)(uintptr_t)lookup, flags, len,
                                     (LPWSAQUERYSET2W)buf);
}

int32_t nh_call_end(uint64_t lookup)
{
    if (g_table.NSPv2LookupServiceEnd == NULL) {
        return absent_slot();
    }
    return g_table.NSPv2LookupServiceEnd((HANDLE)(uintptr_t)lookup);
}

void nh_call_set_service(uint64_t h, void *qs, uint32_t op, uint32_t flags, uint64_t session)
{
    GUID g = call_guid();
    if (g_table.NSPv2SetServiceEx == NULL) {
        nh_complete(h, WSAEOPNOTSUPP);
        return;
    }
    g_table.NSPv2SetServiceEx((HANDLE)(uintptr_t)h, &g, (LPWSAQUERYSET2W)qs, (WSAESETSERVICEOP)op, flags,
                              (LPVOID)(uintptr_t)session);
}

void nh_call_rundown(uint64_t session)
{
    GUID g = call_guid();
    if (g_table.NSPv2ClientSessionRundown == NULL) {
        return;
    }
    g_table.NSPv2ClientSessionRundown(&g, (LPVOID)(uintptr_t)session);
}

void nh_call_work(nh_work_fn fn, void *ctx, uint64_t token)
{
    (void)token;
    (void)fn(ctx);
}

/* ---- Memory: Heap* and Local* share one allocator. Each block carries its size in a
 * 16-byte header (which keeps malloc's 16-byte alignment), so HeapReAlloc can zero what it
 * adds. Blocks start zeroed unless asked otherwise only by chance; contents of a fresh block
 * are still deterministic, since every run starts from the same forked image. */

#define NH_HEAP_MAGIC 0x6e737068u /* "nsph" */

typedef struct {
    size_t size;
    size_t magic;
} nh_block;

static int g_heap_tag; /* GetProcessHeap's handle is its address: non-NULL and stable */

static void *nh_alloc(size_t n, int zero)
{
    nh_block *b;
    if (n > SIZE_MAX - sizeof(nh_block)) {
        return NULL;
    }
    b = zero ? calloc(1, sizeof(nh_block) + n) : malloc(sizeof(nh_block) + n);
    if (b == NULL) {
        return NULL;
    }
    b->size = n;
    b->magic = NH_HEAP_MAGIC;
    return b + 1;
}

static nh_block *nh_header(void *p)
{
    return p == NULL ? NULL : (nh_block *)p - 1;
}

HANDLE WINAPI GetProcessHeap(void)
{
    return &g_heap_tag;
}

/* HeapAlloc and HeapReAlloc return NULL on failure and, as Microsoft's pages say, do not call
 * SetLastError: a provider that reads GetLastError after one reads what was there before. */
LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes)
{
    (void)hHeap;
    return nh_alloc(dwBytes, (dwFlags & HEAP_ZERO_MEMORY) != 0);
}

LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes)
{
    nh_block *old = nh_header(lpMem);
    nh_block *b;
    size_t old_size;
    (void)hHeap;
    if (old == NULL || old->magic != NH_HEAP_MAGIC || dwBytes > SIZE_MAX - sizeof(nh_block)) {
        return NULL;
    }
    old_size = old->size;
    b = realloc(old, sizeof(nh_block) + dwBytes);
    if (b == NULL) {
        return NULL;
    }
    b->size = dwBytes;
    if ((dwFlags & HEAP_ZERO_MEMORY) && dwBytes > old_size) {
        memset((unsigned char *)(b + 1) + old_size, 0, dwBytes - old_size);
    }
    return b + 1;
}

BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem)
{
    nh_block *b = nh_header(lpMem);
    (void)hHeap;
    (void)dwFlags;
    if (b == NULL) {
        return TRUE; /* freeing NULL is allowed */
    }
    if (b->magic != NH_HEAP_MAGIC) {
        /* Not a block of this heap (or a double free): Windows would corrupt or break into
         * the debugger; the host refuses without touching it. */
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    b->magic = 0;
    free(b);
    return TRUE;
}

HLOCAL WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes)
{
    void *p = nh_alloc(uBytes, (uFlags & LMEM_ZEROINIT) != 0);
    if (p == NULL) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    }
    return p;
}

HLOCAL WINAPI LocalFree(HLOCAL hMem)
{
    /* LocalFree returns NULL on success and the handle on failure. */
    return HeapFree(&g_heap_tag, 0, hMem) ? NULL : hMem;
}

/* ---- Wide strings. Windows' lstrcmp(i)W compare linguistically; the host compares UTF-16
 * code units, folding ASCII and Latin-1 letters for the case-insensitive one, which agrees with
 * Windows for the names providers store (e-mail addresses, host names). */

int WINAPI lstrlenW(LPCWSTR lpString)
{
    int n = 0;
    if (lpString == NULL) {
        return 0;
    }
    while (lpString[n] != 0) {
        n++;
    }
    return n;
}

static unsigned fold(unsigned c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) {
        return c + 32;
    }
    return c;
}

static int compare(LPCWSTR a, LPCWSTR b, int ignore_case)
{
    static const WCHAR empty[1] = { 0 };
    if (a == NULL) {
        a = empty;
    }
    if (b == NULL) {
        b = empty;
    }
    for (;; a++, b++) {
        unsigned ca = (unsigned)*a;
        unsigned cb = (unsigned)*b;
        if (ignore_case) {
            ca = fold(ca);
            cb = fold(cb);
        }
        if (ca != cb) {
            return ca < cb ? -1 : 1;
        }
        if (ca == 0) {
            return 0;
        }
    }
}

int WINAPI lstrcmpW(LPCWSTR lpString1, LPCWSTR lpString2)
{
    return compare(lpString1, lpString2, 0);
}

int WINAPI lstrcmpiW(LPCWSTR lpString1, LPCWSTR lpString2)
{
    return compare(lpString1, lpString2, 1);
}

/* Windows takes iMaxLength as unsigned (a negative length copies up to the source's
 * terminator, however far), always terminates unless the length is 0, and catches the access
 * violation of a NULL pointer it would touch: it then returns NULL with
 * ERROR_INVALID_PARAMETER (Microsoft's page: NULL on failure; Wine's kernelbase matches). */
LPWSTR WINAPI lstrcpynW(LPWSTR lpString1, LPCWSTR lpString2, int iMaxLength)
{
    unsigned count = (unsigned)iMaxLength;
    LPWSTR d = lpString1;
    LPCWSTR s = lpString2;
    if ((count > 1 && lpString2 == NULL) || (count > 0 && lpString1 == NULL)) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    while (count > 1 && *s != 0) {
        count--;
        *d++ = *s++;
    }
    if (count > 0) {
        *d = 0;
    }
    return lpString1;
}

LPWSTR WINAPI lstrcpyW(LPWSTR lpString1, LPCWSTR lpString2)
{
    int i;
    if (lpString1 == NULL || lpString2 == NULL) {
        return NULL;
    }
    for (i = 0; lpString2[i] != 0; i++) {
        lpString1[i] = lpString2[i];
    }
    lpString1[i] = 0;
    return lpString1;
}

LPWSTR WINAPI lstrcatW(LPWSTR lpString1, LPCWSTR lpString2)
{
    if (lpString1 == NULL || lpString2 == NULL) {
        return NULL;
    }
    lstrcpyW(lpString1 + lstrlenW(lpString1), lpString2);
    return lpString1;
}

/* ---- Critical sections: a recursive pthread mutex kept inside the CRITICAL_SECTION. In sim mode
 * provider code runs on one thread, so a section is never contended; in live mode provider
 * threads contend for it for real. Recursion is Windows'. */

static pthread_mutex_t *cs_mutex(LPCRITICAL_SECTION cs)
{
    return (pthread_mutex_t *)(void *)cs->Opaque;
}

VOID WINAPI InitializeCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    memset(lpCriticalSection, 0, sizeof(*lpCriticalSection));
    pthread_mutex_init(cs_mutex(lpCriticalSection), &attr);
    pthread_mutexattr_destroy(&attr);
}

BOOL WINAPI InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION lpCriticalSection, DWORD dwSpinCount)
{
    (void)dwSpinCount;
    InitializeCriticalSection(lpCriticalSection);
    return TRUE;
}

VOID WINAPI EnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_lock(cs_mutex(lpCriticalSection));
}

BOOL WINAPI TryEnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    return pthread_mutex_trylock(cs_mutex(lpCriticalSection)) == 0;
}

VOID WINAPI LeaveCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_unlock(cs_mutex(lpCriticalSection));
}

VOID WINAPI DeleteCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_destroy(cs_mutex(lpCriticalSection));
}

/* ---- Threads and the thread pool: work items for nspsim's scheduler, or (live mode) real
 * threads; nh_queue_work decides. ---- */

BOOL WINAPI QueueUserWorkItem(LPTHREAD_START_ROUTINE Function, PVOID Context, ULONG Flags)
{
    (void)Flags;
    if (Function == NULL) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    if (nh_queue_work((nh_work_fn)Function, Context, 0) == 0) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return FALSE;
    }
    return TRUE;
}

/* A thread's id: the host's own thread is 4, the thread of work item N is 4 + 4N (Windows
 * thread ids are multiples of 4). Deterministic, unlike a real id. */
static DWORD thread_id_of(uint64_t token)
{
    return (DWORD)(4u + 4u * (DWORD)token);
}

/* The thread runs when the scheduler says (live mode: at once), from its start routine to its
 * end; CREATE_SUSPENDED is not modelled (there is no ResumeThread). The handle is a
 * token-derived value that only CloseHandle accepts. */
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                           LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags,
                           LPDWORD lpThreadId)
{
    uint64_t token;
    (void)lpThreadAttributes;
    (void)dwStackSize;
    (void)dwCreationFlags;
    if (lpStartAddress == NULL) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    token = nh_queue_work((nh_work_fn)lpStartAddress, lpParameter, 1);
    if (token == 0) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return NULL;
    }
    if (lpThreadId != NULL) {
        *lpThreadId = thread_id_of(token);
    }
    return (HANDLE)(uintptr_t)(0x10000u + 4u * token);
}

BOOL WINAPI CloseHandle(HANDLE hObject)
{
    if (hObject == NULL || hObject == INVALID_HANDLE_VALUE) {
        SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    }
    return TRUE;
}

DWORD WINAPI GetCurrentThreadId(void)
{
    return thread_id_of(nh_current_work());
}

/* The real process id: it never reaches a trace, and tests use it to find the host. */
DWORD WINAPI GetCurrentProcessId(void)
{
    return (DWORD)getpid();
}

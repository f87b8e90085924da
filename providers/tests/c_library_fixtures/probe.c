/*
 * probe.c - a test provider for the c-library kind. Its host main takes options in argv:
 *   complete=inline|work|thread|none   how NextEx and SetServiceEx complete (default inline)
 *   crash=FN:HOW                       FN: startup cleanup begin next end set rundown work entry
 *                                      HOW: segv abort exit3 hang, or close: close every
 *                                      descriptor (nspsim reads end-of-file) and keep running
 *   advertise=other|none|twice         advertise another GUID, nothing, or twice
 *   ret=N                              the host main returns N (after advertising)
 *   null=startup,rundown,end           leave these slots NULL
 *   cbsize=N                           the table's cbSize
 *   pidfile=PATH                       write "PID PPID\n" there (leak tests)
 *   bad-result                         NextEx writes a result with a pointer outside the buffer
 *   queue-in-entry                     the host main queues a work item that counts sessions up
 *   fill-buffer                        an inline NextEx fills its whole buffer with 0x5A and
 *                                      completes with WSA_E_NO_MORE (a reply as long as the buffer)
 *   late-write=buffer|length           an inline NextEx writes to lpqsResults or
 *                                      *lpdwBufferLength after completing (a provider bug)
 * Sessions count from 1 in every process: a fresh state shows as session 0x1001.
 */
#include <winsock2.h>
#include <ws2spi.h>
#include <windows.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* {3c1d2e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5} */
static const GUID PROBE_ID = { 0x3c1d2e4f, 0x5a6b, 0x4c7d, { 0x8e, 0x9f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5 } };
/* {11111111-2222-3333-4444-555555555555} */
static const GUID OTHER_ID = { 0x11111111, 0x2222, 0x3333, { 0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 } };

static char g_crash_fn[16];
static char g_crash_how[16];
static char g_complete[16] = "inline";
static int g_bad_result;
static char g_late_write[16];
static int g_fill_buffer;
static LONG volatile g_sessions;
static NSPV2_ROUTINE g_table;

/* Queued by the host main: makes the next session number start at 0x1011. */
static DWORD WINAPI ProbeEntryWork(LPVOID p)
{
    UNREFERENCED_PARAMETER(p);
    InterlockedExchange(&g_sessions, 16);
    return 0;
}
static CRITICAL_SECTION g_lock;

static void maybe_crash(const char *fn)
{
    if (strcmp(g_crash_fn, fn) != 0) {
        return;
    }
    if (strcmp(g_crash_how, "segv") == 0) {
        raise(SIGSEGV);
    } else if (strcmp(g_crash_how, "abort") == 0) {
        abort();
    } else if (strcmp(g_crash_how, "exit3") == 0) {
        exit(3);
    } else if (strcmp(g_crash_how, "hang") == 0) {
        for (;;) {
        }
    } else if (strcmp(g_crash_how, "close") == 0) {
        int fd;
        for (fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        for (;;) {
            sleep(1);
        }
    }
}

typedef struct {
    WCHAR Name[64];
} PROBE_LOOKUP;

typedef struct {
    HANDLE hAsyncCall;
    WCHAR Name[64];
    LPDWORD lpdwBufferLength;
    LPWSAQUERYSET2W lpqs;
    BOOL IsSet;
} PROBE_WORK;

static INT WSAAPI ProbeStartup(LPGUID lpProviderId, LPVOID *ppvClientSessionArg)
{
    LONG n;
    maybe_crash("startup");
    if (lpProviderId == NULL || memcmp(lpProviderId, &PROBE_ID, sizeof(GUID)) != 0) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    n = InterlockedIncrement(&g_sessions);
    *ppvClientSessionArg = (LPVOID)(ULONG_PTR)(0x1000 + n);
    return NO_ERROR;
}

static INT WSAAPI ProbeCleanup(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    UNREFERENCED_PARAMETER(lpProviderId);
    maybe_crash("cleanup");
    if (pvClientSessionArg == NULL) {
        SetLastError(WSAEINVAL); /* SetLastError and WSASetLastError are one last error */
        return SOCKET_ERROR;
    }
    return NO_ERROR;
}

static INT WSAAPI ProbeBegin(LPGUID lpProviderId, LPWSAQUERYSET2W lpqsRestrictions, DWORD dwControlFlags,
                             LPVOID lpvClientSessionArg, LPHANDLE lphLookup)
{
    PROBE_LOOKUP *lookup;
    UNREFERENCED_PARAMETER(lpProviderId);
    UNREFERENCED_PARAMETER(dwControlFlags);
    UNREFERENCED_PARAMETER(lpvClientSessionArg);
    maybe_crash("begin");
    if (lpqsRestrictions->lpszServiceInstanceName == NULL ||
        lstrcmpiW(lpqsRestrictions->lpszServiceInstanceName, L"MISSING@example.com") == 0) {
        WSASetLastError(WSASERVICE_NOT_FOUND);
        return SOCKET_ERROR;
    }
    lookup = (PROBE_LOOKUP *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(PROBE_LOOKUP));
    if (lookup == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    lstrcpynW(lookup->Name, lpqsRestrictions->lpszServiceInstanceName, 64);
    *lphLookup = (HANDLE)lookup;
    return NO_ERROR;
}

/* One result: the struct, then the name. WSAEFAULT with the size when it does not fit. */
static INT ProbeWrite(LPCWSTR name, LPDWORD len, LPWSAQUERYSET2W qs)
{
    DWORD need = (DWORD)(sizeof(WSAQUERYSET2W) + (lstrlenW(name) + 1) * sizeof(WCHAR));
    if (*len < need) {
        *len = need;
        return WSAEFAULT;
    }
    ZeroMemory(qs, sizeof(*qs));
    qs->dwSize = sizeof(*qs);
    qs->dwNameSpace = NS_EMAIL;
    qs->lpszServiceInstanceName = (LPWSTR)(qs + 1);
    lstrcpyW(qs->lpszServiceInstanceName, name);
    if (g_bad_result) {
        qs->lpszServiceInstanceName = (LPWSTR)((BYTE *)qs + 1000000);
    }
    return NO_ERROR;
}

static DWORD WINAPI ProbeWorker(LPVOID p)
{
    PROBE_WORK *work = (PROBE_WORK *)p;
    maybe_crash("work");
    EnterCriticalSection(&g_lock);
    if (work->IsSet) {
        WSAProviderCompleteAsyncCall(work->hAsyncCall, NO_ERROR);
    } else {
        WSAProviderCompleteAsyncCall(work->hAsyncCall, ProbeWrite(work->Name, work->lpdwBufferLength, work->lpqs));
    }
    LeaveCriticalSection(&g_lock);
    LocalFree(work);
    return 0;
}

static void ProbeDefer(PROBE_WORK *work)
{
    if (strcmp(g_complete, "thread") == 0) {
        DWORD tid = 0;
        HANDLE t = CreateThread(NULL, 0, ProbeWorker, work, 0, &tid);
        if (t == NULL || tid == GetCurrentThreadId()) {
            WSAProviderCompleteAsyncCall(work->hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
            return;
        }
        CloseHandle(t);
    } else if (!QueueUserWorkItem(ProbeWorker, work, WT_EXECUTEDEFAULT)) {
        WSAProviderCompleteAsyncCall(work->hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
    }
}

static VOID WSAAPI ProbeNextEx(HANDLE hAsyncCall, HANDLE hLookup, DWORD dwControlFlags, LPDWORD lpdwBufferLength,
                               LPWSAQUERYSET2W lpqsResults)
{
    PROBE_LOOKUP *lookup = (PROBE_LOOKUP *)hLookup;
    PROBE_WORK *work;
    UNREFERENCED_PARAMETER(dwControlFlags);
    maybe_crash("next");
    if (strcmp(g_complete, "none") == 0) {
        return;
    }
    if (g_fill_buffer) {
        FillMemory(lpqsResults, *lpdwBufferLength, 0x5A);
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_E_NO_MORE);
        return;
    }
    if (strcmp(g_complete, "inline") == 0) {
        WSAProviderCompleteAsyncCall(hAsyncCall, ProbeWrite(lookup->Name, lpdwBufferLength, lpqsResults));
        if (strcmp(g_late_write, "buffer") == 0) {
            lpqsResults->dwOutputFlags ^= 1;
        } else if (strcmp(g_late_write, "length") == 0) {
            *lpdwBufferLength += 1;
        }
        return;
    }
    work = (PROBE_WORK *)LocalAlloc(LPTR, sizeof(PROBE_WORK));
    work->hAsyncCall = hAsyncCall;
    lstrcpynW(work->Name, lookup->Name, 64);
    work->lpdwBufferLength = lpdwBufferLength;
    work->lpqs = lpqsResults;
    ProbeDefer(work);
}

static INT WSAAPI ProbeEnd(HANDLE hLookup)
{
    maybe_crash("end");
    if (hLookup == NULL) {
        WSASetLastError(WSA_INVALID_HANDLE);
        return SOCKET_ERROR;
    }
    /* Freed at once: a queued NextEx copied what it needs, and its buffer is the host's. */
    HeapFree(GetProcessHeap(), 0, hLookup);
    return NO_ERROR;
}

static VOID WSAAPI ProbeSet(HANDLE hAsyncCall, LPGUID lpProviderId, LPWSAQUERYSET2W lpqsRegInfo,
                            WSAESETSERVICEOP essOperation, DWORD dwControlFlags, LPVOID lpvClientSessionArg)
{
    PROBE_WORK *work;
    UNREFERENCED_PARAMETER(lpProviderId);
    UNREFERENCED_PARAMETER(dwControlFlags);
    UNREFERENCED_PARAMETER(lpvClientSessionArg);
    maybe_crash("set");
    if (lpqsRegInfo == NULL || lpqsRegInfo->lpszServiceInstanceName == NULL || essOperation > RNRSERVICE_DELETE) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSAEINVAL);
        return;
    }
    if (strcmp(g_complete, "inline") == 0) {
        WSAProviderCompleteAsyncCall(hAsyncCall, NO_ERROR);
        return;
    }
    work = (PROBE_WORK *)LocalAlloc(LPTR, sizeof(PROBE_WORK));
    work->hAsyncCall = hAsyncCall;
    work->IsSet = TRUE;
    ProbeDefer(work);
}

static VOID WSAAPI ProbeRundown(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    UNREFERENCED_PARAMETER(lpProviderId);
    UNREFERENCED_PARAMETER(pvClientSessionArg);
    maybe_crash("rundown");
    WSASetLastError(WSAEACCES); /* reported, though Rundown is void */
}

/* The table for `routines = "ProbeRoutines"`. */
NSPV2_ROUTINE ProbeRoutines = {
    sizeof(NSPV2_ROUTINE), 2, 0, ProbeStartup, ProbeCleanup, ProbeBegin, ProbeNextEx, ProbeEnd, ProbeSet, ProbeRundown,
};

static const char *opt(const char *arg, const char *key)
{
    size_t n = strlen(key);
    return strncmp(arg, key, n) == 0 ? arg + n : NULL;
}

int ProbeMain(int argc, char **argv)
{
    WSADATA data;
    const char *v;
    const char *advertise = "";
    int ret = 0;
    int i;

    if (argc < 1 || argv[argc] != NULL) {
        return 101;
    }
    g_table = ProbeRoutines;
    g_table.dwMajorVersion = 1;
    for (i = 1; i < argc; i++) {
        if ((v = opt(argv[i], "complete=")) != NULL) {
            snprintf(g_complete, sizeof(g_complete), "%s", v);
        } else if ((v = opt(argv[i], "crash=")) != NULL) {
            const char *colon = strchr(v, ':');
            if (colon == NULL) {
                return 102;
            }
            snprintf(g_crash_fn, sizeof(g_crash_fn), "%.*s", (int)(colon - v), v);
            snprintf(g_crash_how, sizeof(g_crash_how), "%s", colon + 1);
        } else if ((v = opt(argv[i], "advertise=")) != NULL) {
            advertise = v;
        } else if ((v = opt(argv[i], "ret=")) != NULL) {
            ret = atoi(v);
        } else if ((v = opt(argv[i], "cbsize=")) != NULL) {
            g_table.cbSize = (DWORD)atoi(v);
        } else if ((v = opt(argv[i], "null=")) != NULL) {
            if (strstr(v, "startup")) g_table.NSPv2Startup = NULL;
            if (strstr(v, "cleanup")) g_table.NSPv2Cleanup = NULL;
            if (strstr(v, "rundown")) g_table.NSPv2ClientSessionRundown = NULL;
            if (strstr(v, "set")) g_table.NSPv2SetServiceEx = NULL;
            if (strstr(v, "end")) g_table.NSPv2LookupServiceEnd = NULL;
        } else if ((v = opt(argv[i], "pidfile=")) != NULL) {
            FILE *f = fopen(v, "a"); /* appended: pre-forked hosts write too */
            if (f == NULL) {
                return 103;
            }
            fprintf(f, "%u %d\n", (unsigned)GetCurrentProcessId(), (int)getppid());
            fclose(f);
        } else if (strcmp(argv[i], "fill-buffer") == 0) {
            g_fill_buffer = 1;
        } else if ((v = opt(argv[i], "late-write=")) != NULL) {
            strncpy(g_late_write, v, sizeof(g_late_write) - 1);
        } else if (strcmp(argv[i], "queue-in-entry") == 0) {
            if (!QueueUserWorkItem(ProbeEntryWork, NULL, WT_EXECUTEDEFAULT)) {
                return 107;
            }
        } else if (strcmp(argv[i], "bad-result") == 0) {
            g_bad_result = 1;
        } else if (strcmp(argv[i], "print") == 0) {
            /* A provider that prints to stdout must not disturb the protocol. */
            printf("probe: hello from %s on stdout\n", argv[0]);
            fflush(stdout);
        } else {
            return 104;
        }
    }
    maybe_crash("entry");
    if (WSAStartup(MAKEWORD(2, 2), &data) != 0) {
        return 105;
    }
    InitializeCriticalSection(&g_lock);
    if (strcmp(advertise, "none") == 0) {
        return ret;
    }
    if (WSAAdvertiseProvider(strcmp(advertise, "other") == 0 ? &OTHER_ID : &PROBE_ID, &g_table) == SOCKET_ERROR) {
        return WSAGetLastError();
    }
    if (strcmp(advertise, "twice") == 0 && WSAAdvertiseProvider(&PROBE_ID, &g_table) != SOCKET_ERROR) {
        return 106;
    }
    return ret;
}

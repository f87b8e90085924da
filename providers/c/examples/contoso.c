/*
 * contoso.c - Contoso's e-mail directory: a namespace service provider version 2 (NSPv2) for
 * NS_EMAIL, written the way a Windows provider is written. The same source builds
 *   on Linux (nspsim):  cc -std=c11 -fshort-wchar -Wall -Wextra -Werror -shared -fPIC
 *                          -I providers/c/include contoso.c -o libcontoso.so
 *   for Windows:        x86_64-w64-mingw32-gcc -c -Wall contoso.c   (or cl /c contoso.c)
 *
 * The host calls ContosoHostMain(argc, argv), which starts Winsock, builds the directory and
 * advertises the provider; ContosoHostExit() takes it down again.
 *   --complete=inline  (default) every NextEx/SetServiceEx completes before it returns;
 *   --complete=worker  they are handed to the thread pool (QueueUserWorkItem) and complete
 *                      from the worker, after the routine has returned;
 *   --guid=XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX
 *                      advertise under this provider id instead of Contoso's own, so one
 *                      library can be installed twice;
 *   --bug=singleton-session
 *                      carry a real-world ordering bug on purpose (see ContosoStartup), for
 *                      showing how nspsim finds it.
 *
 * What it implements:
 * - a directory of names (user@domain) with a display name and up to four mail-server
 *   addresses each, behind one critical section;
 * - reference-counted client sessions: NSPv2Startup creates one, each open lookup holds a
 *   reference, NSPv2Cleanup and NSPv2ClientSessionRundown drop the session's own;
 * - lookups by name, or "*" for every entry in directory order, returning one WSAQUERYSET2W per
 *   entry serialized into the caller's buffer (every pointer points into that buffer), with
 *   WSAEFAULT and the required size when it does not fit and LUP_FLUSHPREVIOUS to skip it;
 * - registration: RNRSERVICE_REGISTER, _DEREGISTER and _DELETE, with SERVICE_MULTIPLE.
 */
#include <winsock2.h>
#include <ws2spi.h>
#include <windows.h>

#include <string.h>

/* {6C3F4A52-1D2E-4B7A-9C1E-5A0B8D7E2F31} */
static const GUID CONTOSO_PROVIDER_ID = {
    0x6c3f4a52, 0x1d2e, 0x4b7a, { 0x9c, 0x1e, 0x5a, 0x0b, 0x8d, 0x7e, 0x2f, 0x31 }
};

#define CONTOSO_MAX_ENTRIES 32
#define CONTOSO_MAX_ADDRS 4
#define CONTOSO_MAX_NAME 128
#define CONTOSO_NONE ((DWORD)-1)

typedef struct _CONTOSO_ENTRY {
    BOOL InUse;
    WCHAR Name[CONTOSO_MAX_NAME];    /* user@domain, compared case-insensitively */
    WCHAR Comment[CONTOSO_MAX_NAME]; /* display name */
    DWORD AddrCount;
    SOCKADDR_IN Addrs[CONTOSO_MAX_ADDRS];
} CONTOSO_ENTRY;

struct _CONTOSO_LOOKUP;

typedef struct _CONTOSO_SESSION {
    LONG volatile RefCount;          /* 1 for the session itself, 1 per open lookup */
    struct _CONTOSO_LOOKUP *Lookups; /* open lookups of this session (g_DirectoryLock) */
} CONTOSO_SESSION;

typedef struct _CONTOSO_LOOKUP {
    LONG volatile RefCount; /* 1 while open, 1 per queued work item */
    LONG volatile Cancelled;
    CONTOSO_SESSION *Session;
    struct _CONTOSO_LOOKUP *Next;
    DWORD ControlFlags; /* LUP_* given to NSPv2LookupServiceBegin */
    BOOL ListAll;
    WCHAR Name[CONTOSO_MAX_NAME];
    DWORD Cursor; /* next directory slot to examine (g_DirectoryLock) */
} CONTOSO_LOOKUP;

typedef enum _CONTOSO_WORK_KIND { ContosoWorkNext, ContosoWorkSet } CONTOSO_WORK_KIND;

typedef struct _CONTOSO_WORK {
    CONTOSO_WORK_KIND Kind;
    HANDLE hAsyncCall;
    DWORD ControlFlags;
    CONTOSO_LOOKUP *Lookup;       /* Next */
    LPDWORD lpdwBufferLength;     /* Next */
    LPWSAQUERYSET2W lpqs;         /* Next: results; Set: registration */
    WSAESETSERVICEOP Operation;   /* Set */
} CONTOSO_WORK;

static CRITICAL_SECTION g_DirectoryLock;
static CONTOSO_ENTRY g_Directory[CONTOSO_MAX_ENTRIES];
static NSPV2_ROUTINE g_Routines;
static BOOL g_CompleteOnWorker = FALSE;
static LONG volatile g_OpenSessions = 0;
static LONG volatile g_OpenLookups = 0;
static GUID g_ProviderId;

/* --bug=singleton-session. The provider keeps ONE session for every client, on the theory that
 * a host serves one client at a time, and NSPv2Cleanup frees it. Clients one after another never
 * notice; a second client whose session is still open when the first one cleans up finds the
 * session gone at its next NSPv2LookupServiceBegin, and the host crashes. Only two clients whose
 * lifetimes interleave show it. */
static BOOL g_BugSingletonSession = FALSE;
static CONTOSO_SESSION *g_SingletonSession = NULL;

int ContosoHostMain(int argc, char **argv);
int ContosoHostExit(void);

/* ------------------------------------------------------------------------------------------ */
/* Directory (callers hold g_DirectoryLock)                                                     */

static DWORD ContosoFind(LPCWSTR name)
{
    DWORD i;
    for (i = 0; i < CONTOSO_MAX_ENTRIES; i++) {
        if (g_Directory[i].InUse && lstrcmpiW(g_Directory[i].Name, name) == 0) {
            return i;
        }
    }
    return CONTOSO_NONE;
}

static DWORD ContosoNextMatch(const CONTOSO_LOOKUP *lookup, DWORD from)
{
    DWORD i;
    for (i = from; i < CONTOSO_MAX_ENTRIES; i++) {
        if (g_Directory[i].InUse && (lookup->ListAll || lstrcmpiW(g_Directory[i].Name, lookup->Name) == 0)) {
            return i;
        }
    }
    return CONTOSO_NONE;
}

static BOOL ContosoSameAddr(const SOCKADDR_IN *a, const SOCKADDR_IN *b)
{
    return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static BOOL ContosoAddAddr(CONTOSO_ENTRY *entry, const SOCKADDR_IN *addr)
{
    DWORD i;
    for (i = 0; i < entry->AddrCount; i++) {
        if (ContosoSameAddr(&entry->Addrs[i], addr)) {
            return TRUE;
        }
    }
    if (entry->AddrCount == CONTOSO_MAX_ADDRS) {
        return FALSE;
    }
    entry->Addrs[entry->AddrCount++] = *addr;
    return TRUE;
}

static void ContosoRemoveAddr(CONTOSO_ENTRY *entry, const SOCKADDR_IN *addr)
{
    DWORD i;
    for (i = 0; i < entry->AddrCount; i++) {
        if (ContosoSameAddr(&entry->Addrs[i], addr)) {
            MoveMemory(&entry->Addrs[i], &entry->Addrs[i + 1], (entry->AddrCount - i - 1) * sizeof(SOCKADDR_IN));
            entry->AddrCount--;
            return;
        }
    }
}

static void ContosoSeed(LPCWSTR name, LPCWSTR comment, ULONG ipv4, USHORT port)
{
    DWORD slot;
    SOCKADDR_IN addr;

    ZeroMemory(&addr, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(ipv4);

    slot = ContosoFind(name);
    if (slot == CONTOSO_NONE) {
        for (slot = 0; slot < CONTOSO_MAX_ENTRIES && g_Directory[slot].InUse; slot++) {
        }
        if (slot == CONTOSO_MAX_ENTRIES) {
            return;
        }
        g_Directory[slot].InUse = TRUE;
        lstrcpynW(g_Directory[slot].Name, name, CONTOSO_MAX_NAME);
        lstrcpynW(g_Directory[slot].Comment, comment, CONTOSO_MAX_NAME);
    }
    ContosoAddAddr(&g_Directory[slot], &addr);
}

/* ------------------------------------------------------------------------------------------ */
/* Sessions and lookups                                                                         */

static void ContosoSessionRelease(CONTOSO_SESSION *session)
{
    if (session != NULL && InterlockedDecrement(&session->RefCount) == 0) {
        HeapFree(GetProcessHeap(), 0, session);
        InterlockedDecrement(&g_OpenSessions);
    }
}

static void ContosoLookupRelease(CONTOSO_LOOKUP *lookup)
{
    if (InterlockedDecrement(&lookup->RefCount) == 0) {
        CONTOSO_SESSION *session = lookup->Session;
        HeapFree(GetProcessHeap(), 0, lookup);
        InterlockedDecrement(&g_OpenLookups);
        ContosoSessionRelease(session);
    }
}

/* Ends a session, orderly or not. Ws2_32 ends every lookup before it ends their session, so the
 * list is normally empty; lookups still on it are cancelled and released rather than leaked. */
static void ContosoEndSession(CONTOSO_SESSION *session)
{
    CONTOSO_LOOKUP *orphans;

    if (session == NULL) {
        return;
    }
    EnterCriticalSection(&g_DirectoryLock);
    orphans = session->Lookups;
    session->Lookups = NULL;
    LeaveCriticalSection(&g_DirectoryLock);

    while (orphans != NULL) {
        CONTOSO_LOOKUP *next = orphans->Next;
        InterlockedExchange(&orphans->Cancelled, 1);
        ContosoLookupRelease(orphans);
        orphans = next;
    }
    ContosoSessionRelease(session);
}

/* ------------------------------------------------------------------------------------------ */
/* Result serialization: one WSAQUERYSET2W at the start of the caller's buffer, then its
 * CSADDR_INFO array, the SOCKADDR_INs they point to, and the strings. */

static DWORD ContosoResultSize(const CONTOSO_ENTRY *entry, DWORD flags)
{
    DWORD size = sizeof(WSAQUERYSET2W);
    if (flags & LUP_RETURN_ADDR) {
        size += entry->AddrCount * (DWORD)(sizeof(CSADDR_INFO) + sizeof(SOCKADDR_IN));
    }
    if (flags & LUP_RETURN_NAME) {
        size += (DWORD)(lstrlenW(entry->Name) + 1) * (DWORD)sizeof(WCHAR);
    }
    if (flags & LUP_RETURN_COMMENT) {
        size += (DWORD)(lstrlenW(entry->Comment) + 1) * (DWORD)sizeof(WCHAR);
    }
    return size;
}

static LPWSTR ContosoPutString(BYTE **cursor, LPCWSTR text)
{
    LPWSTR copy = (LPWSTR)*cursor;
    SIZE_T bytes = (SIZE_T)(lstrlenW(text) + 1) * sizeof(WCHAR);
    CopyMemory(copy, text, bytes);
    *cursor += bytes;
    return copy;
}

static void ContosoWriteResult(const CONTOSO_ENTRY *entry, DWORD flags, LPWSAQUERYSET2W qs)
{
    BYTE *cursor = (BYTE *)qs + sizeof(WSAQUERYSET2W);
    DWORD i;

    ZeroMemory(qs, sizeof(WSAQUERYSET2W));
    qs->dwSize = sizeof(WSAQUERYSET2W);
    qs->dwNameSpace = NS_EMAIL;

    if ((flags & LUP_RETURN_ADDR) && entry->AddrCount > 0) {
        CSADDR_INFO *csaddrs = (CSADDR_INFO *)cursor;
        SOCKADDR_IN *sockaddrs = (SOCKADDR_IN *)(csaddrs + entry->AddrCount);
        for (i = 0; i < entry->AddrCount; i++) {
            sockaddrs[i] = entry->Addrs[i];
            csaddrs[i].LocalAddr.lpSockaddr = NULL;
            csaddrs[i].LocalAddr.iSockaddrLength = 0;
            csaddrs[i].RemoteAddr.lpSockaddr = (LPSOCKADDR)&sockaddrs[i];
            csaddrs[i].RemoteAddr.iSockaddrLength = sizeof(SOCKADDR_IN);
            csaddrs[i].iSocketType = SOCK_STREAM;
            csaddrs[i].iProtocol = IPPROTO_TCP;
        }
        qs->dwNumberOfCsAddrs = entry->AddrCount;
        qs->lpcsaBuffer = csaddrs;
        cursor = (BYTE *)(sockaddrs + entry->AddrCount);
    }
    if (flags & LUP_RETURN_NAME) {
        qs->lpszServiceInstanceName = ContosoPutString(&cursor, entry->Name);
    }
    if (flags & LUP_RETURN_COMMENT) {
        qs->lpszComment = ContosoPutString(&cursor, entry->Comment);
    }
}

/* The work of one NSPv2LookupServiceNextEx: returns the code to complete it with. What to return
 * follows the LUP_RETURN_* flags given to Begin; of Next's own flags only LUP_FLUSHPREVIOUS
 * matters here. */
static INT ContosoNext(CONTOSO_LOOKUP *lookup, DWORD dwControlFlags, LPDWORD lpdwBufferLength,
                       LPWSAQUERYSET2W lpqsResults)
{
    DWORD index;
    DWORD required;
    INT result = NO_ERROR;

    if (lookup->Cancelled) {
        return WSA_E_CANCELLED;
    }
    EnterCriticalSection(&g_DirectoryLock);
    index = ContosoNextMatch(lookup, lookup->Cursor);
    if (index != CONTOSO_NONE && (dwControlFlags & LUP_FLUSHPREVIOUS)) {
        /* the caller gives up on the result that did not fit */
        index = ContosoNextMatch(lookup, index + 1);
    }
    if (index == CONTOSO_NONE) {
        lookup->Cursor = CONTOSO_MAX_ENTRIES;
        result = WSA_E_NO_MORE;
    } else {
        lookup->Cursor = index;
        required = ContosoResultSize(&g_Directory[index], lookup->ControlFlags);
        if (lpqsResults == NULL || *lpdwBufferLength < required) {
            *lpdwBufferLength = required; /* kept, not consumed: the next call may retry */
            result = WSAEFAULT;
        } else {
            ContosoWriteResult(&g_Directory[index], lookup->ControlFlags, lpqsResults);
            lookup->Cursor = index + 1;
        }
    }
    LeaveCriticalSection(&g_DirectoryLock);
    return result;
}

/* Reads the IPv4 addresses of a registration. */
static DWORD ContosoCollectAddrs(const WSAQUERYSET2W *qs, SOCKADDR_IN *out)
{
    DWORD i;
    DWORD count = 0;
    for (i = 0; i < qs->dwNumberOfCsAddrs && qs->lpcsaBuffer != NULL && count < CONTOSO_MAX_ADDRS; i++) {
        const SOCKET_ADDRESS *remote = &qs->lpcsaBuffer[i].RemoteAddr;
        if (remote->lpSockaddr != NULL && remote->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN) &&
            remote->lpSockaddr->sa_family == AF_INET) {
            CopyMemory(&out[count], remote->lpSockaddr, sizeof(SOCKADDR_IN));
            count++;
        }
    }
    return count;
}

/* The work of one NSPv2SetServiceEx: returns the code to complete it with. */
static INT ContosoSet(LPWSAQUERYSET2W qs, WSAESETSERVICEOP operation, DWORD flags)
{
    SOCKADDR_IN addrs[CONTOSO_MAX_ADDRS];
    DWORD count;
    DWORD slot;
    DWORD i;
    INT result = NO_ERROR;

    if (qs == NULL || qs->lpszServiceInstanceName == NULL || qs->lpszServiceInstanceName[0] == L'\0' ||
        lstrlenW(qs->lpszServiceInstanceName) >= CONTOSO_MAX_NAME) {
        return WSAEINVAL;
    }
    count = ContosoCollectAddrs(qs, addrs);

    EnterCriticalSection(&g_DirectoryLock);
    slot = ContosoFind(qs->lpszServiceInstanceName);
    switch (operation) {
    case RNRSERVICE_REGISTER:
        if (slot == CONTOSO_NONE) {
            for (slot = 0; slot < CONTOSO_MAX_ENTRIES && g_Directory[slot].InUse; slot++) {
            }
            if (slot == CONTOSO_MAX_ENTRIES) {
                result = WSA_NOT_ENOUGH_MEMORY;
                break;
            }
            ZeroMemory(&g_Directory[slot], sizeof(CONTOSO_ENTRY));
            g_Directory[slot].InUse = TRUE;
            lstrcpynW(g_Directory[slot].Name, qs->lpszServiceInstanceName, CONTOSO_MAX_NAME);
        }
        if (!(flags & SERVICE_MULTIPLE)) {
            g_Directory[slot].AddrCount = 0; /* the addresses are managed as one group */
        }
        if (qs->lpszComment != NULL) {
            lstrcpynW(g_Directory[slot].Comment, qs->lpszComment, CONTOSO_MAX_NAME);
        }
        for (i = 0; i < count; i++) {
            if (!ContosoAddAddr(&g_Directory[slot], &addrs[i])) {
                result = WSA_NOT_ENOUGH_MEMORY;
            }
        }
        break;
    case RNRSERVICE_DEREGISTER:
    case RNRSERVICE_DELETE:
        if (slot == CONTOSO_NONE) {
            result = WSASERVICE_NOT_FOUND;
            break;
        }
        if (flags & SERVICE_MULTIPLE) {
            for (i = 0; i < count; i++) {
                ContosoRemoveAddr(&g_Directory[slot], &addrs[i]);
            }
        } else {
            g_Directory[slot].AddrCount = 0;
        }
        if (operation == RNRSERVICE_DELETE && (!(flags & SERVICE_MULTIPLE) || g_Directory[slot].AddrCount == 0)) {
            g_Directory[slot].InUse = FALSE;
        }
        break;
    default:
        result = WSAEINVAL;
        break;
    }
    LeaveCriticalSection(&g_DirectoryLock);
    return result;
}

/* Thread-pool callback: finishes a NextEx or SetServiceEx after its routine has returned. */
static DWORD WINAPI ContosoWorker(LPVOID lpParameter)
{
    CONTOSO_WORK *work = (CONTOSO_WORK *)lpParameter;
    INT code;

    if (work->Kind == ContosoWorkNext) {
        code = ContosoNext(work->Lookup, work->ControlFlags, work->lpdwBufferLength, work->lpqs);
        ContosoLookupRelease(work->Lookup);
    } else {
        code = ContosoSet(work->lpqs, work->Operation, work->ControlFlags);
    }
    WSAProviderCompleteAsyncCall(work->hAsyncCall, code);
    HeapFree(GetProcessHeap(), 0, work);
    return 0;
}

static BOOL ContosoQueue(CONTOSO_WORK *work)
{
    if (work->Lookup != NULL) {
        InterlockedIncrement(&work->Lookup->RefCount);
    }
    if (QueueUserWorkItem(ContosoWorker, work, WT_EXECUTEDEFAULT)) {
        return TRUE;
    }
    if (work->Lookup != NULL) {
        ContosoLookupRelease(work->Lookup);
    }
    HeapFree(GetProcessHeap(), 0, work);
    return FALSE;
}

/* ------------------------------------------------------------------------------------------ */
/* The NSPv2 routines, with the signatures Microsoft documents                                  */

static INT WSAAPI ContosoStartup(_In_ LPGUID lpProviderId, _Out_ LPVOID *ppvClientSessionArg)
{
    CONTOSO_SESSION *session;

    UNREFERENCED_PARAMETER(lpProviderId);
    if (ppvClientSessionArg == NULL) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    if (g_BugSingletonSession && g_SingletonSession != NULL) {
        *ppvClientSessionArg = g_SingletonSession; /* the bug: every client shares one session */
        return NO_ERROR;
    }
    session = (CONTOSO_SESSION *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(CONTOSO_SESSION));
    if (session == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    session->RefCount = 1;
    InterlockedIncrement(&g_OpenSessions);
    if (g_BugSingletonSession) {
        g_SingletonSession = session;
    }
    *ppvClientSessionArg = session;
    return NO_ERROR;
}

static INT WSAAPI ContosoCleanup(_In_ LPGUID lpProviderId, _In_ LPVOID pvClientSessionArg)
{
    UNREFERENCED_PARAMETER(lpProviderId);
    if (g_BugSingletonSession) {
        /* the bug: the shared session is torn down under every other client */
        ContosoEndSession(g_SingletonSession);
        g_SingletonSession = NULL;
        return NO_ERROR;
    }
    ContosoEndSession((CONTOSO_SESSION *)pvClientSessionArg);
    return NO_ERROR;
}

static VOID WSAAPI ContosoClientSessionRundown(_In_ LPGUID lpProviderId, _In_ LPVOID pvClientSessionArg)
{
    /* The client is gone without NSPv2Cleanup (it exited or crashed): release what its session
     * holds, exactly as an orderly cleanup would. */
    UNREFERENCED_PARAMETER(lpProviderId);
    ContosoEndSession((CONTOSO_SESSION *)pvClientSessionArg);
}

static INT WSAAPI ContosoLookupServiceBegin(_In_ LPGUID lpProviderId, _In_ LPWSAQUERYSET2W lpqsRestrictions,
                                            _In_ DWORD dwControlFlags, _In_ LPVOID lpvClientSessionArg,
                                            _Out_ LPHANDLE lphLookup)
{
    CONTOSO_SESSION *session = (CONTOSO_SESSION *)lpvClientSessionArg;
    CONTOSO_LOOKUP *lookup;
    LPCWSTR name;
    BOOL listAll;
    BOOL known;

    UNREFERENCED_PARAMETER(lpProviderId);
    if (g_BugSingletonSession) {
        /* the bug: "there is only one session", so the argument is not even looked at, and the
         * sanity check reads through whatever the global holds now */
        session = g_SingletonSession;
        if (session->RefCount <= 0) {
            WSASetLastError(WSAEINVAL);
            return SOCKET_ERROR;
        }
    }
    if (lpqsRestrictions == NULL || lphLookup == NULL || lpqsRestrictions->dwSize < sizeof(WSAQUERYSET2W) ||
        (lpqsRestrictions->dwNameSpace != NS_EMAIL && lpqsRestrictions->dwNameSpace != NS_ALL)) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    name = lpqsRestrictions->lpszServiceInstanceName;
    if (name == NULL || name[0] == L'\0' || lstrlenW(name) >= CONTOSO_MAX_NAME) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    listAll = lstrcmpW(name, L"*") == 0;
    if (!listAll) {
        EnterCriticalSection(&g_DirectoryLock);
        known = ContosoFind(name) != CONTOSO_NONE;
        LeaveCriticalSection(&g_DirectoryLock);
        if (!known) {
            WSASetLastError(WSASERVICE_NOT_FOUND);
            return SOCKET_ERROR;
        }
    }

    lookup = (CONTOSO_LOOKUP *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(CONTOSO_LOOKUP));
    if (lookup == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    lookup->RefCount = 1;
    lookup->Session = session;
    lookup->ControlFlags = dwControlFlags;
    lookup->ListAll = listAll;
    lstrcpynW(lookup->Name, name, CONTOSO_MAX_NAME);
    if (session != NULL) {
        InterlockedIncrement(&session->RefCount);
        EnterCriticalSection(&g_DirectoryLock);
        lookup->Next = session->Lookups;
        session->Lookups = lookup;
        LeaveCriticalSection(&g_DirectoryLock);
    }
    InterlockedIncrement(&g_OpenLookups);
    *lphLookup = (HANDLE)lookup;
    return NO_ERROR;
}

static VOID WSAAPI ContosoLookupServiceNextEx(_In_ HANDLE hAsyncCall, _In_ HANDLE hLookup, _In_ DWORD dwControlFlags,
                                              _Inout_ LPDWORD lpdwBufferLength, _Out_ LPWSAQUERYSET2W lpqsResults)
{
    CONTOSO_LOOKUP *lookup = (CONTOSO_LOOKUP *)hLookup;
    CONTOSO_WORK *work;

    if (lookup == NULL) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_INVALID_HANDLE);
        return;
    }
    if (lpdwBufferLength == NULL) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSAEINVAL);
        return;
    }
    if (!g_CompleteOnWorker) {
        WSAProviderCompleteAsyncCall(hAsyncCall, ContosoNext(lookup, dwControlFlags, lpdwBufferLength, lpqsResults));
        return;
    }
    work = (CONTOSO_WORK *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(CONTOSO_WORK));
    if (work == NULL) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
        return;
    }
    work->Kind = ContosoWorkNext;
    work->hAsyncCall = hAsyncCall;
    work->ControlFlags = dwControlFlags;
    work->Lookup = lookup;
    work->lpdwBufferLength = lpdwBufferLength;
    work->lpqs = lpqsResults;
    if (!ContosoQueue(work)) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
    }
}

static INT WSAAPI ContosoLookupServiceEnd(_In_ HANDLE hLookup)
{
    CONTOSO_LOOKUP *lookup = (CONTOSO_LOOKUP *)hLookup;
    CONTOSO_LOOKUP **link;

    if (lookup == NULL) {
        WSASetLastError(WSA_INVALID_HANDLE);
        return SOCKET_ERROR;
    }
    /* A NextEx still queued on the thread pool now completes with WSA_E_CANCELLED. */
    InterlockedExchange(&lookup->Cancelled, 1);
    if (lookup->Session != NULL) {
        EnterCriticalSection(&g_DirectoryLock);
        for (link = &lookup->Session->Lookups; *link != NULL; link = &(*link)->Next) {
            if (*link == lookup) {
                *link = lookup->Next;
                break;
            }
        }
        LeaveCriticalSection(&g_DirectoryLock);
    }
    ContosoLookupRelease(lookup);
    return NO_ERROR;
}

static VOID WSAAPI ContosoSetServiceEx(_In_ HANDLE hAsyncCall, _In_ LPGUID lpProviderId,
                                       _In_ LPWSAQUERYSET2W lpqsRegInfo, _In_ WSAESETSERVICEOP essOperation,
                                       _In_ DWORD dwControlFlags, _In_ LPVOID lpvClientSessionArg)
{
    CONTOSO_WORK *work;

    UNREFERENCED_PARAMETER(lpProviderId);
    UNREFERENCED_PARAMETER(lpvClientSessionArg); /* registrations outlive client sessions */
    if (!g_CompleteOnWorker) {
        WSAProviderCompleteAsyncCall(hAsyncCall, ContosoSet(lpqsRegInfo, essOperation, dwControlFlags));
        return;
    }
    /* The caller waits for the completion, so lpqsRegInfo stays valid until the worker is done. */
    work = (CONTOSO_WORK *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(CONTOSO_WORK));
    if (work == NULL) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
        return;
    }
    work->Kind = ContosoWorkSet;
    work->hAsyncCall = hAsyncCall;
    work->ControlFlags = dwControlFlags;
    work->lpqs = lpqsRegInfo;
    work->Operation = essOperation;
    if (!ContosoQueue(work)) {
        WSAProviderCompleteAsyncCall(hAsyncCall, WSA_NOT_ENOUGH_MEMORY);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* mingw-w64 (10.0) declares three routine types differently from Microsoft's ws2spi.h: the
 * NextEx, SetServiceEx and ClientSessionRundown pointers return int instead of VOID. These
 * adapters keep the routines above exactly as documented and fill the table without a cast;
 * on x64 a caller that expects no return value simply ignores RAX. With the Windows SDK (or
 * nspsim's headers) the routines go into the table directly. */
#if defined(__MINGW32__)
static int WSAAPI ContosoLookupServiceNextExEntry(HANDLE hAsyncCall, HANDLE hLookup, DWORD dwControlFlags,
                                                  LPDWORD lpdwBufferLength, LPWSAQUERYSET2W lpqsResults)
{
    ContosoLookupServiceNextEx(hAsyncCall, hLookup, dwControlFlags, lpdwBufferLength, lpqsResults);
    return NO_ERROR;
}
static int WSAAPI ContosoSetServiceExEntry(HANDLE hAsyncCall, LPGUID lpProviderId, LPWSAQUERYSET2W lpqsRegInfo,
                                           WSAESETSERVICEOP essOperation, DWORD dwControlFlags,
                                           LPVOID lpvClientSessionArg)
{
    ContosoSetServiceEx(hAsyncCall, lpProviderId, lpqsRegInfo, essOperation, dwControlFlags, lpvClientSessionArg);
    return NO_ERROR;
}
static int WSAAPI ContosoClientSessionRundownEntry(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    ContosoClientSessionRundown(lpProviderId, pvClientSessionArg);
    return NO_ERROR;
}
#else
#define ContosoLookupServiceNextExEntry ContosoLookupServiceNextEx
#define ContosoSetServiceExEntry ContosoSetServiceEx
#define ContosoClientSessionRundownEntry ContosoClientSessionRundown
#endif

static INT ContosoAdvertise(const GUID *providerId, NSPV2_ROUTINE *routines)
{
#if defined(__MINGW32__)
    /* mingw-w64 declares the table parameter as `const LPCNSPV2_ROUTINE *`, one pointer level
     * more than Microsoft's `const LPCNSPV2_ROUTINE`. Ws2_32 reads the table at the address it
     * is given, so the table's own address is still what must be passed; an LPVOID carries it
     * to mingw's prototype without a cast. */
    LPVOID table = routines;
    return WSAAdvertiseProvider(providerId, table);
#else
    return WSAAdvertiseProvider(providerId, routines);
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Host entry points                                                                            */

static int ContosoHexDigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Parses XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX (braces optional) into a GUID. */
static BOOL ContosoParseGuid(const char *text, GUID *guid)
{
    BYTE bytes[16];
    int n = 0;
    int i;
    size_t len = strlen(text);

    if (len == 38 && text[0] == '{' && text[37] == '}') {
        text++;
        len -= 2;
    }
    if (len != 36) {
        return FALSE;
    }
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return FALSE;
            }
            continue;
        }
        if (ContosoHexDigit(text[i]) < 0 || ContosoHexDigit(text[i + 1]) < 0) {
            return FALSE;
        }
        bytes[n++] = (BYTE)(ContosoHexDigit(text[i]) * 16 + ContosoHexDigit(text[i + 1]));
        i++;
    }
    guid->Data1 = ((DWORD)bytes[0] << 24) | ((DWORD)bytes[1] << 16) | ((DWORD)bytes[2] << 8) | bytes[3];
    guid->Data2 = (WORD)((bytes[4] << 8) | bytes[5]);
    guid->Data3 = (WORD)((bytes[6] << 8) | bytes[7]);
    CopyMemory(guid->Data4, bytes + 8, 8);
    return TRUE;
}

int ContosoHostMain(int argc, char **argv)
{
    WSADATA wsaData;
    int i;
    int err;

    g_ProviderId = CONTOSO_PROVIDER_ID;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--complete=worker") == 0) {
            g_CompleteOnWorker = TRUE;
        } else if (strcmp(argv[i], "--complete=inline") == 0) {
            g_CompleteOnWorker = FALSE;
        } else if (strncmp(argv[i], "--guid=", 7) == 0) {
            if (!ContosoParseGuid(argv[i] + 7, &g_ProviderId)) {
                return WSAEINVAL;
            }
        } else if (strcmp(argv[i], "--bug=singleton-session") == 0) {
            g_BugSingletonSession = TRUE;
        } else {
            return WSAEINVAL;
        }
    }

    err = WSAStartup(MAKEWORD(2, 2), &wsaData);
    if (err != 0) {
        return err;
    }
    if (LOBYTE(wsaData.wVersion) != 2 || HIBYTE(wsaData.wVersion) != 2) {
        WSACleanup();
        return WSAVERNOTSUPPORTED;
    }

    InitializeCriticalSection(&g_DirectoryLock);
    ZeroMemory(g_Directory, sizeof(g_Directory));
    ContosoSeed(L"alice@contoso.com", L"Alice Anders", 0xC000020A, 25);       /* 192.0.2.10 */
    ContosoSeed(L"bob@contoso.com", L"Bob Baker", 0xC000020B, 25);            /* 192.0.2.11 */
    ContosoSeed(L"bob@contoso.com", L"Bob Baker", 0xC000020C, 587);           /* 192.0.2.12 */
    ContosoSeed(L"carol@fabrikam.com", L"Carol Chen", 0xC6336414, 25);        /* 198.51.100.20 */

    ZeroMemory(&g_Routines, sizeof(g_Routines));
    g_Routines.cbSize = sizeof(NSPV2_ROUTINE);
    g_Routines.dwMajorVersion = 1;
    g_Routines.dwMinorVersion = 0;
    g_Routines.NSPv2Startup = ContosoStartup;
    g_Routines.NSPv2Cleanup = ContosoCleanup;
    g_Routines.NSPv2LookupServiceBegin = ContosoLookupServiceBegin;
    g_Routines.NSPv2LookupServiceNextEx = ContosoLookupServiceNextExEntry;
    g_Routines.NSPv2LookupServiceEnd = ContosoLookupServiceEnd;
    g_Routines.NSPv2SetServiceEx = ContosoSetServiceExEntry;
    g_Routines.NSPv2ClientSessionRundown = ContosoClientSessionRundownEntry;

    if (ContosoAdvertise(&g_ProviderId, &g_Routines) == SOCKET_ERROR) {
        err = WSAGetLastError();
        DeleteCriticalSection(&g_DirectoryLock);
        WSACleanup();
        return err;
    }
    return 0;
}

int ContosoHostExit(void)
{
    int err = 0;

    if (WSAUnadvertiseProvider(&g_ProviderId) == SOCKET_ERROR) {
        err = WSAGetLastError();
    }
    DeleteCriticalSection(&g_DirectoryLock);
    WSACleanup();
    return err;
}

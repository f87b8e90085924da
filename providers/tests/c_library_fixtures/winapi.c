/*
 * winapi.c - checks the host's Winsock and kernel32 functions from inside a provider. The host
 * main returns the number of the first check that fails (0: all passed), then advertises the
 * table of probe.c's shape (only the three required slots).
 */
#include <winsock2.h>
#include <ws2spi.h>
#include <windows.h>

#include <string.h>

static const GUID ID = { 0x3c1d2e4f, 0x5a6b, 0x4c7d, { 0x8e, 0x9f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5 } };

static INT WSAAPI Begin(LPGUID id, LPWSAQUERYSET2W qs, DWORD flags, LPVOID session, LPHANDLE h)
{
    UNREFERENCED_PARAMETER(id);
    UNREFERENCED_PARAMETER(qs);
    UNREFERENCED_PARAMETER(flags);
    UNREFERENCED_PARAMETER(session);
    /* The last error starts every call unset: a GetLastError here reads 0. */
    if (GetLastError() != 0) {
        return 77;
    }
    *h = (HANDLE)(ULONG_PTR)0x42;
    SetLastError(ERROR_NOT_ENOUGH_MEMORY); /* set, then returns success: still reported */
    return NO_ERROR;
}

static VOID WSAAPI Next(HANDLE call, HANDLE h, DWORD flags, LPDWORD len, LPWSAQUERYSET2W qs)
{
    UNREFERENCED_PARAMETER(h);
    UNREFERENCED_PARAMETER(flags);
    UNREFERENCED_PARAMETER(len);
    UNREFERENCED_PARAMETER(qs);
    WSAProviderCompleteAsyncCall(call, WSA_E_NO_MORE);
}

static INT WSAAPI End(HANDLE h)
{
    UNREFERENCED_PARAMETER(h);
    return NO_ERROR; /* no last error set */
}

static int Check(void)
{
    WSADATA d;
    WCHAR buf[16];
    CRITICAL_SECTION cs;
    BYTE *p;
    HLOCAL l;
    int i;

    /* 1-4: WSAStartup / WSACleanup */
    if (WSACleanup() != SOCKET_ERROR || WSAGetLastError() != WSANOTINITIALISED) return 1;
    if (WSAStartup(MAKEWORD(2, 2), &d) != 0 || d.wVersion != MAKEWORD(2, 2) || d.wHighVersion != MAKEWORD(2, 2)) return 2;
    if (WSAStartup(MAKEWORD(1, 1), &d) != 0 || d.wVersion != MAKEWORD(1, 1)) return 3;
    if (WSAStartup(MAKEWORD(0, 0), &d) != WSAVERNOTSUPPORTED) return 4;
    if (WSACleanup() != 0) return 5; /* two started, one cleaned: still started */
    /* 10-19: last error */
    SetLastError(5);
    if (GetLastError() != 5 || WSAGetLastError() != 5) return 10;
    WSASetLastError(WSAEINVAL);
    if (GetLastError() != WSAEINVAL) return 11;
    /* 20-29: wide strings */
    if (lstrlenW(L"alice") != 5 || lstrlenW(NULL) != 0) return 20;
    if (lstrcmpW(L"abc", L"abc") != 0 || lstrcmpW(L"abc", L"abd") >= 0 || lstrcmpW(L"b", L"a") <= 0) return 21;
    if (lstrcmpiW(L"Alice@Contoso.COM", L"alice@contoso.com") != 0 || lstrcmpiW(L"a", L"B") >= 0) return 22;
    if (lstrcmpW(L"ab", L"abc") >= 0) return 23;
    lstrcpynW(buf, L"abcdef", 4);
    if (lstrcmpW(buf, L"abc") != 0) return 24;
    lstrcpyW(buf, L"ab");
    lstrcatW(buf, L"cd");
    if (lstrcmpW(buf, L"abcd") != 0 || lstrlenW(buf) != 4) return 25;
    /* lstrcpynW takes the length as unsigned (negative: up to the terminator), writes nothing
     * for 0, and returns NULL with ERROR_INVALID_PARAMETER for a NULL it would touch. */
    if (lstrcpynW(buf, L"abcdef", -1) != buf || lstrcmpW(buf, L"abcdef") != 0) return 26;
    if (lstrcpynW(buf, L"xy", 0) != buf || lstrcmpW(buf, L"abcdef") != 0) return 27;
    SetLastError(0);
    if (lstrcpynW(NULL, L"xy", 4) != NULL || GetLastError() != ERROR_INVALID_PARAMETER) return 28;
    SetLastError(0);
    if (lstrcpynW(buf, NULL, 4) != NULL || GetLastError() != ERROR_INVALID_PARAMETER) return 29;
    /* 30-39: heaps */
    p = (BYTE *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, 100);
    if (p == NULL || GetProcessHeap() == NULL) return 30;
    for (i = 0; i < 100; i++) {
        if (p[i] != 0) return 31;
    }
    memset(p, 0xAB, 100);
    p = (BYTE *)HeapReAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, p, 200);
    if (p == NULL || p[99] != 0xAB || p[100] != 0 || p[199] != 0) return 32;
    if (!HeapFree(GetProcessHeap(), 0, p)) return 33;
    if (!HeapFree(GetProcessHeap(), 0, NULL)) return 34;
    /* HeapAlloc and HeapReAlloc fail without calling SetLastError (Microsoft's pages). */
    SetLastError(77);
    if (HeapAlloc(GetProcessHeap(), 0, (SIZE_T)-1) != NULL || GetLastError() != 77) return 37;
    p = (BYTE *)HeapAlloc(GetProcessHeap(), 0, 8);
    if (p == NULL || HeapReAlloc(GetProcessHeap(), 0, p, (SIZE_T)-1) != NULL || GetLastError() != 77) return 38;
    if (!HeapFree(GetProcessHeap(), 0, p)) return 39;
    l = LocalAlloc(LPTR, 64);
    if (l == NULL || ((BYTE *)l)[63] != 0) return 35;
    if (LocalFree(l) != NULL) return 36;
    /* 40-49: critical sections (recursive, as on Windows) */
    InitializeCriticalSection(&cs);
    EnterCriticalSection(&cs);
    EnterCriticalSection(&cs);
    if (!TryEnterCriticalSection(&cs)) return 40;
    LeaveCriticalSection(&cs);
    LeaveCriticalSection(&cs);
    LeaveCriticalSection(&cs);
    DeleteCriticalSection(&cs);
    if (!InitializeCriticalSectionAndSpinCount(&cs, 4000)) return 41;
    DeleteCriticalSection(&cs);
    /* 50-59: byte order, interlocked */
    if (htons(0x1234) != 0x3412 || ntohl(htonl(0x01020304)) != 0x01020304) return 50;
    {
        LONG volatile v = 1;
        if (InterlockedIncrement(&v) != 2 || InterlockedExchange(&v, 7) != 2 || InterlockedCompareExchange(&v, 9, 7) != 7 || v != 9) return 51;
    }
    /* 60-69: thread ids and handles */
    if (GetCurrentThreadId() == 0 || GetCurrentProcessId() == 0) return 60;
    if (CloseHandle(NULL)) return 61;
    /* 70-79: advertising */
    if (WSAAdvertiseProvider(NULL, NULL) != SOCKET_ERROR || WSAGetLastError() != WSAEINVAL) return 70;
    if (WSAUnadvertiseProvider(&ID) != SOCKET_ERROR) return 71; /* not advertised yet */
    return 0;
}

static NSPV2_ROUTINE g_table;

int WinApiMain(int argc, char **argv)
{
    int failed;
    UNREFERENCED_PARAMETER(argc);
    UNREFERENCED_PARAMETER(argv);
    failed = Check();
    if (failed != 0) {
        return 1000 + failed;
    }
    ZeroMemory(&g_table, sizeof(g_table));
    g_table.cbSize = sizeof(g_table);
    g_table.dwMajorVersion = 2;
    g_table.dwMinorVersion = 1;
    g_table.NSPv2LookupServiceBegin = Begin;
    g_table.NSPv2LookupServiceNextEx = Next;
    g_table.NSPv2LookupServiceEnd = End;
    return WSAAdvertiseProvider(&ID, &g_table) == SOCKET_ERROR ? 2000 + WSAGetLastError() : 0;
}

/* A host main that unadvertises before returning, and one that calls a missing function. */
int UnadvertiseMain(int argc, char **argv)
{
    int r = WinApiMain(argc, argv);
    if (r != 0) return r;
    if (WSAUnadvertiseProvider(&ID) != 0) return 3000;
    /* Twice: the id is no longer advertised, WSAEINVAL. */
    if (WSAUnadvertiseProvider(&ID) != SOCKET_ERROR || WSAGetLastError() != WSAEINVAL) return 3001;
    /* Advertising it again is accepted, and the host then serves it. */
    return WSAAdvertiseProvider(&ID, &g_table) == SOCKET_ERROR ? 3002 : 0;
}

/* A host main that advertises and unadvertises: at its return no provider is advertised. */
int UnadvertisedMain(int argc, char **argv)
{
    int r = WinApiMain(argc, argv);
    if (r != 0) return r;
    return WSAUnadvertiseProvider(&ID) == 0 ? 0 : 3000;
}

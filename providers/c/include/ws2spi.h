/*
 * ws2spi.h - nspsim's Winsock service provider interface header: namespace service providers
 * version 2 (NSPv2), for C providers built on Linux and macOS.
 *
 * Written for nspsim from Microsoft's ws2spi.h reference pages. The function types follow
 * those pages exactly: NSPv2LookupServiceNextEx, NSPv2SetServiceEx and NSPv2ClientSessionRundown
 * return nothing (they finish through WSAProviderCompleteAsyncCall, or have nothing to report),
 * and WSAAdvertiseProvider takes a pointer to the routine table itself. (mingw-w64's ws2spi.h
 * differs on both points; see providers/c/README.md.)
 */
#ifndef NSPSIM_WS2SPI_H
#define NSPSIM_WS2SPI_H

#include "winsock2.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a client session; may store a session argument in *ppvClientSessionArg.
 * Returns NO_ERROR, or SOCKET_ERROR with WSASetLastError. */
typedef INT (WSAAPI *LPNSPV2STARTUP)(LPGUID lpProviderId, LPVOID *ppvClientSessionArg);

/* Ends a client session in order. Returns NO_ERROR, or SOCKET_ERROR with WSASetLastError. */
typedef INT (WSAAPI *LPNSPV2CLEANUP)(LPGUID lpProviderId, LPVOID pvClientSessionArg);

/* Starts a query; stores the provider's lookup handle in *lphLookup.
 * Returns NO_ERROR, or SOCKET_ERROR with WSASetLastError. */
typedef INT (WSAAPI *LPNSPV2LOOKUPSERVICEBEGIN)(LPGUID lpProviderId, LPWSAQUERYSET2W lpqsRestrictions,
                                                DWORD dwControlFlags, LPVOID lpvClientSessionArg,
                                                LPHANDLE lphLookup);

/* Produces the next result into lpqsResults (*lpdwBufferLength bytes). Returns nothing: the
 * outcome is reported by WSAProviderCompleteAsyncCall(hAsyncCall, code), inline or later. */
typedef VOID (WSAAPI *LPNSPV2LOOKUPSERVICENEXTEX)(HANDLE hAsyncCall, HANDLE hLookup, DWORD dwControlFlags,
                                                  LPDWORD lpdwBufferLength, LPWSAQUERYSET2W lpqsResults);

/* Ends a query. Returns NO_ERROR, or SOCKET_ERROR with WSASetLastError. */
typedef INT (WSAAPI *LPNSPV2LOOKUPSERVICEEND)(HANDLE hLookup);

/* Registers, deregisters or deletes a service. Returns nothing: the outcome is reported by
 * WSAProviderCompleteAsyncCall(hAsyncCall, code). */
typedef VOID (WSAAPI *LPNSPV2SETSERVICEEX)(HANDLE hAsyncCall, LPGUID lpProviderId, LPWSAQUERYSET2W lpqsRegInfo,
                                           WSAESETSERVICEOP essOperation, DWORD dwControlFlags,
                                           LPVOID lpvClientSessionArg);

/* Tells the provider that a client session ended abnormally (the client exited or crashed).
 * Returns nothing. */
typedef VOID (WSAAPI *LPNSPV2CLIENTSESSIONRUNDOWN)(LPGUID lpProviderId, LPVOID pvClientSessionArg);

/* The routine table: three DWORDs, 4 bytes of padding, seven function pointers. 72 bytes. */
typedef struct _NSPV2_ROUTINE {
    DWORD cbSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    LPNSPV2STARTUP NSPv2Startup;
    LPNSPV2CLEANUP NSPv2Cleanup;
    LPNSPV2LOOKUPSERVICEBEGIN NSPv2LookupServiceBegin;
    LPNSPV2LOOKUPSERVICENEXTEX NSPv2LookupServiceNextEx;
    LPNSPV2LOOKUPSERVICEEND NSPv2LookupServiceEnd;
    LPNSPV2SETSERVICEEX NSPv2SetServiceEx;
    LPNSPV2CLIENTSESSIONRUNDOWN NSPv2ClientSessionRundown;
} NSPV2_ROUTINE, *PNSPV2_ROUTINE, *LPNSPV2_ROUTINE;
typedef const NSPV2_ROUTINE *PCNSPV2_ROUTINE, *LPCNSPV2_ROUTINE;

/* Makes a provider reachable by clients. The table is read at the address given.
 * Returns 0, or SOCKET_ERROR with WSAGetLastError: WSA_NOT_ENOUGH_MEMORY, WSAEFAULT, WSAEINVAL
 * (null id or table, or a required routine missing), WSAEINVALIDPROVIDER (id not installed),
 * WSANOTINITIALISED. */
INT WSAAPI WSAAdvertiseProvider(const GUID *puuidProviderId, const LPCNSPV2_ROUTINE pNSPv2Routine);

/* Makes an advertised provider unreachable. Returns 0, or SOCKET_ERROR with WSAGetLastError. */
INT WSAAPI WSAUnadvertiseProvider(const GUID *puuidProviderId);

/* Finishes an NSPv2LookupServiceNextEx or NSPv2SetServiceEx call: iRetCode is 0 (success) or a
 * Winsock error code. Returns 0, or SOCKET_ERROR with WSAGetLastError. */
INT WSAAPI WSAProviderCompleteAsyncCall(HANDLE hAsyncCall, INT iRetCode);

#ifdef __cplusplus
}
#endif

#endif /* NSPSIM_WS2SPI_H */

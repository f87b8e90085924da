/*
 * nspsim_win.h - the base of nspsim's Windows headers for C providers.
 *
 * Written for nspsim from Microsoft's published documentation of the Win32 data types,
 * kernel32 functions and SAL annotations; not derived from the Windows SDK or mingw-w64.
 *
 * Data model: Windows x64 is LLP64 (long is 32-bit), Linux and macOS x86-64/arm64 are LP64
 * (long is 64-bit). Every Windows type whose size differs between the two is therefore spelled
 * here with an explicitly sized C type: LONG, ULONG and DWORD are 32-bit `int`s, never `long`.
 * WCHAR is 16-bit: compile with -fshort-wchar so that wchar_t and L"..." literals are UTF-16.
 * Pointers, HANDLE and the *_PTR types are 64-bit, as on Win64.
 *
 * The functions declared here are provided at run time by nspsim's host runtime; a provider
 * built as a shared object leaves them undefined and the host resolves them when it loads it.
 */
#ifndef NSPSIM_WIN_H
#define NSPSIM_WIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
#define NSPSIM_STATIC_ASSERT(e, m) static_assert(e, m)
#else
#define NSPSIM_STATIC_ASSERT(e, m) _Static_assert(e, m)
#endif

#if defined(_WIN32)
#error "nspsim's headers are for Linux and macOS; on Windows use the Windows SDK"
#endif

NSPSIM_STATIC_ASSERT(sizeof(void *) == 8, "nspsim's Windows headers target 64-bit hosts (Win64 layout)");
NSPSIM_STATIC_ASSERT(sizeof(wchar_t) == 2, "compile with -fshort-wchar: WCHAR and L\"...\" must be UTF-16");

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Calling conventions and linkage: x64 Windows has one calling convention, so these are
 * empty, as they are for a Win64 build. */
#define WINAPI
#define WINAPIV
#define APIENTRY
#define CALLBACK
#define NTAPI
#define WSAAPI
#define WSPAPI
#define WINBASEAPI
#define WINSOCK_API_LINKAGE
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif

#define CONST const
#define VOID void

/* ---- Base types (LLP64 sizes) ---- */
typedef char CHAR;
typedef unsigned char UCHAR;
typedef short SHORT;
typedef unsigned short USHORT;
typedef int INT;
typedef unsigned int UINT;
typedef int LONG;            /* 32-bit, as on Windows */
typedef unsigned int ULONG;  /* 32-bit, as on Windows */
typedef unsigned int DWORD;  /* 32-bit, as on Windows */
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef unsigned long long DWORD64;
typedef unsigned char BYTE;
typedef unsigned short WORD;
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef float FLOAT;
typedef wchar_t WCHAR;       /* 16-bit under -fshort-wchar (asserted above) */

typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef ULONG_PTR SIZE_T;
typedef LONG_PTR SSIZE_T;

typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef HANDLE *LPHANDLE;
typedef HANDLE HLOCAL;
typedef HANDLE HMODULE;
typedef HANDLE HINSTANCE;

typedef CHAR *PCHAR, *LPCH, *PSTR, *LPSTR;
typedef const CHAR *LPCCH, *PCSTR, *LPCSTR;
typedef WCHAR *PWCHAR, *LPWCH, *PWSTR, *LPWSTR;
typedef const WCHAR *LPCWCH, *PCWSTR, *LPCWSTR;

typedef BYTE *PBYTE, *LPBYTE;
typedef WORD *PWORD, *LPWORD;
typedef DWORD *PDWORD, *LPDWORD;
typedef INT *PINT, *LPINT;
typedef UINT *PUINT;
typedef LONG *PLONG, *LPLONG;
typedef ULONG *PULONG;
typedef USHORT *PUSHORT;
typedef UCHAR *PUCHAR;
typedef BOOL *PBOOL, *LPBOOL;
typedef ULONG_PTR *PULONG_PTR;
typedef SIZE_T *PSIZE_T;

#ifndef FALSE
#define FALSE 0
#endif
#ifndef TRUE
#define TRUE 1
#endif

/* ---- GUID: Data1 is an `unsigned long` on Windows, i.e. 32 bits. 16 bytes. */
#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID {
    unsigned int Data1;
    unsigned short Data2;
    unsigned short Data3;
    unsigned char Data4[8];
} GUID;
#endif
typedef GUID *PGUID, *LPGUID;
typedef const GUID *LPCGUID;
typedef GUID IID;
typedef GUID CLSID;
#ifdef __cplusplus
#define REFGUID const GUID &
#else
#define REFGUID const GUID *
#endif

/* ---- BLOB: a counted byte array (cbSize is a ULONG, 32-bit). 16 bytes on x64. */
#ifndef _tagBLOB_DEFINED
#define _tagBLOB_DEFINED
#define _BLOB_DEFINED
typedef struct _BLOB {
    ULONG cbSize;
    BYTE *pBlobData;
} BLOB, *LPBLOB;
#endif

/* ---- Helper macros ---- */
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define MAKEWORD(low, high) ((WORD)(((BYTE)(((DWORD_PTR)(low)) & 0xff)) | ((WORD)((BYTE)(((DWORD_PTR)(high)) & 0xff))) << 8))
#define MAKELONG(low, high) ((LONG)(((WORD)(((DWORD_PTR)(low)) & 0xffff)) | ((DWORD)((WORD)(((DWORD_PTR)(high)) & 0xffff))) << 16))
#define LOWORD(l) ((WORD)(((DWORD_PTR)(l)) & 0xffff))
#define HIWORD(l) ((WORD)((((DWORD_PTR)(l)) >> 16) & 0xffff))
#define LOBYTE(w) ((BYTE)(((DWORD_PTR)(w)) & 0xff))
#define HIBYTE(w) ((BYTE)((((DWORD_PTR)(w)) >> 8) & 0xff))
#define ARRAYSIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _countof(a) (sizeof(a) / sizeof((a)[0]))
#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))

/* ---- Error codes (the Win32 ones providers meet; the WSA* set is in winsock2.h) ---- */
#define NO_ERROR 0L
#define ERROR_SUCCESS 0L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_IO_PENDING 997L
#define INFINITE 0xFFFFFFFF
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)

/* ---- SAL annotations: documentation only, empty here as they are for compilers other than
 * MSVC's /analyze. */
#define _In_
#define _In_z_
#define _In_opt_
#define _In_opt_z_
#define _Out_
#define _Out_opt_
#define _Inout_
#define _Inout_opt_
#define _Inout_z_
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_maybenull_
#define _Reserved_
#define _In_reads_(n)
#define _In_reads_opt_(n)
#define _In_reads_bytes_(n)
#define _In_reads_bytes_opt_(n)
#define _In_reads_z_(n)
#define _Out_writes_(n)
#define _Out_writes_opt_(n)
#define _Out_writes_z_(n)
#define _Out_writes_bytes_(n)
#define _Out_writes_bytes_opt_(n)
#define _Out_writes_to_(n, c)
#define _Out_writes_bytes_to_(n, c)
#define _Out_writes_bytes_to_opt_(n, c)
#define _Inout_updates_(n)
#define _Inout_updates_opt_(n)
#define _Inout_updates_bytes_(n)
#define _Inout_updates_bytes_opt_(n)
#define _Field_size_(n)
#define _Field_size_opt_(n)
#define _Field_size_bytes_(n)
#define _Field_size_bytes_opt_(n)
#define _Field_z_
#define _Ret_maybenull_
#define _Ret_notnull_
#define _Must_inspect_result_
#define _Check_return_
#define _Success_(e)
#define _When_(c, a)
#define _Use_decl_annotations_
#define _Printf_format_string_
#define _Analysis_assume_(e)
#define _Pre_
#define _Post_
#define _Acquires_lock_(l)
#define _Releases_lock_(l)
#define _Requires_lock_held_(l)
#define _Guarded_by_(l)
#define _Interlocked_operand_
/* The older (pre-2008) spelling. `__in` and `__out` are left out in C++: libstdc++ uses them as
 * identifiers, so defining them would break standard headers included afterwards. */
#ifndef __cplusplus
#define __in
#define __out
#endif
#define __inout
#define __in_opt
#define __out_opt
#define __inout_opt
#define __in_z
#define __in_opt_z
#define __in_ecount(n)
#define __in_ecount_opt(n)
#define __in_bcount(n)
#define __in_bcount_opt(n)
#define __out_ecount(n)
#define __out_ecount_opt(n)
#define __out_bcount(n)
#define __out_bcount_opt(n)
#define __out_ecount_part(n, l)
#define __out_bcount_part(n, l)
#define __inout_ecount(n)
#define __inout_bcount(n)
#define __deref_out
#define __deref_out_opt
#define __deref_inout
#define __reserved
#define __checkReturn
#define __success(e)
#define __callback
#define __field_ecount(n)
#define __field_bcount(n)

/* ---- Last error (per thread, kept by the runtime) ---- */
DWORD WINAPI GetLastError(void);
VOID WINAPI SetLastError(DWORD dwErrCode);

/* ---- Memory: macros over the C library, as Windows' own are macros over its runtime ---- */
#define CopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define MoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define FillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define ZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlCopyMemory CopyMemory
#define RtlMoveMemory MoveMemory
#define RtlFillMemory FillMemory
#define RtlZeroMemory ZeroMemory
#define SecureZeroMemory ZeroMemory

#define HEAP_NO_SERIALIZE 0x00000001
#define HEAP_GENERATE_EXCEPTIONS 0x00000004
#define HEAP_ZERO_MEMORY 0x00000008
HANDLE WINAPI GetProcessHeap(void);
LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes);
LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes);
BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem);

#define LMEM_FIXED 0x0000
#define LMEM_ZEROINIT 0x0040
#define LPTR (LMEM_FIXED | LMEM_ZEROINIT)
HLOCAL WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes);
HLOCAL WINAPI LocalFree(HLOCAL hMem);

/* ---- Wide strings (UTF-16). glibc's wcs* functions assume a 32-bit wchar_t and must not be
 * used on WCHAR strings; these are the Win32 ones. */
int WINAPI lstrlenW(LPCWSTR lpString);
int WINAPI lstrcmpW(LPCWSTR lpString1, LPCWSTR lpString2);
int WINAPI lstrcmpiW(LPCWSTR lpString1, LPCWSTR lpString2);
LPWSTR WINAPI lstrcpynW(LPWSTR lpString1, LPCWSTR lpString2, int iMaxLength);
LPWSTR WINAPI lstrcpyW(LPWSTR lpString1, LPCWSTR lpString2);
LPWSTR WINAPI lstrcatW(LPWSTR lpString1, LPCWSTR lpString2);

/* ---- Critical sections.
 * Providers never look inside a CRITICAL_SECTION; only the runtime's functions do. The runtime
 * keeps a recursive pthread mutex (and its own bookkeeping) in place, so the structure is sized
 * for the largest pthread_mutex_t among the supported hosts, not copied from Windows (whose
 * RTL_CRITICAL_SECTION is 40 bytes on x64): glibc x86-64 40 bytes, glibc arm64 48 bytes, musl
 * 40 bytes, macOS 64 bytes (a long signature and 56 opaque bytes). 96 bytes, 8-aligned, hold a
 * 64-byte mutex plus 32 bytes for the runtime (owner, recursion count). A test compiles
 * `sizeof(CRITICAL_SECTION) >= sizeof(pthread_mutex_t)` on the build host. */
typedef struct _RTL_CRITICAL_SECTION {
    ULONG_PTR Opaque[12];
} RTL_CRITICAL_SECTION, CRITICAL_SECTION, *PCRITICAL_SECTION, *LPCRITICAL_SECTION;
VOID WINAPI InitializeCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
BOOL WINAPI InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION lpCriticalSection, DWORD dwSpinCount);
VOID WINAPI EnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
BOOL WINAPI TryEnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
VOID WINAPI LeaveCriticalSection(LPCRITICAL_SECTION lpCriticalSection);
VOID WINAPI DeleteCriticalSection(LPCRITICAL_SECTION lpCriticalSection);

/* ---- Interlocked operations: full barriers, as on Windows; each returns what Windows'
 * returns (the new value for Increment/Decrement, the initial value for the others). */
static inline LONG InterlockedIncrement(LONG volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedDecrement(LONG volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedExchange(LONG volatile *Target, LONG Value)
{
    return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value)
{
    return __atomic_fetch_add(Addend, Value, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, Exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return Comperand;
}
static inline PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value)
{
    return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
static inline PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination, PVOID Exchange, PVOID Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, Exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return Comperand;
}

/* ---- Threads and the thread pool. In a simulated run a work item or thread is a unit the
 * scheduler picks, so a provider's deferred completion happens when the run says; in a live
 * run (`nspsim run --live`) each is a real thread of the host process. */
typedef DWORD (WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

#define WT_EXECUTEDEFAULT 0x00000000
#define WT_EXECUTEINIOTHREAD 0x00000001
#define WT_EXECUTELONGFUNCTION 0x00000010
#define CREATE_SUSPENDED 0x00000004

BOOL WINAPI QueueUserWorkItem(LPTHREAD_START_ROUTINE Function, PVOID Context, ULONG Flags);
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                           LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter,
                           DWORD dwCreationFlags, LPDWORD lpThreadId);
BOOL WINAPI CloseHandle(HANDLE hObject);
DWORD WINAPI GetCurrentThreadId(void);
DWORD WINAPI GetCurrentProcessId(void);

#ifdef __cplusplus
}
#endif

#endif /* NSPSIM_WIN_H */

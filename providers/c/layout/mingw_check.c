/*
 * mingw_check.c - compiled with `x86_64-w64-mingw32-gcc -fsyntax-only` against mingw-w64's
 * own Windows headers (never nspsim's). It asserts that every size, offset and constant in
 * layout.def holds for mingw-w64's declarations too, so the literals nspsim's headers are
 * tested against (layout_probe.c) are Windows' values, from an independent source.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <ws2spi.h>
#include <nspapi.h>
#include <windows.h>

#include <stddef.h>

#ifdef NSPSIM_WIN_H
#error "mingw_check.c must be compiled against mingw-w64's headers, not nspsim's"
#endif

#define LAYOUT_SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof(" #T ") != " #n);
#define LAYOUT_FIELD(T, F, o) _Static_assert(offsetof(T, F) == (o), "offsetof(" #T ", " #F ") != " #o);
#define LAYOUT_CONST(N, v) _Static_assert((long long)(N) == (long long)(v), #N " != " #v);
#define LAYOUT_CONST_NOT_IN_MINGW(N, v)
#include "layout.def"

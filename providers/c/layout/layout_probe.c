/*
 * layout_probe.c - compiled against nspsim's own headers (providers/c/include) on the host,
 * with -fshort-wchar. Every entry of layout.def is checked twice: at compile time against the
 * literal in layout.def, and at run time by printing it for providers/tests/c_layout.rs, which
 * compares it with windows-sys. Output lines:
 *   size TYPE ACTUAL EXPECTED | offset TYPE.FIELD ACTUAL EXPECTED | const NAME ACTUAL EXPECTED
 */
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>
#include <ws2spi.h>

#include <stdio.h>

#define LAYOUT_SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof(" #T ") != " #n);
#define LAYOUT_FIELD(T, F, o) _Static_assert(offsetof(T, F) == (o), "offsetof(" #T ", " #F ") != " #o);
#define LAYOUT_CONST(N, v) _Static_assert((long long)(N) == (long long)(v), #N " != " #v);
#define LAYOUT_CONST_NOT_IN_MINGW(N, v) _Static_assert((long long)(N) == (long long)(v), #N " != " #v);
#include "layout.def"
#undef LAYOUT_SIZE
#undef LAYOUT_FIELD
#undef LAYOUT_CONST
#undef LAYOUT_CONST_NOT_IN_MINGW

int main(void)
{
#define LAYOUT_SIZE(T, n) printf("size %s %llu %llu\n", #T, (unsigned long long)sizeof(T), (unsigned long long)(n));
#define LAYOUT_FIELD(T, F, o) \
    printf("offset %s.%s %llu %llu\n", #T, #F, (unsigned long long)offsetof(T, F), (unsigned long long)(o));
#define LAYOUT_CONST(N, v) printf("const %s %lld %lld\n", #N, (long long)(N), (long long)(v));
#define LAYOUT_CONST_NOT_IN_MINGW(N, v) printf("const %s %lld %lld\n", #N, (long long)(N), (long long)(v));
#include "layout.def"
    return 0;
}

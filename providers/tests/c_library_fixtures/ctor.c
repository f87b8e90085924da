/* ctor.c - a library whose constructor (run when the host loads it) hangs or crashes, as
 * chosen at compile time with -DCTOR_HANG or -DCTOR_CRASH. */
#include <windows.h>
#include <signal.h>

__attribute__((constructor)) static void Init(void)
{
#if defined(CTOR_HANG)
    for (;;) {
    }
#elif defined(CTOR_CRASH)
    raise(SIGSEGV);
#endif
}

int CtorMain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 1;
}

/* missing.c - calls a function no host defines: loading it must fail with dlerror's text. */
#include <windows.h>

void WINAPI NspsimNoSuchFunction(void);

int MissingMain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    NspsimNoSuchFunction();
    return 0;
}

/*
 * windows.h - nspsim's stand-in for the Windows SDK umbrella header, for C providers built on
 * Linux and macOS. It gives the Win32 base types and the kernel32 subset nspsim's runtime
 * implements (see nspsim_win.h and providers/c/README.md). Written for nspsim.
 */
#ifndef NSPSIM_WINDOWS_H
#define NSPSIM_WINDOWS_H

#include "nspsim_win.h"

#endif /* NSPSIM_WINDOWS_H */

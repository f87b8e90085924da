/*
 * ws2tcpip.h - nspsim's TCP/IP additions to winsock2.h, for C providers built on Linux and
 * macOS. IN6_ADDR and SOCKADDR_IN6 are already in winsock2.h (a provider fills them into
 * CSADDR_INFO); this header adds the address-string sizes. (socklen_t is left out: Windows' is a
 * signed int, the C library's (declared by <unistd.h>) an unsigned one.) Written for
 * nspsim.
 */
#ifndef NSPSIM_WS2TCPIP_H
#define NSPSIM_WS2TCPIP_H

#include "winsock2.h"

#define INET_ADDRSTRLEN 22
#define INET6_ADDRSTRLEN 65

#endif /* NSPSIM_WS2TCPIP_H */

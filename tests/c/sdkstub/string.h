/* Stand-in for the SDK's <string.h> when cross-compiling for Mach-O and
 * MSVC targets here: no macOS SDK or Windows CRT headers are installed. It
 * declares only what objfreeze.h uses; the functions come from libSystem
 * (libSystem.tbd) or ntdll.dll (ntdll.def) at link time. */
#ifndef OBJFREEZE_TEST_STRING_H
#define OBJFREEZE_TEST_STRING_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
int strcmp(const char *a, const char *b);
size_t strlen(const char *s);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
#ifdef __cplusplus
}
#endif
#endif

/*
 * bcryptprimitives.dll for wine 8: Go 1.24 and later load ProcessPrng from
 * bcryptprimitives.dll at start-up (runtime.loadOptionalSyscalls) and die
 * with "bcryptprimitives.dll not found" when it is missing, which it is in
 * Debian's wine 8. This one-function stand-in is for running hyp.exe under
 * wine in CI only; it is never shipped. It draws from RtlGenRandom
 * (advapi32's SystemFunction036), which wine implements from the host's
 * random source.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll processprng.c -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom takes a ULONG length, so larger requests go in slices. */
#define SLICE 0x40000000UL

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
	while (cbData > 0) {
		ULONG n = cbData > SLICE ? SLICE : (ULONG)cbData;
		if (!SystemFunction036(pbData, n))
			return FALSE;
		pbData += n;
		cbData -= n;
	}
	return TRUE;
}

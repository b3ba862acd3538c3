/*
 * Test-only stand-in for bcryptprimitives.dll under Wine 8, which lacks
 * ProcessPrng. Go 1.22+ on Windows gets its random bytes from
 * bcryptprimitives.dll!ProcessPrng and dies at start-up without it, so
 * `GOOS=windows go test -exec wine` cannot run a single test binary.
 *
 * This DLL exports ProcessPrng and forwards it to RtlGenRandom
 * (advapi32!SystemFunction036), which Wine implements. It is installed into
 * the Wine prefix of the test run only (scripts/wine/setup.sh); nothing that
 * ships is built from it, and a real Windows has ProcessPrng of its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE; /* like Windows' ProcessPrng, which never fails */
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst; (void)reason; (void)reserved;
	return TRUE;
}

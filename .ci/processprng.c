/* Wine 8.0 has no bcryptprimitives.dll, which Rust's standard library imports
 * for ProcessPrng (its random numbers, e.g. HashMap seeds). For the tests run
 * under Wine only: built as bcryptprimitives.dll and put beside the .exe, it
 * answers ProcessPrng with RtlGenRandom (advapi32's SystemFunction036).
 * Never shipped: a real Windows has its own. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

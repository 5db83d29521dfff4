#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define VIGIL_LIKELY(x) __builtin_expect(!!(x), 1)
#define VIGIL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VIGIL_NOINLINE __attribute__((noinline))
#else
#define VIGIL_LIKELY(x) (x)
#define VIGIL_UNLIKELY(x) (x)
#define VIGIL_NOINLINE
#endif

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

// VIGIL_DISABLE_METRICS (the CMake option of that name defines it) compiles
// every metric update (Counter::inc, Gauge::set/inc/dec, Histogram::observe)
// to nothing, so a build can measure what the instrumentation costs.
// Registration and exposition still work: the series stay at zero.
#if defined(VIGIL_DISABLE_METRICS)
#define VIGIL_METRICS_ENABLED 0
#else
#define VIGIL_METRICS_ENABLED 1
#endif

// One plugin, built twice as a shared library with hidden visibility (the
// way large codebases build plugins): each copy has its own instances of
// every inline variable and function-local static in vigil's headers, and
// exports only the function named by VIGIL_TEST_PLUGIN_INC.
#include <cstdint>

#include "vigil/counter.hpp"

extern "C" __attribute__((visibility("default"))) void VIGIL_TEST_PLUGIN_INC(
    vigil::Counter* counter, std::uint64_t times) {
  for (std::uint64_t i = 0; i < times; ++i) counter->inc();
}

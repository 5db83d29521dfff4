// Differential exposition fuzzer: the input drives registrations and
// updates on a vigil::Registry (tests/unit/exposition_model.hpp); both
// scrapes must parse strictly, hold exactly what the model recorded, and
// agree with prometheus-cpp's TextSerializer on the same data. The seeded
// property test (tests/unit/exposition_property_test.cpp) runs the same
// checks in the unit suite.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "exposition_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string error = vigil_test::model::run_case(data, size);
  if (!error.empty()) {
    std::fprintf(stderr, "exposition mismatch: %s\n", error.c_str());
    std::abort();
  }
  return 0;
}

// Random registries (exposition_model.hpp) from fixed seeds: every scrape
// must parse strictly in both formats, hold exactly what was recorded, and
// agree with prometheus-cpp's TextSerializer. tests/fuzz/exposition_fuzz.cpp
// runs the same checks on libFuzzer's inputs; promtool checks a few of
// these registries (vigil_exposition_sample random<seed>).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "exposition_model.hpp"

namespace {

using vigil_test::model::random_bytes;
using vigil_test::model::run_case;

// One thread: ThreadSanitizer has nothing to find here and makes each case
// ten times slower, so its preset runs a tenth of them.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kSeeds = 200;
#else
constexpr std::uint64_t kSeeds = 2000;
#endif

TEST(ExpositionProperty, RandomRegistriesScrapeWhatWasRecorded) {
  for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
    const std::vector<std::uint8_t> bytes = random_bytes(seed);
    const std::string error = run_case(bytes.data(), bytes.size());
    ASSERT_EQ(error, "") << "seed " << seed;
  }
}

}  // namespace

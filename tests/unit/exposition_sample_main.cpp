// Prints a registry for promtool (tests/promtool_check.cmake) and the
// Prometheus integration tests to check:
//   vigil_exposition_sample <text|openmetrics>
//                           [sample|golden|foreign|random<seed>] [timestamps]
// `sample` exercises every feature of the exposition (escaping, units,
// histograms, special values, invalid UTF-8, names next to refused
// collisions, included prometheus-cpp metrics); `golden` and `foreign` are
// the registries of the golden tests in exposition_test.cpp; `random7` is
// the random registry of case 7 of exposition_property_test.cpp. `timestamps`
// gives every sample without one a timestamp, as promtool's OpenMetrics
// importer requires.
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vigil/vigil.hpp>

#include "exposition_fixture.hpp"
#include "exposition_model.hpp"

namespace {

/// Registering `name` must throw: it collides with a family of the sample.
template <class Register>
bool refused(Register&& attempt) {
  try {
    attempt();
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

bool fill_sample(vigil::Registry& registry) {
  auto& requests = registry.counter(
      "sample_requests_total", "Requests with \"quotes\", \\ and a\nnewline.",
      {"method", "path"});
  requests.with({"GET", "/v1/messages"}).inc(3);
  requests.with({"POST", "/quote\"back\\slash\nnewline"}).inc();
  requests.with({"GET", "/bad\xff\xfeutf8"}).inc();
  registry
      .histogram("sample_latency_seconds", "Latency \xe2\x80\x94 \xff.",
                 {"route"}, {0.005, 0.5, 1, 2.5, 1e6}, {"seconds", 0})
      .with({"/v1"})
      .observe(0.042);
  auto& gauges =
      registry.gauge("sample_temperature_celsius", "Values.", {"kind"});
  gauges.with({"pos_inf"}).set(std::numeric_limits<double>::infinity());
  gauges.with({"neg_inf"}).set(-std::numeric_limits<double>::infinity());
  gauges.with({"nan"}).set(std::nan(""));
  gauges.with({"tiny"}).set(1e-300);
  gauges.with({"caf\xc3\xa9"}).set(1);
  // Names that look alike but do not collide are served...
  registry.gauge("sample_latency_seconds_counts", "Not a suffix.").with({});
  // ...and names that would collide are refused.
  const bool all_refused =
      refused([&] {
        registry.gauge("sample_latency_seconds_count", "Collides.");
      }) &&
      refused([&] { registry.counter("sample_requests", "Collides."); }) &&
      refused([&] { registry.gauge("sample_requests", "Collides."); });
  registry.include(std::make_shared<vigil::ProcessCollector>());
  auto legacy = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("legacy_jobs_total")
      .Help("Jobs counted by prometheus-cpp.")
      .Register(*legacy)
      .Add({{"queue", "default"}, {"bad", "\xc3"}})
      .Increment(7);
  registry.include(legacy);
  return all_refused;
}

struct Foreign : prometheus::Collectable {
  std::vector<prometheus::MetricFamily> Collect() const override {
    return vigil_test::foreign_golden_families();
  }
};

/// Appends ` <timestamp>` to every sample line that has none.
std::string with_timestamps(std::string_view body, bool open_metrics) {
  const char* stamp = open_metrics ? " 1700000000" : " 1700000000000";
  std::string out;
  while (!body.empty()) {
    const std::size_t eol = body.find('\n');
    std::string_view line = body.substr(0, eol);
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    out.append(line.data(), line.size());
    if (!line.empty() && line[0] != '#') {
      std::size_t i = line.find_first_of("{ ");
      if (i != std::string_view::npos && line[i] == '{') {
        for (bool quoted = false; ++i < line.size();) {
          if (line[i] == '\\') {
            ++i;
          } else if (line[i] == '"') {
            quoted = !quoted;
          } else if (line[i] == '}' && !quoted) {
            break;
          }
        }
        ++i;
      }
      const std::size_t value = i + 1;  // after the space
      if (line.find(' ', value) == std::string_view::npos) out += stamp;
    }
    out += '\n';
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool open_metrics =
      argc > 1 && std::strcmp(argv[1], "openmetrics") == 0;
  const std::string_view which = argc > 2 ? argv[2] : "sample";
  const bool timestamps = argc > 3 && std::strcmp(argv[3], "timestamps") == 0;
  // A random registry lives in its generator, which checks it as well.
  std::vector<std::uint8_t> bytes;
  std::optional<vigil_test::model::ByteStream> stream;
  std::optional<vigil_test::model::Generator> generator;
  vigil::Registry own;
  vigil::Registry* registry = &own;
  if (which.substr(0, 6) == "random") {
    bytes = vigil_test::model::random_bytes(
        std::strtoull(std::string(which.substr(6)).c_str(), nullptr, 10));
    stream.emplace(bytes.data(), bytes.size());
    generator.emplace(*stream);
    if (const std::string error = generator->run(); !error.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    registry = &generator->registry();
  } else if (which == "golden") {
    vigil_test::fill_golden(own);
  } else if (which == "foreign") {
    own.include(std::make_shared<Foreign>());
  } else if (!fill_sample(own)) {
    std::fputs("a colliding name was not refused\n", stderr);
    return 1;
  }
  const std::string body =
      registry->scrape(open_metrics ? vigil::ExpositionFormat::kOpenMetrics
                                    : vigil::ExpositionFormat::kPrometheusText);
  // fwrite: label values may hold NUL bytes.
  const std::string out =
      timestamps ? with_timestamps(body, open_metrics) : body;
  std::fwrite(out.data(), 1, out.size(), stdout);
}

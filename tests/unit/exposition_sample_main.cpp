// Prints a registry that exercises every feature of the exposition (escaping,
// units, histograms, special values, included prometheus-cpp metrics) for
// promtool and the Prometheus integration tests to check.
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vigil/vigil.hpp>

int main(int argc, char** argv) {
  const bool open_metrics =
      argc > 1 && std::strcmp(argv[1], "openmetrics") == 0;
  vigil::Registry registry;
  auto& requests = registry.counter(
      "sample_requests_total", "Requests with \"quotes\", \\ and a\nnewline.",
      {"method", "path"});
  requests.with({"GET", "/v1/messages"}).inc(3);
  requests.with({"POST", "/quote\"back\\slash\nnewline"}).inc();
  registry
      .histogram("sample_latency_seconds", "Latency.", {"route"},
                 vigil::buckets::latency_seconds(), {"seconds", 0})
      .with({"/v1"})
      .observe(0.042);
  auto& gauges =
      registry.gauge("sample_temperature_celsius", "Values.", {"kind"});
  gauges.with({"pos_inf"}).set(std::numeric_limits<double>::infinity());
  gauges.with({"neg_inf"}).set(-std::numeric_limits<double>::infinity());
  gauges.with({"nan"}).set(std::nan(""));
  gauges.with({"tiny"}).set(1e-300);
  registry.include(std::make_shared<vigil::ProcessCollector>());
  auto legacy = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("legacy_jobs_total")
      .Help("Jobs counted by prometheus-cpp.")
      .Register(*legacy)
      .Add({{"queue", "default"}})
      .Increment(7);
  registry.include(legacy);
  std::fputs(
      registry
          .scrape(open_metrics ? vigil::ExpositionFormat::kOpenMetrics
                               : vigil::ExpositionFormat::kPrometheusText)
          .c_str(),
      stdout);
}

// vigil's hot paths side by side with prometheus-cpp and with the hardware
// floor, in one binary so every ratio comes from the same run on the same
// machine. bench/micro/report.py turns a JSON run into the ratio table of
// docs/results/micro-benchmarks.md.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <vigil/vigil.hpp>

namespace {

// ---- counter increment on one series shared by all benchmark threads ----

vigil::Counter& vigil_counter() {
  static vigil::Registry registry;
  static vigil::Counter counter =
      registry.counter("bench_total", "Bench.").with({});
  return counter;
}

prometheus::Counter& prom_counter() {
  static prometheus::Registry registry;
  static prometheus::Counter& counter = prometheus::BuildCounter()
                                            .Name("bench_total")
                                            .Help("Bench.")
                                            .Register(registry)
                                            .Add({});
  return counter;
}

void BM_CounterInc_Vigil(benchmark::State& state) {
  vigil::Counter counter = vigil_counter();
  for (auto _ : state) counter.inc();
}

void BM_CounterInc_PrometheusCpp(benchmark::State& state) {
  prometheus::Counter& counter = prom_counter();
  for (auto _ : state) counter.Increment();
}

void BM_CounterInc_AtomicFetchAdd(benchmark::State& state) {
  static std::atomic<std::uint64_t> shared{0};
  for (auto _ : state) shared.fetch_add(1, std::memory_order_relaxed);
}

// The hardware floor: an add to thread-private memory that another thread
// could read (a relaxed load and store compile to plain moves), with no
// lookup of which memory is ours: the address is resolved before the loop.
void BM_CounterInc_ThreadLocalFloor(benchmark::State& state) {
  static thread_local std::atomic<std::uint64_t> cell{0};
  std::atomic<std::uint64_t>* mine = &cell;
  benchmark::DoNotOptimize(mine);
  for (auto _ : state) {
    mine->store(mine->load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
  }
}

// ---- histogram observe, 11 buckets ----

const std::vector<double>& observations() {
  // Spread over every bucket of the default latency layout.
  static const std::vector<double> values = [] {
    std::vector<double> v;
    for (int i = 0; i < 64; ++i) v.push_back(0.001 * (1 << (i % 15)));
    return v;
  }();
  return values;
}

void BM_HistogramObserve_Vigil(benchmark::State& state) {
  static vigil::Registry registry;
  static vigil::Histogram histogram =
      registry.histogram("bench_seconds", "Bench.").with({});
  const auto& values = observations();
  std::size_t i = 0;
  for (auto _ : state) histogram.observe(values[i++ & 63]);
}

void BM_HistogramObserve_PrometheusCpp(benchmark::State& state) {
  static prometheus::Registry registry;
  static const auto bounds = vigil::buckets::latency_seconds();
  static prometheus::Histogram& histogram =
      prometheus::BuildHistogram()
          .Name("bench_seconds")
          .Help("Bench.")
          .Register(registry)
          .Add({}, prometheus::Histogram::BucketBoundaries(bounds.begin(),
                                                           bounds.end()));
  const auto& values = observations();
  std::size_t i = 0;
  for (auto _ : state) histogram.Observe(values[i++ & 63]);
}

// ---- lookup of an existing series by three label values ----

constexpr int kLookupSeries = 100;

void BM_LabelLookup_Vigil(benchmark::State& state) {
  vigil::Registry registry;
  auto& family = registry.counter("http_requests_total", "Requests.",
                                  {"method", "path", "status"});
  for (int i = 0; i < kLookupSeries; ++i) {
    family.with({"GET", "/v1/path/" + std::to_string(i), "200"});
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(family.with({"GET", "/v1/path/42", "200"}));
  }
}

void BM_LabelLookup_PrometheusCpp(benchmark::State& state) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter()
                     .Name("http_requests_total")
                     .Help("Requests.")
                     .Register(registry);
  for (int i = 0; i < kLookupSeries; ++i) {
    family.Add({{"method", "GET"},
                {"path", "/v1/path/" + std::to_string(i)},
                {"status", "200"}});
  }
  // prometheus-cpp's best case: the label map is built once, outside the loop.
  const prometheus::Labels labels = {
      {"method", "GET"}, {"path", "/v1/path/42"}, {"status", "200"}};
  for (auto _ : state) benchmark::DoNotOptimize(&family.Add(labels));
}

// ---- a hit next to a label set sent to the overflow series ----
// The same family and label shapes, full at kLookupSeries series: a hit
// finds one of them, an overflow lookup a label set never stored (a value
// unique per request, what the series limit exists for).

vigil::CounterFamily& full_family() {
  static vigil::Registry registry;
  static vigil::CounterFamily& family = []() -> vigil::CounterFamily& {
    auto& f =
        registry.counter("limited_total", "Limited.",
                         {"method", "path", "status"}, {"", kLookupSeries});
    for (int i = 0; i < kLookupSeries; ++i) {
      f.with({"GET", "/v1/path/" + std::to_string(i), "200"});
    }
    f.with({"GET", "/v1/unique/first", "200"});  // creates the overflow
    return f;
  }();
  return family;
}

const std::vector<std::string>& unique_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> p;
    for (int i = 0; i < 64; ++i) p.push_back("/v1/unique/" + std::to_string(i));
    return p;
  }();
  return paths;
}

void BM_LookupHit_Vigil(benchmark::State& state) {
  auto& family = full_family();
  for (auto _ : state) {
    benchmark::DoNotOptimize(family.with({"GET", "/v1/path/42", "200"}));
  }
}

void BM_LookupOverflow_Vigil(benchmark::State& state) {
  auto& family = full_family();
  const auto& paths = unique_paths();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(family.with({"GET", paths[i++ & 63], "200"}));
  }
}

// ---- scrape of 10,000 series (counters and gauges, two labels each) ----

constexpr int kScrapeFamilies = 10;
constexpr int kSeriesPerFamily = 1000;

void BM_Scrape10k_Vigil(benchmark::State& state) {
  vigil::Registry registry;
  for (int f = 0; f < kScrapeFamilies; ++f) {
    const std::string name = "family_" + std::to_string(f);
    if (f % 2) {
      auto& family = registry.gauge(name, "A gauge.", {"instance", "shard"});
      for (int s = 0; s < kSeriesPerFamily; ++s) {
        family.with({"host-" + std::to_string(s), std::to_string(s % 7)})
            .set(s * 1.5);
      }
    } else {
      auto& family = registry.counter(name + "_total", "A counter.",
                                      {"instance", "shard"});
      for (int s = 0; s < kSeriesPerFamily; ++s) {
        family.with({"host-" + std::to_string(s), std::to_string(s % 7)})
            .inc(s);
      }
    }
  }
  std::string buffer;
  for (auto _ : state) {
    buffer.clear();
    registry.write(buffer, vigil::ExpositionFormat::kPrometheusText);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(buffer.size()));
}

void BM_Scrape10k_PrometheusCpp(benchmark::State& state) {
  prometheus::Registry registry;
  for (int f = 0; f < kScrapeFamilies; ++f) {
    const std::string name = "family_" + std::to_string(f);
    if (f % 2) {
      auto& family = prometheus::BuildGauge()
                         .Name(name)
                         .Help("A gauge.")
                         .Register(registry);
      for (int s = 0; s < kSeriesPerFamily; ++s) {
        family
            .Add({{"instance", "host-" + std::to_string(s)},
                  {"shard", std::to_string(s % 7)}})
            .Set(s * 1.5);
      }
    } else {
      auto& family = prometheus::BuildCounter()
                         .Name(name + "_total")
                         .Help("A counter.")
                         .Register(registry);
      for (int s = 0; s < kSeriesPerFamily; ++s) {
        family
            .Add({{"instance", "host-" + std::to_string(s)},
                  {"shard", std::to_string(s % 7)}})
            .Increment(s);
      }
    }
  }
  const prometheus::TextSerializer serializer;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string body = serializer.Serialize(registry.Collect());
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes));
}

// ---- memory per series ----

constexpr int kMemorySeries = 10000;

std::size_t heap_in_use() { return mallinfo2().uordblks; }

void report_bytes(benchmark::State& state,
                  const std::function<std::function<void()>()>& build) {
  double per_series = 0;
  for (auto _ : state) {
    const std::size_t before = heap_in_use();
    auto keep_alive = build();
    per_series = static_cast<double>(heap_in_use() - before) / kMemorySeries;
  }
  state.counters["bytes_per_series"] = per_series;
  // Rows of a striped run on this machine, for report.py's 17-row figure.
  state.counters["rows"] = vigil::detail::stripe_count() + 1;
}

void BM_MemoryCounterSeries_Vigil(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<vigil::Registry>();
    auto& family = registry->counter("mem_total", "Mem.", {"id"});
    for (int i = 0; i < kMemorySeries; ++i) {
      family.with({std::to_string(i)}).inc();
    }
    return [registry] {};
  });
}

// The same series, each also written by a second thread: vigil then gives
// it its striped run as well (docs/adr/0001), the most it ever costs.
void BM_MemoryCounterSeries_VigilTwoWriters(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<vigil::Registry>();
    auto& family = registry->counter("mem_total", "Mem.", {"id"});
    for (int i = 0; i < kMemorySeries; ++i) {
      family.with({std::to_string(i)}).inc();
    }
    std::thread([&] {
      for (int i = 0; i < kMemorySeries; ++i) {
        family.with({std::to_string(i)}).inc();
      }
    }).join();
    return [registry] {};
  });
}

void BM_MemoryCounterSeries_PrometheusCpp(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<prometheus::Registry>();
    auto& family = prometheus::BuildCounter()
                       .Name("mem_total")
                       .Help("Mem.")
                       .Register(*registry);
    for (int i = 0; i < kMemorySeries; ++i) {
      family.Add({{"id", std::to_string(i)}}).Increment();
    }
    return [registry] {};
  });
}

void BM_MemoryHistogramSeries_Vigil(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<vigil::Registry>();
    auto& family = registry->histogram("mem_seconds", "Mem.", {"id"});
    for (int i = 0; i < kMemorySeries; ++i) {
      family.with({std::to_string(i)}).observe(0.1);
    }
    return [registry] {};
  });
}

void BM_MemoryHistogramSeries_VigilTwoWriters(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<vigil::Registry>();
    auto& family = registry->histogram("mem_seconds", "Mem.", {"id"});
    for (int i = 0; i < kMemorySeries; ++i) {
      family.with({std::to_string(i)}).observe(0.1);
    }
    std::thread([&] {
      for (int i = 0; i < kMemorySeries; ++i) {
        family.with({std::to_string(i)}).observe(0.1);
      }
    }).join();
    return [registry] {};
  });
}

void BM_MemoryHistogramSeries_PrometheusCpp(benchmark::State& state) {
  report_bytes(state, [] {
    auto registry = std::make_shared<prometheus::Registry>();
    auto& family = prometheus::BuildHistogram()
                       .Name("mem_seconds")
                       .Help("Mem.")
                       .Register(*registry);
    const auto bounds = vigil::buckets::latency_seconds();
    for (int i = 0; i < kMemorySeries; ++i) {
      family
          .Add({{"id", std::to_string(i)}},
               prometheus::Histogram::BucketBoundaries(bounds.begin(),
                                                       bounds.end()))
          .Observe(0.1);
    }
    return [registry] {};
  });
}

}  // namespace

#define VIGIL_THREADED(fn) BENCHMARK(fn)->Threads(1)->Threads(2)->UseRealTime()

VIGIL_THREADED(BM_CounterInc_Vigil);
VIGIL_THREADED(BM_CounterInc_PrometheusCpp);
VIGIL_THREADED(BM_CounterInc_AtomicFetchAdd);
VIGIL_THREADED(BM_CounterInc_ThreadLocalFloor);
VIGIL_THREADED(BM_HistogramObserve_Vigil);
VIGIL_THREADED(BM_HistogramObserve_PrometheusCpp);
BENCHMARK(BM_LabelLookup_Vigil);
BENCHMARK(BM_LabelLookup_PrometheusCpp);
VIGIL_THREADED(BM_LookupHit_Vigil);
VIGIL_THREADED(BM_LookupOverflow_Vigil);
BENCHMARK(BM_Scrape10k_Vigil)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Scrape10k_PrometheusCpp)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MemoryCounterSeries_Vigil)->Iterations(1);
BENCHMARK(BM_MemoryCounterSeries_VigilTwoWriters)->Iterations(1);
BENCHMARK(BM_MemoryCounterSeries_PrometheusCpp)->Iterations(1);
BENCHMARK(BM_MemoryHistogramSeries_Vigil)->Iterations(1);
BENCHMARK(BM_MemoryHistogramSeries_VigilTwoWriters)->Iterations(1);
BENCHMARK(BM_MemoryHistogramSeries_PrometheusCpp)->Iterations(1);

BENCHMARK_MAIN();

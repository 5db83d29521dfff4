#include "vigil/gauge.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "vigil/detail/cells.hpp"
#include "vigil/registry.hpp"

namespace {

TEST(Gauge, SetIncDec) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("queue_depth", "Depth.").with({});
  g.set(10);
  g.inc();
  g.dec(3);
  EXPECT_EQ(g.value(), 8);
  g.set(-2.5);
  EXPECT_EQ(g.value(), -2.5);
}

TEST(Gauge, AcceptsNaN) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("ratio", "Ratio.").with({});
  g.set(std::nan(""));
  EXPECT_TRUE(std::isnan(g.value()));
}

TEST(Gauge, SetToCurrentTime) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("last_seen_seconds", "Time.").with({});
  const double before = std::chrono::duration<double>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  g.set_to_current_time();
  EXPECT_GE(g.value(), before);
  EXPECT_LT(g.value(), before + 3600);
}

TEST(Gauge, ConcurrentIncAndDecBalance) {
  vigil::Registry registry;
  vigil::Gauge g = registry.gauge("in_flight", "In flight.").with({});
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        g.inc();
        g.dec();
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(g.value(), 0);
}

TEST(Gauge, NoGaugeSharesACacheLineWithAThreadsRow) {
  // Gauges are written by every thread with read-modify-writes; a gauge on
  // the line of a thread's row would make that thread's plain stores
  // contend (docs/adr/0001).
  vigil::Registry registry;
  auto& counters = registry.counter("c_total", "C.", {"i"});
  auto& histograms = registry.histogram("h_seconds", "H.", {"i"});
  auto& gauges = registry.gauge("g", "G.", {"i"});
  struct Run {
    const vigil::detail::Cell* cells;
    std::size_t size;
    unsigned rows;
  };
  std::vector<Run> runs;
  std::vector<const vigil::detail::Cell*> gauge_cells;
  const unsigned rows = vigil::detail::stripe_count() + 1;
  for (int i = 0; i < 200; ++i) {
    const std::string label = std::to_string(i);
    const std::string_view value = label;
    // Two writing threads (this one keeps its row) give each series its
    // compact and its striped run.
    vigil::Counter counter = counters.with({value});
    vigil::Histogram histogram = histograms.with({value});
    const auto write = [&] {
      counter.inc();
      histogram.observe(1);
    };
    write();
    std::thread(write).join();
    const auto add_runs = [&](const vigil::detail::SeriesCells& cells,
                              std::size_t size) {
      ASSERT_NE(cells.compact.load(), nullptr);
      ASSERT_NE(cells.striped.load(), nullptr);
      runs.push_back({cells.compact.load(), size, 1});
      runs.push_back({cells.striped.load(), size, rows});
    };
    add_runs(counters.series(&value, 1).cells, vigil::Counter::kCells);
    add_runs(histograms.series(&value, 1).cells,
             histograms.bounds().size() + 2);
    gauge_cells.push_back(gauges.series(&value, 1).cells.compact.load());
  }
  auto line = [](const vigil::detail::Cell* cell) {
    return reinterpret_cast<std::uintptr_t>(cell) / 64;
  };
  for (const auto* gauge : gauge_cells) {
    for (const Run& run : runs) {
      for (unsigned r = 0; r < run.rows; ++r) {
        const auto* row = run.cells + r * vigil::detail::kChunkCells;
        ASSERT_FALSE(line(gauge) >= line(row) &&
                     line(gauge) <= line(row + run.size - 1))
            << "gauge shares a line with row " << r;
      }
    }
  }
}

}  // namespace

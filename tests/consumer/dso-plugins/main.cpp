// Plugins built with -fvisibility=hidden each carry their own copy of
// vigil's header-level statics. Threads running plugin code must still
// never share an exclusive row of the registry they write to (issue 16).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "plugins.hpp"
#include "vigil/registry.hpp"

namespace {

using PluginInc = void (*)(vigil::Counter*, std::uint64_t);
constexpr PluginInc kPlugins[] = {plugin_a_inc, plugin_b_inc};

// Holds threads until all have arrived, so their increments overlap.
class Gate {
 public:
  explicit Gate(unsigned threads) : waiting_(threads) {}
  void arrive_and_wait() {
    waiting_.fetch_sub(1);
    while (waiting_.load() > 0) std::this_thread::yield();
  }

 private:
  std::atomic<unsigned> waiting_;
};

// Increments on the row for threads that found no exclusive row.
std::uint64_t shared_row_whole_count(vigil::CounterFamily& family) {
  const vigil::detail::Cell* striped =
      family.series(nullptr, 0).cells.striped.load();
  if (striped == nullptr) return 0;  // only one thread ever wrote
  return striped[std::size_t{vigil::detail::stripe_count()} *
                 vigil::detail::kChunkCells]
      .load();
}

TEST(DsoPlugins, TwoPluginsOnTwoThreadsCountEveryIncrement) {
  vigil::Registry registry;
  vigil::Counter counter =
      registry.counter("plugin_events_total", "Events.").with({});
  // Large enough that two threads sharing one row lose increments every
  // time, small enough to finish in well under a second.
  constexpr std::uint64_t kTimes = 20'000'000;
  Gate gate(2);
  std::vector<std::thread> threads;
  for (PluginInc inc : kPlugins) {
    threads.emplace_back([&, inc] {
      gate.arrive_and_wait();
      inc(&counter, kTimes);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), 2.0 * kTimes);
}

TEST(DsoPlugins, RowsOfExitedPluginThreadsAreLeasedAgain) {
  vigil::Registry registry;
  auto& family = registry.counter("plugin_events_total", "Events.");
  vigil::Counter counter = family.with({});
  constexpr std::uint64_t kTimes = 2'000'000;

  // A plugin thread takes a row and exits, giving it back.
  std::thread([&] { plugin_a_inc(&counter, kTimes); }).join();

  // Then as many threads as there are exclusive rows, from both plugins,
  // all holding their rows at once: each gets one only if the first
  // thread's row was released, and no two may get the same one.
  const unsigned rows = vigil::detail::stripe_count();
  Gate gate(rows);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < rows; ++t) {
    threads.emplace_back([&, t] {
      kPlugins[t % 2](&counter, 1);
      gate.arrive_and_wait();
      kPlugins[t % 2](&counter, kTimes - 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), static_cast<double>((rows + 1) * kTimes));
  EXPECT_EQ(shared_row_whole_count(family), 0u);
}

TEST(DsoPlugins, AThreadCallingBothPluginsTakesOneRow) {
  vigil::Registry registry;
  auto& family = registry.counter("plugin_events_total", "Events.");
  vigil::Counter counter = family.with({});
  constexpr std::uint64_t kTimes = 1'000'000;
  // Every row is taken by a thread that writes through both plugins: were
  // the plugins to lease a row each, half the threads would find none.
  const unsigned rows = vigil::detail::stripe_count();
  Gate gate(rows);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < rows; ++t) {
    threads.emplace_back([&] {
      plugin_a_inc(&counter, 1);
      plugin_b_inc(&counter, 1);
      gate.arrive_and_wait();
      plugin_a_inc(&counter, kTimes - 1);
      plugin_b_inc(&counter, kTimes - 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), 2.0 * rows * kTimes);
  EXPECT_EQ(shared_row_whole_count(family), 0u);
}

}  // namespace

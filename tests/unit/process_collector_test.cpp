#include "vigil/process_collector.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>

namespace {

std::map<std::string, double> collect() {
  std::map<std::string, double> out;
  for (const auto& family : vigil::ProcessCollector().Collect()) {
    const auto& metric = family.metric.at(0);
    out[family.name] = family.type == prometheus::MetricType::Counter
                           ? metric.counter.value
                           : metric.gauge.value;
  }
  return out;
}

TEST(ProcessCollector, ReportsPlausibleValuesFromProc) {
  const auto before = collect();
  ASSERT_EQ(before.size(), 6u);
  EXPECT_GT(before.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(before.at("process_virtual_memory_bytes"),
            before.at("process_resident_memory_bytes"));
  EXPECT_GE(before.at("process_max_fds"), before.at("process_open_fds"));
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_LE(before.at("process_start_time_seconds"), now + 1);
  EXPECT_GT(before.at("process_start_time_seconds"), now - 24 * 3600);

  const int fd = dup(1);  // one more descriptor must show
  ASSERT_GE(fd, 0);
  EXPECT_EQ(collect().at("process_open_fds"),
            before.at("process_open_fds") + 1);
  close(fd);
}

TEST(ProcessCollector, CpuSecondsGrowWithWork) {
  const double start = collect().at("process_cpu_seconds_total");
  volatile double sink = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (collect().at("process_cpu_seconds_total") <= start &&
         std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i;
  }
  EXPECT_GT(collect().at("process_cpu_seconds_total"), start);
}

}  // namespace

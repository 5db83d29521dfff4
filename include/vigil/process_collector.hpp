#pragma once

#include <dirent.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// The standard process_* metrics every Prometheus client exports, read from
/// /proc at scrape time (Linux): CPU seconds, resident and virtual memory,
/// open and maximum file descriptors, start time.
///
/// Thread-safety: Collect() may run concurrently; it only reads /proc.
///
///     registry.include(std::make_shared<vigil::ProcessCollector>());
///
/// Where /proc is missing, the metrics it cannot read are left out.
class ProcessCollector : public prometheus::Collectable {
 public:
  /// Reads /proc now; metrics it cannot read are left out.
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    std::vector<std::string> stat;
    if (read_stat(stat) && stat.size() > 23) {
      // Fields (1-based in proc(5)): 14 utime, 15 stime, 22 starttime,
      // 23 vsize, 24 rss; `stat` starts at field 3.
      const double cpu = (std::stod(stat[11]) + std::stod(stat[12])) / ticks;
      add(out, "process_cpu_seconds_total",
          "Total user and system CPU time spent in seconds.",
          prometheus::MetricType::Counter, cpu);
      add(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          prometheus::MetricType::Gauge, std::stod(stat[20]));
      add(out, "process_resident_memory_bytes",
          "Resident memory size in bytes.", prometheus::MetricType::Gauge,
          std::stod(stat[21]) * page);
      double boot_time = 0;
      if (read_boot_time(boot_time)) {
        add(out, "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            prometheus::MetricType::Gauge,
            boot_time + std::stod(stat[19]) / ticks);
      }
    }
    double open_fds = 0;
    if (count_open_fds(open_fds)) {
      add(out, "process_open_fds", "Number of open file descriptors.",
          prometheus::MetricType::Gauge, open_fds);
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      add(out, "process_max_fds", "Maximum number of open file descriptors.",
          prometheus::MetricType::Gauge,
          limit.rlim_cur == RLIM_INFINITY
              ? std::numeric_limits<double>::infinity()
              : static_cast<double>(limit.rlim_cur));
    }
    return out;
  }

 private:
  static void add(std::vector<prometheus::MetricFamily>& out, const char* name,
                  const char* help, prometheus::MetricType type, double value) {
    prometheus::ClientMetric metric;
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    out.push_back({name, help, type, {metric}});
  }

  /// Splits /proc/self/stat after the command name, which may hold spaces.
  static bool read_stat(std::vector<std::string>& fields) {
    std::ifstream file("/proc/self/stat");
    std::string line;
    if (!std::getline(file, line)) return false;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream rest(line.substr(close + 1));
    for (std::string field; rest >> field;) fields.push_back(field);
    return true;
  }

  static bool read_boot_time(double& boot_time) {
    std::ifstream file("/proc/stat");
    for (std::string key; file >> key;) {
      if (key == "btime") return static_cast<bool>(file >> boot_time);
      file.ignore(1 << 20, '\n');
    }
    return false;
  }

  static bool count_open_fds(double& count) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return false;
    count = 0;
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    count -= 1;  // the descriptor opendir itself holds
    return true;
  }
};

VIGIL_NAMESPACE_END

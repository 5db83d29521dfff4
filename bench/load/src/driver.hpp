#pragma once
// chat-load's engine: logs in, drives POST /v1/messages (and file uploads)
// against the chat API with Boost.Beast on a few threads, and collects what
// the summary and the time series need.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "latency_histogram.hpp"
#include "scenario.hpp"

namespace chat_load {

struct DriverOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  Scenario scenario;
  std::size_t threads = 1;
  /// Open model: connections per run at most; a request waiting for one
  /// still counts its wait (latency is measured from its intended start).
  std::size_t max_connections = 256;
  /// Open model: requests waiting for a connection beyond this are dropped
  /// (k6's dropped_iterations).
  std::size_t max_backlog = 100000;
  double request_timeout_seconds = 30;
  /// After the schedule ends, how long answers may still arrive.
  double grace_seconds = 10;
  std::string ids_path;   // every accepted message_id, one per line
  std::string stack_dir;  // if set, sample CPU/RSS of $dir/pids/* each second
  std::size_t file_min_bytes = 100 * 1024;
  std::size_t file_max_bytes = 1024 * 1024;
};

/// What happened in some interval (one second, a stress step, the run).
struct Window {
  LatencyHistogram duration;  // every request, ns
  std::uint64_t requests = 0;
  std::uint64_t failed = 0;    // transport errors and statuses >= 400
  std::uint64_t accepted = 0;  // 202 with a message_id
  std::uint64_t iterations = 0;
  std::uint64_t dropped = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::map<int, std::uint64_t> statuses;  // 0: no answer
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>
      checks;  // name -> passes, fails

  void merge(const Window& other);
  void reset();
};

struct ProcessSample {
  double cpu_percent = 0;  // of one core
  std::uint64_t rss_bytes = 0;
};

/// One second of the run, as written to the time series.
struct Second {
  double t = 0;  // seconds since the start, at the end of this second
  std::int64_t unix_ms = 0;
  double target = 0;  // rate or VUs
  std::size_t active_vus = 0;
  Window window;
  std::map<std::string, ProcessSample> processes;
};

struct StressStep {
  double target_rate = 0;
  double achieved_rate = 0;
  double p99_ms = 0;
  double error_rate = 0;
  bool passed = false;
  std::string why;  // when not passed
};

struct RunResult {
  Window total;
  double seconds = 0;  // wall time of the run
  std::int64_t started_unix_ms = 0;
  std::size_t max_vus = 0;
  std::vector<Second> seconds_series;
  std::vector<StressStep> steps;
  std::uint64_t interrupted = 0;  // still in flight after the grace period
};

/// Called once a second with the second just finished.
using ProgressFn = std::function<void(const Second&, const RunResult&)>;

/// Logs in as the demo users and runs the scenario. Throws
/// std::runtime_error when login fails (nothing to measure then).
RunResult run_load(const DriverOptions& options, const ProgressFn& progress);

/// A blocking request on a fresh connection (logins and setup).
struct SimpleResponse {
  int status = 0;
  std::string body;
};
SimpleResponse simple_request(const std::string& host, std::uint16_t port,
                              const std::string& method,
                              const std::string& target,
                              const std::string& body,
                              const std::string& bearer = {});

/// The value of "key":"..." in a flat JSON text; empty when absent.
std::string json_string_field(const std::string& json, const std::string& key);

}  // namespace chat_load

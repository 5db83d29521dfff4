#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

#include "vigil/detail/json.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Receives structured log lines: one JSON object per call, without a
/// trailing newline, with at least `ts`, `level`, `service` and `event` (plus
/// ids where they apply). vigil never writes to stdout or stderr on its own;
/// give its components a sink to see their events.
///
/// Thread-safety: a sink may be called from several threads at once and must
/// be safe for that (stderr_log_sink() is).
///
///     vigil::LogSink sink = [](std::string_view line) { my_logger.raw(line);
///     };
using LogSink = std::function<void(std::string_view line)>;

/// A sink that writes each line to stderr, lines never interleaved.
inline LogSink stderr_log_sink() {
  auto mutex = std::make_shared<std::mutex>();
  return [mutex](std::string_view line) {
    std::lock_guard<std::mutex> lock(*mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
  };
}

/// Builds one structured log line and hands it to a sink; costs nothing
/// when there is no sink.
///
/// Thread-safety: a LogLine is used by one thread; the sink it feeds may be
/// shared.
///
///     vigil::LogLine(sink, "info", "chat-router", "partitions_assigned")
///         .field("partitions", 3).field("group", "router").emit();
class LogLine {
 public:
  /// Starts a line with `ts` (now, RFC 3339 UTC), `level`, `service` and
  /// `event`. `sink` must outlive the LogLine.
  LogLine(const LogSink& sink, std::string_view level, std::string_view service,
          std::string_view event)
      : sink_(sink) {
    if (!sink_) return;
    line_ += "{\"ts\":\"";
    detail::append_rfc3339(line_, std::chrono::system_clock::now());
    line_ += '"';
    field("level", level).field("service", service).field("event", event);
  }

  /// Adds `"key":"value"`, escaped.
  LogLine& field(std::string_view key, std::string_view value) {
    if (!sink_) return *this;
    start_field(key);
    detail::append_json_string(line_, value);
    return *this;
  }
  /// Adds a string field.
  LogLine& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  /// Adds a string field.
  LogLine& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view(value));
  }
  /// Adds `true` or `false`.
  LogLine& field(std::string_view key, bool value) {
    if (!sink_) return *this;
    start_field(key);
    line_ += value ? "true" : "false";
    return *this;
  }
  template <class Number,
            std::enable_if_t<std::is_arithmetic<Number>::value &&
                                 !std::is_same<Number, bool>::value,
                             int> = 0>
  /// Adds a number (non-finite ones as null).
  LogLine& field(std::string_view key, Number value) {
    if (!sink_) return *this;
    start_field(key);
    if (std::is_integral<Number>::value) {
      fmt::format_to(std::back_inserter(line_), FMT_STRING("{}"), value);
    } else {
      detail::append_json_number(line_, static_cast<double>(value));
    }
    return *this;
  }

  /// Hands the line to the sink. A throwing sink must not take the caller
  /// down with it, so its exceptions are swallowed.
  void emit() {
    if (!sink_) return;
    line_ += '}';
    try {
      sink_(line_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort
    }
  }

 private:
  void start_field(std::string_view key) {
    line_ += ',';
    detail::append_json_string(line_, key);
    line_ += ':';
  }

  const LogSink& sink_;
  std::string line_;
};

VIGIL_NAMESPACE_END

#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "vigil/http/detail/json.hpp"
#include "vigil/http/log_sink.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

/// Builds one structured log line; does nothing at all when there is no
/// sink, so events cost nothing unless someone listens.
///
///     LogLine(sink, "warn", service, "request_rejected")
///         .field("conn", id).field("reason", "malformed").emit();
class LogLine {
 public:
  LogLine(const LogSink& sink, std::string_view level, std::string_view service,
          std::string_view event)
      : sink_(sink) {
    if (!sink_) return;
    line_ += "{\"ts\":\"";
    append_rfc3339(line_, std::chrono::system_clock::now());
    line_ += '"';
    field("level", level).field("service", service).field("event", event);
  }

  LogLine& field(std::string_view key, std::string_view value) {
    if (!sink_) return *this;
    key_(key);
    append_json_string(line_, value);
    return *this;
  }
  LogLine& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  LogLine& field(std::string_view key, std::uint64_t value) {
    if (!sink_) return *this;
    key_(key);
    fmt::format_to(std::back_inserter(line_), FMT_STRING("{}"), value);
    return *this;
  }

  /// Hands the line to the sink. A throwing sink must not take a server
  /// thread down with it, so its exceptions are swallowed.
  void emit() {
    if (!sink_) return;
    line_ += '}';
    try {
      sink_(line_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort
    }
  }

 private:
  void key_(std::string_view key) {
    line_ += ',';
    append_json_string(line_, key);
    line_ += ':';
  }

  const LogSink& sink_;
  std::string line_;
};

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END

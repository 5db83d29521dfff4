#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// Receives vigil::http's structured log: one JSON object per call, without
/// a trailing newline, with at least `ts`, `level`, `service` and `event`
/// (plus ids such as `conn` where they apply). vigil never writes to
/// stdout or stderr on its own; give it a sink to see these events.
///
/// Thread-safety: the sink is called from the endpoint's threads, possibly
/// at once; it must be safe for that (stderr_log_sink() is).
///
///     options.log = [](std::string_view line) { my_logger.raw(line); };
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

}  // namespace http
VIGIL_NAMESPACE_END

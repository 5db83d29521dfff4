#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vigil/http/handler.hpp"
#include "vigil/log.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// Settings of a standalone Endpoint. The defaults suit a production
/// service: loopback only, small requests, short timeouts. Endpoint turns
/// them into the ServerOptions of the server core it runs on.
///
///     vigil::http::EndpointOptions options;
///     options.port = 8082;
///     options.log = vigil::stderr_log_sink();
struct EndpointOptions {
  /// Address to listen on. Loopback by default: exposing metrics beyond the
  /// host is a decision, not an accident.
  std::string bind = "127.0.0.1";
  /// 0 picks a free port; Endpoint::port() tells which.
  std::uint16_t port = 0;
  /// Threads serving connections.
  std::size_t threads = 1;
  /// Connections beyond this are answered 503 and closed at once.
  std::size_t max_connections = 256;
  /// Connections from one client address beyond this are answered 503 and
  /// closed at once. As many as max_connections by default: scrapers
  /// (several Prometheus replicas, a Prometheus beside a sidecar) often
  /// share one address.
  std::size_t max_connections_per_address = 256;
  /// Largest request accepted: header and body each (431 / 413 beyond).
  std::size_t max_request_bytes = std::size_t{16} * 1024;
  /// Time a request may take to arrive once its first byte has: bounds
  /// slow clients (slowloris).
  std::chrono::milliseconds read_timeout{10000};
  /// Time a keep-alive connection may sit without a request; longer than
  /// Prometheus' default 1 m scrape interval so scrapes reuse connections.
  std::chrono::milliseconds idle_timeout{120000};
  /// Time a response may take to be written to a slow reader.
  std::chrono::milliseconds write_timeout{10000};
  /// The `service` field of log lines.
  std::string service = "vigil-endpoint";
  /// Structured log; nothing is logged without one.
  LogSink log;
  /// Paths, gzip, credentials.
  HandlerOptions handler;
};

}  // namespace http
VIGIL_NAMESPACE_END

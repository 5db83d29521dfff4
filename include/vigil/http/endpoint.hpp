#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "vigil/http/endpoint_options.hpp"
#include "vigil/http/handler.hpp"
#include "vigil/http/health.hpp"
#include "vigil/http/problem.hpp"
#include "vigil/http/server.hpp"
#include "vigil/log.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// A standalone HTTP server for services without one of their own: serves
/// /metrics and the health probes (see Handler) on its own threads.
///
/// It runs on Server, the hardened core the chat4all services use too, so
/// it has every defence of ServerOptions with EndpointOptions' production
/// defaults: binds 127.0.0.1, caps request size, read/idle/write timeouts,
/// concurrent connections overall and per client address, keep-alive,
/// HEAD, problem+json 404 for unknown paths and 405 with `Allow` for other
/// methods. It counts itself in the registry (vigil_http_connections_open,
/// vigil_http_connections_rejected_total, vigil_http_requests_rejected_total)
/// and logs one JSON line per significant event to EndpointOptions::log.
///
/// Thread-safety: start() and stop() may be called from any thread; the
/// destructor stops. The registry and health registry must outlive it. An
/// Endpoint starts once; make a new one to serve again.
///
///     vigil::http::EndpointOptions options;
///     options.port = 8082;
///     vigil::http::Endpoint endpoint(options, registry, health);
///     endpoint.start();  // throws if the port is taken
class Endpoint {
 public:
  /// Serves `registry` and, unless `health` is null, its checks (without
  /// them every probe answers pass). Registers the endpoint's own metrics
  /// in `registry` but binds nothing until start().
  Endpoint(EndpointOptions options, Registry& registry,
           HealthRegistry* health = nullptr)
      : options_(std::move(options)),
        handler_(registry, health, options_.handler),
        server_(server_options(options_, registry),
                [this](ServerRequest&& req, Respond respond) {
                  respond(answer(req));
                }) {}
  /// Serves `registry` and the checks of `health`.
  Endpoint(EndpointOptions options, Registry& registry, HealthRegistry& health)
      : Endpoint(std::move(options), registry, &health) {}
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint() { stop(); }

  /// Binds, listens and starts the threads. Throws std::runtime_error if
  /// the address cannot be bound (start() may then be tried again),
  /// std::logic_error if called twice.
  void start() {
    std::lock_guard<std::mutex> lock(lifecycle_);
    if (started_) {
      throw std::logic_error("vigil: Endpoint::start called twice");
    }
    server_.start();
    started_ = true;
    LogLine(options_.log, "info", options_.service, "endpoint_started")
        .field("bind", options_.bind)
        .field("port", std::uint64_t{server_.port()})
        .emit();
  }

  /// Stops accepting, closes idle connections, lets requests under way be
  /// answered (bounded by write_timeout), then joins the threads.
  /// Idempotent.
  void stop() {
    std::lock_guard<std::mutex> lock(lifecycle_);
    if (!started_ || stopped_) {
      return;
    }
    stopped_ = true;
    LogLine(options_.log, "info", options_.service, "endpoint_stopping").emit();
    const DrainReport report = server_.drain();
    LogLine(options_.log, "info", options_.service, "endpoint_stopped")
        .field("port", std::uint64_t{server_.port()})
        .field("cut_off", report.cut_off)
        .emit();
  }

  /// The port bound by start(), useful with EndpointOptions::port = 0.
  std::uint16_t port() const { return server_.port(); }

  /// The Handler answering the requests, built from
  /// EndpointOptions::handler; e.g. owns() tells which paths it serves.
  const Handler& handler() const { return handler_; }

 private:
  static ServerOptions server_options(const EndpointOptions& options,
                                      Registry& registry) {
    ServerOptions server;
    server.bind = options.bind;
    server.port = options.port;
    server.threads = options.threads;
    server.max_connections = options.max_connections;
    server.max_connections_per_address = options.max_connections_per_address;
    server.max_header_bytes = options.max_request_bytes;
    server.max_body_bytes = options.max_request_bytes;
    server.header_timeout = options.read_timeout;
    server.read_timeout = options.read_timeout;
    server.idle_timeout = options.idle_timeout;
    server.write_timeout = options.write_timeout;
    // The handler answers at once (a scrape or a probe): stop() waits only
    // for answers being written, and keeps no idle connection.
    server.drain_timeout = options.write_timeout;
    server.drain_idle_grace = std::chrono::milliseconds(0);
    server.service = options.service;
    server.log = options.log;
    server.metrics = &registry;
    return server;
  }

  ServerResponse answer(const ServerRequest& req) const {
    if (auto res = handler_.handle(req)) {
      return to_server_response(std::move(*res));
    }
    return problem(404, "Not Found", "no such path");
  }

  const EndpointOptions options_;
  const Handler handler_;  // before server_: its threads use it
  Server server_;
  std::mutex lifecycle_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace http
VIGIL_NAMESPACE_END

#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/http/detail/endpoint_session.hpp"
#include "vigil/http/endpoint_options.hpp"
#include "vigil/http/health.hpp"
#include "vigil/log.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// A standalone HTTP server for services without one of their own: serves
/// /metrics and the health probes (see Handler) on its own threads.
///
/// Production defaults (EndpointOptions): binds 127.0.0.1, caps request
/// size, read/idle/write timeouts and concurrent connections, keep-alive,
/// HEAD, 404 for unknown paths and 405 with `Allow` for other methods. It
/// counts itself in the registry (vigil_http_connections_open,
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
      : ctx_(std::make_unique<detail::EndpointContext>(std::move(options),
                                                       registry, health)) {}
  /// Serves `registry` and the checks of `health`.
  Endpoint(EndpointOptions options, Registry& registry, HealthRegistry& health)
      : Endpoint(std::move(options), registry, &health) {}
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint() {
    try {
      stop();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not
                     // throw; stop() only throws if joining a thread fails
    }
  }

  /// Binds, listens and starts the threads. Throws
  /// boost::system::system_error (a std::runtime_error) if the address
  /// cannot be bound, std::logic_error if called twice.
  void start() {
    std::lock_guard<std::mutex> lock(lifecycle_);
    if (started_) {
      throw std::logic_error("vigil: Endpoint::start called twice");
    }
    namespace net = boost::asio;
    const EndpointOptions& options = ctx_->options;
    const net::ip::tcp::endpoint address(net::ip::make_address(options.bind),
                                         options.port);
    auto& acceptor = ctx_->acceptor;
    try {
      acceptor.open(address.protocol());
      acceptor.set_option(net::socket_base::reuse_address(true));
      acceptor.bind(address);
      acceptor.listen(net::socket_base::max_listen_connections);
    } catch (...) {
      // Leave the acceptor closed so start() can be tried again (e.g. once
      // the port is free).
      boost::system::error_code ignored;
      acceptor.close(ignored);
      throw;
    }
    port_ = acceptor.local_endpoint().port();
    started_ = true;
    accept(*ctx_);
    const std::size_t threads = options.threads > 0 ? options.threads : 1;
    for (std::size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([ctx = ctx_.get()] { run(*ctx); });
    }
    vigil::LogLine(options.log, "info", options.service, "endpoint_started")
        .field("bind", options.bind)
        .field("port", std::uint64_t{port_})
        .emit();
  }

  /// Stops accepting, closes idle connections, lets responses being written
  /// finish (bounded by write_timeout), then joins the threads. Idempotent.
  void stop() {
    std::lock_guard<std::mutex> lock(lifecycle_);
    if (!started_ || stopped_) {
      return;
    }
    stopped_ = true;
    const EndpointOptions& options = ctx_->options;
    ctx_->log("info", "endpoint_stopping", 0);
    boost::asio::post(ctx_->acceptor.get_executor(), [ctx = ctx_.get()] {
      boost::beast::error_code ec;
      ctx->acceptor.close(ec);
      ctx->accept_retry.cancel();
    });
    std::vector<std::shared_ptr<detail::Session>> live;
    {
      std::lock_guard<std::mutex> sessions_lock(ctx_->mutex);
      ctx_->stopping = true;
      for (auto& entry : ctx_->sessions) {
        if (auto session = entry.second.lock()) {
          live.push_back(std::move(session));
        }
      }
    }
    for (auto& session : live) {
      boost::asio::post(session->executor(),
                        [session] { session->shutdown(); });
    }
    // Dropped outside the lock: the last reference may destroy a session,
    // whose destructor takes the lock.
    live.clear();
    for (auto& thread : threads_) {
      thread.join();
    }
    threads_.clear();
    vigil::LogLine(options.log, "info", options.service, "endpoint_stopped")
        .field("port", std::uint64_t{port_})
        .emit();
  }

  /// The port bound by start(), useful with EndpointOptions::port = 0.
  std::uint16_t port() const { return port_; }

  /// The Handler answering the requests, built from
  /// EndpointOptions::handler; e.g. owns() tells which paths it serves.
  const Handler& handler() const { return ctx_->handler; }

 private:
  static void run(detail::EndpointContext& ctx) {
    try {
      ctx.ioc.run();
    } catch (const std::exception& e) {
      // Session handlers catch their own exceptions; reaching here means an
      // invariant broke. Say so rather than terminate the service.
      ctx.log("error", "endpoint_thread_failed", 0, e.what());
    }
  }

  static void accept(detail::EndpointContext& ctx) {
    ctx.acceptor.async_accept(
        boost::asio::make_strand(ctx.ioc),
        [&ctx](boost::beast::error_code ec,
               boost::asio::ip::tcp::socket socket) {
          if (ec == boost::asio::error::operation_aborted) {
            return;
          }
          if (ec) {
            // Typically EMFILE: retry shortly instead of spinning.
            ctx.log("error", "accept_failed", 0, ec.message());
            ctx.accept_retry.expires_after(std::chrono::milliseconds(100));
            ctx.accept_retry.async_wait(
                [&ctx](boost::beast::error_code wait_ec) {
                  if (!wait_ec) {
                    accept(ctx);
                  }
                });
            return;
          }
          admit(ctx, std::move(socket));
          accept(ctx);
        });
  }

  static void admit(detail::EndpointContext& ctx,
                    boost::asio::ip::tcp::socket socket) {
    const std::uint64_t id =
        ctx.next_id.fetch_add(1, std::memory_order_relaxed);
    if (ctx.open.load(std::memory_order_relaxed) >=
        ctx.options.max_connections) {
      ctx.rejected_connections.inc();
      ctx.log("warn", "connection_rejected", id, "connection_cap");
      refuse(socket);
      return;
    }
    ctx.open.fetch_add(1, std::memory_order_relaxed);
    ctx.open_gauge.inc();
    auto session =
        std::make_shared<detail::Session>(std::move(socket), ctx, id);
    {
      std::lock_guard<std::mutex> lock(ctx.mutex);
      if (ctx.stopping) {
        return;  // the session closes as it is destroyed
      }
      ctx.sessions.emplace(id, session);
    }
    session->start();
  }

  /// Answers 503 without reading the request, best effort and without
  /// blocking: the acceptor must not wait on a client it is refusing.
  static void refuse(boost::asio::ip::tcp::socket& socket) {
    static constexpr char kResponse[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: 16\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        "connection cap\r\n";
    boost::beast::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(boost::asio::buffer(kResponse, sizeof kResponse - 1), ec);
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  std::unique_ptr<detail::EndpointContext> ctx_;
  std::mutex lifecycle_;
  bool started_ = false;
  bool stopped_ = false;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace http
VIGIL_NAMESPACE_END

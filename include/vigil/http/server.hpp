#pragma once

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/http/detail/server_session.hpp"
#include "vigil/http/server_options.hpp"
#include "vigil/log.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// The hardened HTTP/1.1 server core (Boost.Beast) under Endpoint and the
/// chat4all services: keep-alive and pipelining, size limits, deadlines
/// for every phase of a request (idle, header, body, a minimum upload
/// rate, the handler, the write), connection caps overall and per client
/// address, back-off when accept fails (EMFILE), HEAD without a body,
/// problem+json for everything it refuses itself, and a graceful drain for
/// SIGTERM. Handlers may answer later from another thread; chosen requests
/// stream their bodies to a BodySink and responses may stream from a
/// ByteSource, so uploads and downloads of any size use constant memory.
///
/// Thread-safety: start() once, then drain() or stop() from any thread (also
/// the destructor); the counters from any thread. The handler runs on the
/// server's threads, concurrently; a Respond called after stop(), after
/// handler_timeout or a second time does nothing.
///
///     vigil::http::Server server(options, [](auto&& req, auto respond) {
///       respond(vigil::http::problem(404, "Not Found", "nothing here"));
///     });
///     server.start();  // throws std::runtime_error if it cannot bind
class Server {
 public:
  /// Serves requests with `handler`; binds nothing until start().
  Server(ServerOptions options, RequestHandler handler)
      : io_(static_cast<int>(std::max<std::size_t>(options.threads, 1))),
        shared_(std::make_shared<detail::ServerShared>(std::move(options),
                                                       std::move(handler))),
        acceptor_(boost::asio::make_strand(io_)),
        accept_timer_(acceptor_.get_executor()) {}
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts serving; throws std::runtime_error if it cannot bind
  /// (the server may then be started again, e.g. once the port is free),
  /// std::logic_error if it serves already.
  void start() {
    namespace net = boost::asio;
    if (!threads_.empty() || stopped_) {
      throw std::logic_error("vigil: Server::start called twice");
    }
    const auto& options = shared_->options;
    const net::ip::tcp::endpoint address(net::ip::make_address(options.bind),
                                         options.port);
    boost::beast::error_code ec;
    acceptor_.open(address.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(address, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      boost::beast::error_code ignored;
      acceptor_.close(ignored);
      throw std::runtime_error("cannot listen on " + options.bind + ":" +
                               std::to_string(options.port) + ": " +
                               ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    shared_->listening = true;
    accept();
    for (std::size_t i = 0; i < std::max<std::size_t>(options.threads, 1);
         ++i) {
      threads_.emplace_back([this] { run(); });
    }
  }

  /// Stops gracefully, for SIGTERM: closes the listening socket (new
  /// connections are refused; those the kernel had queued are still
  /// served), answers every request under way or arriving on an open
  /// connection with `Connection: close`, closes connections that stay
  /// without a request for drain_idle_grace, and returns once every
  /// connection is closed or drain_timeout passed, after stop(). Blocks.
  /// A stop() or a second drain() from another thread ends it at once.
  DrainReport drain() {
    const auto started = std::chrono::steady_clock::now();
    DrainReport report;
    if (stopped_ || shared_->draining.exchange(true)) {
      stop();
      return report;
    }
    const auto& options = shared_->options;
    const auto deadline = started + options.drain_timeout;
    const auto grace_over =
        std::min(deadline, started + options.drain_idle_grace);
    boost::asio::post(acceptor_.get_executor(), [this] { close_acceptor(); });
    // Not before the acceptor took its last connection: until then, none
    // open does not mean done.
    auto all_closed = [this] {
      return (!shared_->listening && shared_->connections == 0) || stopped_;
    };
    std::unique_lock<std::mutex> lock(shared_->sessions_mutex);
    if (!shared_->gone.wait_until(lock, grace_over, all_closed)) {
      shared_->closing_idle = true;
      lock.unlock();
      // Sessions that start waiting for a request from now on close by
      // themselves (read() checks closing_idle): this reaches the others.
      auto open = shared_->open_sessions();
      for (const auto& session : open) session->close_if_idle();
      open.clear();
      lock.lock();
      shared_->gone.wait_until(lock, deadline, all_closed);
    }
    lock.unlock();
    report.connections = connections();
    report.cut_off = in_flight();
    stop();
    report.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return report;
  }

  /// Stops at once: stops accepting, closes connections without answering
  /// the requests under way and joins the threads. Idempotent.
  void stop() {
    if (stopped_.exchange(true)) return;
    io_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    // No thread runs the strand any more.
    boost::beast::error_code ignored;
    acceptor_.close(ignored);
    // Handlers queued for sessions never run now, and they may hold them
    // until the io_context goes: close every connection here, so that once
    // stop() returns, nobody waits on one (e.g. the requests drain() cut
    // off).
    for (const auto& session : shared_->open_sessions()) session->abandon();
    std::set<std::shared_ptr<void>> awaiting;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->stopped = true;
      awaiting.swap(shared_->awaiting);
    }
    // Sessions go here, while the io_context they use still exists.
    awaiting.clear();
    // A drain() waiting in another thread ends now (taking the lock orders
    // stopped_ before its wait).
    { std::lock_guard<std::mutex> lock(shared_->sessions_mutex); }
    shared_->gone.notify_all();
  }

  /// The port bound by start(), useful with ServerOptions::port = 0.
  std::uint16_t port() const { return port_; }
  /// Requests handed to the handler whose Respond has not come yet.
  std::size_t in_flight() const {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->awaiting.size();
  }
  /// Open connections.
  std::size_t connections() const { return shared_->connections; }

 private:
  using tcp = boost::asio::ip::tcp;

  void run() {
    try {
      io_.run();
    } catch (const std::exception& e) {
      // Sessions catch their handlers' exceptions; reaching here means an
      // invariant broke. Say so rather than terminate the service.
      LogLine(shared_->options.log, "error", shared_->options.service,
              "server_thread_failed")
          .field("error", e.what())
          .emit();
    }
  }

  void accept() {
    accepting_ = true;
    acceptor_.async_accept(
        boost::asio::make_strand(io_),
        [this](boost::beast::error_code ec, tcp::socket socket) {
          accepting_ = false;
          if (stopped_) return;
          // Draining: the acceptor is closed, or closes next; a connection
          // accepted before is served like the others.
          if (shared_->draining) {
            if (!ec) admit(std::move(socket));
            if (!acceptor_.is_open()) shared_->not_listening();
            return;
          }
          if (ec) return accept_failed(ec);
          accept_delay_ = std::chrono::milliseconds(0);
          admit(std::move(socket));
          accept();
        });
  }

  /// Serves an accepted connection, or refuses it over a cap.
  void admit(tcp::socket socket) {
    boost::beast::error_code endpoint_ec;
    const auto remote = socket.remote_endpoint(endpoint_ec);
    if (endpoint_ec) return;  // the client left already
    const std::size_t from = shared_->connected(remote.address());
    const std::size_t open = shared_->connections;
    auto session = std::make_shared<detail::ServerSession>(
        std::move(socket), remote.address(), shared_);
    const auto& options = shared_->options;
    if (open > options.max_connections) {
      session->refuse("connection_cap", "too many connections");
    } else if (from > options.max_connections_per_address) {
      session->refuse("address_cap", "too many connections from your address");
    } else {
      session->start();
    }
  }

  /// On the acceptor's strand: takes the connections queued in the kernel,
  /// then closes the listening socket.
  void close_acceptor() {
    // Closing the listening socket resets the connections the kernel has
    // completed but nobody accepted, and their clients may have sent their
    // requests already (they cannot tell from a connection refused later):
    // accept those first. Only a handshake completing between the last
    // accept and the close is still reset; new ones are refused.
    boost::beast::error_code ec;
    acceptor_.non_blocking(true, ec);
    while (!ec) {
      tcp::socket socket(boost::asio::make_strand(io_));
      acceptor_.accept(socket, ec);
      if (!ec) admit(std::move(socket));
    }
    acceptor_.close(ec);
    accept_timer_.cancel();
    // An accept under way completes now, maybe with a connection it took
    // before the close: its handler says when it is done.
    if (!accepting_) shared_->not_listening();
  }

  /// Out of file descriptors (EMFILE, ENFILE) or memory, the pending
  /// connection stays queued and accepting again at once fails again at
  /// once: back off instead of spinning a core, 50 ms doubling to 1 s.
  void accept_failed(const boost::beast::error_code& ec) {
    constexpr std::chrono::milliseconds kFirst{50};
    constexpr std::chrono::milliseconds kMost{1000};
    accept_delay_ = accept_delay_.count() == 0
                        ? kFirst
                        : std::min(accept_delay_ * 2, kMost);
    LogLine(shared_->options.log, "error", shared_->options.service,
            "accept_failed")
        .field("error", ec.message())
        .field("retry_ms", detail::milliseconds(accept_delay_))
        .emit();
    accept_timer_.expires_after(accept_delay_);
    accept_timer_.async_wait([this](boost::beast::error_code wait_ec) {
      if (!wait_ec && !stopped_ && !shared_->draining) accept();
    });
  }

  boost::asio::io_context io_;  // first: outlives everything below
  std::shared_ptr<detail::ServerShared> shared_;
  /// On a strand of io_, as accept_timer_: accepting, backing off and
  /// drain()'s close never run at once.
  tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_delay_{0};  // the current back-off
  bool accepting_ = false;                     // an async_accept is pending
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace http
VIGIL_NAMESPACE_END

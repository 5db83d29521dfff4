#pragma once
// The HTTP server the chat services share (Boost.Beast): keep-alive, size
// limits, timeouts, a connection cap, and handlers that may answer later
// from another thread (the API answers once Kafka acknowledged a write).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <vigil/log.hpp>

namespace chat {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
/// Sends the response; call it exactly once, from any thread.
using Respond = std::function<void(Response)>;
using RequestHandler = std::function<void(Request&&, Respond)>;

struct HttpServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port, see HttpServer::port()
  std::size_t threads = 2;
  std::size_t max_header_bytes = 8 * 1024;  // 431 beyond
  std::size_t max_body_bytes = 64 * 1024;   // 413 beyond
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 1024;  // 503 and close beyond
  std::string service = "chat";
  vigil::LogSink log;
};

/// Thread-safety: start() once, stop() from any thread (also the
/// destructor). The handler runs on the server's threads, concurrently; a
/// Respond called after stop() does nothing.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving; throws std::runtime_error if it cannot bind.
  void start();
  /// Stops accepting, closes connections and joins the threads.
  void stop();
  std::uint16_t port() const { return port_; }

  struct Shared;  // state sessions keep alive

 private:
  void accept();

  boost::asio::io_context io_;  // first: outlives everything below
  std::shared_ptr<Shared> shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

/// Not a response: passed to Respond, it resets the connection instead (for
/// simulating an unreachable peer).
Response drop_connection();

/// A JSON response with the given status.
Response json_response(unsigned status, std::string body);

}  // namespace chat

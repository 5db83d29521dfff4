#pragma once
// A small blocking HTTP/1.1 client for the platform APIs: one keep-alive
// connection, and a deadline on every call so a hung platform costs a
// timeout, not a stuck worker.

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace chat {

/// The call did not get an HTTP answer: refused, reset, or timed out.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PlatformReply {
  unsigned status = 0;
  std::string body;
};

/// Thread-safety: one thread at a time (each delivery worker has its own).
class PlatformClient {
 public:
  /// `base_url`: http://HOST:PORT (no path). Throws std::invalid_argument
  /// for anything else.
  PlatformClient(const std::string& base_url,
                 std::chrono::milliseconds timeout);

  /// POSTs a JSON body to `path`; throws TransportError if no complete
  /// answer arrived within the timeout.
  PlatformReply post(const std::string& path, const std::string& body);

 private:
  void connect(std::chrono::steady_clock::time_point deadline);
  /// Runs the queued operations; the stream's expiry bounds them.
  void run_io();

  std::string host_;
  std::string port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context io_;
  std::optional<boost::beast::tcp_stream> stream_;  // empty: not connected
};

}  // namespace chat

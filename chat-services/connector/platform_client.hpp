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
#include <string_view>

namespace chat {

/// At most `max_bytes` of a platform's text (an error body), fit for a log
/// line or an error message: cut back to a character boundary, each byte
/// that is not part of well-formed UTF-8 replaced by U+FFFD, and "..."
/// appended when something was cut. Always valid UTF-8, at most
/// `max_bytes` + 3 bytes.
std::string printable_excerpt(std::string_view text, std::size_t max_bytes);

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

  /// POSTs a JSON body to `path`, with an `Idempotency-Key` header unless
  /// `idempotency_key` is empty (the platform then answers a repeat with its
  /// first answer instead of delivering again); throws TransportError if no
  /// complete answer arrived within the timeout.
  PlatformReply post(const std::string& path, const std::string& body,
                     const std::string& idempotency_key = {});

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

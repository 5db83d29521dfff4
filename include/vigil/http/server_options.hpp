#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vigil/http/server_handler.hpp"
#include "vigil/log.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
class Registry;
namespace http {

/// Settings of a Server: every defence against slow, stalled, oversized or
/// too many clients, with defaults for a service in front of strangers.
/// Endpoint derives its own from EndpointOptions.
///
///     vigil::http::ServerOptions options;
///     options.port = 8080;
///     options.max_body_bytes = 1 << 20;
///     options.log = vigil::stderr_log_sink();
struct ServerOptions {
  /// Address to listen on. Loopback by default: serving beyond the host is
  /// a decision, not an accident.
  std::string bind = "127.0.0.1";
  /// 0 picks a free port; Server::port() tells which.
  std::uint16_t port = 0;
  /// Threads serving connections (each connection runs on its own strand).
  std::size_t threads = 2;
  /// Largest request header (431 beyond).
  std::size_t max_header_bytes = 8 * 1024;
  /// Largest body read into memory (413 beyond).
  std::size_t max_body_bytes = 64 * 1024;
  /// Requests whose bodies stream; they get max_stream_bytes instead of
  /// max_body_bytes, and read_timeout bounds each wait for more bytes
  /// rather than the whole body.
  StreamRoute stream_route;
  /// Largest streamed body (413 beyond).
  std::uint64_t max_stream_bytes = 2ULL << 30;
  /// Bounds reading a body into memory, and each wait for more bytes of a
  /// streamed one.
  std::chrono::milliseconds read_timeout{10000};
  /// Bounds writing a response to a slow reader (and each wait of a
  /// streamed one).
  std::chrono::milliseconds write_timeout{10000};
  /// Bounds the wait for the first byte of a request (a fresh connection's
  /// or the next one on a kept-alive connection); nothing is answered.
  std::chrono::milliseconds idle_timeout{60000};
  /// Bounds reading a request's header, from its first byte to the blank
  /// line, however the client trickles it. Otherwise only idle_timeout would
  /// bound it, and a client sending a byte every few seconds (slowloris)
  /// would hold each connection that long per request. On timeout the
  /// connection is closed without an answer (the stream is already shut)
  /// and request_rejected logged. Real clients send a header in one or two
  /// packets: 10 s is plenty on a slow link.
  std::chrono::milliseconds header_timeout{10000};
  /// Streamed bodies (stream_route) slower than this are cut off: 408, the
  /// sink is rejected(408), the connection closed. read_timeout alone lets
  /// a client send one byte every read_timeout - 1 ms for ever. The rate is
  /// measured over windows of at least read_timeout (the first one is the
  /// grace period, e.g. for TCP slow start), so a burst cannot buy a long
  /// trickle afterwards. 1 KiB/s is far below any real upload. 0: no limit.
  std::uint64_t min_upload_bytes_per_second = 1024;
  /// A handler (or BodySink::finish) that has not called Respond by then is
  /// answered 503 (Retry-After, connection closed) by the server, and its
  /// late Respond does nothing: a handler that loses a request (a bug, a
  /// lost callback) must not hold the connection and its client for ever.
  /// 0: no limit (handlers that legitimately wait longer, e.g. long polls).
  std::chrono::milliseconds handler_timeout{30000};
  /// Connections open at once; the next one gets 503 (Retry-After) and is
  /// closed without its request being read.
  std::size_t max_connections = 1024;
  /// Connections open at once from one client address; the next one gets
  /// 503 (Retry-After) and is closed, like over max_connections. Keeps one
  /// client from taking every connection. Generous because one address is
  /// often many clients (a proxy, a NAT, a load generator on loopback).
  /// Counted per exact address (an IPv6 client with a whole prefix is many
  /// addresses). max_connections or more: no cap of its own.
  std::size_t max_connections_per_address = 512;
  /// drain(): how long requests under way may take to be answered; those
  /// still unanswered then are cut off (their connections closed without an
  /// answer, so their clients know they do not know the outcome).
  std::chrono::milliseconds drain_timeout{10000};
  /// drain(): how long a connection without a request under way (kept
  /// alive between two, or connected and yet to send its first) may still
  /// send one, which is then answered with `Connection: close`. It is closed
  /// after that. HTTP/1.1 cannot tell a client in advance that a kept-alive
  /// connection closes: closing it at once would race with a request on its
  /// way, which its client would see cut off without an answer. A busy
  /// client sends its next request well within 1 s; a quiet connection
  /// costs the drain this long at most. Bounded by drain_timeout.
  std::chrono::milliseconds drain_idle_grace{1000};
  /// The `service` field of log lines.
  std::string service = "vigil-server";
  /// Structured log; nothing is logged without one.
  LogSink log;
  /// Where the server counts itself (vigil_http_connections_open,
  /// vigil_http_connections_rejected_total,
  /// vigil_http_requests_rejected_total{reason}); must outlive the server.
  /// Null: not counted.
  Registry* metrics = nullptr;
};

/// What Server::drain() found at its deadline (both 0 when everything
/// finished).
struct DrainReport {
  /// Requests whose Respond had not been called: cut off without an answer.
  std::size_t cut_off = 0;
  /// Connections still open, those of cut_off's requests included (others
  /// were still sending a request or reading an answer).
  std::size_t connections = 0;
  /// From drain()'s call to its return.
  std::chrono::milliseconds took{0};
};

}  // namespace http
VIGIL_NAMESPACE_END

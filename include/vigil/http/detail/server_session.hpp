#pragma once
// Server's connection machinery: the state every connection shares and one
// ServerSession per connection, on its own strand.

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "vigil/http/problem.hpp"
#include "vigil/http/server_handler.hpp"
#include "vigil/http/server_options.hpp"
#include "vigil/log.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

namespace detail {

class ServerSession;

inline long long milliseconds(std::chrono::milliseconds d) {
  return static_cast<long long>(d.count());
}

/// Everything a Server's sessions share; they keep it alive.
struct ServerShared {
  ServerShared(ServerOptions o, RequestHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        own_metrics(options.metrics ? nullptr : std::make_unique<Registry>()),
        metrics(options.metrics ? *options.metrics : *own_metrics),
        open_gauge(metrics
                       .gauge("vigil_http_connections_open",
                              "Connections the HTTP server holds open.")
                       .with({})),
        rejected_connections(
            metrics
                .counter("vigil_http_connections_rejected_total",
                         "Connections refused because the server was at "
                         "a connection cap (overall or per address).")
                .with({})),
        rejected_requests(metrics.counter(
            "vigil_http_requests_rejected_total",
            "Requests refused before reaching a handler, by reason.",
            {"reason"})) {}

  const ServerOptions options;
  const RequestHandler handler;
  // Where the server counts itself: options.metrics, or a registry of its
  // own nobody scrapes (so the code counting needs no branches).
  const std::unique_ptr<Registry> own_metrics;
  Registry& metrics;
  Gauge open_gauge;
  Counter rejected_connections;
  CounterFamily& rejected_requests;

  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> next_id{1};
  /// Sessions waiting for their handler's response. Their Respond holds
  /// them only weakly, so stop() can release them while the io_context
  /// still lives, and a late Respond finds nothing to answer.
  std::mutex mutex;
  std::set<std::shared_ptr<void>> awaiting;
  bool stopped = false;
  /// Open connections by client address (for max_connections_per_address);
  /// addresses without connections are erased, so it stays small.
  std::mutex address_mutex;
  std::map<boost::asio::ip::address, std::size_t> per_address;
  /// drain() began: every answer closes its connection.
  std::atomic<bool> draining{false};
  /// drain_idle_grace passed: connections waiting for a request close.
  std::atomic<bool> closing_idle{false};
  /// The started sessions, for drain() to reach the idle ones; `gone` is
  /// notified whenever a connection closes.
  std::mutex sessions_mutex;
  std::condition_variable gone;
  std::map<std::uint64_t, std::weak_ptr<ServerSession>> sessions;
  /// From start() until drain()'s close of the acceptor took its last
  /// connection (under sessions_mutex).
  bool listening = false;

  void add_session(std::uint64_t id, std::weak_ptr<ServerSession> session) {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    sessions.emplace(id, std::move(session));
  }
  /// The started sessions still alive. Release them without holding
  /// sessions_mutex: a session's destructor takes it.
  std::vector<std::shared_ptr<ServerSession>> open_sessions() {
    std::vector<std::shared_ptr<ServerSession>> open;
    std::lock_guard<std::mutex> lock(sessions_mutex);
    for (const auto& entry : sessions) {
      if (auto session = entry.second.lock())
        open.push_back(std::move(session));
    }
    return open;
  }
  void not_listening() {
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      listening = false;
    }
    gone.notify_all();
  }
  /// A connection counted by the acceptor (connected()) closed.
  void closed(std::uint64_t id, const boost::asio::ip::address& address) {
    open_gauge.dec();
    {
      std::lock_guard<std::mutex> lock(address_mutex);
      const auto it = per_address.find(address);
      if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    }
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      sessions.erase(id);
      --connections;
    }
    gone.notify_all();
  }
  /// Counts a connection from `address`; returns how many it has now.
  std::size_t connected(const boost::asio::ip::address& address) {
    open_gauge.inc();
    ++connections;
    std::lock_guard<std::mutex> lock(address_mutex);
    return ++per_address[address];
  }
  bool hold(std::shared_ptr<void> session) {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopped) return false;
    awaiting.insert(std::move(session));
    return true;
  }
  void release(const std::shared_ptr<void>& session) {
    std::lock_guard<std::mutex> lock(mutex);
    awaiting.erase(session);
  }
};

/// One connection: reads requests (idle timeout for the first byte, header
/// timeout for the header, read timeout and a minimum rate for the body),
/// hands them to the handler or a BodySink, waits for the answer (handler
/// timeout), writes it (write timeout), repeats while keep-alive.
class ServerSession : public std::enable_shared_from_this<ServerSession> {
  static constexpr std::size_t kStreamChunk = 64 * 1024;
  static constexpr std::size_t kFirstRead = 4096;
  using tcp = boost::asio::ip::tcp;

 public:
  /// Counted in the shared state (connected()) by the acceptor already.
  ServerSession(tcp::socket socket, boost::asio::ip::address address,
                std::shared_ptr<ServerShared> shared)
      : stream_(std::move(socket)),
        handler_timer_(stream_.get_executor()),
        shared_(std::move(shared)),
        id_(shared_->next_id++),
        address_(std::move(address)) {}
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;
  ~ServerSession() { shared_->closed(id_, address_); }

  void start() {
    shared_->add_session(id_, weak_from_this());
    boost::asio::dispatch(stream_.get_executor(),
                          [self = shared_from_this()] { self->read(); });
  }

  /// The server stopped, its threads are joined: closes the connection,
  /// whatever the session was doing. (Handlers queued for it never run.)
  void abandon() {
    boost::beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  /// drain()'s grace is over: closes the connection if it waits for a
  /// request. Cancelling the wait is exact: a read that took bytes already
  /// completes with them, and that request is served. Bytes that arrived
  /// but are not read yet are a request too: the wait is left to take it.
  void close_if_idle() {
    // Weakly: if stop() comes first, this never runs, and must not keep the
    // session (and its connection) until the io_context goes.
    boost::asio::dispatch(stream_.get_executor(), [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      boost::beast::error_code ec;
      if (self->idle_ && self->stream_.socket().available(ec) == 0) {
        self->stream_.socket().cancel(ec);
      }
    });
  }

  /// Answers 503 without reading the request, and closes: for connections
  /// over a cap.
  void refuse(std::string_view reason, const std::string& detail) {
    shared_->rejected_connections.inc();
    log("warn", "connection_rejected").field("reason", reason).emit();
    ServerResponse res = problem(503, "Service Unavailable", detail);
    res.set(boost::beast::http::field::retry_after, "1");
    res.keep_alive(false);
    boost::asio::dispatch(
        stream_.get_executor(),
        [self = shared_from_this(), res = std::move(res)]() mutable {
          self->write(std::move(res));
        });
  }

 private:
  /// A log line about this connection.
  LogLine log(std::string_view level, std::string_view event) const {
    LogLine line(shared_->options.log, level, shared_->options.service, event);
    line.field("conn", id_).field("remote", address_.to_string());
    return line;
  }

  void read() {
    unread_body_ = false;
    head_ = false;
    // Draining, past the grace: no more requests on this connection. (One
    // that was under way when the drain began was answered with
    // `Connection: close` and closed without coming here.)
    if (shared_->closing_idle && buffer_.size() == 0) return close();
    header_parser_.emplace();
    header_parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(shared_->options.max_header_bytes,
                              std::numeric_limits<std::uint32_t>::max())));
    // The body limit depends on the route: on_header applies it. (Not
    // boost::none: Boost 1.74 compares a Content-Length against it as an
    // optional, and every value is greater than none.)
    header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    // A pipelined request has begun already.
    if (buffer_.size() > 0) return read_header();
    // The idle timeout covers the wait for a request's first bytes, read
    // here so that header_timeout can start when they arrive. (tcp_stream
    // timeouts are deadlines for everything started until the next
    // expires_after, not per read.)
    stream_.expires_after(shared_->options.idle_timeout);
    idle_ = true;
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = shared_from_this()](
                                boost::beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              // Idle too long, the client left or the server
                              // drains: nothing to answer.
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    stream_.expires_after(shared_->options.header_timeout);
    boost::beast::http::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          self->on_header(ec);
        });
  }

  void on_header(boost::beast::error_code ec) {
    if (ec == boost::beast::error::timeout) {
      // tcp_stream closed the socket: nothing can be answered.
      shared_->rejected_requests.with({"timeout"}).inc();
      log("warn", "request_rejected")
          .field("status", 408)
          .field("reason", "timeout")
          .field("detail", "header not complete within " +
                               std::to_string(milliseconds(
                                   shared_->options.header_timeout)) +
                               " ms")
          .emit();
      return close();
    }
    if (ec) return fail_read(ec);
    head_ = header_parser_->get().method() == boost::beast::http::verb::head;
    stream_.expires_after(shared_->options.read_timeout);
    // The handler learns the client's address from the socket, never from
    // the client: whatever a client sent under this name is replaced.
    header_parser_->get().set(kPeerAddressField, address_.to_string());
    StreamDecision decision;
    if (shared_->options.stream_route) {
      try {
        decision = shared_->options.stream_route(header_parser_->get());
      } catch (const std::exception& e) {
        unread_body_ = true;
        return handler_failed(e);
      }
    }
    if (auto* answer = std::get_if<ServerResponse>(&decision)) {
      unread_body_ = true;
      answer->keep_alive(false);
      return write(std::move(*answer));
    }
    if (auto* sink = std::get_if<std::unique_ptr<BodySink>>(&decision)) {
      sink_ = std::move(*sink);
      return start_stream();
    }
    body_limit_ = shared_->options.max_body_bytes;
    // The parser checks a Content-Length against its limit only while
    // parsing the header, before the route was known.
    const auto length = header_parser_->content_length();
    if (length && *length > body_limit_) {
      return fail_read(boost::beast::http::error::body_limit);
    }
    parser_.emplace(std::move(*header_parser_));
    parser_->body_limit(body_limit_);
    boost::beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          self->on_request(ec);
        });
  }

  void start_stream() {
    body_limit_ = shared_->options.max_stream_bytes;
    const auto length = header_parser_->content_length();
    if (length && *length > body_limit_) {
      return fail_read(boost::beast::http::error::body_limit);
    }
    const bool expects_continue = boost::beast::iequals(
        header_parser_->get()[boost::beast::http::field::expect],
        "100-continue");
    stream_parser_.emplace(std::move(*header_parser_));
    stream_parser_->body_limit(body_limit_);
    if (!chunk_) chunk_ = std::make_unique<char[]>(kStreamChunk);
    rate_window_start_ = std::chrono::steady_clock::now();
    rate_window_bytes_ = 0;
    if (!expects_continue) return read_chunk();
    static constexpr std::string_view kContinue =
        "HTTP/1.1 100 Continue\r\n\r\n";
    boost::asio::async_write(
        stream_, boost::asio::buffer(kContinue.data(), kContinue.size()),
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          if (ec) return self->fail_read(ec);
          self->read_chunk();
        });
  }

  void read_chunk() {
    if (stream_parser_->is_done()) return finish_stream();
    auto& body = stream_parser_->get().body();
    body.data = chunk_.get();
    body.size = kStreamChunk;
    // Each wait for more bytes is bounded, not the whole body: a large
    // upload may take long, a stalled one may not.
    stream_.expires_after(shared_->options.read_timeout);
    boost::beast::http::async_read_some(
        stream_, buffer_, *stream_parser_,
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          self->on_chunk(ec);
        });
  }

  void on_chunk(boost::beast::error_code ec) {
    if (ec == boost::beast::http::error::need_buffer) ec = {};
    if (ec) return fail_read(ec);
    const std::size_t received =
        kStreamChunk - stream_parser_->get().body().size;
    rate_window_bytes_ += received;
    if (!stream_parser_->is_done() && too_slow()) return upload_too_slow();
    if (received > 0) {
      std::optional<ServerResponse> stop;
      try {
        stop = sink_->write(std::string_view(chunk_.get(), received));
      } catch (const std::exception& e) {
        sink_.reset();
        unread_body_ = true;
        return handler_failed(e);
      }
      if (stop) {
        sink_.reset();
        unread_body_ = true;
        stop->keep_alive(false);
        return write(std::move(*stop));
      }
    }
    read_chunk();
  }

  /// Whether the streamed body arrives slower than
  /// min_upload_bytes_per_second: checked once a window of read_timeout has
  /// passed, then a new window starts (the first is the grace period).
  bool too_slow() {
    const std::uint64_t rate = shared_->options.min_upload_bytes_per_second;
    if (rate == 0) return false;
    const auto now = std::chrono::steady_clock::now();
    const auto elapsed = now - rate_window_start_;
    if (elapsed < shared_->options.read_timeout) return false;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    if (static_cast<double>(rate_window_bytes_) <
        static_cast<double>(rate) * seconds) {
      return true;
    }
    rate_window_start_ = now;
    rate_window_bytes_ = 0;
    return false;
  }

  void upload_too_slow() {
    sink_->rejected(408);
    sink_.reset();
    reject(408, "slow_upload",
           "request body slower than " +
               std::to_string(shared_->options.min_upload_bytes_per_second) +
               " bytes/s");
  }

  void finish_stream() {
    const bool keep_alive = stream_parser_->get().keep_alive();
    stream_parser_.reset();
    auto sink = std::move(sink_);
    await_response(keep_alive,
                   [&sink](Respond respond) { sink->finish(respond); });
  }

  void fail_read(boost::beast::error_code ec) {
    namespace bh = boost::beast::http;
    // Only the parser's errors are the request's fault; the others (a
    // deadline, a reset, the client closing, drain cancelling) leave
    // nobody to answer.
    const bool parse_error =
        ec.category() == bh::make_error_code(bh::error::bad_method).category();
    if (!parse_error || ec == bh::error::end_of_stream ||
        ec == bh::error::partial_message) {
      if (ec == boost::beast::error::timeout) {
        shared_->rejected_requests.with({"timeout"}).inc();
      }
      if (sink_) {
        sink_->rejected(ec == boost::beast::error::timeout ? 408 : 499);
        sink_.reset();
      }
      return close();
    }
    if (sink_) {
      sink_->rejected(ec == bh::error::body_limit     ? 413
                      : ec == bh::error::header_limit ? 431
                                                      : 400);
      sink_.reset();
    }
    if (ec == bh::error::body_limit) {
      return reject(
          413, "body_too_large",
          "request body over " + std::to_string(body_limit_) + " bytes");
    }
    if (ec == bh::error::header_limit) {
      return reject(431, "header_too_large",
                    "request headers over " +
                        std::to_string(shared_->options.max_header_bytes) +
                        " bytes");
    }
    reject(400, "malformed", "malformed request: " + ec.message());
  }

  /// Refuses the request being read, counted and logged under `reason`,
  /// and closes the connection once the answer is out.
  void reject(unsigned status, std::string_view reason,
              const std::string& detail) {
    shared_->rejected_requests.with({reason}).inc();
    log("warn", "request_rejected")
        .field("status", status)
        .field("reason", reason)
        .field("detail", detail)
        .emit();
    const char* title = status == 408   ? "Request Timeout"
                        : status == 413 ? "Content Too Large"
                        : status == 431 ? "Request Header Fields Too Large"
                                        : "Bad Request";
    ServerResponse res = problem(status, title, detail);
    res.keep_alive(false);
    unread_body_ = true;
    write(std::move(res));
  }

  void on_request(boost::beast::error_code ec) {
    if (ec) return fail_read(ec);
    ServerRequest req = parser_->release();
    parser_.reset();
    const bool keep_alive = req.keep_alive();
    await_response(keep_alive, [this, &req](Respond respond) {
      shared_->handler(std::move(req), std::move(respond));
    });
  }

  /// Passes the Respond for the request just read to `call` (the handler or
  /// the sink's finish) and waits up to handler_timeout for it.
  template <class Call>
  void await_response(bool keep_alive, Call&& call) {
    stream_.expires_never();  // the handler may take its time
    if (!shared_->hold(shared_from_this())) return close();
    awaiting_ = ++requests_;
    if (shared_->options.handler_timeout.count() > 0) {
      handler_timer_.expires_after(shared_->options.handler_timeout);
      handler_timer_.async_wait([weak = weak_from_this(), request = awaiting_](
                                    boost::beast::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->claim(request)) return;
        self->handler_timed_out();
      });
    }
    try {
      call(make_respond(keep_alive));
    } catch (const std::exception& e) {
      handler_failed(e);
    }
  }

  /// On the strand: whether `request` still awaits its answer, which the
  /// caller then gives. Exactly one of the Respond, the handler timeout and
  /// handler_failed wins; the others find it answered.
  bool claim(std::uint64_t request) {
    if (request == 0 || request != awaiting_) return false;
    awaiting_ = 0;
    handler_timer_.cancel();
    shared_->release(shared_from_this());
    return true;
  }

  /// The Respond for the request just read: it answers on this session's
  /// executor, unless the server stopped, the handler timed out or it was
  /// answered already.
  Respond make_respond(bool keep_alive) {
    return [weak = weak_from_this(), shared = shared_, keep_alive,
            request = awaiting_](ServerResponse res) {
      // Under the server's lock, and handing the session to the queue
      // rather than keeping a copy: a Respond called from another thread
      // while the server stops must never hold the last reference to a
      // session, whose destructor needs the io_context.
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (shared->stopped) return;
      auto session = weak.lock();
      if (!session) return;  // the server stopped meanwhile
      res.keep_alive(keep_alive && res.keep_alive());
      auto executor = session->stream_.get_executor();
      boost::asio::post(executor, [session = std::move(session), request,
                                   res = std::move(res)]() mutable {
        if (session->claim(request)) session->write(std::move(res));
      });
    };
  }

  void handler_timed_out() {
    const auto timeout = shared_->options.handler_timeout;
    log("error", "handler_timeout")
        .field("timeout_ms", milliseconds(timeout))
        .emit();
    ServerResponse res = problem(
        503, "Service Unavailable",
        "no response within " + std::to_string(milliseconds(timeout)) + " ms");
    res.set(boost::beast::http::field::retry_after, "1");
    res.keep_alive(false);
    write(std::move(res));
  }

  void handler_failed(const std::exception& e) {
    log("error", "handler_failed").field("error", e.what()).emit();
    // A Respond the handler called before it threw finds it answered.
    claim(awaiting_);
    ServerResponse res =
        problem(500, "Internal Server Error", "the request failed");
    res.keep_alive(false);
    write(std::move(res));
  }

  void write(ServerResponse res) {
    if (res.result_int() == 0) return reset();  // drop_connection()
    // Draining: the client learns with this answer that the connection
    // closes, and sends its next request elsewhere.
    if (shared_->draining) res.keep_alive(false);
    response_ = std::make_shared<ServerResponse>(std::move(res));
    stream_.expires_after(shared_->options.write_timeout);
    auto done = [self = shared_from_this()](boost::beast::error_code ec,
                                            std::size_t) {
      self->on_write(ec);
    };
    if (!head_)
      return boost::beast::http::async_write(stream_, *response_, done);
    // HEAD (RFC 9110 9.3.2): the header the GET would have, Content-Length
    // included, and no body, whatever the handler (which serves HEAD as
    // GET) put there. The body's writer is never asked for bytes, so a
    // streamed body is not read either.
    head_serializer_.emplace(*response_);
    head_serializer_->split(true);
    boost::beast::http::async_write_header(stream_, *head_serializer_, done);
  }

  void on_write(boost::beast::error_code ec) {
    const bool keep = !ec && response_->keep_alive();
    head_serializer_.reset();
    response_.reset();
    if (keep) return read();
    // A pipelined request read already is unread body too.
    if (!ec && (unread_body_ || buffer_.size() > 0)) return linger();
    close();
  }

  /// Closing with unread bytes would reset the connection and could destroy
  /// the answer before the client reads it (e.g. a 413 while it still
  /// sends): stop sending, discard what arrives until the client closes or
  /// the read timeout passes, then close.
  void linger() {
    boost::beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(shared_->options.read_timeout);
    if (!chunk_) chunk_ = std::make_unique<char[]>(kStreamChunk);
    discard();
  }

  void discard() {
    stream_.async_read_some(
        boost::asio::buffer(chunk_.get(), kStreamChunk),
        [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
          if (ec) return self->close();
          self->discard();
        });
  }

  /// Closes with a TCP reset, as a crashed or unreachable peer would.
  void reset() {
    boost::beast::error_code ignored;
    stream_.socket().set_option(boost::asio::socket_base::linger(true, 0),
                                ignored);
    stream_.socket().close(ignored);
  }

  void close() {
    boost::beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer handler_timer_;  // on stream_'s strand
  std::shared_ptr<ServerShared> shared_;
  std::uint64_t id_;
  boost::asio::ip::address address_;  // the client's
  boost::beast::flat_buffer buffer_;
  std::optional<
      boost::beast::http::request_parser<boost::beast::http::empty_body>>
      header_parser_;
  std::optional<
      boost::beast::http::request_parser<boost::beast::http::string_body>>
      parser_;
  std::optional<
      boost::beast::http::request_parser<boost::beast::http::buffer_body>>
      stream_parser_;
  std::unique_ptr<BodySink> sink_;
  std::unique_ptr<char[]> chunk_;  // streamed bodies pass through here
  std::uint64_t body_limit_ = 0;   // of the current request
  bool unread_body_ = false;       // answered before reading the body
  bool head_ = false;              // the current request is a HEAD
  bool idle_ = false;              // waiting for a request's first bytes
  std::shared_ptr<ServerResponse> response_;
  // Writes response_'s header alone, for HEAD.
  std::optional<boost::beast::http::response_serializer<ResponseBody>>
      head_serializer_;
  std::uint64_t requests_ = 0;  // passed to the handler so far
  std::uint64_t awaiting_ = 0;  // the request awaiting Respond, 0 if none
  // The current window of min_upload_bytes_per_second.
  std::chrono::steady_clock::time_point rate_window_start_;
  std::uint64_t rate_window_bytes_ = 0;
};

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END

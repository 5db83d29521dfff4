#include "http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <charconv>
#include <condition_variable>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

namespace chat {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
class Session;
}  // namespace

struct HttpServer::Shared {
  HttpServerOptions options;
  RequestHandler handler;
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
  std::map<net::ip::address, std::size_t> per_address;
  /// drain() began: every answer closes its connection.
  std::atomic<bool> draining{false};
  /// drain_idle_grace passed: connections waiting for a request close.
  std::atomic<bool> closing_idle{false};
  /// The started sessions, for drain() to reach the idle ones; `gone` is
  /// notified whenever a connection closes.
  std::mutex sessions_mutex;
  std::condition_variable gone;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  /// From start() until drain()'s close of the acceptor took its last
  /// connection (under sessions_mutex).
  bool listening = false;

  Shared(HttpServerOptions o, RequestHandler h)
      : options(std::move(o)), handler(std::move(h)) {}
  void add_session(std::uint64_t id, std::weak_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    sessions.emplace(id, std::move(session));
  }
  /// The started sessions still alive. Release them without holding
  /// sessions_mutex: a session's destructor takes it.
  std::vector<std::shared_ptr<Session>> open_sessions() {
    std::vector<std::shared_ptr<Session>> open;
    std::lock_guard<std::mutex> lock(sessions_mutex);
    for (const auto& [id, weak] : sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
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
  /// A connection (counted by the acceptor) closed.
  void closed(std::uint64_t id, const net::ip::address& address) {
    remove_connection(address);
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      sessions.erase(id);
      --connections;
    }
    gone.notify_all();
  }
  /// Counts a connection from `address`; returns how many it has now.
  std::size_t add_connection(const net::ip::address& address) {
    std::lock_guard<std::mutex> lock(address_mutex);
    return ++per_address[address];
  }
  void remove_connection(const net::ip::address& address) {
    std::lock_guard<std::mutex> lock(address_mutex);
    const auto it = per_address.find(address);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
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

boost::optional<std::pair<ResponseBody::writer::const_buffers_type, bool>>
ResponseBody::writer::get(boost::beast::error_code& ec) {
  ec = {};
  if (!body_.source) {
    if (sent_ > 0 || body_.empty()) return boost::none;
    sent_ = body_.std::string::size();
    return {
        {net::const_buffer(body_.data(), body_.std::string::size()), false}};
  }
  constexpr std::size_t kChunk = 64 * 1024;
  const std::uint64_t remaining = body_.source_length - sent_;
  if (remaining == 0) return boost::none;
  if (!chunk_) chunk_ = std::make_unique<char[]>(kChunk);
  const std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kChunk));
  std::size_t got = 0;
  try {
    got =
        body_.source->read_at(body_.source_offset + sent_, chunk_.get(), want);
  } catch (const std::exception&) {
    got = 0;
  }
  if (got == 0) {
    // The source shrank or failed: the promised length cannot be met.
    ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
    return boost::none;
  }
  sent_ += got;
  return {{net::const_buffer(chunk_.get(), got), sent_ < body_.source_length}};
}

RangeCheck parse_range(std::string_view header, std::uint64_t size,
                       ByteRange& range) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return RangeCheck::kNone;
  header.remove_prefix(kUnit.size());
  const auto dash = header.find('-');
  if (dash == std::string_view::npos ||
      header.find(',') != std::string_view::npos) {
    return RangeCheck::kNone;
  }
  auto number = [](std::string_view text, std::uint64_t& out) {
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() &&
           end == text.data() + text.size();
  };
  const std::string_view first_text = header.substr(0, dash);
  const std::string_view last_text = header.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (first_text.empty()) {  // the last n bytes
    if (!number(last_text, last)) return RangeCheck::kNone;
    if (last == 0 || size == 0) return RangeCheck::kUnsatisfiable;
    range = {size - std::min(last, size), size - 1};
    return RangeCheck::kSatisfiable;
  }
  if (!number(first_text, first)) return RangeCheck::kNone;
  if (last_text.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!number(last_text, last) || last < first) {
    return RangeCheck::kNone;
  }
  if (first >= size) return RangeCheck::kUnsatisfiable;
  range = {first, std::min(last, size - 1)};
  return RangeCheck::kSatisfiable;
}

Response to_response(bhttp::response<bhttp::string_body>&& res) {
  std::string body = std::move(res.body());
  Response out(std::move(res.base()));
  out.body() = std::move(body);
  return out;
}

Response drop_connection() {
  Response res;
  res.result(0);
  return res;
}

std::string peer_address(const RequestHeader& header) {
  const auto value = header[kPeerAddressField];
  return value.empty() ? std::string("unknown")
                       : std::string(value.data(), value.size());
}

Response json_response(unsigned status, std::string body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response problem(unsigned status, std::string_view title,
                 std::string_view detail) {
  const nlohmann::json body = {{"type", "about:blank"},
                               {"title", title},
                               {"status", status},
                               {"detail", detail}};
  // A detail quoting a client's bytes must not make the answer throw.
  Response res = json_response(
      status,
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.set(bhttp::field::content_type, "application/problem+json");
  return res;
}

namespace {

long long milliseconds(std::chrono::milliseconds d) {
  return static_cast<long long>(d.count());
}

class Session : public std::enable_shared_from_this<Session> {
  static constexpr std::size_t kStreamChunk = 64 * 1024;
  static constexpr std::size_t kFirstRead = 4096;

 public:
  /// Counted in Shared (connections, per_address) by the acceptor already.
  Session(tcp::socket socket, net::ip::address address,
          std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)),
        handler_timer_(stream_.get_executor()),
        shared_(std::move(shared)),
        id_(shared_->next_id++),
        address_(std::move(address)) {}
  ~Session() { shared_->closed(id_, address_); }

  void start() {
    shared_->add_session(id_, weak_from_this());
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->read(); });
  }

  /// drain()'s grace is over: closes the connection if it waits for a
  /// request. Cancelling the wait is exact: a read that took bytes already
  /// completes with them, and that request is served. Bytes that arrived
  /// but are not read yet are a request too: the wait is left to take it.
  /// The server stopped, its threads are joined: closes the connection,
  /// whatever the session was doing. (Handlers queued for it never run.)
  void abandon() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  void close_if_idle() {
    // Weakly: if stop() comes first, this never runs, and must not keep the
    // session (and its connection) until the io_context goes.
    net::dispatch(stream_.get_executor(), [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      beast::error_code ec;
      if (self->idle_ && self->stream_.socket().available(ec) == 0) {
        self->stream_.socket().cancel(ec);
      }
    });
  }

  /// Answers and closes: for connections over a cap.
  void refuse(const std::string& detail) {
    Response res = problem(503, "Service Unavailable", detail);
    res.set(bhttp::field::retry_after, "1");
    res.keep_alive(false);
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this(), res = std::move(res)]() mutable {
                    self->write(std::move(res));
                  });
  }

 private:
  void read() {
    unread_body_ = false;
    head_ = false;
    // Draining, past the grace: no more requests on this connection. (One
    // that was under way when the drain began was answered with
    // `Connection: close` and closed without coming here.)
    if (shared_->closing_idle && buffer_.size() == 0) return close();
    header_parser_.emplace();
    header_parser_->header_limit(
        static_cast<std::uint32_t>(shared_->options.max_header_bytes));
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
    stream_.async_read_some(
        buffer_.prepare(kFirstRead),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->idle_ = false;
          // Idle too long, the client left or the server drains: nothing to
          // answer.
          if (ec) return self->close();
          self->buffer_.commit(n);
          self->read_header();
        });
  }

  void read_header() {
    stream_.expires_after(shared_->options.header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_header(ec);
        });
  }

  void on_header(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      // tcp_stream closed the socket: nothing can be answered.
      vigil::LogLine(shared_->options.log, "warn", shared_->options.service,
                     "request_rejected")
          .field("conn", id_)
          .field("remote", address_.to_string())
          .field("status", 408)
          .field("reason", "header not complete within " +
                               std::to_string(milliseconds(
                                   shared_->options.header_timeout)) +
                               " ms")
          .emit();
      return close();
    }
    if (ec) return fail_read(ec);
    head_ = header_parser_->get().method() == bhttp::verb::head;
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
    if (auto* answer = std::get_if<Response>(&decision)) {
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
      return fail_read(bhttp::error::body_limit);
    }
    parser_.emplace(std::move(*header_parser_));
    parser_->body_limit(body_limit_);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_request(ec);
        });
  }

  void start_stream() {
    body_limit_ = shared_->options.max_stream_bytes;
    const auto length = header_parser_->content_length();
    if (length && *length > body_limit_) {
      return fail_read(bhttp::error::body_limit);
    }
    const bool expects_continue = beast::iequals(
        header_parser_->get()[bhttp::field::expect], "100-continue");
    stream_parser_.emplace(std::move(*header_parser_));
    stream_parser_->body_limit(body_limit_);
    if (!chunk_) chunk_ = std::make_unique<char[]>(kStreamChunk);
    rate_window_start_ = std::chrono::steady_clock::now();
    rate_window_bytes_ = 0;
    if (!expects_continue) return read_chunk();
    static constexpr std::string_view kContinue =
        "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(
        stream_, net::buffer(kContinue.data(), kContinue.size()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
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
    bhttp::async_read_some(
        stream_, buffer_, *stream_parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_chunk(ec);
        });
  }

  void on_chunk(beast::error_code ec) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) return fail_read(ec);
    const std::size_t received =
        kStreamChunk - stream_parser_->get().body().size;
    rate_window_bytes_ += received;
    if (!stream_parser_->is_done() && too_slow()) return upload_too_slow();
    if (received > 0) {
      std::optional<Response> stop;
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
    const std::string detail =
        "request body slower than " +
        std::to_string(shared_->options.min_upload_bytes_per_second) +
        " bytes/s";
    sink_->rejected(408);
    sink_.reset();
    vigil::LogLine(shared_->options.log, "warn", shared_->options.service,
                   "request_rejected")
        .field("conn", id_)
        .field("remote", address_.to_string())
        .field("status", 408)
        .field("reason", detail)
        .emit();
    Response res = problem(408, "Request Timeout", detail);
    res.keep_alive(false);
    unread_body_ = true;
    write(std::move(res));
  }

  void finish_stream() {
    const bool keep_alive = stream_parser_->get().keep_alive();
    stream_parser_.reset();
    auto sink = std::move(sink_);
    await_response(keep_alive,
                   [&sink](Respond respond) { sink->finish(respond); });
  }

  void fail_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      if (sink_) {
        sink_->rejected(ec == beast::error::timeout ? 408 : 499);
        sink_.reset();
      }
      return close();
    }
    unsigned status = 400;
    std::string detail = "malformed request";
    if (ec == bhttp::error::body_limit) {
      status = 413;
      detail = "request body over " + std::to_string(body_limit_) + " bytes";
    } else if (ec == bhttp::error::header_limit) {
      status = 431;
      detail = "request headers over " +
               std::to_string(shared_->options.max_header_bytes) + " bytes";
    }
    if (sink_) {
      sink_->rejected(status);
      sink_.reset();
    }
    vigil::LogLine(shared_->options.log, "warn", shared_->options.service,
                   "request_rejected")
        .field("conn", id_)
        .field("remote", address_.to_string())
        .field("status", status)
        .field("reason", ec.message())
        .emit();
    const char* title = status == 413   ? "Content Too Large"
                        : status == 431 ? "Request Header Fields Too Large"
                                        : "Bad Request";
    Response res = problem(status, title, detail);
    res.keep_alive(false);
    unread_body_ = true;
    write(std::move(res));
  }

  void on_request(beast::error_code ec) {
    if (ec) return fail_read(ec);
    Request req = parser_->release();
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
    stream_.expires_never();  // the handler may take its time (Kafka acks)
    if (!shared_->hold(shared_from_this())) return close();
    awaiting_ = ++requests_;
    if (shared_->options.handler_timeout.count() > 0) {
      handler_timer_.expires_after(shared_->options.handler_timeout);
      handler_timer_.async_wait(
          [weak = weak_from_this(), request = awaiting_](beast::error_code ec) {
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
            request = awaiting_](Response res) {
      // Under the server's lock, and handing the session to the queue
      // rather than keeping a copy: a Respond called from another thread
      // while the server stops must never hold the last reference to a
      // session, whose destructor needs the io_context (ASan saw a late
      // Respond destroy one after the io_context was gone).
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (shared->stopped) return;
      auto session = weak.lock();
      if (!session) return;  // the server stopped meanwhile
      res.keep_alive(keep_alive && res.keep_alive());
      auto executor = session->stream_.get_executor();
      net::post(executor, [session = std::move(session), request,
                           res = std::move(res)]() mutable {
        if (session->claim(request)) session->write(std::move(res));
      });
    };
  }

  void handler_timed_out() {
    const auto timeout = shared_->options.handler_timeout;
    vigil::LogLine(shared_->options.log, "error", shared_->options.service,
                   "handler_timeout")
        .field("conn", id_)
        .field("timeout_ms", milliseconds(timeout))
        .emit();
    Response res = problem(
        503, "Service Unavailable",
        "no response within " + std::to_string(milliseconds(timeout)) + " ms");
    res.set(bhttp::field::retry_after, "1");
    res.keep_alive(false);
    write(std::move(res));
  }

  void handler_failed(const std::exception& e) {
    vigil::LogLine(shared_->options.log, "error", shared_->options.service,
                   "handler_failed")
        .field("conn", id_)
        .field("error", e.what())
        .emit();
    // A Respond the handler called before it threw finds it answered.
    claim(awaiting_);
    Response res =
        problem(500, "Internal Server Error", "the request failed");
    res.keep_alive(false);
    write(std::move(res));
  }

  void write(Response res) {
    if (res.result_int() == 0) return reset();  // drop_connection()
    // Draining: the client learns with this answer that the connection
    // closes, and sends its next request elsewhere.
    if (shared_->draining) res.keep_alive(false);
    response_ = std::make_shared<Response>(std::move(res));
    stream_.expires_after(shared_->options.read_timeout);
    auto done = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    };
    if (!head_) return bhttp::async_write(stream_, *response_, done);
    // HEAD (RFC 9110 9.3.2): the header the GET would have, Content-Length
    // included, and no body, whatever the handler (which serves HEAD as
    // GET) put there. The body's writer is never asked for bytes, so a
    // streamed body is not read either.
    head_serializer_.emplace(*response_);
    head_serializer_->split(true);
    bhttp::async_write_header(stream_, *head_serializer_, done);
  }

  void on_write(beast::error_code ec) {
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
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(shared_->options.read_timeout);
    if (!chunk_) chunk_ = std::make_unique<char[]>(kStreamChunk);
    discard();
  }

  void discard() {
    stream_.async_read_some(
        net::buffer(chunk_.get(), kStreamChunk),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->close();
          self->discard();
        });
  }

  /// Closes with a TCP reset, as a crashed or unreachable peer would.
  void reset() {
    beast::error_code ignored;
    stream_.socket().set_option(net::socket_base::linger(true, 0), ignored);
    stream_.socket().close(ignored);
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  net::steady_timer handler_timer_;  // on stream_'s strand
  std::shared_ptr<HttpServer::Shared> shared_;
  std::uint64_t id_;
  net::ip::address address_;  // the client's
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  std::unique_ptr<BodySink> sink_;
  std::unique_ptr<char[]> chunk_;  // streamed bodies pass through here
  std::uint64_t body_limit_ = 0;   // of the current request
  bool unread_body_ = false;       // answered before reading the body
  bool head_ = false;              // the current request is a HEAD
  bool idle_ = false;              // waiting for a request's first bytes
  std::shared_ptr<Response> response_;
  // Writes response_'s header alone, for HEAD.
  std::optional<bhttp::response_serializer<ResponseBody>> head_serializer_;
  std::uint64_t requests_ = 0;  // passed to the handler so far
  std::uint64_t awaiting_ = 0;  // the request awaiting Respond, 0 if none
  // The current window of min_upload_bytes_per_second.
  std::chrono::steady_clock::time_point rate_window_start_;
  std::uint64_t rate_window_bytes_ = 0;
};

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler)
    : io_(static_cast<int>(options.threads)),
      shared_(std::make_shared<Shared>(std::move(options), std::move(handler))),
      acceptor_(net::make_strand(io_)),
      accept_timer_(acceptor_.get_executor()) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const auto& options = shared_->options;
  const tcp::endpoint address(net::ip::make_address(options.bind),
                              options.port);
  beast::error_code ec;
  acceptor_.open(address.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(address, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + options.bind + ":" +
                             std::to_string(options.port) + ": " +
                             ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  shared_->listening = true;
  accept();
  for (std::size_t i = 0; i < options.threads; ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

void HttpServer::accept() {
  accepting_ = true;
  acceptor_.async_accept(net::make_strand(io_),
                         [this](beast::error_code ec, tcp::socket socket) {
                           accepting_ = false;
                           if (stopped_) return;
                           // Draining: the acceptor is closed, or closes next;
                           // a connection accepted before is served like the
                           // others.
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

void HttpServer::admit(tcp::socket socket) {
  beast::error_code endpoint_ec;
  const auto remote = socket.remote_endpoint(endpoint_ec);
  if (endpoint_ec) return;  // the client left already
  const std::size_t open = ++shared_->connections;
  const std::size_t from = shared_->add_connection(remote.address());
  auto session =
      std::make_shared<Session>(std::move(socket), remote.address(), shared_);
  if (open > shared_->options.max_connections) {
    session->refuse("too many connections");
  } else if (from > shared_->options.max_connections_per_address) {
    session->refuse("too many connections from your address");
  } else {
    session->start();
  }
}

void HttpServer::close_acceptor() {
  // Closing the listening socket resets the connections the kernel has
  // completed but nobody accepted, and their clients may have sent their
  // requests already (they cannot tell from a connection refused later):
  // accept those first. Only a handshake completing between the last
  // accept and the close is still reset; new ones are refused.
  beast::error_code ec;
  acceptor_.non_blocking(true, ec);
  while (!ec) {
    tcp::socket socket(net::make_strand(io_));
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
/// connection stays queued and accepting again at once fails again at once:
/// back off instead of spinning a core, 50 ms doubling to 1 s.
void HttpServer::accept_failed(const beast::error_code& ec) {
  constexpr std::chrono::milliseconds kFirst{50};
  constexpr std::chrono::milliseconds kMost{1000};
  accept_delay_ =
      accept_delay_.count() == 0 ? kFirst : std::min(accept_delay_ * 2, kMost);
  vigil::LogLine(shared_->options.log, "error", shared_->options.service,
                 "accept_failed")
      .field("error", ec.message())
      .field("retry_ms", milliseconds(accept_delay_))
      .emit();
  accept_timer_.expires_after(accept_delay_);
  accept_timer_.async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec && !stopped_ && !shared_->draining) accept();
  });
}

DrainReport HttpServer::drain() {
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
  net::post(acceptor_.get_executor(), [this] { close_acceptor(); });
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

std::size_t HttpServer::in_flight() const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  return shared_->awaiting.size();
}

std::size_t HttpServer::connections() const { return shared_->connections; }

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  io_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  // No thread runs the strand any more.
  beast::error_code ignored;
  acceptor_.close(ignored);
  // Handlers queued for sessions never run now, and they may hold them until
  // the io_context goes: close every connection here, so that once stop()
  // returns, nobody waits on one (e.g. the requests drain() cut off).
  for (const auto& session : shared_->open_sessions()) session->abandon();
  std::set<std::shared_ptr<void>> awaiting;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stopped = true;
    awaiting.swap(shared_->awaiting);
  }
  // Sessions go here, while the io_context they use still exists.
  // A drain() waiting in another thread ends now (taking the lock orders
  // stopped_ before its wait).
  { std::lock_guard<std::mutex> lock(shared_->sessions_mutex); }
  shared_->gone.notify_all();
}

}  // namespace chat

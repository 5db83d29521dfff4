#pragma once
// The standalone endpoint's connection machinery: shared context, one
// Session per connection (on its own strand), and the acceptor loop.

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vigil/http/endpoint_options.hpp"
#include "vigil/http/handler.hpp"
#include "vigil/log.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

class Session;

/// Everything sessions share. Member order matters: the io_context (and
/// with it any handler still holding a Session) is destroyed first, while
/// the fields a Session's destructor touches are still alive.
struct EndpointContext {
  EndpointContext(EndpointOptions opts, Registry& registry,
                  HealthRegistry* health)
      : options(std::move(opts)),
        handler(registry, health, options.handler),
        open_gauge(registry
                       .gauge("vigil_http_connections_open",
                              "Connections the vigil endpoint holds open.")
                       .with({})),
        rejected_connections(
            registry
                .counter("vigil_http_connections_rejected_total",
                         "Connections refused because the endpoint was at "
                         "its connection cap.")
                .with({})),
        rejected_requests(registry.counter(
            "vigil_http_requests_rejected_total",
            "Requests refused before reaching a handler, by reason.",
            {"reason"})) {}

  void log(std::string_view level, std::string_view event, std::uint64_t conn,
           std::string_view reason = {}) const {
    vigil::LogLine line(options.log, level, options.service, event);
    if (conn != 0) {
      line.field("conn", conn);
    }
    if (!reason.empty()) {
      line.field("reason", reason);
    }
    line.emit();
  }

  const EndpointOptions options;
  const Handler handler;
  Gauge open_gauge;
  Counter rejected_connections;
  CounterFamily& rejected_requests;
  std::atomic<std::size_t> open{0};
  std::atomic<std::uint64_t> next_id{1};

  std::mutex mutex;
  bool stopping = false;  // guarded by mutex
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions;

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor{boost::asio::make_strand(ioc)};
  boost::asio::steady_timer accept_retry{acceptor.get_executor()};
};

/// One connection: read a request (idle timeout for its first byte, read
/// timeout for the rest), answer, repeat while keep-alive. All of it runs
/// on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, EndpointContext& ctx,
          std::uint64_t id)
      : stream_(std::move(socket)), ctx_(ctx), id_(id) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  ~Session() {
    ctx_.open.fetch_sub(1, std::memory_order_relaxed);
    ctx_.open_gauge.dec();
    std::lock_guard<std::mutex> lock(ctx_.mutex);
    ctx_.sessions.erase(id_);
  }

  void start() {
    boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->await_request();
    });
  }

  /// Graceful stop: a connection waiting for or reading a request closes
  /// now; one writing a response finishes it first. Runs on the strand.
  void shutdown() {
    stopping_ = true;
    if (phase_ != Phase::kWriting) {
      stream_.cancel();
    }
  }

  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  enum class Phase { kIdle, kReading, kWriting, kClosing };
  static constexpr std::size_t kFirstRead = 4096;
  static constexpr std::size_t kMaxDrainBytes = 1 << 20;

  void await_request() {
    if (stopping_) {
      return close();
    }
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) {
      return read_request();  // pipelined
    }
    stream_.expires_after(ctx_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            boost::beast::bind_front_handler(
                                &Session::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(boost::beast::error_code ec, std::size_t n) {
    if (ec) {
      if (ec == boost::beast::error::timeout) {
        ctx_.log("debug", "idle_timeout", id_);
      }
      return close();
    }
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    phase_ = Phase::kReading;
    parser_.emplace();
    const std::size_t limit = ctx_.options.max_request_bytes;
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(limit);
    stream_.expires_after(ctx_.options.read_timeout);
    boost::beast::http::async_read(stream_, buffer_, *parser_,
                                   boost::beast::bind_front_handler(
                                       &Session::on_read, shared_from_this()));
  }

  void on_read(boost::beast::error_code ec, std::size_t) {
    namespace bh = boost::beast::http;
    if (ec == boost::beast::error::timeout) {
      ctx_.rejected_requests.with({"timeout"}).inc();
      ctx_.log("warn", "read_timeout", id_);
      return close();
    }
    if (ec == bh::error::header_limit) {
      return reject(bh::status::request_header_fields_too_large,
                    "header_too_large");
    }
    if (ec == bh::error::body_limit) {
      return reject(bh::status::payload_too_large, "body_too_large");
    }
    if (ec == bh::error::end_of_stream || ec == bh::error::partial_message) {
      return close();  // the client went away
    }
    if (ec && ec.category() ==
                  bh::make_error_code(bh::error::bad_method).category()) {
      return reject(bh::status::bad_request, "malformed");
    }
    if (ec) {
      return close();  // reset, or cancelled by shutdown()
    }

    const auto& req = parser_->get();
    std::optional<Response> res;
    try {
      res = ctx_.handler.handle(req);
    } catch (const std::exception& e) {
      ctx_.log("error", "handler_failed", id_, e.what());
      res = text_response(bh::status::internal_server_error, "internal error\n",
                          req.version());
    }
    if (!res) {
      res = text_response(bh::status::not_found, "not found\n", req.version());
      res->keep_alive(req.keep_alive());
    }
    if (stopping_) {
      res->keep_alive(false);
    }
    write(std::move(*res));
  }

  static Response text_response(boost::beast::http::status status,
                                std::string_view text, unsigned version) {
    Response res{status, version};
    res.set(boost::beast::http::field::content_type,
            "text/plain; charset=utf-8");
    res.body().assign(text.data(), text.size());
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  void reject(boost::beast::http::status status, std::string_view reason) {
    ctx_.rejected_requests.with({reason}).inc();
    ctx_.log("warn", "request_rejected", id_, reason);
    std::string text(reason);
    text += '\n';
    write(text_response(status, text, 11));
  }

  void write(Response res) {
    phase_ = Phase::kWriting;
    response_ = std::move(res);
    stream_.expires_after(ctx_.options.write_timeout);
    boost::beast::http::async_write(
        stream_, response_,
        boost::beast::bind_front_handler(&Session::on_write,
                                         shared_from_this()));
  }

  void on_write(boost::beast::error_code ec, std::size_t) {
    if (ec) {
      return close();
    }
    const bool keep_alive = response_.keep_alive();
    response_ = {};
    if (!keep_alive || stopping_) {
      return linger_close();
    }
    await_request();
  }

  /// Closing with unread input makes the kernel send RST, which can destroy
  /// the response before the client reads it (a 413 for a big body, say).
  /// So: stop sending, then read and discard briefly until the client
  /// closes, bounded in time and bytes.
  void linger_close() {
    phase_ = Phase::kClosing;
    boost::beast::error_code ec;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    if (ec || stopping_) {
      return close();
    }
    stream_.expires_after(std::min<std::chrono::milliseconds>(
        ctx_.options.read_timeout, std::chrono::seconds(1)));
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = shared_from_this()](
                                boost::beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) {
                                return self->close();
                              }
                              self->drain();
                            });
  }

  void close() {
    boost::beast::error_code ec;
    stream_.socket().close(ec);
  }

  boost::beast::tcp_stream stream_;
  EndpointContext& ctx_;
  const std::uint64_t id_;
  boost::beast::flat_buffer buffer_;
  std::optional<
      boost::beast::http::request_parser<boost::beast::http::string_body>>
      parser_;
  Response response_;
  Phase phase_ = Phase::kIdle;
  bool stopping_ = false;
  std::size_t drained_ = 0;
};

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END

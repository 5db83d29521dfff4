#include "http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

namespace chat {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

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

  Shared(HttpServerOptions o, RequestHandler h)
      : options(std::move(o)), handler(std::move(h)) {}
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

Response drop_connection() {
  Response res;
  res.result(0);
  return res;
}

Response json_response(unsigned status, std::string body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)),
        shared_(std::move(shared)),
        id_(shared_->next_id++) {}
  ~Session() { --shared_->connections; }

  void start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->read(); });
  }

  /// Answers and closes: for connections over the cap.
  void refuse() {
    Response res =
        json_response(503, R"({"title":"Service Unavailable","status":503,)"
                           R"("detail":"too many connections"})");
    res.keep_alive(false);
    write(std::move(res));
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    // The idle timeout covers the wait for a request; once bytes arrive the
    // read timeout bounds the rest (see on_first_bytes).
    stream_.expires_after(shared_->options.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_header(ec);
        });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail_read(ec);
    stream_.expires_after(shared_->options.read_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_request(ec);
        });
  }

  void fail_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return close();
    }
    unsigned status = 400;
    std::string detail = "malformed request";
    if (ec == bhttp::error::body_limit) {
      status = 413;
      detail = "request body over " +
               std::to_string(shared_->options.max_body_bytes) + " bytes";
    } else if (ec == bhttp::error::header_limit) {
      status = 431;
      detail = "request headers over " +
               std::to_string(shared_->options.max_header_bytes) + " bytes";
    }
    vigil::LogLine(shared_->options.log, "warn", shared_->options.service,
                   "request_rejected")
        .field("conn", id_)
        .field("status", status)
        .field("reason", ec.message())
        .emit();
    Response res = json_response(
        status, R"({"type":"about:blank","title":"Bad Request","status":)" +
                    std::to_string(status) + R"(,"detail":")" + detail +
                    R"("})");
    res.set(bhttp::field::content_type, "application/problem+json");
    res.keep_alive(false);
    write(std::move(res));
  }

  void on_request(beast::error_code ec) {
    if (ec) return fail_read(ec);
    Request req = parser_->release();
    const bool keep_alive = req.keep_alive();
    stream_.expires_never();  // the handler may take its time (Kafka acks)
    auto self = shared_from_this();
    if (!shared_->hold(self)) return close();
    Respond respond = [weak = std::weak_ptr<Session>(self),
                       keep_alive](Response res) {
      auto session = weak.lock();
      if (!session) return;  // the server stopped meanwhile
      res.keep_alive(keep_alive && res.keep_alive());
      net::post(session->stream_.get_executor(),
                [session, res = std::move(res)]() mutable {
                  session->shared_->release(session);
                  session->write(std::move(res));
                });
    };
    try {
      shared_->handler(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      vigil::LogLine(shared_->options.log, "error", shared_->options.service,
                     "handler_failed")
          .field("conn", id_)
          .field("error", e.what())
          .emit();
      Response res = json_response(
          500, R"({"title":"Internal Server Error","status":500})");
      res.keep_alive(false);
      write(std::move(res));
    }
  }

  void write(Response res) {
    if (res.result_int() == 0) return reset();  // drop_connection()
    response_ = std::make_shared<Response>(std::move(res));
    stream_.expires_after(shared_->options.read_timeout);
    bhttp::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_write(ec);
        });
  }

  void on_write(beast::error_code ec) {
    const bool keep = !ec && response_->keep_alive();
    response_.reset();
    if (keep) return read();
    close();
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
  std::shared_ptr<HttpServer::Shared> shared_;
  std::uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Response> response_;
};

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler)
    : io_(static_cast<int>(options.threads)),
      shared_(std::make_shared<Shared>(std::move(options), std::move(handler))),
      acceptor_(io_) {}

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
  accept();
  for (std::size_t i = 0; i < options.threads; ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

void HttpServer::accept() {
  acceptor_.async_accept(
      net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
        if (ec) {
          if (!stopped_) accept();
          return;
        }
        const std::size_t open = ++shared_->connections;
        auto session = std::make_shared<Session>(std::move(socket), shared_);
        if (open > shared_->options.max_connections) {
          session->refuse();
        } else {
          session->start();
        }
        accept();
      });
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  net::post(io_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  io_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::set<std::shared_ptr<void>> awaiting;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stopped = true;
    awaiting.swap(shared_->awaiting);
  }
  // Sessions go here, while the io_context they use still exists.
}

}  // namespace chat

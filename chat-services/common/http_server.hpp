#pragma once
// The HTTP server the chat services share (Boost.Beast): keep-alive, size
// limits, timeouts against slow or stalled clients and handlers, connection
// caps (overall and per client address), and handlers that may answer later
// from another thread (the API answers once Kafka acknowledged a write).
// Chosen requests stream their bodies to a BodySink instead of memory, and a
// response body may stream from a ByteSource: uploads and downloads of any
// size use constant memory.

#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>
#include <vigil/log.hpp>

#include "blob_store.hpp"

namespace chat {

/// A Beast body that is text, or a range of a ByteSource read piece by piece
/// while it is sent (so a download never sits in memory).
///
///     Response res{boost::beast::http::status::ok, 11};
///     res.body() = "text";                  // like string_body, or
///     res.body().stream(source, 0, source->size());
///     res.prepare_payload();                // Content-Length either way
struct ResponseBody {
  struct value_type : std::string {
    using std::string::string;
    using std::string::operator=;
    value_type() = default;
    value_type(std::string text) : std::string(std::move(text)) {}
    /// Sends [offset, offset + length) of `source` instead of the text.
    void stream(std::shared_ptr<ByteSource> from, std::uint64_t offset,
                std::uint64_t length) {
      source = std::move(from);
      source_offset = offset;
      source_length = length;
    }
    std::shared_ptr<ByteSource> source;
    std::uint64_t source_offset = 0;
    std::uint64_t source_length = 0;
  };

  static std::uint64_t size(const value_type& body) {
    return body.source ? body.source_length : body.std::string::size();
  }

  /// Reads into the text, as string_body does.
  class reader : public boost::beast::http::string_body::reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& header,
           value_type& body)
        : boost::beast::http::string_body::reader(
              header, static_cast<std::string&>(body)) {}
  };

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&,
           const value_type& body)
        : body_(body) {}
    void init(boost::beast::error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(
        boost::beast::error_code& ec);

   private:
    const value_type& body_;
    std::uint64_t sent_ = 0;
    std::unique_ptr<char[]> chunk_;
  };
};

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using RequestHeader = boost::beast::http::request_header<>;
using Response = boost::beast::http::response<ResponseBody>;
/// Sends the response; call it exactly once, from any thread.
using Respond = std::function<void(Response)>;
using RequestHandler = std::function<void(Request&&, Respond)>;

/// Receives one request's body as it arrives (see HttpServerOptions::
/// stream_route). Runs on the connection's thread; one call at a time.
class BodySink {
 public:
  /// Destroyed without finish() (body over the limit, malformed, connection
  /// lost, server stopping): undo what the partial body did.
  virtual ~BodySink() = default;
  /// The next bytes of the body. A response stops reading: it is sent and
  /// the connection closed (e.g. 400 for a malformed body).
  virtual std::optional<Response> write(std::string_view bytes) = 0;
  /// The whole body arrived; answer through `respond` (now or later).
  virtual void finish(Respond respond) = 0;
  /// The body did not complete: the server answered `status` itself (413
  /// over the limit, 400 malformed) or the client went (408 timed out, 499
  /// closed). The sink is destroyed next.
  virtual void rejected(unsigned status) { (void)status; }
};

/// Decides from a request's header whether its body streams: no value (the
/// body is read into memory as usual), a Response to send without reading
/// the body (e.g. 401), or the sink that takes it.
using StreamDecision =
    std::variant<std::monostate, Response, std::unique_ptr<BodySink>>;
using StreamRoute = std::function<StreamDecision(const RequestHeader&)>;

/// A vigil (string_body) response as a chat Response.
Response to_response(
    boost::beast::http::response<boost::beast::http::string_body>&& res);

struct HttpServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port, see HttpServer::port()
  std::size_t threads = 2;
  std::size_t max_header_bytes = 8 * 1024;  // 431 beyond
  std::size_t max_body_bytes = 64 * 1024;   // 413 beyond
  /// Requests whose bodies stream; they get max_stream_bytes instead of
  /// max_body_bytes, and read_timeout bounds each wait for more bytes
  /// rather than the whole body.
  StreamRoute stream_route;
  std::uint64_t max_stream_bytes = 2ULL << 30;  // 413 beyond
  std::chrono::milliseconds read_timeout{10000};
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
  /// The chat API answers within its 5 s publish deadline and the
  /// connectors within their 5 s call timeout, so 30 s only catches bugs.
  /// 0: no limit (handlers that legitimately wait longer, e.g. long polls).
  std::chrono::milliseconds handler_timeout{30000};
  std::size_t max_connections = 1024;  // 503 and close beyond
  /// Connections open at once from one client address; the next one gets
  /// 503 (Retry-After) and is closed, like over max_connections. Keeps one
  /// client from taking every connection. Generous because one address is
  /// often many clients: everything in the chat4all stack talks over
  /// loopback (chat-load opens up to 256 connections to the API, the two
  /// connectors up to 64 each to the simulator), and clients behind a proxy
  /// or NAT share an address. Counted per exact address (an IPv6 client
  /// with a whole prefix is many addresses). max_connections: no cap.
  std::size_t max_connections_per_address = 512;
  /// drain(): how long requests under way may take to be answered; those
  /// still unanswered then are cut off (their connections closed without an
  /// answer, so their clients know they do not know the outcome). The chat
  /// API answers every message within its 5 s publish deadline and the
  /// connectors within their 5 s call timeout: 10 s lets all of them finish.
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
  std::string service = "chat";
  vigil::LogSink log;
};

/// What drain() found at its deadline (both 0 when everything finished).
struct DrainReport {
  /// Requests whose Respond had not been called: cut off without an answer.
  std::size_t cut_off = 0;
  /// Connections still open, those of cut_off's requests included (others
  /// were still sending a request or reading an answer).
  std::size_t connections = 0;
  /// From drain()'s call to its return.
  std::chrono::milliseconds took{0};
};

/// Thread-safety: start() once, then drain() or stop() from any thread (also
/// the destructor); the counters from any thread. The handler runs on the
/// server's threads, concurrently; a Respond called after stop(), after
/// handler_timeout or a second time does nothing.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving; throws std::runtime_error if it cannot bind.
  void start();
  /// Stops gracefully, for SIGTERM: closes the listening socket (new
  /// connections are refused; those the kernel had queued are still
  /// served), answers every request under way or arriving on an open
  /// connection with `Connection: close`, closes connections that stay
  /// without a request for drain_idle_grace, and returns once every
  /// connection is closed or drain_timeout passed, after stop(). Blocks.
  /// A stop() or a second drain() from another thread ends it at once.
  DrainReport drain();
  /// Stops at once: stops accepting, closes connections without answering
  /// the requests under way and joins the threads.
  void stop();
  std::uint16_t port() const { return port_; }
  /// Requests handed to the handler whose Respond has not come yet.
  std::size_t in_flight() const;
  /// Open connections.
  std::size_t connections() const;

  struct Shared;  // state sessions keep alive

 private:
  void accept();
  void accept_failed(const boost::system::error_code& ec);
  /// Serves an accepted connection (or refuses it, over a cap).
  void admit(boost::asio::ip::tcp::socket socket);
  /// On the acceptor's strand: takes the connections queued in the kernel,
  /// then closes the listening socket.
  void close_acceptor();

  boost::asio::io_context io_;  // first: outlives everything below
  std::shared_ptr<Shared> shared_;
  /// On a strand of io_, as accept_timer_: accepting, backing off and
  /// stop()'s close never run at once.
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_delay_{0};  // the current back-off
  bool accepting_ = false;                     // an async_accept is pending
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

/// Not a response: passed to Respond, it resets the connection instead (for
/// simulating an unreachable peer).
Response drop_connection();

/// A byte range [first, last] of a resource, both inclusive.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
enum class RangeCheck { kNone, kSatisfiable, kUnsatisfiable };
/// Interprets a Range header for a resource of `size` bytes (RFC 9110
/// §14): one `bytes=a-b`, `bytes=a-` or `bytes=-n` range is served
/// (kSatisfiable, clamped to the resource); an empty header, another unit,
/// several ranges or a malformed value are ignored (kNone: send everything); a
/// range starting past the end is kUnsatisfiable (416).
RangeCheck parse_range(std::string_view header, std::uint64_t size,
                       ByteRange& range);

/// The request field in which the server hands its handler the client's
/// address (taken from the socket; a client's own value is overwritten).
inline constexpr const char* kPeerAddressField = "Chat4all-Peer-Address";

/// The client's address as the server saw it, or "unknown" for a request
/// that did not come through an HttpServer.
std::string peer_address(const RequestHeader& header);

/// An RFC 9457 problem+json response.
Response problem(unsigned status, std::string_view title,
                 std::string_view detail);

/// A JSON response with the given status.
Response json_response(unsigned status, std::string body);

}  // namespace chat

// chat::HttpServer in process on a free loopback port: streamed request
// bodies (BodySink), their limits and early answers, streamed responses, the
// defences against abusive clients and lost handlers (connections per
// address, slow headers, slow uploads, handler timeout, accept back-off),
// draining on shutdown, and HEAD.
#include <vigil/http/server.hpp>

#include "http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

/// What the sinks saw, shared with the test thread.
struct Seen {
  std::mutex mutex;
  std::string bytes;
  std::size_t writes = 0;
  int finished = 0;
  std::vector<unsigned> rejected;
  int destroyed = 0;
};

class RecordingSink : public chat::BodySink {
 public:
  RecordingSink(Seen& seen, std::size_t stop_after)
      : seen_(seen), stop_after_(stop_after) {}
  ~RecordingSink() override {
    std::lock_guard<std::mutex> lock(seen_.mutex);
    ++seen_.destroyed;
  }
  std::optional<chat::Response> write(std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(seen_.mutex);
    seen_.bytes.append(bytes);
    ++seen_.writes;
    if (seen_.bytes.size() > stop_after_) {
      return chat::json_response(422, R"({"stopped":true})");
    }
    return std::nullopt;
  }
  void finish(chat::Respond respond) override {
    std::size_t size = 0;
    {
      std::lock_guard<std::mutex> lock(seen_.mutex);
      ++seen_.finished;
      size = seen_.bytes.size();
    }
    respond(chat::json_response(201,
                                "{\"received\":" + std::to_string(size) + "}"));
  }
  void rejected(unsigned status) override {
    std::lock_guard<std::mutex> lock(seen_.mutex);
    seen_.rejected.push_back(status);
  }

 private:
  Seen& seen_;
  std::size_t stop_after_;
};

/// Bytes 0, 1, 2, ... 255, 0, ... of the given size.
class CountingSource : public chat::ByteSource {
 public:
  explicit CountingSource(std::uint64_t size) : size_(size) {}
  std::uint64_t size() const override { return size_; }
  std::size_t read_at(std::uint64_t offset, char* out,
                      std::size_t capacity) override {
    std::size_t n = 0;
    for (; n < capacity && offset + n < size_; ++n) {
      out[n] = static_cast<char>((offset + n) & 0xff);
    }
    return n;
  }

 private:
  std::uint64_t size_;
};

std::string counting(std::uint64_t offset, std::size_t size) {
  std::string out(size, '\0');
  CountingSource(offset + size).read_at(offset, out.data(), size);
  return out;
}

class HttpServerStreaming : public ::testing::Test {
 protected:
  void SetUp() override {
    chat::HttpServerOptions options;
    options.max_body_bytes = 1000;
    options.max_stream_bytes = 1 << 20;
    options.log = [](std::string_view) {};
    options.stream_route =
        [this](const chat::RequestHeader& header) -> chat::StreamDecision {
      const auto target = header.target();
      if (target == "/upload") {
        return std::make_unique<RecordingSink>(seen_, SIZE_MAX);
      }
      if (target == "/upload-stops") {
        return std::make_unique<RecordingSink>(seen_, 100000);
      }
      if (target == "/refused") {
        return chat::json_response(401, R"({"refused":true})");
      }
      return {};
    };
    server_ = std::make_unique<chat::HttpServer>(
        options, [](chat::Request&& req, chat::Respond respond) {
          if (req.target() == "/download") {
            chat::Response res{bhttp::status::ok, 11};
            res.body().stream(std::make_shared<CountingSource>(300000), 1000,
                              200000);
            res.prepare_payload();
            return respond(std::move(res));
          }
          respond(chat::json_response(
              200, "{\"size\":" + std::to_string(req.body().size()) + "}"));
        });
    server_->start();
    port_ = server_->port();
  }

  std::optional<chat_test::HttpResponse> stream(
      const std::string& target, std::vector<std::string> headers,
      std::vector<std::string> pieces) {
    std::size_t next = 0;
    return chat_test::http_request_streamed(
        port_, "POST", target, headers,
        [&](std::string& piece) {
          if (next == pieces.size()) return false;
          piece = pieces[next++];
          return true;
        },
        10s);
  }

  /// Sinks are destroyed on the server's threads after they answered.
  bool sinks_destroyed(int count) {
    return chat_test::eventually(
        [&] {
          std::lock_guard<std::mutex> lock(seen_.mutex);
          return seen_.destroyed == count;
        },
        10s);
  }

  Seen seen_;
  std::unique_ptr<chat::HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerStreaming, BodiesOverTheUsualLimitStreamToTheSink) {
  const std::string body = counting(0, 300000);
  auto r =
      stream("/upload", {"Content-Length: " + std::to_string(body.size())},
             {body.substr(0, 1), body.substr(1, 150000), body.substr(150001)});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"received":300000})");
  ASSERT_TRUE(sinks_destroyed(1));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  EXPECT_TRUE(seen_.bytes == body);
  EXPECT_GT(seen_.writes, 1u) << "streamed in pieces, not read whole";
  EXPECT_EQ(seen_.finished, 1);
  EXPECT_TRUE(seen_.rejected.empty());
}

TEST_F(HttpServerStreaming, ChunkedBodiesAndContinueWork) {
  auto r =
      stream("/upload", {"Transfer-Encoding: chunked", "Expect: 100-continue"},
             {"5\r\nhello\r\n", "6\r\n world\r\n0\r\n\r\n"});
  ASSERT_TRUE(r);
  // The interim answer comes first (the test client reads it as the
  // response), then the real one.
  EXPECT_EQ(r->status, 100);
  EXPECT_EQ(r->body.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << r->body;
  EXPECT_NE(r->body.find(R"({"received":11})"), std::string::npos);
  ASSERT_TRUE(sinks_destroyed(1));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  EXPECT_EQ(seen_.bytes, "hello world");
}

TEST_F(HttpServerStreaming, OverTheStreamLimitIs413AndTheSinkIsDropped) {
  // Announced: refused before reading.
  auto r = stream("/upload", {"Content-Length: 2000000"}, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // Chunked: found out while reading; the client may keep sending.
  const std::string chunk = std::string(65536, 'x');
  std::vector<std::string> pieces;
  for (int i = 0; i < 20; ++i) pieces.push_back("10000\r\n" + chunk + "\r\n");
  pieces.push_back("0\r\n\r\n");
  r = stream("/upload", {"Transfer-Encoding: chunked"}, pieces);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  ASSERT_TRUE(sinks_destroyed(2));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  EXPECT_EQ(seen_.finished, 0);
  EXPECT_EQ(seen_.rejected, (std::vector<unsigned>{413, 413}));
  EXPECT_LE(seen_.bytes.size(), 1u << 20);
}

TEST_F(HttpServerStreaming, RoutesAndSinksMayAnswerEarly) {
  auto r = stream("/refused", {"Content-Length: 500000"},
                  {std::string(500000, 'r')});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, R"({"refused":true})");
  r = stream("/upload-stops", {"Content-Length: 500000"},
             {std::string(500000, 's')});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  ASSERT_TRUE(sinks_destroyed(1));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  EXPECT_EQ(seen_.finished, 0);
}

TEST_F(HttpServerStreaming, OtherRoutesKeepTheirSmallLimit) {
  auto r =
      chat_test::http_request(port_, "POST", "/small", std::string(1000, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"size":1000})");
  r = chat_test::http_request(port_, "POST", "/small", std::string(1001, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(HttpServerStreaming, ResponsesStreamFromAByteSource) {
  auto r = chat_test::http_get(port_, "/download");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), "200000");
  EXPECT_TRUE(r->body == counting(1000, 200000));
}

// ---- defences against abusive clients and lost handlers -----------------

using Clock = std::chrono::steady_clock;

/// Log lines the server wrote, shared with the test thread.
struct Logs {
  std::mutex mutex;
  std::vector<std::string> lines;

  vigil::LogSink sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.emplace_back(line);
    };
  }
  std::vector<std::string> events(const std::string& event) {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::string> out;
    for (const auto& line : lines) {
      if (line.find("\"event\":\"" + event + "\"") != std::string::npos) {
        out.push_back(line);
      }
    }
    return out;
  }
};

/// A TCP client that sends and reads raw bytes, for clients that misbehave.
class RawClient {
 public:
  /// Connects to 127.0.0.1:port, from `from` if given (another loopback
  /// address); connected() tells whether it worked.
  explicit RawClient(int port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    if (from != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        close();
        return;
      }
    }
    if (port > 0 && !connect(port)) close();
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  /// For a client made with port 0: connects now (needs no new descriptor).
  bool connect(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof address) == 0;
  }
  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads what arrives within `timeout`; stops early once the server
  /// closed (then closed() is true) or `until` arrived.
  std::string read(std::chrono::milliseconds timeout,
                   std::string_view until = {}) {
    std::string out;
    const auto deadline = Clock::now() + timeout;
    while (!peer_closed_) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        peer_closed_ = true;  // closed or reset
      } else {
        out.append(buffer, static_cast<std::size_t>(n));
      }
    }
    return out;
  }
  /// One whole response on a kept-alive connection (the test responses end
  /// with "}").
  std::string response(std::chrono::milliseconds timeout = 5000ms) {
    return read(timeout, "}");
  }
  bool closed() const { return peer_closed_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool peer_closed_ = false;
};

constexpr std::string_view kGet = "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

/// A server for one test: /ok answers 200 {"ok":true}; `handler` may take
/// other targets first (returning true).
struct TestServer {
  explicit TestServer(
      chat::HttpServerOptions options,
      std::function<bool(chat::Request&, chat::Respond&)> handler = {}) {
    options.log = logs.sink();
    server = std::make_unique<chat::HttpServer>(
        options, [handler](chat::Request&& req, chat::Respond respond) {
          if (handler && handler(req, respond)) return;
          respond(chat::json_response(200, R"({"ok":true})"));
        });
    server->start();
    port = server->port();
  }
  Logs logs;  // outlives the server
  std::unique_ptr<chat::HttpServer> server;
  int port = 0;
};

TEST(HttpServerLimits, ConnectionsPerAddressAreCapped) {
  chat::HttpServerOptions options;
  options.max_connections_per_address = 3;
  TestServer s(options);
  std::vector<std::unique_ptr<RawClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawClient>(s.port));
    ASSERT_TRUE(open.back()->send(kGet));
    ASSERT_TRUE(starts_with(open.back()->response(), "HTTP/1.1 200")) << i;
  }
  // The fourth is refused without reading its request, and closed.
  RawClient over(s.port);
  const std::string refused = over.read(5000ms);
  EXPECT_TRUE(starts_with(refused, "HTTP/1.1 503")) << refused;
  EXPECT_NE(refused.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(refused.find("application/problem+json"), std::string::npos);
  EXPECT_NE(refused.find("too many connections from your address"),
            std::string::npos);
  EXPECT_TRUE(over.closed());

  // Another loopback address has a count of its own (Linux routes all of
  // 127/8 to lo, so the bind works without configuration).
  RawClient other(s.port, "127.0.0.2");
  ASSERT_TRUE(other.connected());
  ASSERT_TRUE(other.send(kGet));
  EXPECT_TRUE(starts_with(other.response(), "HTTP/1.1 200"));

  // Once one of 127.0.0.1's closes (the server notices asynchronously), a
  // new one is served again.
  open.front()->close();
  EXPECT_TRUE(chat_test::eventually(
      [&] {
        RawClient again(s.port);
        return again.send(kGet) &&
               starts_with(again.response(), "HTTP/1.1 200");
      },
      5s));
}

TEST(HttpServerLimits, HandlersLearnTheClientsAddressFromTheSocket) {
  // Per-address limits key on it: a client must not choose its own.
  TestServer s({}, [](chat::Request& req, chat::Respond& respond) {
    respond(chat::json_response(
        200, "{\"peer\":\"" + chat::peer_address(req) + "\"}"));
    return true;
  });
  RawClient client(s.port, "127.0.0.3");
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send(
      "GET /who HTTP/1.1\r\nHost: t\r\nVigil-Peer-Address: 10.9.9.9\r\n"
      "chat4all-peer-address: 10.8.8.8\r\n\r\n"));
  const std::string answer = client.response();
  EXPECT_NE(answer.find(R"({"peer":"127.0.0.3"})"), std::string::npos)
      << answer;
}

TEST(HttpServerLimits, SlowHeadersAreCutOffAtTheHeaderTimeout) {
  chat::HttpServerOptions options;
  options.header_timeout = 300ms;
  options.idle_timeout = 30s;
  TestServer s(options);

  // Waiting for a request is bounded by the idle timeout, not the header
  // timeout: a connection quiet for longer than the latter is still served.
  {
    RawClient quiet(s.port);
    std::this_thread::sleep_for(600ms);  // a client slow to start
    ASSERT_TRUE(quiet.send(kGet));
    EXPECT_TRUE(starts_with(quiet.response(), "HTTP/1.1 200"));
  }

  // Slowloris: a byte every 100 ms. Without a header deadline this would go
  // on until the 30 s idle timeout.
  RawClient slow(s.port);
  const auto started = Clock::now();
  ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHo"));
  while (!slow.closed() && Clock::now() - started < 10s) {
    if (!slow.send("x")) break;  // reset by the server
    slow.read(100ms);            // the pause; notices the close
  }
  const auto lasted = Clock::now() - started;
  EXPECT_GE(lasted, 250ms);
  EXPECT_LT(lasted, 3s) << "closed by the header timeout, not the idle one";
  ASSERT_TRUE(chat_test::eventually(
      [&] { return !s.logs.events("request_rejected").empty(); }, 5s));
  const std::string line = s.logs.events("request_rejected").front();
  EXPECT_NE(line.find("header not complete within 300 ms"), std::string::npos)
      << line;
  EXPECT_EQ(chat_test::json_int_field(line, "status"), 408);
}

TEST(HttpServerLimits, SlowUploadsAreCutOff) {
  Seen seen;
  chat::HttpServerOptions options;
  options.read_timeout = 300ms;  // also the rate's window
  options.min_upload_bytes_per_second = 1024;
  options.stream_route =
      [&seen](const chat::RequestHeader&) -> chat::StreamDecision {
    return std::make_unique<RecordingSink>(seen, SIZE_MAX);
  };
  TestServer s(options);
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 30000\r\n\r\n";

  // Pauses shorter than the read timeout are fine while the rate holds.
  {
    RawClient fast(s.port);
    ASSERT_TRUE(fast.send(head));
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(150ms);
      ASSERT_TRUE(fast.send(std::string(10000, 'f')));
    }
    EXPECT_TRUE(starts_with(fast.response(), "HTTP/1.1 201"));
  }
  ASSERT_TRUE(chat_test::eventually(
      [&] {
        std::lock_guard<std::mutex> lock(seen.mutex);
        return seen.destroyed == 1;
      },
      5s));

  // 3 bytes every 100 ms (30 bytes/s): each wait is well within the read
  // timeout, so only the rate stops it.
  RawClient slow(s.port);
  ASSERT_TRUE(slow.send(head));
  std::string answer;
  const auto started = Clock::now();
  while (!slow.closed() && Clock::now() - started < 10s) {
    answer += slow.read(100ms);
    if (!answer.empty() || !slow.send("abc")) break;
  }
  answer += slow.read(5000ms);
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 408")) << answer;
  EXPECT_NE(answer.find("slower than 1024 bytes/s"), std::string::npos);
  EXPECT_LT(Clock::now() - started, 5s);
  ASSERT_TRUE(chat_test::eventually(
      [&] {
        std::lock_guard<std::mutex> lock(seen.mutex);
        return seen.destroyed == 2;
      },
      5s));
  std::lock_guard<std::mutex> lock(seen.mutex);
  EXPECT_EQ(seen.finished, 1);
  EXPECT_EQ(seen.rejected, (std::vector<unsigned>{408}));
  EXPECT_EQ(s.logs.events("request_rejected").size(), 1u);
}

TEST(HttpServerLimits, HandlersThatNeverRespondAreAnswered503) {
  std::mutex mutex;
  std::vector<chat::Respond> lost;
  chat::HttpServerOptions options;
  options.handler_timeout = 300ms;
  TestServer s(options, [&](chat::Request& req, chat::Respond& respond) {
    if (req.target() == "/lost") {
      std::lock_guard<std::mutex> lock(mutex);
      lost.push_back(respond);
      return true;
    }
    if (req.target() == "/twice") {
      respond(chat::json_response(200, R"({"first":true})"));
      respond(chat::json_response(200, R"({"second":true})"));
      return true;
    }
    if (req.target() == "/late") {  // within the timeout, from elsewhere
      std::thread([respond] {
        std::this_thread::sleep_for(100ms);
        respond(chat::json_response(200, R"({"late":true})"));
      }).detach();
      return true;
    }
    return false;
  });

  RawClient client(s.port);
  const auto started = Clock::now();
  ASSERT_TRUE(client.send("GET /lost HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string answer = client.read(5000ms);  // until closed
  const auto waited = Clock::now() - started;
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(client.closed());
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(s.logs.events("handler_timeout").size(), 1u);

  // The lost Respond, called late, is ignored; the server goes on serving.
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(lost.size(), 1u);
    lost.front()(chat::json_response(200, R"({"too":"late"})"));
  }
  RawClient next(s.port);
  ASSERT_TRUE(next.send("GET /late HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string late = next.response();
  EXPECT_TRUE(starts_with(late, "HTTP/1.1 200")) << late;
  EXPECT_NE(late.find(R"({"late":true})"), std::string::npos);

  // A second Respond does nothing either: the next request on the same
  // connection gets its own answer.
  ASSERT_TRUE(next.send("GET /twice HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string first = next.response();
  EXPECT_NE(first.find(R"({"first":true})"), std::string::npos) << first;
  ASSERT_TRUE(next.send(kGet));
  const std::string ok = next.response();
  EXPECT_NE(ok.find(R"({"ok":true})"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("second"), std::string::npos) << ok;

  // After the server is gone, a stored Respond is still harmless.
  s.server.reset();
  std::lock_guard<std::mutex> lock(mutex);
  lost.front()(chat::json_response(200, R"({"after":"stop"})"));
}

/// Lowers RLIMIT_NOFILE so that no descriptor is free; restores it when
/// destroyed (also when an assertion returns early).
class NoFreeDescriptors {
 public:
  NoFreeDescriptors() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    // Descriptors are allocated lowest first: the one open() gets is the
    // lowest free, and a limit of that leaves none.
    const int lowest = ::open("/dev/null", O_RDONLY);
    ::close(lowest);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest);
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~NoFreeDescriptors() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

TEST(HttpServerLimits, AcceptBacksOffWhileOutOfDescriptors) {
  TestServer s(chat::HttpServerOptions{});
  auto retries = [&] {
    std::vector<long> out;
    for (const auto& line : s.logs.events("accept_failed")) {
      out.push_back(chat_test::json_int_field(line, "retry_ms").value_or(-1));
    }
    return out;
  };
  for (int round = 0; round < 2; ++round) {
    // The client's socket exists before the limit: connecting needs none.
    RawClient client(0);
    ASSERT_TRUE(client.connected());
    std::vector<long> seen;
    const std::size_t before = retries().size();
    {
      NoFreeDescriptors limit;
      ASSERT_TRUE(limit.ok());
      ASSERT_TRUE(client.connect(s.port));
      // 50 + 100 ms of back-off: a spinning accept would have logged
      // thousands of failures by then.
      ASSERT_TRUE(chat_test::eventually(
          [&] { return retries().size() >= before + 3; }, 5s));
      seen = retries();
      seen.erase(seen.begin(), seen.begin() + static_cast<long>(before));
    }
    ASSERT_GE(seen.size(), 3u);
    EXPECT_LE(seen.size(), 6u);
    if (round == 0) {
      EXPECT_EQ(std::vector<long>(seen.begin(), seen.begin() + 3),
                (std::vector<long>{50, 100, 200}));
    } else {
      // It starts at 50 ms again after the accept in between succeeded.
      // (It may restart once more: round 0's connection closes on the
      // server's side meanwhile, and that descriptor lets one accept in.)
      EXPECT_EQ(seen.front(), 50);
      for (std::size_t i = 1; i < seen.size(); ++i) {
        EXPECT_TRUE(seen[i] == 2 * seen[i - 1] || seen[i] == 50) << i;
      }
    }
    const auto line = s.logs.events("accept_failed").back();
    EXPECT_NE(line.find("Too many open files"), std::string::npos) << line;
    // Descriptors are back: the waiting connection is served.
    ASSERT_TRUE(client.send(kGet));
    EXPECT_TRUE(starts_with(client.response(), "HTTP/1.1 200"));
  }
}

// ---- draining on shutdown ------------------------------------------------

/// Whether a connection to 127.0.0.1:port is refused outright.
bool connection_refused(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&address),
                                 sizeof address) != 0 &&
                       errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

/// Handlers that answer later, from threads of their own, joined when it
/// goes. Declared before the server, whose handler uses it; a Respond after
/// the server stopped does nothing.
struct LateAnswers {
  std::vector<std::thread> threads;
  ~LateAnswers() {
    for (auto& t : threads) t.join();
  }
  void after(std::chrono::milliseconds delay, chat::Respond respond,
             std::string body) {
    threads.emplace_back([delay, respond, body] {
      std::this_thread::sleep_for(delay);  // the handler's own work
      respond(chat::json_response(200, body));
    });
  }
};

/// drain() on a thread of its own (it blocks); the report once it returned.
struct Draining {
  explicit Draining(chat::HttpServer& server)
      : started(Clock::now()), report(std::async(std::launch::async, [&server] {
          return server.drain();
        })) {}
  bool done(std::chrono::milliseconds within) {
    return report.wait_for(within) == std::future_status::ready;
  }
  Clock::time_point started;
  std::future<chat::DrainReport> report;
};

TEST(HttpServerDrain, AnswersRequestsUnderWayAndRefusesNewConnections) {
  std::mutex mutex;
  LateAnswers late;
  chat::HttpServerOptions options;
  options.drain_timeout = 10s;
  // Longer than the test: the drain ends because nothing is left, not at
  // the grace.
  options.drain_idle_grace = 5s;
  TestServer s(options, [&](chat::Request& req, chat::Respond& respond) {
    if (req.target() != "/slow") return false;
    std::lock_guard<std::mutex> lock(mutex);
    late.after(300ms, respond, R"({"slow":true})");
    return true;
  });

  RawClient client(s.port);
  ASSERT_TRUE(client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(
      chat_test::eventually([&] { return s.server->in_flight() == 1; }, 5s));
  Draining drain(*s.server);
  // The listening socket closes at once: a new client is refused while the
  // slow request is still under way.
  EXPECT_TRUE(
      chat_test::eventually([&] { return connection_refused(s.port); }, 250ms));
  EXPECT_FALSE(drain.done(0ms));

  const std::string answer = client.read(5000ms);  // until closed
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find(R"({"slow":true})"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos)
      << "the client learns the connection closes: " << answer;
  EXPECT_TRUE(client.closed());

  ASSERT_TRUE(drain.done(3s)) << "the drain ends once everything is answered";
  const auto took = Clock::now() - drain.started;
  const chat::DrainReport report = drain.report.get();
  EXPECT_EQ(report.cut_off, 0u);
  EXPECT_EQ(report.connections, 0u);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s) << "well before the 10 s deadline and the 5 s grace";
  EXPECT_TRUE(connection_refused(s.port));
}

TEST(HttpServerDrain, KeptAliveConnectionsGetOneMoreAnswerThenClose) {
  std::mutex mutex;
  LateAnswers late;
  chat::HttpServerOptions options;
  options.drain_idle_grace = 300ms;
  TestServer s(options, [&](chat::Request& req, chat::Respond& respond) {
    if (req.target() != "/slow") return false;
    std::lock_guard<std::mutex> lock(mutex);
    late.after(1000ms, respond, R"({"slow":true})");
    return true;
  });
  // Both served once and kept alive, then quiet.
  RawClient busy(s.port);
  RawClient quiet(s.port);
  for (RawClient* c : {&busy, &quiet}) {
    ASSERT_TRUE(c->send(kGet));
    const std::string first = c->response();
    ASSERT_TRUE(starts_with(first, "HTTP/1.1 200")) << first;
    EXPECT_EQ(first.find("Connection: close"), std::string::npos) << first;
  }
  // And a slow one that holds the drain past the grace.
  RawClient slow(s.port);
  ASSERT_TRUE(slow.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(
      chat_test::eventually([&] { return s.server->in_flight() == 1; }, 5s));

  Draining drain(*s.server);
  ASSERT_TRUE(
      chat_test::eventually([&] { return connection_refused(s.port); }, 250ms));
  // A request sent on a kept-alive connection during the grace is served,
  // and the answer closes the connection.
  ASSERT_TRUE(busy.send(kGet));
  const std::string last = busy.read(5000ms);  // until closed
  EXPECT_TRUE(starts_with(last, "HTTP/1.1 200")) << last;
  EXPECT_NE(last.find("Connection: close\r\n"), std::string::npos) << last;
  EXPECT_TRUE(busy.closed());
  // The quiet one is closed once the grace is over, with nothing sent.
  const std::string nothing = quiet.read(5000ms);
  const auto quiet_closed = Clock::now() - drain.started;
  EXPECT_TRUE(quiet.closed());
  EXPECT_EQ(nothing, "");
  EXPECT_GE(quiet_closed, 250ms);
  EXPECT_LT(quiet_closed, 900ms) << "at the grace, not once the drain ends";

  const std::string slow_answer = slow.read(5000ms);
  EXPECT_NE(slow_answer.find(R"({"slow":true})"), std::string::npos)
      << slow_answer;
  ASSERT_TRUE(drain.done(3s));
  const chat::DrainReport report = drain.report.get();
  EXPECT_EQ(report.cut_off, 0u);
  EXPECT_EQ(report.connections, 0u);
}

TEST(HttpServerDrain, RequestsStillUnansweredAtTheDeadlineAreCutOff) {
  std::mutex mutex;
  std::vector<chat::Respond> lost;
  chat::HttpServerOptions options;
  options.drain_timeout = 400ms;
  options.handler_timeout = 0ms;  // only the drain ends it
  TestServer s(options, [&](chat::Request& req, chat::Respond& respond) {
    if (req.target() != "/lost") return false;
    std::lock_guard<std::mutex> lock(mutex);
    lost.push_back(respond);
    return true;
  });
  RawClient a(s.port);
  RawClient b(s.port);
  ASSERT_TRUE(a.send("GET /lost HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(b.send("GET /lost HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(
      chat_test::eventually([&] { return s.server->in_flight() == 2; }, 5s));

  Draining drain(*s.server);
  ASSERT_TRUE(drain.done(5s));
  const auto took = Clock::now() - drain.started;
  const chat::DrainReport report = drain.report.get();
  EXPECT_EQ(report.cut_off, 2u);
  EXPECT_EQ(report.connections, 2u);
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 3s);
  // Closed without an answer: the clients know they do not know.
  EXPECT_EQ(a.read(5000ms), "");
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(b.read(5000ms), "");
  EXPECT_TRUE(b.closed());
  // A Respond coming after all is harmless.
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& respond : lost) {
    respond(chat::json_response(200, R"({"too":"late"})"));
  }
}

TEST(HttpServerDrain, ConnectionsQueuedInTheKernelAreServedNotReset) {
  // A connection the kernel completed but the server has not accepted yet
  // (here: out of descriptors, the accept backs off) has its request sent:
  // closing the listening socket would reset it unanswered.
  TestServer s(chat::HttpServerOptions{});
  RawClient client(0);  // its socket exists before the limit
  ASSERT_TRUE(client.connected());
  {
    NoFreeDescriptors limit;
    ASSERT_TRUE(limit.ok());
    ASSERT_TRUE(client.connect(s.port));
    ASSERT_TRUE(client.send(kGet));
    // Backed off to 400 ms (50, 100, 200, 400): the drain below comes well
    // before the next accept would.
    ASSERT_TRUE(chat_test::eventually(
        [&] {
          for (const auto& line : s.logs.events("accept_failed")) {
            if (chat_test::json_int_field(line, "retry_ms") == 400) return true;
          }
          return false;
        },
        5s));
  }
  Draining drain(*s.server);
  const std::string answer = client.read(5000ms);  // until closed
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  ASSERT_TRUE(drain.done(5s));
  const chat::DrainReport report = drain.report.get();
  EXPECT_EQ(report.cut_off, 0u);
  EXPECT_EQ(report.connections, 0u);
}

// ---- HEAD ----------------------------------------------------------------

TEST(HttpServerHead, SendsTheHeaderOfTheGetWithoutItsBody) {
  auto reads = std::make_shared<std::atomic<int>>(0);
  /// Counts the reads of the body, which HEAD must not make.
  class WatchedSource : public CountingSource {
   public:
    WatchedSource(std::uint64_t size, std::shared_ptr<std::atomic<int>> reads)
        : CountingSource(size), reads_(std::move(reads)) {}
    std::size_t read_at(std::uint64_t offset, char* out,
                        std::size_t capacity) override {
      ++*reads_;
      return CountingSource::read_at(offset, out, capacity);
    }

   private:
    std::shared_ptr<std::atomic<int>> reads_;
  };
  // As the API does: HEAD goes to the GET's handler, which answers in full.
  TestServer s({}, [&](chat::Request& req, chat::Respond& respond) {
    if (req.target() == "/ten") {
      chat::Response res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, "text/plain");
      res.body() = "0123456789";
      res.prepare_payload();
      respond(std::move(res));
      return true;
    }
    if (req.target() == "/download") {
      chat::Response res{bhttp::status::ok, 11};
      res.body().stream(std::make_shared<WatchedSource>(300000, reads), 0,
                        200000);
      res.prepare_payload();
      respond(std::move(res));
      return true;
    }
    return false;
  });

  RawClient client(s.port);
  // The header alone: the read stops at its end, and nothing follows.
  ASSERT_TRUE(client.send("HEAD /ten HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string head = client.read(5000ms, "\r\n\r\n");
  head += client.read(200ms);  // a body would arrive with it or right after
  EXPECT_TRUE(starts_with(head, "HTTP/1.1 200")) << head;
  EXPECT_NE(head.find("Content-Length: 10\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << head;
  EXPECT_FALSE(client.closed());
  // The same connection then serves the GET: no stray body bytes before it.
  ASSERT_TRUE(client.send("GET /ten HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string get = client.read(5000ms, "0123456789");
  EXPECT_TRUE(starts_with(get, "HTTP/1.1 200")) << get;
  EXPECT_NE(get.find("Content-Length: 10\r\n\r\n0123456789"), std::string::npos)
      << get;

  // A streamed body: the same, and the source is not read at all.
  ASSERT_TRUE(client.send("HEAD /download HTTP/1.1\r\nHost: t\r\n\r\n"));
  head = client.read(5000ms, "\r\n\r\n");
  head += client.read(200ms);
  EXPECT_TRUE(starts_with(head, "HTTP/1.1 200")) << head;
  EXPECT_NE(head.find("Content-Length: 200000\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4)
      << head.size() << " bytes, the header's " << head.find("\r\n\r\n") + 4;
  EXPECT_EQ(reads->load(), 0);
  ASSERT_TRUE(client.send(kGet));
  const std::string ok = client.response();
  EXPECT_TRUE(starts_with(ok, "HTTP/1.1 200")) << ok.substr(0, 200);
  EXPECT_NE(ok.find(R"({"ok":true})"), std::string::npos);
}

}  // namespace

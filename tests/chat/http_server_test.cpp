// chat::HttpServer in process on a free loopback port: streamed request
// bodies (BodySink), their limits and early answers, and streamed responses.
#include "http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
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

}  // namespace

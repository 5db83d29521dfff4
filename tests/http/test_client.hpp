#pragma once
// A Beast HTTP/1.1 client for the endpoint tests. Every operation is async
// with a deadline and driven to completion on the caller's io_context, so a
// server bug fails a test instead of hanging it.

#include <zlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace vigil_test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using Reply = bh::response<bh::string_body>;
using Headers = std::vector<std::pair<bh::field, std::string>>;

/// Deadline for any single client operation: generous, because it only
/// bounds how long a broken server can stall the test.
inline constexpr std::chrono::seconds kOpTimeout{20};

class Client {
 public:
  Client(net::io_context& ioc, std::uint16_t port) : ioc_(ioc), stream_(ioc) {
    beast::error_code ec;
    run([&](auto done) {
      stream_.expires_after(kOpTimeout);
      stream_.async_connect(
          net::ip::tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port),
          [&ec, done](beast::error_code e) {
            ec = e;
            done();
          });
    });
    if (ec) throw beast::system_error(ec);
  }

  beast::error_code send_raw(std::string_view bytes) {
    beast::error_code ec;
    run([&](auto done) {
      stream_.expires_after(kOpTimeout);
      net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                       [&ec, done](beast::error_code e, std::size_t) {
                         ec = e;
                         done();
                       });
    });
    return ec;
  }

  beast::error_code send(bh::verb method, std::string_view target,
                         const Headers& headers = {}, std::string body = {}) {
    bh::request<bh::string_body> req{
        method, boost::beast::string_view(target.data(), target.size()), 11};
    req.set(bh::field::host, "127.0.0.1");
    for (const auto& h : headers) req.set(h.first, h.second);
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    run([&](auto done) {
      stream_.expires_after(kOpTimeout);
      bh::async_write(stream_, req,
                      [&ec, done](beast::error_code e, std::size_t) {
                        ec = e;
                        done();
                      });
    });
    return ec;
  }

  /// Reads one response; `head` tells the parser there is no body.
  beast::error_code receive(Reply& reply, bool head = false) {
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    beast::error_code ec;
    run([&](auto done) {
      stream_.expires_after(kOpTimeout);
      bh::async_read(stream_, buffer_, parser,
                     [&ec, done](beast::error_code e, std::size_t) {
                       ec = e;
                       done();
                     });
    });
    if (!ec) reply = parser.release();
    return ec;
  }

  /// GET (or another method) and read the response; throws on I/O errors.
  Reply request(bh::verb method, std::string_view target,
                const Headers& headers = {}, std::string body = {}) {
    if (auto ec = send(method, target, headers, std::move(body))) {
      throw beast::system_error(ec);
    }
    Reply reply;
    if (auto ec = receive(reply, method == bh::verb::head)) {
      throw beast::system_error(ec);
    }
    return reply;
  }
  Reply get(std::string_view target, const Headers& headers = {}) {
    return request(bh::verb::get, target, headers);
  }

  /// Reads until the server closes; returns how it ended (eof, reset, or
  /// timeout if the server never closed within kOpTimeout).
  beast::error_code wait_closed() {
    beast::error_code ec;
    std::vector<char> sink(4096);
    while (!ec) {
      run([&](auto done) {
        stream_.expires_after(kOpTimeout);
        stream_.async_read_some(net::buffer(sink),
                                [&ec, done](beast::error_code e, std::size_t) {
                                  ec = e;
                                  done();
                                });
      });
    }
    return ec;
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  template <class Start>
  void run(Start&& start) {
    bool finished = false;
    start([&finished] { finished = true; });
    ioc_.restart();
    while (!finished && ioc_.run_one() > 0) {
    }
  }

  net::io_context& ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

/// Inflates a gzip body (throws if it is not one).
inline std::string gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK)
    throw std::runtime_error("inflateInit2");
  std::string out;
  char chunk[16384];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("not a complete gzip body");
  return out;
}

/// Polls `condition` until it holds or `timeout` passes; the deadline only
/// bounds a failing test, a passing one returns as soon as it can.
inline bool eventually(
    const std::function<bool()>& condition,
    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

/// The value of the sample line starting with `series ` in a text body, or
/// -1 when absent.
inline double sample_value(const std::string& body, const std::string& series) {
  std::size_t pos = 0;
  while ((pos = body.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') {
      return std::stod(body.substr(pos + series.size() + 1));
    }
    ++pos;
  }
  return -1;
}

}  // namespace vigil_test

#include "platform_client.hpp"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace chat {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = boost::asio::ip::tcp;

/// The largest platform answer accepted (they are small JSON objects).
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

/// The length of the well-formed UTF-8 sequence `text` starts with, or 0
/// (Unicode's table 3-7: no overlongs, surrogates or code points past
/// U+10FFFF, no sequence cut short).
std::size_t utf8_sequence(std::string_view text) {
  const auto byte = [&](std::size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  const unsigned lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned low = 0x80;  // the second byte's range, narrowed for some leads
  unsigned high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

std::string printable_excerpt(std::string_view text, std::size_t max_bytes) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  while (!text.empty()) {
    const std::size_t length = utf8_sequence(text);
    const std::string_view piece =
        length > 0 ? text.substr(0, length) : kReplacement;
    // A character that does not fit whole is left out whole.
    if (out.size() + piece.size() > max_bytes) {
      out += "...";
      break;
    }
    out += piece;
    text.remove_prefix(length > 0 ? length : 1);
  }
  return out;
}

PlatformClient::PlatformClient(const std::string& base_url,
                               std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  const std::string scheme = "http://";
  if (base_url.compare(0, scheme.size(), scheme) != 0) {
    throw std::invalid_argument("platform url must be http://HOST:PORT: " +
                                base_url);
  }
  std::string authority = base_url.substr(scheme.size());
  if (!authority.empty() && authority.back() == '/') authority.pop_back();
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      colon + 1 == authority.size() ||
      authority.find('/') != std::string::npos) {
    throw std::invalid_argument("platform url must be http://HOST:PORT: " +
                                base_url);
  }
  host_ = authority.substr(0, colon);
  port_ = authority.substr(colon + 1);
}

void PlatformClient::run_io() {
  io_.restart();
  io_.run();
}

void PlatformClient::connect(std::chrono::steady_clock::time_point deadline) {
  tcp::resolver resolver(io_);
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(host_, port_, ec);
  if (ec) throw TransportError("resolve " + host_ + ": " + ec.message());
  stream_.emplace(io_);
  stream_->expires_at(deadline);
  stream_->async_connect(endpoints, [&](const boost::system::error_code& e,
                                        const tcp::endpoint&) { ec = e; });
  run_io();
  if (ec) {
    stream_.reset();
    throw TransportError("connect: " + ec.message());
  }
}

PlatformReply PlatformClient::post(const std::string& path,
                                   const std::string& body,
                                   const std::string& idempotency_key) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  // A kept-alive connection the platform closed meanwhile fails on first
  // use; one fresh connection is then worth a try within the same deadline.
  for (int attempt = 0;; ++attempt) {
    const bool reused = stream_.has_value();
    if (!reused) connect(deadline);
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, path, 11);
    req.set(bhttp::field::host, host_ + ":" + port_);
    req.set(bhttp::field::content_type, "application/json");
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();

    boost::system::error_code ec;
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    stream_->expires_at(deadline);
    bhttp::async_write(
        *stream_, req, [&](const boost::system::error_code& e, std::size_t) {
          ec = e;
          if (ec) return;
          bhttp::async_read(
              *stream_, buffer, parser,
              [&](const boost::system::error_code& r, std::size_t) { ec = r; });
        });
    run_io();
    if (ec) {
      stream_.reset();
      const bool timed_out = ec == beast::error::timeout;
      if (reused && !timed_out && attempt == 0) continue;
      throw TransportError(timed_out ? "timed out" : ec.message());
    }
    auto res = parser.release();
    if (!res.keep_alive()) stream_.reset();
    return {res.result_int(), std::move(res.body())};
  }
}

}  // namespace chat

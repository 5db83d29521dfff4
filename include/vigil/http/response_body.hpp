#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "vigil/http/byte_source.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// A Beast body that is text, or a range of a ByteSource read piece by piece
/// while it is sent (so a download never sits in memory). The body of
/// ServerResponse.
///
/// Thread-safety: a message and its body belong to one thread at a time.
///
///     vigil::http::ServerResponse res{boost::beast::http::status::ok, 11};
///     res.body() = "text";                  // like string_body, or
///     res.body().stream(source, 0, source->size());
///     res.prepare_payload();                // Content-Length either way
struct ResponseBody {
  /// The text (a std::string), or the range of a source that replaces it.
  struct value_type : std::string {
    using std::string::string;
    using std::string::operator=;
    value_type() = default;
    /// The text to send.
    value_type(std::string text) : std::string(std::move(text)) {}
    /// Sends [offset, offset + length) of `source` instead of the text.
    void stream(std::shared_ptr<ByteSource> from, std::uint64_t offset,
                std::uint64_t length) {
      source = std::move(from);
      source_offset = offset;
      source_length = length;
    }
    /// What stream() set: the source, null for text.
    std::shared_ptr<ByteSource> source;
    /// Where in `source` the body starts.
    std::uint64_t source_offset = 0;
    /// How many bytes of `source` the body has.
    std::uint64_t source_length = 0;
  };

  /// The body's length, for Content-Length.
  static std::uint64_t size(const value_type& body) {
    return body.source ? body.source_length : body.std::string::size();
  }

  /// Reads into the text, as string_body does.
  class reader : public boost::beast::http::string_body::reader {
   public:
    /// Reads into `body`'s text.
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& header,
           value_type& body)
        : boost::beast::http::string_body::reader(
              header, static_cast<std::string&>(body)) {}
  };

  /// Writes the text at once, or the source 64 KiB at a time.
  class writer {
   public:
    /// One piece of the body at a time.
    using const_buffers_type = boost::asio::const_buffer;
    /// Writes `body`, which must outlive the writer.
    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&,
           const value_type& body)
        : body_(body) {}
    /// Nothing to prepare.
    void init(boost::beast::error_code& ec) { ec = {}; }
    /// The next piece and whether more follow; none at the end. An I/O
    /// error of the source (or one that shrank) sets `ec`.
    boost::optional<std::pair<const_buffers_type, bool>> get(
        boost::beast::error_code& ec) {
      ec = {};
      if (!body_.source) {
        if (sent_ > 0 || body_.empty()) return boost::none;
        sent_ = body_.std::string::size();
        return {
            {boost::asio::const_buffer(body_.data(), body_.std::string::size()),
             false}};
      }
      constexpr std::size_t kChunk = 64 * 1024;
      const std::uint64_t remaining = body_.source_length - sent_;
      if (remaining == 0) return boost::none;
      if (!chunk_) chunk_ = std::make_unique<char[]>(kChunk);
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kChunk));
      std::size_t got = 0;
      try {
        got = body_.source->read_at(body_.source_offset + sent_, chunk_.get(),
                                    want);
      } catch (const std::exception&) {
        got = 0;
      }
      if (got == 0) {
        // The source shrank or failed: the promised length cannot be met.
        ec =
            boost::system::errc::make_error_code(boost::system::errc::io_error);
        return boost::none;
      }
      sent_ += got;
      return {{boost::asio::const_buffer(chunk_.get(), got),
               sent_ < body_.source_length}};
    }

   private:
    const value_type& body_;
    std::uint64_t sent_ = 0;
    std::unique_ptr<char[]> chunk_;
  };
};

/// The response a Server sends: text, or streamed from a ByteSource.
using ServerResponse = boost::beast::http::response<ResponseBody>;

/// A string_body response (what Handler answers) as a ServerResponse,
/// without copying the body.
inline ServerResponse to_server_response(
    boost::beast::http::response<boost::beast::http::string_body>&& res) {
  std::string body = std::move(res.body());
  ServerResponse out(std::move(res.base()));
  out.body() = std::move(body);
  return out;
}

}  // namespace http
VIGIL_NAMESPACE_END

#pragma once
// An incremental multipart/form-data parser (RFC 7578 over RFC 2046): bytes
// go in as they arrive from the socket, part contents come out as they are
// found, so an upload never has to fit in memory. Boundaries split across
// any number of feeds are recognised.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chat {

/// The boundary parameter of a `multipart/form-data` Content-Type (quoted or
/// not), or nullopt if the type is different or the boundary is invalid
/// (RFC 2046: 1-70 characters, no trailing space).
std::optional<std::string> multipart_boundary(std::string_view content_type);

/// What a part's headers say about it.
struct PartHeaders {
  std::string name;           // Content-Disposition `name`
  std::string filename;       // Content-Disposition `filename` (may be empty)
  bool has_filename = false;  // `filename` was present, even if empty
  std::string content_type;   // empty when the part has none
};

/// Receives what MultipartParser finds, in order: for each part
/// on_part_begin, any number of on_part_data, on_part_end.
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  /// Return false to stop parsing (the parser then fails with `why`).
  virtual bool on_part_begin(const PartHeaders& part, std::string& why) = 0;
  virtual bool on_part_data(std::string_view data, std::string& why) = 0;
  virtual bool on_part_end(std::string& why) = 0;
};

/// Thread-safety: none; one parser per body. Memory stays bounded by the
/// largest feed plus the header limit, whatever the size of the parts.
///
///     chat::MultipartParser parser(*chat::multipart_boundary(type), handler);
///     for (auto chunk : body) if (!parser.feed(chunk)) reject(parser.error());
///     if (!parser.done()) reject("truncated");
class MultipartParser {
 public:
  struct Limits {
    std::size_t max_header_bytes = 8 * 1024;  // per part
    std::size_t max_parts = 16;
  };

  MultipartParser(std::string boundary, MultipartHandler& handler,
                  Limits limits);
  MultipartParser(std::string boundary, MultipartHandler& handler)
      : MultipartParser(std::move(boundary), handler, Limits{}) {}

  /// Parses the next bytes of the body. False once the body is malformed or
  /// the handler stopped; error() says why, and later feeds do nothing.
  bool feed(std::string_view bytes);
  /// True once the closing delimiter has been seen (what follows it, the
  /// epilogue, is ignored).
  bool done() const { return state_ == State::kEpilogue; }
  bool failed() const { return state_ == State::kFailed; }
  const std::string& error() const { return error_; }

 private:
  enum class State {
    kPreamble,
    kAfterDelimiter,
    kHeaders,
    kBody,
    kEpilogue,
    kFailed
  };
  bool fail(std::string why);
  /// Each consumes from pending_; false when more bytes are needed.
  bool step();
  bool parse_preamble();
  bool parse_after_delimiter();
  bool parse_headers();
  bool parse_body();

  const std::string delimiter_;  // CRLF "--" boundary
  MultipartHandler& handler_;
  const Limits limits_;
  State state_ = State::kPreamble;
  std::string pending_;  // received, not yet consumed
  std::size_t parts_ = 0;
  std::string error_;
};

}  // namespace chat

#include "multipart.hpp"

#include <algorithm>
#include <cctype>

namespace chat {
namespace {

constexpr std::string_view kCrlf = "\r\n";
/// Spaces and tabs allowed after a delimiter before its CRLF.
constexpr std::size_t kMaxTransportPadding = 256;

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 &&
         std::string_view("()<>@,;:\\\"/[]?={} \t").find(c) ==
             std::string_view::npos;
}

/// Parses `; key=value` parameters (values are tokens or quoted strings)
/// from `rest`, calling `on(key, value)`; false when malformed.
template <class On>
bool parse_parameters(std::string_view rest, On&& on) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
  };
  while (true) {
    skip_space();
    if (i == rest.size()) return true;
    if (rest[i] != ';') return false;
    ++i;
    skip_space();
    if (i == rest.size()) return true;  // a trailing ';' is tolerated
    const std::size_t key_start = i;
    while (i < rest.size() && token_char(rest[i])) ++i;
    const std::string_view key = rest.substr(key_start, i - key_start);
    skip_space();
    if (key.empty() || i == rest.size() || rest[i] != '=') return false;
    ++i;
    skip_space();
    std::string value;
    if (i < rest.size() && rest[i] == '"') {
      ++i;
      bool closed = false;
      while (i < rest.size()) {
        const char c = rest[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < rest.size()) {
          value += rest[i++];
        } else {
          value += c;
        }
      }
      if (!closed) return false;
    } else {
      const std::size_t start = i;
      while (i < rest.size() && token_char(rest[i])) ++i;
      value.assign(rest.substr(start, i - start));
    }
    on(key, value);
  }
}

bool boundary_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semicolon)),
               "multipart/form-data")) {
    return std::nullopt;
  }
  if (semicolon == std::string_view::npos) return std::nullopt;
  std::optional<std::string> boundary;
  const bool well_formed =
      parse_parameters(content_type.substr(semicolon),
                       [&](std::string_view key, const std::string& value) {
                         if (iequals(key, "boundary")) boundary = value;
                       });
  if (!well_formed || !boundary || boundary->empty() || boundary->size() > 70 ||
      boundary->back() == ' ' ||
      !std::all_of(boundary->begin(), boundary->end(), boundary_char)) {
    return std::nullopt;
  }
  return boundary;
}

MultipartParser::MultipartParser(std::string boundary,
                                 MultipartHandler& handler, Limits limits)
    : delimiter_("\r\n--" + boundary),
      handler_(handler),
      limits_(limits),
      // The first delimiter may open the body without a CRLF before it:
      // supplying one lets a single search find every delimiter.
      pending_(kCrlf) {}

bool MultipartParser::fail(std::string why) {
  state_ = State::kFailed;
  error_ = std::move(why);
  pending_.clear();
  pending_.shrink_to_fit();
  return false;
}

bool MultipartParser::feed(std::string_view bytes) {
  if (state_ == State::kFailed) return false;
  if (state_ == State::kEpilogue) return true;
  pending_.append(bytes);
  while (step()) {
  }
  return state_ != State::kFailed;
}

bool MultipartParser::step() {
  switch (state_) {
    case State::kPreamble:
      return parse_preamble();
    case State::kAfterDelimiter:
      return parse_after_delimiter();
    case State::kHeaders:
      return parse_headers();
    case State::kBody:
      return parse_body();
    case State::kEpilogue:
      pending_.clear();
      return false;
    case State::kFailed:
      return false;
  }
  return false;
}

bool MultipartParser::parse_preamble() {
  const auto at = pending_.find(delimiter_);
  if (at == std::string::npos) {
    // Keep only what could be the start of a delimiter.
    const std::size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
    pending_.erase(0, pending_.size() - keep);
    return false;
  }
  pending_.erase(0, at + delimiter_.size());
  state_ = State::kAfterDelimiter;
  return true;
}

bool MultipartParser::parse_after_delimiter() {
  if (pending_.size() < 2) return false;
  if (pending_.compare(0, 2, "--") == 0) {
    if (parts_ == 0) return fail("the body has no parts");
    state_ = State::kEpilogue;
    pending_.clear();
    return false;
  }
  std::size_t i = 0;
  while (i < pending_.size() && (pending_[i] == ' ' || pending_[i] == '\t')) {
    ++i;
  }
  if (i > kMaxTransportPadding) return fail("malformed delimiter line");
  if (pending_.size() < i + 2) return false;
  if (pending_.compare(i, 2, kCrlf) != 0) {
    return fail("malformed delimiter line");
  }
  pending_.erase(0, i + 2);
  if (++parts_ > limits_.max_parts) {
    return fail("more than " + std::to_string(limits_.max_parts) + " parts");
  }
  state_ = State::kHeaders;
  return true;
}

bool MultipartParser::parse_headers() {
  // A part without headers starts right away with the empty line.
  std::size_t end = 0;
  if (pending_.compare(0, 2, kCrlf) == 0) {
    end = 0;
  } else {
    // The headers (with their last CRLF) may take max_header_bytes: the
    // blank line must start by then, so max + 2 bytes decide it, however
    // they were split.
    const auto blank = pending_.find("\r\n\r\n");
    const bool too_long = blank == std::string::npos
                              ? pending_.size() >= limits_.max_header_bytes + 2
                              : blank + 2 > limits_.max_header_bytes;
    if (too_long) {
      return fail("part headers over " +
                  std::to_string(limits_.max_header_bytes) + " bytes");
    }
    if (blank == std::string::npos) return false;
    end = blank + 2;
  }
  if (pending_.size() < end + 2) return false;
  PartHeaders part;
  bool has_disposition = false;
  std::string_view block(pending_.data(), end);
  while (!block.empty()) {
    const auto eol = block.find(kCrlf);
    const std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + colon, token_char)) {
      return fail("malformed part header");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-disposition")) {
      const auto semicolon = value.find(';');
      if (!iequals(trim(value.substr(0, semicolon)), "form-data") ||
          semicolon == std::string_view::npos) {
        return fail("a part's Content-Disposition must be form-data");
      }
      const bool ok =
          parse_parameters(value.substr(semicolon),
                           [&](std::string_view key, const std::string& param) {
                             if (iequals(key, "name")) part.name = param;
                             if (iequals(key, "filename")) {
                               part.filename = param;
                               part.has_filename = true;
                             }
                           });
      if (!ok) return fail("malformed Content-Disposition");
      has_disposition = true;
    } else if (iequals(name, "content-type")) {
      part.content_type = std::string(value);
    }
  }
  if (!has_disposition) return fail("a part has no Content-Disposition");
  pending_.erase(0, end + 2);
  std::string why;
  if (!handler_.on_part_begin(part, why)) return fail(why);
  state_ = State::kBody;
  return true;
}

bool MultipartParser::parse_body() {
  const auto at = pending_.find(delimiter_);
  std::string why;
  if (at == std::string::npos) {
    // Everything but a possible delimiter start is content.
    if (pending_.size() < delimiter_.size()) return false;
    const std::size_t ready = pending_.size() - (delimiter_.size() - 1);
    if (!handler_.on_part_data(std::string_view(pending_.data(), ready), why)) {
      return fail(why);
    }
    pending_.erase(0, ready);
    return false;
  }
  if (at > 0 &&
      !handler_.on_part_data(std::string_view(pending_.data(), at), why)) {
    return fail(why);
  }
  if (!handler_.on_part_end(why)) return fail(why);
  pending_.erase(0, at + delimiter_.size());
  state_ = State::kAfterDelimiter;
  return true;
}

}  // namespace chat

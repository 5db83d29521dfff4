#include "http_server.hpp"

#include <charconv>

namespace chat {

namespace bhttp = boost::beast::http;

RangeCheck parse_range(std::string_view header, std::uint64_t size,
                       ByteRange& range) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return RangeCheck::kNone;
  header.remove_prefix(kUnit.size());
  const auto dash = header.find('-');
  if (dash == std::string_view::npos ||
      header.find(',') != std::string_view::npos) {
    return RangeCheck::kNone;
  }
  auto number = [](std::string_view text, std::uint64_t& out) {
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() &&
           end == text.data() + text.size();
  };
  const std::string_view first_text = header.substr(0, dash);
  const std::string_view last_text = header.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (first_text.empty()) {  // the last n bytes
    if (!number(last_text, last)) return RangeCheck::kNone;
    if (last == 0 || size == 0) return RangeCheck::kUnsatisfiable;
    range = {size - std::min(last, size), size - 1};
    return RangeCheck::kSatisfiable;
  }
  if (!number(first_text, first)) return RangeCheck::kNone;
  if (last_text.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!number(last_text, last) || last < first) {
    return RangeCheck::kNone;
  }
  if (first >= size) return RangeCheck::kUnsatisfiable;
  range = {first, std::min(last, size - 1)};
  return RangeCheck::kSatisfiable;
}

std::string peer_address(const RequestHeader& header) {
  const auto value = header[kPeerAddressField];
  return value.empty() ? std::string("unknown")
                       : std::string(value.data(), value.size());
}

Response json_response(unsigned status, std::string body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace chat

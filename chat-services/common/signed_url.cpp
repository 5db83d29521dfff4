#include "signed_url.hpp"

#include <charconv>
#include <stdexcept>

#include "base64url.hpp"
#include "jwt.hpp"

namespace chat {

UrlSigner::UrlSigner(std::string key) : key_(std::move(key)) {
  if (key_.size() < 32) {
    throw std::invalid_argument("a URL signing key needs at least 32 bytes");
  }
}

std::string UrlSigner::signature(std::string_view path,
                                 std::string_view expires) const {
  // The newline cannot occur in a path: no (path, expiry) pair signs like
  // another.
  std::string input(path);
  input += '\n';
  input += expires;
  return base64url_encode(hmac_sha256(key_, input));
}

std::string UrlSigner::sign(std::string_view path,
                            std::int64_t expires_at) const {
  const std::string expires = std::to_string(expires_at);
  return std::string(path) + "?expires=" + expires +
         "&signature=" + signature(path, expires);
}

UrlSigner::Check UrlSigner::verify(std::string_view target,
                                   std::int64_t now_seconds) const {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return Check::kInvalid;
  const std::string_view path = target.substr(0, question);
  std::string_view query = target.substr(question + 1);
  // Exactly the two parameters sign() writes, in its order.
  constexpr std::string_view kExpires = "expires=";
  constexpr std::string_view kSignature = "&signature=";
  if (query.substr(0, kExpires.size()) != kExpires) return Check::kInvalid;
  query.remove_prefix(kExpires.size());
  const auto amp = query.find(kSignature);
  if (amp == std::string_view::npos) return Check::kInvalid;
  const std::string_view expires = query.substr(0, amp);
  const std::string_view given = query.substr(amp + kSignature.size());
  std::int64_t expires_at = 0;
  const auto [end, ec] = std::from_chars(
      expires.data(), expires.data() + expires.size(), expires_at);
  if (ec != std::errc() || end != expires.data() + expires.size() ||
      expires.empty() || expires[0] == '+' || expires[0] == '-' ||
      (expires.size() > 1 && expires[0] == '0')) {
    return Check::kInvalid;
  }
  if (!constant_time_equal(given, signature(path, expires))) {
    return Check::kInvalid;
  }
  return now_seconds < expires_at ? Check::kValid : Check::kExpired;
}

}  // namespace chat

#include "jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base64url.hpp"

namespace chat {
namespace {

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

bool fail(std::string* why, const char* reason) {
  if (why) *why = reason;
  return false;
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
       &length);
  return std::string(reinterpret_cast<char*>(mac), length);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

JwtSigner::JwtSigner(std::string secret, std::int64_t ttl_seconds)
    : secret_(std::move(secret)), ttl_seconds_(ttl_seconds) {
  if (secret_.size() < 32) {
    throw std::invalid_argument("JWT secret must be at least 32 bytes");
  }
  if (ttl_seconds_ <= 0) {
    throw std::invalid_argument("JWT lifetime must be positive");
  }
}

std::string JwtSigner::sign(std::string_view signing_input) const {
  return base64url_encode(hmac_sha256(secret_, signing_input));
}

std::string JwtSigner::issue(std::string_view subject,
                             std::int64_t now_seconds) const {
  const nlohmann::json payload = {{"sub", subject},
                                  {"iat", now_seconds},
                                  {"exp", now_seconds + ttl_seconds_}};
  std::string token =
      base64url_encode(kHeader) + "." + base64url_encode(payload.dump());
  const std::string signature = sign(token);
  return token + "." + signature;
}

std::optional<JwtClaims> JwtSigner::verify(std::string_view token,
                                           std::int64_t now_seconds,
                                           std::string* why) const {
  const auto first = token.find('.');
  const auto second =
      first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos ||
      token.find('.', second + 1) != std::string_view::npos) {
    fail(why, "not three segments");
    return std::nullopt;
  }
  const auto header = base64url_decode(token.substr(0, first));
  const auto payload =
      base64url_decode(token.substr(first + 1, second - first - 1));
  const auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !payload || !signature) {
    fail(why, "bad base64url");
    return std::nullopt;
  }
  // The algorithm is pinned before anything else is trusted.
  const auto header_json = nlohmann::json::parse(*header, nullptr, false);
  if (!header_json.is_object() || !header_json.contains("alg") ||
      header_json["alg"] != "HS256") {
    fail(why, "algorithm is not HS256");
    return std::nullopt;
  }
  if (!constant_time_equal(*signature,
                           hmac_sha256(secret_, token.substr(0, second)))) {
    fail(why, "bad signature");
    return std::nullopt;
  }
  const auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("sub") ||
      !claims["sub"].is_string() || !claims.contains("iat") ||
      !claims["iat"].is_number_integer() || !claims.contains("exp") ||
      !claims["exp"].is_number_integer()) {
    fail(why, "missing or mistyped claims");
    return std::nullopt;
  }
  JwtClaims out{claims["sub"].get<std::string>(),
                claims["iat"].get<std::int64_t>(),
                claims["exp"].get<std::int64_t>()};
  if (out.expires_at <= now_seconds) {
    fail(why, "expired");
    return std::nullopt;
  }
  constexpr std::int64_t kClockSkewSeconds = 60;
  if (out.issued_at > now_seconds + kClockSkewSeconds) {
    fail(why, "issued in the future");
    return std::nullopt;
  }
  return out;
}

std::string JwtSigner::derive_key(std::string_view purpose) const {
  return hmac_sha256(secret_, purpose);
}

}  // namespace chat

#pragma once
// Presigned URLs, the idea of S3's: whoever holds the URL may GET the one
// resource it names until it expires, without a bearer token. The query
// carries the expiry and an HMAC-SHA256 of the path and expiry.

#include <cstdint>
#include <string>
#include <string_view>

namespace chat {

/// Thread-safety: const members may be called concurrently.
///
///     chat::UrlSigner signer(key);
///     std::string target = signer.sign("/v1/files/f_1/content", now + 3600);
///     // later, for a request's target:
///     if (signer.verify(req_target, now) != chat::UrlSigner::Check::kValid)
///       forbid();
class UrlSigner {
 public:
  enum class Check { kValid, kExpired, kInvalid };

  /// Throws std::invalid_argument for a key shorter than 32 bytes.
  explicit UrlSigner(std::string key);

  /// `path?expires=<unix seconds>&signature=<base64url HMAC>`.
  std::string sign(std::string_view path, std::int64_t expires_at) const;

  /// Checks a target made by sign(): kInvalid for any change to the path,
  /// the expiry or the signature, or other query parameters; kExpired once
  /// `now_seconds` reached the expiry. The signature is compared in
  /// constant time.
  Check verify(std::string_view target, std::int64_t now_seconds) const;

 private:
  std::string signature(std::string_view path, std::string_view expires) const;

  std::string key_;
};

}  // namespace chat

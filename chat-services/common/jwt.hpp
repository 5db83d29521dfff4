#pragma once
// HS256 JSON Web Tokens: the API's bearer tokens.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chat {

struct JwtClaims {
  std::string subject;      // `sub`: the user id
  std::int64_t issued_at;   // `iat`, seconds since the epoch
  std::int64_t expires_at;  // `exp`, seconds since the epoch
};

/// Issues and verifies HS256 tokens with one secret. Verification accepts
/// only `alg` HS256 (so `none` and RS/HS confusion are refused), checks the
/// signature in constant time, and requires `sub`, `iat` and an unexpired
/// `exp`.
///
/// Thread-safety: const members may be called concurrently.
///
///     chat::JwtSigner jwt(secret);
///     std::string token = jwt.issue("u_123", now);
///     if (auto claims = jwt.verify(token, now)) use(claims->subject);
class JwtSigner {
 public:
  /// Throws std::invalid_argument for a secret shorter than 32 bytes.
  explicit JwtSigner(std::string secret, std::int64_t ttl_seconds = 3600);

  std::string issue(std::string_view subject, std::int64_t now_seconds) const;

  /// The claims, or nullopt with the reason in `why` (for logs, never for
  /// clients).
  std::optional<JwtClaims> verify(std::string_view token,
                                  std::int64_t now_seconds,
                                  std::string* why = nullptr) const;

  std::int64_t ttl_seconds() const { return ttl_seconds_; }

  /// A 32-byte key for another purpose (e.g. signing download URLs),
  /// HMAC(secret, purpose): one configured secret serves several kinds of
  /// signature without one kind being accepted as another.
  std::string derive_key(std::string_view purpose) const;

 private:
  std::string sign(std::string_view signing_input) const;

  std::string secret_;
  std::int64_t ttl_seconds_;
};

/// HMAC-SHA256 of `data` with `key`, raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Constant-time equality for secrets and signatures.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace chat

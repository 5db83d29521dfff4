#pragma once
// Password storage: salted PBKDF2-HMAC-SHA256, never the password itself.

#include <string>
#include <string_view>

namespace chat {

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
inline constexpr int kDefaultPasswordIterations = 600000;

/// `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64url), with a fresh
/// 16-byte random salt. Throws std::runtime_error if the RNG fails.
std::string hash_password(std::string_view password,
                          int iterations = kDefaultPasswordIterations);

/// True when `password` matches `encoded`; false for any malformed encoding.
/// The comparison is constant-time.
bool verify_password(std::string_view password, std::string_view encoded);

}  // namespace chat

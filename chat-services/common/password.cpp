#include "password.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>
#include <vector>

#include "base64url.hpp"
#include "jwt.hpp"

namespace chat {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr int kMaxIterations = 10'000'000;  // bounds the cost of a bad hash

std::string derive(std::string_view password, std::string_view salt,
                   int iterations) {
  std::string out(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    throw std::runtime_error("PBKDF2 failed");
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == sep) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

std::string hash_password(std::string_view password, int iterations) {
  if (iterations < 1 || iterations > kMaxIterations) {
    throw std::invalid_argument("password iterations out of range");
  }
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()),
                 static_cast<int>(salt.size())) != 1) {
    throw std::runtime_error("no randomness for a password salt");
  }
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" +
         base64url_encode(salt) + "$" +
         base64url_encode(derive(password, salt, iterations));
}

bool verify_password(std::string_view password, std::string_view encoded) {
  const auto parts = split(encoded, '$');
  if (parts.size() != 4 || parts[0] != kScheme) return false;
  int iterations = 0;
  const auto [end, ec] = std::from_chars(
      parts[1].data(), parts[1].data() + parts[1].size(), iterations);
  if (ec != std::errc() || end != parts[1].data() + parts[1].size() ||
      iterations < 1 || iterations > kMaxIterations) {
    return false;
  }
  const auto salt = base64url_decode(parts[2]);
  const auto hash = base64url_decode(parts[3]);
  if (!salt || !hash || hash->size() != kHashBytes) return false;
  return constant_time_equal(derive(password, *salt, iterations), *hash);
}

}  // namespace chat

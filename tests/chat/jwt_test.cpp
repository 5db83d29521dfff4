#include "jwt.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "base64url.hpp"

namespace {

const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

/// A token with any header and payload, signed with `secret` over HS256.
std::string forge(const std::string& header, const std::string& payload,
                  const std::string& secret = kSecret) {
  const std::string input =
      chat::base64url_encode(header) + "." + chat::base64url_encode(payload);
  return input + "." + chat::base64url_encode(chat::hmac_sha256(secret, input));
}

TEST(Jwt, IssuesTokensThatVerify) {
  chat::JwtSigner jwt(kSecret);
  const auto claims = jwt.verify(jwt.issue("u_1", kNow), kNow + 10);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->subject, "u_1");
  EXPECT_EQ(claims->issued_at, kNow);
  EXPECT_EQ(claims->expires_at, kNow + 3600);
}

TEST(Jwt, ExpiredTokensAreRefused) {
  chat::JwtSigner jwt(kSecret, 60);
  const std::string token = jwt.issue("u_1", kNow);
  EXPECT_TRUE(jwt.verify(token, kNow + 59));
  std::string why;
  EXPECT_FALSE(jwt.verify(token, kNow + 60, &why));
  EXPECT_EQ(why, "expired");
}

TEST(Jwt, TamperedPayloadOrSignatureIsRefused) {
  chat::JwtSigner jwt(kSecret);
  const std::string token = jwt.issue("u_1", kNow);
  const auto dot = token.find('.');
  const auto dot2 = token.rfind('.');
  const std::string other_payload = chat::base64url_encode(
      R"({"sub":"admin","iat":1800000000,"exp":1900000000})");
  std::string why;
  EXPECT_FALSE(
      jwt.verify(token.substr(0, dot + 1) + other_payload + token.substr(dot2),
                 kNow, &why));
  EXPECT_EQ(why, "bad signature");
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(jwt.verify(flipped, kNow));
  EXPECT_FALSE(chat::JwtSigner(std::string(32, 'x')).verify(token, kNow));
}

TEST(Jwt, AlgorithmConfusionIsRefused) {
  chat::JwtSigner jwt(kSecret);
  const std::string payload =
      R"({"sub":"u_1","iat":1800000000,"exp":1900000000})";
  std::string why;
  // alg none with an empty signature.
  const std::string none = chat::base64url_encode(R"({"alg":"none"})") + "." +
                           chat::base64url_encode(payload) + ".";
  EXPECT_FALSE(jwt.verify(none, kNow, &why));
  EXPECT_EQ(why, "algorithm is not HS256");
  // RS256 claimed but HMAC-signed with the secret (the classic key confusion).
  EXPECT_FALSE(
      jwt.verify(forge(R"({"alg":"RS256","typ":"JWT"})", payload), kNow, &why));
  EXPECT_EQ(why, "algorithm is not HS256");
  EXPECT_FALSE(jwt.verify(forge(R"({"typ":"JWT"})", payload), kNow));
  // The same payload with the right algorithm does verify.
  EXPECT_TRUE(
      jwt.verify(forge(R"({"alg":"HS256","typ":"JWT"})", payload), kNow));
}

TEST(Jwt, MalformedTokensAndClaimsAreRefused) {
  chat::JwtSigner jwt(kSecret);
  for (const std::string bad :
       {"", "a", "a.b", "a.b.c.d", "!!.??.**", "..", "eyJ.eyJ.x"}) {
    EXPECT_FALSE(jwt.verify(bad, kNow)) << bad;
  }
  const std::string header = R"({"alg":"HS256"})";
  EXPECT_FALSE(
      jwt.verify(forge(header, R"({"iat":1,"exp":1900000000})"), kNow));
  EXPECT_FALSE(
      jwt.verify(forge(header, R"({"sub":7,"iat":1,"exp":1900000000})"), kNow));
  EXPECT_FALSE(jwt.verify(
      forge(header, R"({"sub":"u","iat":1,"exp":"1900000000"})"), kNow));
  EXPECT_FALSE(jwt.verify(forge(header, "not json"), kNow));
  std::string why;
  EXPECT_FALSE(jwt.verify(
      forge(header, R"({"sub":"u","iat":1900000000,"exp":1900003600})"), kNow,
      &why));
  EXPECT_EQ(why, "issued in the future");
}

TEST(Jwt, ShortSecretsAreRefused) {
  EXPECT_THROW(chat::JwtSigner(std::string(31, 'k')), std::invalid_argument);
}

}  // namespace

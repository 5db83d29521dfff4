#include "signed_url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "http_server.hpp"
#include "jwt.hpp"

namespace {

using Check = chat::UrlSigner::Check;

const chat::UrlSigner kSigner(std::string(32, 'k'));
const std::string kPath = "/v1/files/f_1/content";

TEST(UrlSigner, AcceptsItsOwnUrlsUntilTheyExpire) {
  const std::string target = kSigner.sign(kPath, 1000);
  EXPECT_EQ(target.rfind(kPath + "?expires=1000&signature=", 0), 0u);
  EXPECT_EQ(kSigner.verify(target, 999), Check::kValid);
  EXPECT_EQ(kSigner.verify(target, 1000), Check::kExpired);
  EXPECT_EQ(kSigner.verify(target, 5000), Check::kExpired);
}

TEST(UrlSigner, AnyChangeInvalidatesTheUrl) {
  const std::string target = kSigner.sign(kPath, 1000);
  const auto sig = target.substr(target.find("signature=") + 10);
  const std::string other_file = "/v1/files/f_2/content";
  for (const std::string& tampered :
       {other_file + target.substr(kPath.size()),
        kPath + "?expires=1001&signature=" + sig,
        kPath + "?expires=01000&signature=" + sig,
        kPath + "?expires=1000&signature=" + sig.substr(1),
        kPath + "?expires=1000&signature=" + sig + "A", kPath + "?expires=1000",
        kPath, target + "&x=1", kPath + "?signature=" + sig + "&expires=1000",
        chat::UrlSigner(std::string(32, 'o')).sign(kPath, 1000)}) {
    EXPECT_EQ(kSigner.verify(tampered, 10), Check::kInvalid) << tampered;
  }
  EXPECT_THROW(chat::UrlSigner("short"), std::invalid_argument);
}

TEST(UrlSigner, DerivedKeysDifferByPurpose) {
  const chat::JwtSigner jwt(std::string(40, 's'));
  EXPECT_EQ(jwt.derive_key("a"), jwt.derive_key("a"));
  EXPECT_NE(jwt.derive_key("a"), jwt.derive_key("b"));
  EXPECT_EQ(jwt.derive_key("a").size(), 32u);
}

TEST(ParseRange, ServesOneRangeClampedToTheResource) {
  chat::ByteRange r;
  using chat::RangeCheck;
  EXPECT_EQ(chat::parse_range("bytes=0-9", 100, r), RangeCheck::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  EXPECT_EQ(chat::parse_range("bytes=90-", 100, r), RangeCheck::kSatisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(chat::parse_range("bytes=50-500", 100, r),
            RangeCheck::kSatisfiable);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(chat::parse_range("bytes=-10", 100, r), RangeCheck::kSatisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(chat::parse_range("bytes=-1000", 100, r), RangeCheck::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(chat::parse_range("bytes=100-", 100, r),
            RangeCheck::kUnsatisfiable);
  EXPECT_EQ(chat::parse_range("bytes=-0", 100, r), RangeCheck::kUnsatisfiable);
  EXPECT_EQ(chat::parse_range("bytes=0-", 0, r), RangeCheck::kUnsatisfiable);
  for (const char* ignored :
       {"", "items=0-1", "bytes=0-1,5-6", "bytes=5-1", "bytes=a-b", "bytes=1",
        "bytes=-", "bytes= 1-2"}) {
    EXPECT_EQ(chat::parse_range(ignored, 100, r), RangeCheck::kNone) << ignored;
  }
}

}  // namespace

#include "base64url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Base64Url, Rfc4648Vectors) {
  EXPECT_EQ(chat::base64url_encode(""), "");
  EXPECT_EQ(chat::base64url_encode("f"), "Zg");
  EXPECT_EQ(chat::base64url_encode("fo"), "Zm8");
  EXPECT_EQ(chat::base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(chat::base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(chat::base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64Url, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(chat::base64url_decode(chat::base64url_encode(part)), part);
  }
}

TEST(Base64Url, RejectsPaddingForeignCharactersAndNonCanonicalInput) {
  EXPECT_FALSE(chat::base64url_decode("Zg=="));
  EXPECT_FALSE(chat::base64url_decode("Zm+v"));
  EXPECT_FALSE(chat::base64url_decode("Z"));   // impossible length
  EXPECT_FALSE(chat::base64url_decode("Zh"));  // non-zero leftover bits
}

}  // namespace

#include "password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

constexpr int kFast = 1000;  // tests need not pay for production iterations

TEST(Password, HashVerifiesOnlyTheSamePassword) {
  const std::string hash = chat::hash_password("pass_a", kFast);
  EXPECT_EQ(hash.rfind("pbkdf2-sha256$1000$", 0), 0u);
  EXPECT_EQ(hash.find("pass_a"), std::string::npos);
  EXPECT_TRUE(chat::verify_password("pass_a", hash));
  EXPECT_FALSE(chat::verify_password("pass_b", hash));
  EXPECT_FALSE(chat::verify_password("", hash));
}

TEST(Password, SaltsDiffer) {
  EXPECT_NE(chat::hash_password("same", kFast),
            chat::hash_password("same", kFast));
}

TEST(Password, DefaultIterationsAreTheRecommendedOnes) {
  const std::string hash = chat::hash_password("x");
  EXPECT_EQ(hash.rfind("pbkdf2-sha256$600000$", 0), 0u);
  EXPECT_TRUE(chat::verify_password("x", hash));
}

TEST(Password, MalformedEncodingsNeverVerify) {
  const std::string good = chat::hash_password("p", kFast);
  const auto cut = good.rfind('$');
  for (const std::string& bad :
       {std::string(), std::string("p"), good.substr(0, cut),
        "md5$1000$" + good.substr(good.find('$', 14) + 1),
        std::string("pbkdf2-sha256$0$AAAA$AAAA"),
        std::string("pbkdf2-sha256$99999999999$AAAA$AAAA"),
        std::string("pbkdf2-sha256$1x$AAAA$AAAA"),
        good.substr(0, cut + 1) + "AAAA", good + "$extra"}) {
    EXPECT_FALSE(chat::verify_password("p", bad)) << bad;
  }
}

}  // namespace

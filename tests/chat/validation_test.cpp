#include "validation.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Validation, ConversationIds) {
  EXPECT_TRUE(chat::valid_conversation_id("conv-1"));
  EXPECT_TRUE(chat::valid_conversation_id("a.b:c_d-E9"));
  EXPECT_TRUE(chat::valid_conversation_id(std::string(128, 'x')));
  EXPECT_FALSE(chat::valid_conversation_id(""));
  EXPECT_FALSE(chat::valid_conversation_id(std::string(129, 'x')));
  EXPECT_FALSE(chat::valid_conversation_id("a b"));
  EXPECT_FALSE(chat::valid_conversation_id("../etc"));
  EXPECT_FALSE(chat::valid_conversation_id("ü"));
}

TEST(Validation, Utf8) {
  EXPECT_TRUE(chat::valid_utf8("plain ascii"));
  EXPECT_TRUE(chat::valid_utf8("olá, 世界, 😀"));
  EXPECT_FALSE(chat::valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(chat::valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(chat::valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(chat::valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(chat::valid_utf8("\x80"));              // stray continuation
  EXPECT_FALSE(chat::valid_utf8("\xFF"));
}

TEST(Validation, Recipients) {
  chat::Channel channel;
  EXPECT_TRUE(chat::parse_recipient("whatsapp:+5511999998888", channel));
  EXPECT_EQ(channel, chat::Channel::kWhatsApp);
  EXPECT_TRUE(chat::parse_recipient("instagram:@some.user_1", channel));
  EXPECT_EQ(channel, chat::Channel::kInstagram);
  EXPECT_TRUE(chat::parse_recipient("u_0123abcd", channel));
  EXPECT_EQ(channel, chat::Channel::kLocal);
  EXPECT_FALSE(chat::parse_recipient("whatsapp:+12", channel));
  EXPECT_FALSE(chat::parse_recipient("whatsapp:5511999998888", channel));
  EXPECT_FALSE(chat::parse_recipient("whatsapp:+55119999988889999", channel));
  EXPECT_FALSE(chat::parse_recipient("instagram:@", channel));
  EXPECT_FALSE(chat::parse_recipient("instagram:@bad name", channel));
  EXPECT_FALSE(chat::parse_recipient("", channel));
  EXPECT_FALSE(chat::parse_recipient("sms:+123456789", channel));
}

TEST(Validation, Usernames) {
  EXPECT_TRUE(chat::valid_username("user_a"));
  EXPECT_FALSE(chat::valid_username("ab"));
  EXPECT_FALSE(chat::valid_username(std::string(33, 'a')));
  EXPECT_FALSE(chat::valid_username("with space"));
}

TEST(Validation, FilenamesAreSanitisedIntoMetadata) {
  EXPECT_EQ(chat::sanitize_filename("report.pdf"), "report.pdf");
  EXPECT_EQ(chat::sanitize_filename("../../etc/passwd"), "passwd");
  EXPECT_EQ(chat::sanitize_filename("..\\..\\windows\\win.ini"), "win.ini");
  EXPECT_EQ(chat::sanitize_filename("/abs/path/x.txt"), "x.txt");
  EXPECT_EQ(chat::sanitize_filename(".."), "file");
  EXPECT_EQ(chat::sanitize_filename("dir/.."), "file");
  EXPECT_EQ(chat::sanitize_filename("."), "file");
  EXPECT_EQ(chat::sanitize_filename(""), "file");
  EXPECT_EQ(chat::sanitize_filename("a/"), "file");
  EXPECT_EQ(chat::sanitize_filename("  spaced  "), "spaced");
  EXPECT_EQ(chat::sanitize_filename("bad\r\nname\x01\x7f.txt"), "badname.txt");
  EXPECT_EQ(chat::sanitize_filename("caf\xC3\xA9.txt"), "caf\xC3\xA9.txt");
  EXPECT_EQ(chat::sanitize_filename("bad\xFF.txt"), "bad_.txt");
  const std::string long_name = std::string(254, 'a') + "\xC3\xA9";
  EXPECT_EQ(chat::sanitize_filename(long_name), std::string(254, 'a'))
      << "cut before a split UTF-8 sequence";
  EXPECT_EQ(chat::sanitize_filename(std::string(300, 'b')).size(), 255u);
}

}  // namespace

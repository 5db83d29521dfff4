#include "events.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

chat::MessageEvent sample() {
  chat::MessageEvent e;
  e.message_id = "m_1";
  e.conversation_id = "conv-1";
  e.sender_id = "u_a";
  e.recipient_id = "whatsapp:+5511999998888";
  e.content = "olá \"quoted\"";
  e.timestamp_ms = 1700000000000;
  return e;
}

TEST(Events, MessageEventRoundTrips) {
  std::string why;
  const auto parsed = chat::parse_message_event(chat::to_json(sample()), why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->content, sample().content);
  EXPECT_EQ(parsed->recipient_id, sample().recipient_id);
  EXPECT_EQ(parsed->timestamp_ms, sample().timestamp_ms);
  EXPECT_TRUE(parsed->file_id.empty());
  const auto record = chat::to_record(*parsed);
  EXPECT_EQ(record.status, chat::MessageStatus::kSent);
  EXPECT_EQ(record.conversation_id, "conv-1");
}

TEST(Events, MalformedMessageEventsSayWhy) {
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {R"({"conversation_id":"c","sender_id":"u","content":"x","timestamp":1})",
       "missing message_id"},
      {R"({"message_id":1,"conversation_id":"c","sender_id":"u","content":"x","timestamp":1})",
       "message_id is not a string"},
      {R"({"message_id":"m","conversation_id":"a b","sender_id":"u","content":"x","timestamp":1})",
       "invalid conversation_id"},
      {R"({"message_id":"m","conversation_id":"c","sender_id":"u","content":"","timestamp":1})",
       "content empty or over 10 KiB"},
      {R"({"message_id":"m","conversation_id":"c","sender_id":"u","content":"x","timestamp":-5})",
       "timestamp is not a non-negative integer"},
      {R"({"message_id":"m","conversation_id":"c","sender_id":"u","content":"x","timestamp":1,"recipient_id":"sms:1"})",
       "invalid recipient_id"},
  };
  for (const auto& [json, reason] : cases) {
    std::string why;
    EXPECT_FALSE(chat::parse_message_event(json, why)) << json;
    EXPECT_EQ(why, reason) << json;
  }
  auto too_long = sample();
  too_long.content = std::string(chat::kMaxContentBytes + 1, 'x');
  std::string why;
  EXPECT_FALSE(chat::parse_message_event(chat::to_json(too_long), why));
}

TEST(Events, StatusEventRoundTripsAndRejectsUnknownStatuses) {
  chat::StatusEvent e{"m_1", chat::MessageStatus::kDelivered, 42, "wamid.1"};
  std::string why;
  const auto parsed = chat::parse_status_event(chat::to_json(e), why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->status, chat::MessageStatus::kDelivered);
  EXPECT_EQ(parsed->platform_message_id, "wamid.1");
  EXPECT_FALSE(chat::parse_status_event(
      R"({"message_id":"m","status":"LOST","at":1})", why));
  EXPECT_EQ(why, "unknown status 'LOST'");
}

}  // namespace

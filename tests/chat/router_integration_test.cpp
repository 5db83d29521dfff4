// The router as a real process against the development broker: valid events
// are stored once and in per-conversation order, platform messages reach the
// connectors' topics, poison events go to dead-letter without blocking their
// partition, and SIGTERM finishes cleanly.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "events.hpp"
#include "kafka_client.hpp"
#include "process.hpp"
#include "store.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::Process;

std::string read_first_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

/// Counts the events on `topic` from the beginning, reading until `expected`
/// arrived or the deadline passed.
std::vector<std::string> read_topic(const std::string& brokers,
                                    const std::string& topic,
                                    std::size_t expected) {
  auto conf = chat::kafka_conf({{"bootstrap.servers", brokers},
                                {"group.id", "test-reader-" + topic},
                                {"auto.offset.reset", "earliest"},
                                {"enable.auto.commit", "false"}});
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  EXPECT_TRUE(consumer) << error;
  if (!consumer) return {};
  consumer->subscribe({topic});
  std::vector<std::string> payloads;
  eventually(
      [&] {
        std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
        if (m->err() == RdKafka::ERR_NO_ERROR) {
          payloads.emplace_back(static_cast<const char*>(m->payload()),
                                m->len());
        }
        return payloads.size() >= expected;
      },
      30s);
  consumer->close();
  return payloads;
}

TEST(RouterIntegration, StoresRoutesDeadLettersAndStopsCleanly) {
  chat_test::TempDir dir;
  const std::string bin = CHAT_BIN_DIR;
  Process broker({bin + "/chat-broker", "--address-file", dir.path() + "/addr",
                  "--partitions", "3"},
                 dir.path() + "/broker.log");
  ASSERT_TRUE(eventually(
      [&] { return !read_first_line(dir.path() + "/addr").empty(); }, 30s));
  const std::string brokers = read_first_line(dir.path() + "/addr");

  Process router({bin + "/chat-router", "--brokers", brokers, "--data-dir",
                  dir.path(), "--metrics-port", "0", "--instance", "r1"},
                 dir.path() + "/router.log");
  const auto listening = chat_test::wait_for_line(
      router.log_path(), "\"event\":\"endpoint_listening\"", 30s);
  ASSERT_TRUE(listening) << "router did not start\n"
                         << chat_test::tail_of(router.log_path());
  const int port =
      static_cast<int>(*chat_test::json_int_field(*listening, "port"));
  ASSERT_TRUE(eventually(
      [&] {
        auto r = chat_test::http_get(port, "/health/ready");
        return r && r->status == 200;
      },
      30s))
      << "router never became ready\n"
      << chat_test::tail_of(router.log_path());

  // 10 conversations x 20 messages, every third to WhatsApp, plus poison.
  chat::ConfirmedProducer producer(brokers);
  producer.begin_batch();
  constexpr int kConversations = 10;
  constexpr int kPerConversation = 20;
  int whatsapp = 0;
  for (int i = 0; i < kPerConversation; ++i) {
    for (int c = 0; c < kConversations; ++c) {
      chat::MessageEvent e;
      e.message_id = "m-" + std::to_string(c) + "-" + std::to_string(i);
      e.conversation_id = "conv-" + std::to_string(c);
      e.sender_id = "u_sender";
      e.content = "message " + std::to_string(i);
      e.timestamp_ms = 1;
      if ((c + i) % 3 == 0) {
        e.recipient_id = "whatsapp:+5511999990000";
        ++whatsapp;
      }
      producer.produce("messages", e.conversation_id, chat::to_json(e));
    }
  }
  producer.produce("messages", "conv-0", "{not json");
  producer.produce("messages", "conv-1",
                   R"({"message_id":"bad","conversation_id":"a b",)"
                   R"("sender_id":"u","content":"x","timestamp":1})");
  ASSERT_TRUE(producer.confirm(10s));

  auto store = chat::open_sqlite_store(dir.path() + "/chat.db");
  ASSERT_TRUE(eventually(
      [&] {
        for (int c = 0; c < kConversations; ++c) {
          if (store->history("conv-" + std::to_string(c), 100, 0)
                  .messages.size() != kPerConversation) {
            return false;
          }
        }
        return true;
      },
      30s))
      << "not every message was stored";
  for (int c = 0; c < kConversations; ++c) {
    const auto page = store->history("conv-" + std::to_string(c), 100, 0);
    for (int i = 0; i < kPerConversation; ++i) {
      ASSERT_EQ(page.messages[i].message_id,
                "m-" + std::to_string(c) + "-" + std::to_string(i))
          << "conversation order broken";
    }
  }
  EXPECT_EQ(read_topic(brokers, "whatsapp-outbound", whatsapp).size(),
            static_cast<std::size_t>(whatsapp));
  const auto dead = read_topic(brokers, "dead-letter", 2);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_NE(dead[0].find("\"reason\""), std::string::npos);

  const auto metrics = chat_test::http_get(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find(
                "chat_messages_processed_total{outcome=\"stored\"} 200\n"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find(
                "chat_messages_processed_total{outcome=\"dead_letter\"} 2\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("kafka_consumergroup_lag{"), std::string::npos);

  router.signal(SIGTERM);
  EXPECT_EQ(router.wait(20s), 0);
  EXPECT_TRUE(chat_test::wait_for_line(router.log_path(),
                                       "\"event\":\"router_stopping\"", 1s));
}

}  // namespace

// The router against the development broker. As a real process: valid
// events are stored once and in per-conversation order, platform messages
// reach the connectors' topics, poison events go to dead-letter without
// blocking their partition, and SIGTERM finishes cleanly. In process, over
// a store that fails on purpose: an event the store refuses is
// dead-lettered while the rest of its batch is stored, and a store that
// stays unavailable turns liveness red until it recovers.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events.hpp"
#include "kafka_client.hpp"
#include "process.hpp"
#include "router.hpp"
#include "stack_client.hpp"
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

/// A SQLite store that fails on purpose: it refuses (std::runtime_error,
/// as for a violated constraint) every batch holding a message whose id
/// contains "poison", and is unavailable (StoreUnavailable) while
/// `unavailable` is set.
class FaultyStore : public chat::Store {
 public:
  explicit FaultyStore(const std::string& path)
      : real_(chat::open_sqlite_store(path)) {}

  std::atomic<bool> unavailable{false};
  std::atomic<int> unavailable_calls{0};
  std::atomic<std::size_t> largest_refused{0};  // events in a refused batch

  std::size_t add_messages(
      const std::vector<chat::MessageRecord>& batch) override {
    fail_if_unavailable();
    for (const auto& m : batch) {
      if (m.message_id.find("poison") != std::string::npos) {
        largest_refused = std::max(largest_refused.load(), batch.size());
        throw std::runtime_error("CHECK constraint failed: " + m.message_id);
      }
    }
    return real_->add_messages(batch);
  }
  chat::StatusChange set_status(std::string_view message_id,
                                chat::MessageStatus to,
                                std::int64_t at_ms) override {
    fail_if_unavailable();
    return real_->set_status(message_id, to, at_ms);
  }

  bool add_user(const chat::UserRecord& user) override {
    return real_->add_user(user);
  }
  std::optional<chat::UserRecord> user_by_name(
      std::string_view username) override {
    return real_->user_by_name(username);
  }
  std::optional<chat::UserRecord> user_by_id(std::string_view id) override {
    return real_->user_by_id(id);
  }
  std::optional<chat::MessageRecord> message(
      std::string_view message_id) override {
    return real_->message(message_id);
  }
  chat::HistoryPage history(std::string_view conversation_id, std::size_t limit,
                            std::size_t offset) override {
    return real_->history(conversation_id, limit, offset);
  }
  chat::CreatedConversation create_conversation(
      const chat::ConversationRecord& conversation,
      std::string_view pair_key) override {
    return real_->create_conversation(conversation, pair_key);
  }
  std::optional<chat::ConversationRecord> conversation(
      std::string_view id) override {
    return real_->conversation(id);
  }
  chat::ConversationPage conversations_of(std::string_view user_id,
                                          std::size_t limit,
                                          std::size_t offset) override {
    return real_->conversations_of(user_id, limit, offset);
  }
  std::optional<chat::MemberRole> member_role(
      std::string_view conversation_id, std::string_view user_id) override {
    return real_->member_role(conversation_id, user_id);
  }
  chat::MemberChange add_member(std::string_view conversation_id,
                                const chat::Member& member,
                                std::size_t max_members) override {
    return real_->add_member(conversation_id, member, max_members);
  }
  chat::MemberChange remove_member(std::string_view conversation_id,
                                   std::string_view user_id) override {
    return real_->remove_member(conversation_id, user_id);
  }
  bool add_file(const chat::FileRecord& file) override {
    return real_->add_file(file);
  }
  std::optional<chat::FileRecord> file(std::string_view file_id) override {
    return real_->file(file_id);
  }
  std::uint64_t bytes_uploaded_by(std::string_view user_id) override {
    return real_->bytes_uploaded_by(user_id);
  }

 private:
  void fail_if_unavailable() {
    if (unavailable) {
      ++unavailable_calls;
      throw chat::StoreUnavailable("sqlite: database is locked");
    }
  }

  std::unique_ptr<chat::Store> real_;
};

/// A Router on its own thread (in process, so it can be given a FaultyStore),
/// stopped and joined by the destructor.
class RouterThread {
 public:
  /// The router logs to `log_path`.
  RouterThread(chat::RouterOptions options, chat::Store& store,
               const std::string& log_path)
      : log_(std::make_shared<std::ofstream>(log_path)),
        router_(std::move(options), store, registry_, log_sink(log_)) {
    thread_ = std::thread([this] {
      try {
        router_.run();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "router: " << e.what();
      }
    });
  }
  ~RouterThread() {
    router_.request_stop();
    thread_.join();
  }

  chat::Router& router() { return router_; }
  /// A sample's value from the router's metrics (0 when absent).
  double metric(const std::string& series) {
    const std::string page = registry_.scrape();
    const auto at = page.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(page.substr(at + series.size() + 2));
  }
  bool live() const {
    return router_.watchdog().check().status ==
           vigil::http::HealthStatus::kPass;
  }

 private:
  static vigil::LogSink log_sink(std::shared_ptr<std::ofstream> file) {
    auto mutex = std::make_shared<std::mutex>();
    return [file, mutex](std::string_view line) {
      std::lock_guard<std::mutex> lock(*mutex);
      *file << line << std::endl;
    };
  }

  std::shared_ptr<std::ofstream> log_;
  vigil::Registry registry_;
  chat::Router router_;
  std::thread thread_;
};

chat::MessageEvent message_event(const std::string& id,
                                 const std::string& conversation,
                                 const std::string& recipient = {}) {
  chat::MessageEvent e;
  e.message_id = id;
  e.conversation_id = conversation;
  e.sender_id = "u_sender";
  e.recipient_id = recipient;
  e.content = "content of " + id;
  e.timestamp_ms = 1;
  return e;
}

std::vector<std::string> stored_ids(chat::Store& store,
                                    const std::string& conversation) {
  std::vector<std::string> ids;
  for (const auto& m : store.history(conversation, 1000, 0).messages) {
    ids.push_back(m.message_id);
  }
  return ids;
}

/// The next offset committed by `group` on each partition of `topic`
/// (-1001: none), and the end of each partition.
std::map<int, std::pair<std::int64_t, std::int64_t>> committed_and_end(
    const std::string& brokers, const std::string& group,
    const std::string& topic, int partitions) {
  auto conf = chat::kafka_conf({{"bootstrap.servers", brokers},
                                {"group.id", group},
                                {"enable.auto.commit", "false"}});
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  std::map<int, std::pair<std::int64_t, std::int64_t>> out;
  if (!consumer) {
    ADD_FAILURE() << error;
    return out;
  }
  std::vector<RdKafka::TopicPartition*> list;
  for (int p = 0; p < partitions; ++p) {
    list.push_back(RdKafka::TopicPartition::create(topic, p));
  }
  // Not subscribed: committed() only asks the group coordinator.
  if (consumer->committed(list, 10000) == RdKafka::ERR_NO_ERROR) {
    for (const auto* tp : list) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      consumer->query_watermark_offsets(topic, tp->partition(), &low, &high,
                                        10000);
      out[tp->partition()] = {tp->offset(), high};
    }
  }
  RdKafka::TopicPartition::destroy(list);
  consumer->close();
  return out;
}

class RouterStoreFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = chat_test::start_broker(broker_, CHAT_BIN_DIR, dir_.path(),
                                       {"--partitions", "3"});
    ASSERT_FALSE(brokers_.empty())
        << chat_test::tail_of(dir_.path() + "/broker.log");
  }

  std::string log_path() const { return dir_.path() + "/router.log"; }

  chat::RouterOptions options() const {
    chat::RouterOptions o;
    o.brokers = brokers_;
    o.instance = "r-faults";
    o.session_timeout = std::chrono::milliseconds(3000);
    return o;
  }

  chat_test::TempDir dir_;
  std::unique_ptr<Process> broker_;
  std::string brokers_;
};

// One event the store refuses, in a batch of many: it goes to dead-letter
// with the store's reason (and is not forwarded), every other event of the
// batch is stored exactly once and in order, the offsets are committed, and
// the partition keeps flowing.
TEST_F(RouterStoreFaults,
       RefusedEventIsDeadLetteredAndTheRestOfItsBatchStored) {
  FaultyStore store(dir_.path() + "/chat.db");
  // Everything is produced before the router starts and a batch may wait
  // 2 s, so the poison event shares its batch with the others.
  constexpr int kConversations = 3;
  constexpr int kPerConversation = 40;
  std::map<std::string, std::vector<std::string>> expected;
  std::set<std::string> whatsapp;
  chat::ConfirmedProducer producer(brokers_);
  producer.begin_batch();
  for (int i = 0; i < kPerConversation; ++i) {
    for (int c = 0; c < kConversations; ++c) {
      const std::string conversation = "conv-" + std::to_string(c);
      const std::string id = "m-" + std::to_string(c) + "-" + std::to_string(i);
      const std::string recipient = i % 4 == 0 ? "whatsapp:+5511999990000" : "";
      producer.produce(
          "messages", conversation,
          chat::to_json(message_event(id, conversation, recipient)));
      expected[conversation].push_back(id);
      if (!recipient.empty()) whatsapp.insert(id);
    }
    if (i == kPerConversation / 2) {
      producer.produce("messages", "conv-1",
                       chat::to_json(message_event("m-poison", "conv-1",
                                                   "whatsapp:+5511999990000")));
    }
  }
  ASSERT_TRUE(producer.confirm(std::chrono::seconds(10)));

  auto o = options();
  o.max_batch_wait = std::chrono::milliseconds(2000);
  RouterThread router(o, store, log_path());
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& [conversation, ids] : expected) {
          if (stored_ids(store, conversation).size() != ids.size()) {
            return false;
          }
        }
        return true;
      },
      30s))
      << "not every good event was stored\n"
      << chat_test::tail_of(log_path());
  EXPECT_GT(store.largest_refused, 1u)
      << "the poison came alone: nothing to split";
  for (const auto& [conversation, ids] : expected) {
    EXPECT_EQ(stored_ids(store, conversation), ids)
        << conversation << ": stored out of order, or the poison with them";
  }
  EXPECT_FALSE(store.message("m-poison"));

  const auto dead = read_topic(brokers_, "dead-letter", 1);
  ASSERT_EQ(dead.size(), 1u);
  const auto letter = nlohmann::json::parse(dead[0]);
  EXPECT_NE(letter["reason"].get<std::string>().find(
                "CHECK constraint failed: m-poison"),
            std::string::npos)
      << dead[0];
  EXPECT_EQ(letter["topic"], "messages");
  EXPECT_TRUE(letter["partition"].is_number_integer());
  EXPECT_TRUE(letter["offset"].is_number_integer());
  std::string why;
  const auto payload =
      chat::parse_message_event(letter["payload"].get<std::string>(), why);
  ASSERT_TRUE(payload) << why;
  EXPECT_EQ(payload->message_id, "m-poison");
  // Only stored messages are forwarded: a connector's DELIVERED must find
  // its message.
  std::set<std::string> forwarded;
  for (const auto& event :
       read_topic(brokers_, "whatsapp-outbound", whatsapp.size())) {
    forwarded.insert(chat::parse_message_event(event, why)->message_id);
  }
  EXPECT_EQ(forwarded, whatsapp);

  const double good = kConversations * kPerConversation;
  EXPECT_EQ(router.metric("chat_messages_processed_total{outcome=\"stored\"}"),
            good);
  EXPECT_EQ(
      router.metric("chat_messages_processed_total{outcome=\"duplicate\"}"), 0)
      << "something was stored twice";
  EXPECT_EQ(
      router.metric("chat_messages_processed_total{outcome=\"dead_letter\"}"),
      1);
  EXPECT_EQ(router.metric("chat_dead_letter_total{reason=\"store_refused\"}"),
            1);
  EXPECT_GE(
      router.metric("chat_router_store_failures_total{reason=\"refused\"}"), 1);
  EXPECT_EQ(
      router.metric("chat_router_store_failures_total{reason=\"unavailable\"}"),
      0);

  // The partitions keep flowing: a later event is stored, and every offset
  // up to the end is committed (the poison's too).
  producer.begin_batch();
  producer.produce("messages", "conv-1",
                   chat::to_json(message_event("m-later", "conv-1")));
  ASSERT_TRUE(producer.confirm(std::chrono::seconds(10)));
  EXPECT_TRUE(
      eventually([&] { return store.message("m-later").has_value(); }, 30s));
  std::string last;
  EXPECT_TRUE(eventually(
      [&] {
        const auto offsets =
            committed_and_end(brokers_, o.group, "messages", 3);
        last.clear();
        for (const auto& [partition, committed_end] : offsets) {
          last += " " + std::to_string(partition) + ": " +
                  std::to_string(committed_end.first) + " of " +
                  std::to_string(committed_end.second);
        }
        if (offsets.size() != 3) return false;
        for (const auto& [partition, committed_end] : offsets) {
          // An empty partition has nothing to commit.
          const auto [committed, end] = committed_end;
          if (end > 0 && committed != end) return false;
        }
        return true;
      },
      30s))
      << "offsets not committed up to the end (partition: committed of "
         "end):"
      << last;
  EXPECT_TRUE(router.live());
}

// A store that stays unavailable: the batch is retried (nothing is
// dead-lettered), liveness turns red within its threshold so a supervisor
// would restart the router, and green again once the store recovers and the
// batch is stored once.
TEST_F(RouterStoreFaults, UnavailableStoreTurnsLivenessRedUntilItRecovers) {
  FaultyStore store(dir_.path() + "/chat.db");
  store.unavailable = true;
  auto o = options();
  o.liveness_threshold = std::chrono::milliseconds(1500);
  o.retry_backoff = std::chrono::milliseconds(50);
  RouterThread router(o, store, log_path());
  // Idle, the poll loop keeps liveness green past the threshold.
  std::this_thread::sleep_for(o.liveness_threshold * 2);  // the point: time
  EXPECT_TRUE(router.live());

  chat::ConfirmedProducer producer(brokers_);
  producer.begin_batch();
  for (int i = 0; i < 20; ++i) {
    producer.produce(
        "messages", "conv-u",
        chat::to_json(message_event("u-" + std::to_string(i), "conv-u")));
  }
  ASSERT_TRUE(producer.confirm(std::chrono::seconds(10)));
  ASSERT_TRUE(eventually([&] { return store.unavailable_calls > 0; }, 30s))
      << "the router never tried to store";
  const auto first_failure = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      eventually([&] { return !router.live(); }, o.liveness_threshold + 2s))
      << "a router stuck on an unavailable store stays live\n"
      << chat_test::tail_of(log_path());
  const auto red_after = std::chrono::steady_clock::now() - first_failure;
  std::cout << "[ liveness ] red "
            << std::chrono::duration_cast<std::chrono::milliseconds>(red_after)
                   .count()
            << " ms after the first failed store (threshold "
            << o.liveness_threshold.count() << " ms)\n";
  EXPECT_GT(store.unavailable_calls, 2) << "the batch is retried";
  EXPECT_GE(
      router.metric("chat_router_store_failures_total{reason=\"unavailable\"}"),
      2);
  const auto readiness = router.router().check_ready(1000ms);
  EXPECT_EQ(readiness.status, vigil::http::HealthStatus::kFail);
  EXPECT_NE(readiness.output.find("could not be stored"), std::string::npos)
      << readiness.output;

  store.unavailable = false;
  ASSERT_TRUE(eventually([&] { return router.live(); }, 10s))
      << "liveness stays red after the store recovered";
  ASSERT_TRUE(eventually(
      [&] { return stored_ids(store, "conv-u").size() == 20; }, 30s));
  EXPECT_EQ(router.metric("chat_messages_processed_total{outcome=\"stored\"}"),
            20);
  EXPECT_EQ(
      router.metric("chat_messages_processed_total{outcome=\"dead_letter\"}"),
      0)
      << "an unavailable store is waited out, not dead-lettered";
  EXPECT_EQ(router.metric("chat_dead_letter_total{reason=\"store_refused\"}"),
            0);
}

}  // namespace

#include "store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/chat-store-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = chat::open_sqlite_store(path());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string path() const { return dir_ + "/chat.db"; }

  static chat::MessageRecord message(const std::string& id,
                                     const std::string& conversation,
                                     const std::string& recipient = "") {
    chat::MessageRecord m;
    m.message_id = id;
    m.conversation_id = conversation;
    m.sender_id = "u_sender";
    m.recipient_id = recipient;
    m.content = "hello " + id;
    m.timestamp_ms = 1000;
    return m;
  }

  std::string dir_;
  std::unique_ptr<chat::Store> store_;
};

TEST_F(StoreTest, UsersAreUniqueByName) {
  EXPECT_TRUE(store_->add_user({"u_1", "alice", "hash", 5}));
  EXPECT_FALSE(store_->add_user({"u_2", "alice", "other", 6}));
  const auto alice = store_->user_by_name("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->id, "u_1");
  EXPECT_EQ(alice->password_hash, "hash");
  EXPECT_EQ(store_->user_by_id("u_1")->username, "alice");
  EXPECT_FALSE(store_->user_by_name("bob"));
}

TEST_F(StoreTest, AddingMessagesIsIdempotentByMessageId) {
  EXPECT_EQ(store_->add_messages({message("m1", "c"), message("m2", "c")}), 2u);
  auto replay = message("m1", "c");
  replay.content = "changed";
  EXPECT_EQ(store_->add_messages({replay, message("m3", "c")}), 1u);
  EXPECT_EQ(store_->message("m1")->content, "hello m1");
  EXPECT_EQ(store_->history("c", 10, 0).messages.size(), 3u);
}

TEST_F(StoreTest, HistoryKeepsStoreOrderAndPaginates) {
  std::vector<chat::MessageRecord> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(message("m" + std::to_string(i), "c"));
  store_->add_messages(batch);
  store_->add_messages({message("other", "d")});
  const auto first = store_->history("c", 2, 0);
  ASSERT_EQ(first.messages.size(), 2u);
  EXPECT_EQ(first.messages[0].message_id, "m0");
  EXPECT_EQ(first.messages[1].message_id, "m1");
  EXPECT_TRUE(first.has_more);
  const auto last = store_->history("c", 2, 4);
  ASSERT_EQ(last.messages.size(), 1u);
  EXPECT_EQ(last.messages[0].message_id, "m4");
  EXPECT_FALSE(last.has_more);
  EXPECT_TRUE(store_->history("nope", 10, 0).messages.empty());
}

TEST_F(StoreTest, SendersAndRecipientsAreParticipants) {
  store_->add_messages({message("m1", "c", "u_reader")});
  EXPECT_TRUE(store_->is_participant("c", "u_sender"));
  EXPECT_TRUE(store_->is_participant("c", "u_reader"));
  EXPECT_FALSE(store_->is_participant("c", "u_stranger"));
  EXPECT_FALSE(store_->is_participant("other", "u_sender"));
}

TEST_F(StoreTest, StatusFollowsTheLifecycle) {
  store_->add_messages({message("wa", "c", "whatsapp:+5511999998888"),
                        message("local", "c", "u_reader")});
  using chat::MessageStatus;
  using chat::Transition;
  EXPECT_EQ(store_->set_status("wa", MessageStatus::kRead, 10).outcome,
            Transition::kInvalid);
  EXPECT_EQ(store_->set_status("wa", MessageStatus::kPending, 10).outcome,
            Transition::kApply);
  auto delivered = store_->set_status("wa", MessageStatus::kDelivered, 20);
  EXPECT_EQ(delivered.outcome, Transition::kApply);
  EXPECT_EQ(delivered.message->delivered_at_ms, 20);
  // A late PENDING never moves it back.
  EXPECT_EQ(store_->set_status("wa", MessageStatus::kPending, 30).outcome,
            Transition::kNoop);
  auto read = store_->set_status("wa", MessageStatus::kRead, 40);
  EXPECT_EQ(read.outcome, Transition::kApply);
  EXPECT_EQ(read.message->read_at_ms, 40);
  auto again = store_->set_status("wa", MessageStatus::kRead, 50);
  EXPECT_EQ(again.outcome, Transition::kNoop);
  EXPECT_EQ(again.message->read_at_ms, 40);  // the first read time stays
  EXPECT_EQ(store_->message("wa")->status, MessageStatus::kRead);

  EXPECT_EQ(store_->set_status("local", MessageStatus::kRead, 60).outcome,
            Transition::kApply);
  EXPECT_FALSE(store_->set_status("missing", MessageStatus::kRead, 1).message);
}

TEST_F(StoreTest, DataSurvivesReopening) {
  store_->add_user({"u_1", "alice", "hash", 5});
  store_->add_messages({message("m1", "c")});
  store_.reset();
  store_ = chat::open_sqlite_store(path());
  EXPECT_TRUE(store_->user_by_name("alice"));
  EXPECT_TRUE(store_->message("m1"));
}

TEST_F(StoreTest, TwoConnectionsWriteConcurrentlyWithoutLoss) {
  auto second = chat::open_sqlite_store(path());
  auto writer = [](chat::Store& store, const std::string& prefix) {
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<chat::MessageRecord> messages;
      for (int i = 0; i < 10; ++i) {
        messages.push_back(
            message(prefix + std::to_string(batch * 10 + i), "c-" + prefix));
      }
      store.add_messages(messages);
    }
  };
  std::thread a([&] { writer(*store_, "a"); });
  std::thread b([&] { writer(*second, "b"); });
  a.join();
  b.join();
  EXPECT_EQ(store_->history("c-a", 1000, 0).messages.size(), 200u);
  EXPECT_EQ(store_->history("c-b", 1000, 0).messages.size(), 200u);
}

TEST_F(StoreTest, AWriterGivesUpOnceTheLockIsHeldPastItsBusyTimeout) {
  chat::SqliteStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(100);
  auto waiter = chat::open_sqlite_store(path(), options);
  // Another process holding the write lock, as a router mid-commit would.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  const auto started = std::chrono::steady_clock::now();
  try {
    waiter->add_messages({message("m1", "c")});
    ADD_FAILURE() << "wrote while another connection held the lock";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos)
        << e.what();
  }
  // It waited for the lock first (a lower bound: the wait is the point).
  EXPECT_GE(std::chrono::steady_clock::now() - started, options.busy_timeout);
  // Once the lock is free the same connection writes again.
  ASSERT_EQ(sqlite3_exec(holder, "COMMIT", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(holder);
  waiter->add_messages({message("m1", "c")});
  EXPECT_TRUE(store_->message("m1"));
}

TEST_F(StoreTest, ManyConnectionsOpenANewStoreAtOnce) {
  // Services start together and open the same new file: none may fail.
  for (int round = 0; round < 10; ++round) {
    const std::string path = dir_ + "/race-" + std::to_string(round) + ".db";
    std::atomic<int> failures{0};
    std::vector<std::thread> openers;
    for (int t = 0; t < 4; ++t) {
      openers.emplace_back([&, t] {
        try {
          auto store = chat::open_sqlite_store(path);
          store->add_user({"u_" + std::to_string(t), "user" + std::to_string(t),
                           "hash", 1});
        } catch (const std::exception&) {
          ++failures;
        }
      });
    }
    for (auto& opener : openers) opener.join();
    ASSERT_EQ(failures.load(), 0) << "round " << round;
    EXPECT_TRUE(chat::open_sqlite_store(path)->user_by_name("user3"));
  }
}

TEST(Store, UnopenablePathThrowsWithTheReason) {
  EXPECT_THROW(chat::open_sqlite_store("/nonexistent-dir/x/chat.db"),
               std::runtime_error);
}

TEST_F(StoreTest, FilesAreStoredOnceByIdWithTheirMetadata) {
  chat::FileRecord f{"f_1", "c1",     "u_1",          "a.txt", "text/plain",
                     123,   "abc123", "files/c1/f_1", 777};
  EXPECT_TRUE(store_->add_file(f));
  chat::FileRecord again = f;
  again.filename = "other";
  EXPECT_FALSE(store_->add_file(again));
  const auto stored = store_->file("f_1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->conversation_id, "c1");
  EXPECT_EQ(stored->uploader_id, "u_1");
  EXPECT_EQ(stored->filename, "a.txt");
  EXPECT_EQ(stored->content_type, "text/plain");
  EXPECT_EQ(stored->size, 123u);
  EXPECT_EQ(stored->checksum, "abc123");
  EXPECT_EQ(stored->blob_key, "files/c1/f_1");
  EXPECT_EQ(stored->uploaded_at_ms, 777);
  EXPECT_FALSE(store_->file("f_2"));
  // Sizes past 4 GiB survive the round trip.
  f.file_id = "f_big";
  f.size = 5ULL << 30;
  ASSERT_TRUE(store_->add_file(f));
  EXPECT_EQ(store_->file("f_big")->size, 5ULL << 30);
}

TEST_F(StoreTest, TheFirstUserOfANewConversationJoinsIt) {
  EXPECT_TRUE(store_->join_if_new("fresh", "u_first"));
  EXPECT_TRUE(store_->is_participant("fresh", "u_first"));
  EXPECT_TRUE(store_->join_if_new("fresh", "u_first"));
  EXPECT_FALSE(store_->join_if_new("fresh", "u_stranger"));
  EXPECT_FALSE(store_->is_participant("fresh", "u_stranger"));
  // A conversation with stored messages has its participants already.
  store_->add_messages({message("m1", "busy", "u_recipient")});
  EXPECT_TRUE(store_->join_if_new("busy", "u_sender"));
  EXPECT_TRUE(store_->join_if_new("busy", "u_recipient"));
  EXPECT_FALSE(store_->join_if_new("busy", "u_other"));
}

TEST_F(StoreTest, OnlyOneOfManyConcurrentFirstUsersJoins) {
  constexpr int kUsers = 8;
  std::atomic<int> joined{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUsers; ++i) {
    threads.emplace_back([&, i] {
      auto own = chat::open_sqlite_store(path());  // as separate processes
      if (own->join_if_new("race", "u_" + std::to_string(i))) ++joined;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(joined.load(), 1);
}

}  // namespace

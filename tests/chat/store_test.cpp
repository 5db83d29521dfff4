#include "store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "postgres_cluster.hpp"
#include "postgres_store.hpp"
#include "process.hpp"
#include "sqlite_lock.hpp"

namespace {

chat::MessageRecord message(const std::string& id,
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

/// The throwaway server, or a skip with the reason (no PostgreSQL here).
#define GET_POSTGRES_OR_SKIP(cluster)                                    \
  do {                                                                   \
    std::string why;                                                     \
    (cluster) = chat_test::PostgresCluster::get(&why);                   \
    if (!(cluster)) GTEST_SKIP() << "PostgreSQL tests skipped: " << why; \
  } while (false)

enum class Backend { kSqlite, kPostgres };

/// The contract every Store keeps, run against each backend: a SQLite file
/// in a temporary directory, or a fresh database on the test process's
/// PostgreSQL server. Both are opened through open_store(), by path or URL.
class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) GET_POSTGRES_OR_SKIP(pg_);
    url_ = new_database();
    store_ = open();
  }
  void TearDown() override { store_.reset(); }

  /// Another connection to the test's database, as another process's.
  std::unique_ptr<chat::Store> open() const { return chat::open_store(url_); }
  /// An empty database of the test's backend: its path or URL.
  std::string new_database() {
    if (pg_) return pg_->create_database();
    return dir_.path() + "/chat-" + std::to_string(++files_) + ".db";
  }

  chat_test::TempDir dir_;
  chat_test::PostgresCluster* pg_ = nullptr;
  int files_ = 0;
  std::string url_;
  std::unique_ptr<chat::Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

/// What only the SQLite store does: its file lock and page limit.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = chat::open_sqlite_store(path()); }
  std::string path() const { return dir_.path() + "/chat.db"; }

  chat_test::TempDir dir_;
  std::unique_ptr<chat::Store> store_;
};

TEST_P(StoreTest, UsersAreUniqueByName) {
  EXPECT_TRUE(store_->add_user({"u_1", "alice", "hash", 5}));
  EXPECT_FALSE(store_->add_user({"u_2", "alice", "other", 6}));
  const auto alice = store_->user_by_name("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->id, "u_1");
  EXPECT_EQ(alice->password_hash, "hash");
  EXPECT_EQ(store_->user_by_id("u_1")->username, "alice");
  EXPECT_FALSE(store_->user_by_name("bob"));
}

TEST_P(StoreTest, AddingMessagesIsIdempotentByMessageId) {
  EXPECT_EQ(store_->add_messages({message("m1", "c"), message("m2", "c")}), 2u);
  auto replay = message("m1", "c");
  replay.content = "changed";
  EXPECT_EQ(store_->add_messages({replay, message("m3", "c")}), 1u);
  EXPECT_EQ(store_->message("m1")->content, "hello m1");
  EXPECT_EQ(store_->history("c", 10, 0).messages.size(), 3u);
}

TEST_P(StoreTest, HistoryKeepsStoreOrderAndPaginates) {
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

TEST_P(StoreTest, StoringMessagesNeverAddsMembers) {
  // Membership comes from the API only: a message in a stream (even one a
  // stranger managed to publish) grants nobody anything.
  store_->add_messages({message("m1", "c", "u_reader")});
  EXPECT_FALSE(store_->member_role("c", "u_sender"));
  EXPECT_FALSE(store_->member_role("c", "u_reader"));
  EXPECT_FALSE(store_->conversation("c"));
}

TEST_P(StoreTest, StatusFollowsTheLifecycle) {
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

TEST_P(StoreTest, DataSurvivesReopening) {
  store_->add_user({"u_1", "alice", "hash", 5});
  store_->add_messages({message("m1", "c")});
  store_.reset();
  store_ = open();
  EXPECT_TRUE(store_->user_by_name("alice"));
  EXPECT_TRUE(store_->message("m1"));
}

TEST_P(StoreTest, TwoConnectionsWriteConcurrentlyWithoutLoss) {
  auto second = open();
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

TEST_F(SqliteStoreTest, AWriterGivesUpOnceTheLockIsHeldPastItsBusyTimeout) {
  chat::SqliteStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(100);
  auto waiter = chat::open_sqlite_store(path(), options);
  // Another process holding the write lock, as a router mid-commit would.
  chat_test::SqliteWriteLock holder(path());
  const auto started = std::chrono::steady_clock::now();
  try {
    waiter->add_messages({message("m1", "c")});
    ADD_FAILURE() << "wrote while another connection held the lock";
  } catch (const chat::StoreUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos)
        << e.what();
  }
  // It waited for the lock first (a lower bound: the wait is the point).
  EXPECT_GE(std::chrono::steady_clock::now() - started, options.busy_timeout);
  // Once the lock is free the same connection writes again.
  holder.release();
  waiter->add_messages({message("m1", "c")});
  EXPECT_TRUE(store_->message("m1"));
}

TEST_F(SqliteStoreTest, AStatementThatFailedBusyWorksOnceTheLockIsFree) {
  // One busy step used to leave its statement answering SQLITE_MISUSE
  // until the process ended: every later register failed.
  chat::SqliteStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto waiter = chat::open_sqlite_store(path(), options);
  chat_test::SqliteWriteLock holder(path());
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      waiter->add_user({"u_1", "alice", "hash", 1});
      ADD_FAILURE() << "wrote while another connection held the lock";
    } catch (const chat::StoreUnavailable& e) {
      // Busy both times: not "bad parameter or other API misuse".
      EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos)
          << e.what();
    }
  }
  holder.release();
  EXPECT_TRUE(waiter->add_user({"u_1", "alice", "hash", 1}));
  EXPECT_EQ(waiter->user_by_name("alice")->id, "u_1");
}

TEST_F(SqliteStoreTest, AFullDiskIsUnavailableNotABug) {
  // SQLite's page limit stands in for a full disk: the same SQLITE_FULL.
  chat::SqliteStoreOptions options;
  options.max_page_count = 40;
  auto store = chat::open_sqlite_store(path(), options);
  std::vector<chat::MessageRecord> batch;
  for (int i = 0; i < 400; ++i) {
    batch.push_back(message("m" + std::to_string(i), "c"));
    batch.back().content = std::string(1000, 'x');
  }
  EXPECT_THROW(store->add_messages(batch), chat::StoreUnavailable);
  // The failed batch left nothing half-written, and smaller writes go on.
  EXPECT_FALSE(store->message("m0"));
  EXPECT_EQ(store->add_messages({message("small", "c")}), 1u);
}

TEST_P(StoreTest, ManyConnectionsOpenANewStoreAtOnce) {
  // Services start together and open the same new database (migrating
  // it): none may fail.
  for (int round = 0; round < 10; ++round) {
    const std::string url = new_database();
    std::atomic<int> failures{0};
    std::vector<std::thread> openers;
    for (int t = 0; t < 4; ++t) {
      openers.emplace_back([&, t] {
        try {
          auto store = chat::open_store(url);
          store->add_user({"u_" + std::to_string(t), "user" + std::to_string(t),
                           "hash", 1});
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      });
    }
    for (auto& opener : openers) opener.join();
    ASSERT_EQ(failures.load(), 0) << "round " << round;
    EXPECT_TRUE(chat::open_store(url)->user_by_name("user3"));
  }
}

TEST_P(StoreTest, ALargeBatchIsStoredWholeInOrder) {
  // Larger than one multi-row INSERT of the PostgreSQL store.
  std::vector<chat::MessageRecord> batch;
  for (int i = 0; i < 2500; ++i) {
    batch.push_back(message("m" + std::to_string(i), "c"));
  }
  batch.push_back(message("m7", "c"));  // a duplicate within the batch
  EXPECT_EQ(store_->add_messages(batch), 2500u);
  const auto page = store_->history("c", 3000, 0);
  ASSERT_EQ(page.messages.size(), 2500u);
  for (int i = 0; i < 2500; ++i) {
    ASSERT_EQ(page.messages[static_cast<std::size_t>(i)].message_id,
              "m" + std::to_string(i));
  }
  EXPECT_EQ(store_->add_messages(batch), 0u);
}

TEST(Store, UnopenablePathThrowsWithTheReason) {
  EXPECT_THROW(chat::open_sqlite_store("/nonexistent-dir/x/chat.db"),
               std::runtime_error);
}

TEST_P(StoreTest, FilesAreStoredOnceByIdWithTheirMetadata) {
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

chat::ConversationRecord conversation(const std::string& id,
                                      chat::ConversationType type,
                                      std::vector<std::string> users) {
  chat::ConversationRecord c{id, type, "", users.front(), 100, {}};
  for (const auto& u : users) {
    c.members.push_back({u,
                         u == users.front() ? chat::MemberRole::kAdmin
                                            : chat::MemberRole::kMember,
                         100});
  }
  return c;
}

TEST_P(StoreTest, AConversationIsCreatedOnceWithItsMembers) {
  using chat::ConversationType;
  const auto first = store_->create_conversation(
      conversation("c1", ConversationType::kGroup, {"u_a", "u_b"}), {});
  EXPECT_TRUE(first.created);
  ASSERT_EQ(first.conversation.members.size(), 2u);
  EXPECT_EQ(first.conversation.created_by, "u_a");
  EXPECT_EQ(store_->member_role("c1", "u_a"), chat::MemberRole::kAdmin);
  EXPECT_EQ(store_->member_role("c1", "u_b"), chat::MemberRole::kMember);
  EXPECT_FALSE(store_->member_role("c1", "u_stranger"));
  // The same id again returns what is stored; the newcomer is not added.
  const auto again = store_->create_conversation(
      conversation("c1", ConversationType::kPrivate, {"u_stranger"}), {});
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.conversation.type, ConversationType::kGroup);
  EXPECT_FALSE(store_->member_role("c1", "u_stranger"));
}

TEST_P(StoreTest, APairHasOnePrivateConversation) {
  using chat::ConversationType;
  const auto first = store_->create_conversation(
      conversation("p1", ConversationType::kPrivate, {"u_a", "u_b"}),
      "u_a u_b");
  const auto second = store_->create_conversation(
      conversation("p2", ConversationType::kPrivate, {"u_b", "u_a"}),
      "u_a u_b");
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.conversation.id, "p1");
  EXPECT_FALSE(store_->conversation("p2"));
}

TEST_P(StoreTest, OnlyOneOfManyConcurrentCreatorsWins) {
  constexpr int kUsers = 8;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUsers; ++i) {
    threads.emplace_back([&, i] {
      auto own = open();  // as separate processes
      if (own->create_conversation(
                 conversation("race", chat::ConversationType::kPrivate,
                              {"u_" + std::to_string(i)}),
                 {})
              .created) {
        ++created;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(store_->conversation("race")->members.size(), 1u);
}

TEST_P(StoreTest, MembersAreAddedUpToTheLimitAndRemoved) {
  store_->create_conversation(
      conversation("g", chat::ConversationType::kGroup, {"u_a"}), {});
  const chat::Member b{"u_b", chat::MemberRole::kMember, 200};
  EXPECT_EQ(store_->add_member("g", b, 2), chat::MemberChange::kDone);
  EXPECT_EQ(store_->add_member("g", b, 2), chat::MemberChange::kUnchanged);
  EXPECT_EQ(store_->add_member("g", {"u_c", chat::MemberRole::kMember, 300}, 2),
            chat::MemberChange::kFull);
  EXPECT_EQ(store_->add_member("nope", b, 2),
            chat::MemberChange::kNoConversation);
  EXPECT_EQ(store_->remove_member("g", "u_b"), chat::MemberChange::kDone);
  EXPECT_EQ(store_->remove_member("g", "u_b"), chat::MemberChange::kUnchanged);
  EXPECT_FALSE(store_->member_role("g", "u_b"));
  EXPECT_EQ(store_->add_member("g", {"u_c", chat::MemberRole::kMember, 300}, 2),
            chat::MemberChange::kDone);
}

TEST_P(StoreTest, AUsersConversationsPageInTheOrderJoined) {
  for (int i = 0; i < 5; ++i) {
    auto c = conversation("c" + std::to_string(i),
                          chat::ConversationType::kGroup, {"u_a"});
    c.members[0].joined_at_ms = 100 + i;
    store_->create_conversation(c, {});
  }
  store_->create_conversation(
      conversation("other", chat::ConversationType::kGroup, {"u_b"}), {});
  const auto first = store_->conversations_of("u_a", 3, 0);
  ASSERT_EQ(first.conversations.size(), 3u);
  EXPECT_EQ(first.conversations[0].id, "c0");
  EXPECT_EQ(first.conversations[2].id, "c2");
  EXPECT_TRUE(first.has_more);
  const auto rest = store_->conversations_of("u_a", 3, 3);
  ASSERT_EQ(rest.conversations.size(), 2u);
  EXPECT_EQ(rest.conversations[1].id, "c4");
  EXPECT_FALSE(rest.has_more);
}

TEST_P(StoreTest, MessagesKeepTheirContentType) {
  auto m = message("m1", "c");
  m.content_type = "text/markdown";
  store_->add_messages({m, message("m2", "c")});
  EXPECT_EQ(store_->message("m1")->content_type, "text/markdown");
  EXPECT_EQ(store_->history("c", 10, 0).messages[1].content_type, "text/plain");
}

/// Runs `sql` on the database at `path` with a connection of its own.
void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(StoreMigration, ADatabaseOfTheFirstSchemaIsUpgradedInPlace) {
  const chat_test::TempDir dir;
  const std::string path = dir.path() + "/old.db";
  // The schema as the first release wrote it (no user_version), with a
  // conversation whose participants were whoever posted in it.
  run_sql(path, R"sql(
CREATE TABLE users(id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE messages(seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL,
  sender_id TEXT NOT NULL, recipient_id TEXT NOT NULL, content TEXT NOT NULL,
  file_id TEXT NOT NULL, timestamp INTEGER NOT NULL, status TEXT NOT NULL,
  delivered_at INTEGER NOT NULL DEFAULT 0, read_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
CREATE TABLE participants(conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL, PRIMARY KEY(conversation_id, user_id)) WITHOUT ROWID;
CREATE TABLE files(file_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,
  uploader_id TEXT NOT NULL, filename TEXT NOT NULL,
  content_type TEXT NOT NULL, size INTEGER NOT NULL, checksum TEXT NOT NULL,
  blob_key TEXT NOT NULL, uploaded_at INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO users VALUES('u_a', 'alice', 'h', 1);
INSERT INTO messages(message_id, conversation_id, sender_id, recipient_id,
  content, file_id, timestamp, status)
  VALUES('m1', 'old', 'u_a', 'u_b', 'hi', '', 5, 'SENT');
INSERT INTO participants VALUES('old', 'u_a'), ('old', 'u_b'),
  ('crowd', 'u_a'), ('crowd', 'u_b'), ('crowd', 'u_c');
)sql");
  auto store = chat::open_sqlite_store(path);
  EXPECT_EQ(store->user_by_name("alice")->id, "u_a");
  const auto m = store->message("m1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->content_type, "text/plain");
  const auto old = store->conversation("old");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->type, chat::ConversationType::kPrivate);
  EXPECT_EQ(old->members.size(), 2u);
  EXPECT_EQ(store->member_role("old", "u_b"), chat::MemberRole::kMember);
  EXPECT_EQ(store->conversation("crowd")->type, chat::ConversationType::kGroup);
  store.reset();
  // Opening again finds nothing to do.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &version, nullptr);
  ASSERT_EQ(sqlite3_step(version), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(version, 0), chat::kSqliteSchemaVersion);
  sqlite3_finalize(version);
  sqlite3_close(db);
  EXPECT_TRUE(chat::open_sqlite_store(path)->conversation("old"));
}

TEST(StoreMigration, ADatabaseOfANewerSchemaIsRefused) {
  const chat_test::TempDir dir;
  const std::string path = dir.path() + "/new.db";
  run_sql(path, "PRAGMA user_version = " +
                    std::to_string(chat::kSqliteSchemaVersion + 1));
  try {
    chat::open_sqlite_store(path);
    ADD_FAILURE() << "opened a database of a newer schema";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version"), std::string::npos)
        << e.what();
  }
}

/// What only the PostgreSQL store does: its schema table and reconnecting.
class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GET_POSTGRES_OR_SKIP(pg_);
    url_ = pg_->create_database();
  }
  chat_test::PostgresCluster* pg_ = nullptr;
  std::string url_;
};

TEST_F(PostgresStoreTest, ANewDatabaseGetsEachMigrationOnce) {
  chat::open_postgres_store(url_);
  chat::open_postgres_store(url_);  // finds nothing to do
  using chat_test::PostgresCluster;
  EXPECT_EQ(
      PostgresCluster::query(url_, "SELECT MAX(version) FROM schema_version"),
      std::to_string(chat::kPostgresSchemaVersion));
  EXPECT_EQ(PostgresCluster::query(url_, "SELECT COUNT(*) FROM schema_version"),
            std::to_string(chat::kPostgresSchemaVersion));
}

TEST_F(PostgresStoreTest, ADatabaseOfANewerSchemaIsRefused) {
  chat::open_postgres_store(url_);
  chat_test::PostgresCluster::query(
      url_, "INSERT INTO schema_version(version) VALUES(" +
                std::to_string(chat::kPostgresSchemaVersion + 1) + ")");
  try {
    chat::open_postgres_store(url_);
    ADD_FAILURE() << "opened a database of a newer schema";
  } catch (const chat::StoreUnavailable& e) {
    ADD_FAILURE() << "refused as if the server were down: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version"), std::string::npos)
        << e.what();
  }
}

TEST_F(PostgresStoreTest, ACrashedServerIsUnavailableUntilItIsBack) {
  auto store = chat::open_postgres_store(url_);
  ASSERT_EQ(store->add_messages({message("m1", "c")}), 1u);
  pg_->stop_immediate();
  // Callers answer 503 and retry, on the same store object.
  EXPECT_THROW(store->add_messages({message("m2", "c")}),
               chat::StoreUnavailable);
  EXPECT_THROW(store->message("m1"), chat::StoreUnavailable);
  EXPECT_THROW(store->add_user({"u_1", "alice", "hash", 1}),
               chat::StoreUnavailable);
  pg_->start();
  EXPECT_EQ(store->add_messages({message("m2", "c")}), 1u);
  EXPECT_TRUE(store->message("m1"));
  EXPECT_EQ(store->history("c", 10, 0).messages.size(), 2u);
  EXPECT_TRUE(store->add_user({"u_1", "alice", "hash", 1}));
}

TEST_F(PostgresStoreTest, TheFirstCallAfterARestartSucceeds) {
  // The server restarted while the store's connection was idle: the store
  // notices the closed connection before it sends anything.
  auto store = chat::open_postgres_store(url_);
  ASSERT_TRUE(store->add_user({"u_1", "alice", "hash", 1}));
  pg_->stop_immediate();
  pg_->start();
  EXPECT_EQ(store->user_by_name("alice")->id, "u_1");
}

TEST_F(PostgresStoreTest, TextWithANulByteIsRefusedNotCutShort) {
  auto store = chat::open_postgres_store(url_);
  auto m = message("m1", "c");
  m.content = std::string("before\0after", 12);
  EXPECT_THROW(store->add_messages({m}), std::runtime_error);
  EXPECT_FALSE(store->message("m1"));
  EXPECT_EQ(store->add_messages({message("m2", "c")}), 1u);
}

TEST(PostgresStore, AnUnreachableServerIsUnavailable) {
  // Port 1: nothing listens there, the connection is refused at once.
  EXPECT_THROW(
      chat::open_postgres_store("postgresql://postgres@127.0.0.1:1/chat"),
      chat::StoreUnavailable);
}

TEST(Store, TheUrlSelectsTheBackend) {
  EXPECT_TRUE(chat::is_postgres_url("postgresql://db/chat"));
  EXPECT_TRUE(chat::is_postgres_url("postgres://u@db:5432/chat"));
  EXPECT_FALSE(chat::is_postgres_url("/var/lib/chat4all/chat.db"));
  EXPECT_FALSE(chat::is_postgres_url("postgresql.db"));
  // A path opens SQLite, even one that mentions PostgreSQL.
  const chat_test::TempDir dir;
  EXPECT_TRUE(chat::open_store(dir.path() + "/postgresql:x.db"));
}

}  // namespace

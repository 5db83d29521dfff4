// SQLite implementation of Store: one connection per process behind a mutex,
// WAL so readers in other processes do not block the writer, and a busy
// handler so several routers can share the file.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "store.hpp"

namespace chat {
namespace {

// The schema as migrations: entry i takes a database from version i to
// i + 1 (PRAGMA user_version). A migration that has shipped is never edited;
// a change is a new entry. Version 1 is the schema of the first release,
// which kept no version: it is written so that it also applies to such a
// database.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE IF NOT EXISTS users(
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  conversation_id TEXT NOT NULL,
  sender_id TEXT NOT NULL,
  recipient_id TEXT NOT NULL,
  content TEXT NOT NULL,
  file_id TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  status TEXT NOT NULL,
  delivered_at INTEGER NOT NULL DEFAULT 0,
  read_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_by_conversation
  ON messages(conversation_id, seq);
CREATE TABLE IF NOT EXISTS participants(
  conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY(conversation_id, user_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
  file_id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  uploader_id TEXT NOT NULL,
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  blob_key TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // 2: explicit conversations and members. Until now a conversation's
    // participants were whoever posted in it: they become its members (no
    // admins: nobody may add to such a group, everybody may leave).
    R"sql(
CREATE TABLE conversations(
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  pair_key TEXT UNIQUE);
CREATE TABLE members(
  conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL,
  joined_at INTEGER NOT NULL,
  PRIMARY KEY(conversation_id, user_id)) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, joined_at);
CREATE INDEX files_by_uploader ON files(uploader_id);
INSERT INTO conversations(id, type, name, created_by, created_at)
  SELECT conversation_id,
         CASE WHEN COUNT(*) > 2 THEN 'group' ELSE 'private' END, '',
         MIN(user_id), 0
  FROM participants GROUP BY conversation_id;
INSERT INTO members(conversation_id, user_id, role, joined_at)
  SELECT conversation_id, user_id, 'member', 0 FROM participants;
DROP TABLE participants;
ALTER TABLE messages ADD COLUMN content_type TEXT NOT NULL
  DEFAULT 'text/plain';
)sql",
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion,
              "one migration per schema version");

constexpr const char* kFileColumns =
    "file_id, conversation_id, uploader_id, filename, content_type, size, "
    "checksum, blob_key, uploaded_at";

constexpr const char* kMessageColumns =
    "message_id, conversation_id, sender_id, recipient_id, content, file_id, "
    "timestamp, status, delivered_at, read_at, content_type";

/// Errors that say the database cannot answer now rather than that the
/// statement is wrong: they become StoreUnavailable (503, retry).
bool unavailable(int rc) {
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void fail(int rc, const std::string& what) {
  if (unavailable(rc)) throw StoreUnavailable("sqlite " + what);
  throw std::runtime_error("sqlite " + what);
}

/// A prepared statement, reset after every use.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &stmt_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("sqlite prepare: ") +
                               sqlite3_errmsg(db) + " in " + sql);
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(stmt_, index, text.data(),
                            static_cast<int>(text.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Statement& bind_null(int index) {
    check(sqlite3_bind_null(stmt_, index));
    return *this;
  }
  /// True while a row is available. A failed step resets the statement:
  /// otherwise its next use answers SQLITE_MISUSE until the process ends.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    const std::string why = std::string("step: ") + sqlite3_errmsg(db_);
    reset();
    fail(rc, why);
  }
  /// Runs to completion and resets; returns whether it ended on a row.
  bool run() {
    const bool row = step();
    reset();
    return row;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(
                               sqlite3_column_bytes(stmt_, column)))
             : std::string();
  }
  std::int64_t integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
  }
  int changes() const { return sqlite3_changes(db_); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) {
      const std::string why = std::string("bind: ") + sqlite3_errmsg(db_);
      reset();
      fail(rc, why);
    }
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, SqliteStoreOptions options)
      : options_(std::move(options)) {
    if (sqlite3_open_v2(
            path.c_str(), &db_,
            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
            nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open store " + path + ": " + why);
    }
    // Several processes (API, routers) share the file: wait for the write
    // lock instead of failing, and sync each batch so a stored message
    // survives a crash of the machine, not only of the process.
    sqlite3_busy_handler(db_, &SqliteStore::wait_while_busy, this);
    // Two processes opening a new store at once (the stack starts the API
    // and a router together) can get SQLITE_BUSY here without SQLite waiting
    // on the busy timeout: switching the journal mode and a read-then-write
    // schema upgrade are not retried by SQLite itself. The schema goes in one
    // IMMEDIATE transaction (it takes the write lock first, and that wait is
    // retried), and both steps are retried while the other opener works.
    // A constructor that throws runs no destructor: close the connection
    // here (a refused newer schema, a busy start-up).
    try {
      exec_while_busy("PRAGMA journal_mode = WAL");
      exec("PRAGMA synchronous = FULL");
      if (options_.max_page_count > 0) {
        exec("PRAGMA max_page_count = " +
             std::to_string(options_.max_page_count));
      }
      migrate(path);
      prepare();
    } catch (...) {
      statements_ = {};
      sqlite3_close(db_);
      throw;
    }
  }
  ~SqliteStore() override {
    statements_ = {};
    sqlite3_close(db_);
  }

  bool add_user(const UserRecord& user) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.insert_user;
    s.bind(1, user.id)
        .bind(2, user.username)
        .bind(3, user.password_hash)
        .bind(4, user.created_at_ms);
    s.run();
    return s.changes() == 1;
  }

  std::optional<UserRecord> user_by_name(std::string_view username) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return read_user(*statements_.user_by_name, username);
  }

  std::optional<UserRecord> user_by_id(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return read_user(*statements_.user_by_id, id);
  }

  std::size_t add_messages(const std::vector<MessageRecord>& batch) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_transaction([&] {
      std::size_t added = 0;
      for (const auto& m : batch) {
        auto& s = *statements_.insert_message;
        s.bind(1, m.message_id)
            .bind(2, m.conversation_id)
            .bind(3, m.sender_id)
            .bind(4, m.recipient_id)
            .bind(5, m.content)
            .bind(6, m.file_id)
            .bind(7, m.timestamp_ms)
            .bind(8, to_string(m.status))
            .bind(9, m.delivered_at_ms)
            .bind(10, m.read_at_ms)
            .bind(11, m.content_type);
        s.run();
        if (s.changes() == 1) ++added;  // else a redelivered message
      }
      return added;
    });
  }

  std::optional<MessageRecord> message(std::string_view message_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return read_message(message_id);
  }

  HistoryPage history(std::string_view conversation_id, std::size_t limit,
                      std::size_t offset) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.history;
    // One row more than asked tells whether there is a next page.
    s.bind(1, conversation_id)
        .bind(2, static_cast<std::int64_t>(limit) + 1)
        .bind(3, static_cast<std::int64_t>(offset));
    std::vector<MessageRecord> rows;
    while (s.step()) rows.push_back(row_to_message(s));
    s.reset();
    return history_page(std::move(rows), limit);
  }

  CreatedConversation create_conversation(const ConversationRecord& c,
                                          std::string_view pair_key) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_transaction([&] {
      CreatedConversation out;
      std::string existing;
      if (!pair_key.empty()) {
        auto& by_pair = *statements_.conversation_by_pair;
        by_pair.bind(1, pair_key);
        if (by_pair.step()) existing = by_pair.text(0);
        by_pair.reset();
      }
      if (existing.empty()) {
        auto& insert = *statements_.insert_conversation;
        insert.bind(1, c.id)
            .bind(2, to_string(c.type))
            .bind(3, c.name)
            .bind(4, c.created_by)
            .bind(5, c.created_at_ms);
        if (pair_key.empty()) {
          insert.bind_null(6);
        } else {
          insert.bind(6, pair_key);
        }
        insert.run();
        out.created = insert.changes() == 1;
        existing = c.id;
      }
      if (out.created) {
        for (const auto& m : c.members) insert_member(c.id, m);
      }
      out.conversation = *read_conversation(existing);
      return out;
    });
  }

  std::optional<ConversationRecord> conversation(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return read_conversation(id);
  }

  ConversationPage conversations_of(std::string_view user_id, std::size_t limit,
                                    std::size_t offset) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.conversations_of;
    s.bind(1, user_id)
        .bind(2, static_cast<std::int64_t>(limit) + 1)
        .bind(3, static_cast<std::int64_t>(offset));
    std::vector<std::string> ids;
    while (s.step()) ids.push_back(s.text(0));
    s.reset();
    ConversationPage page;
    if (ids.size() > limit) {
      ids.pop_back();
      page.has_more = true;
    }
    for (const auto& id : ids) {
      if (auto c = read_conversation(id)) {
        page.conversations.push_back(std::move(*c));
      }
    }
    return page;
  }

  std::optional<MemberRole> member_role(std::string_view conversation_id,
                                        std::string_view user_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return read_role(conversation_id, user_id);
  }

  MemberChange add_member(std::string_view conversation_id,
                          const Member& member,
                          std::size_t max_members) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_transaction([&] {
      MemberChange change = MemberChange::kDone;
      auto& count = *statements_.member_count;
      count.bind(1, conversation_id);
      count.step();
      const auto members = static_cast<std::size_t>(count.integer(0));
      count.reset();
      if (!statements_.conversation_exists->bind(1, conversation_id).run()) {
        change = MemberChange::kNoConversation;
      } else if (read_role(conversation_id, member.user_id)) {
        change = MemberChange::kUnchanged;
      } else if (members >= max_members) {
        change = MemberChange::kFull;
      } else {
        insert_member(conversation_id, member);
      }
      return change;
    });
  }

  MemberChange remove_member(std::string_view conversation_id,
                             std::string_view user_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.delete_member;
    s.bind(1, conversation_id).bind(2, user_id).run();
    return s.changes() == 1 ? MemberChange::kDone : MemberChange::kUnchanged;
  }

  bool add_file(const FileRecord& f) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.insert_file;
    s.bind(1, f.file_id)
        .bind(2, f.conversation_id)
        .bind(3, f.uploader_id)
        .bind(4, f.filename)
        .bind(5, f.content_type)
        .bind(6, static_cast<std::int64_t>(f.size))
        .bind(7, f.checksum)
        .bind(8, f.blob_key)
        .bind(9, f.uploaded_at_ms);
    s.run();
    return s.changes() == 1;
  }

  std::optional<FileRecord> file(std::string_view file_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.file;
    s.bind(1, file_id);
    std::optional<FileRecord> f;
    if (s.step()) {
      f = FileRecord{
          s.text(0), s.text(1), s.text(2),
          s.text(3), s.text(4), static_cast<std::uint64_t>(s.integer(5)),
          s.text(6), s.text(7), s.integer(8)};
    }
    s.reset();
    return f;
  }

  std::uint64_t bytes_uploaded_by(std::string_view user_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& s = *statements_.bytes_uploaded_by;
    s.bind(1, user_id);
    s.step();
    const auto total = static_cast<std::uint64_t>(s.integer(0));
    s.reset();
    return total;
  }

  StatusChange set_status(std::string_view message_id, MessageStatus to,
                          std::int64_t at_ms) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_transaction([&] {
      StatusChange change;
      change.message = read_message(message_id);
      if (change.message) {
        Channel channel = Channel::kLocal;
        parse_recipient(change.message->recipient_id, channel);
        change.outcome = check_transition(channel, change.message->status, to);
        if (change.outcome == Transition::kApply) {
          auto& m = *change.message;
          m.status = to;
          if (to >= MessageStatus::kDelivered && m.delivered_at_ms == 0) {
            m.delivered_at_ms = at_ms;
          }
          if (to == MessageStatus::kRead) m.read_at_ms = at_ms;
          statements_.update_status->bind(1, to_string(m.status))
              .bind(2, m.delivered_at_ms)
              .bind(3, m.read_at_ms)
              .bind(4, message_id)
              .run();
        }
      }
      return change;
    });
  }

 private:
  struct Statements {
    std::unique_ptr<Statement> insert_user, user_by_name, user_by_id,
        insert_message, message, history, update_status, insert_file, file,
        insert_conversation, conversation, conversation_by_pair,
        conversation_exists, conversations_of, members, member_role,
        member_count, insert_member, delete_member, bytes_uploaded_by;
  };

  /// Runs `sql` and returns SQLite's result code; throws on errors, except
  /// SQLITE_BUSY and SQLITE_LOCKED when `tolerate_busy`.
  int run_sql(const std::string& sql, bool tolerate_busy) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (rc == SQLITE_OK ||
        (tolerate_busy && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED))) {
      sqlite3_free(error);
      return rc;
    }
    const std::string why = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    fail(rc, ": " + why);
  }

  void exec(const std::string& sql) { run_sql(sql, false); }

  /// Ends a failed transaction. Never throws: it runs while another error
  /// is on its way out, and SQLite may have rolled back already (after a
  /// disk-full or I/O error).
  void rollback() {
    if (!sqlite3_get_autocommit(db_)) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  /// Brings the schema to kSqliteSchemaVersion, in one IMMEDIATE
  /// transaction so that two processes opening a new store at once do the
  /// work once: the second waits for the lock, then finds nothing to do.
  void migrate(const std::string& path) {
    exec_while_busy("BEGIN IMMEDIATE");
    try {
      Statement version_of(db_, "PRAGMA user_version");
      version_of.step();
      const auto version = static_cast<int>(version_of.integer(0));
      version_of.reset();
      if (version > kSqliteSchemaVersion) {
        throw std::runtime_error(
            "store " + path + " has schema version " + std::to_string(version) +
            "; this build knows versions up to " +
            std::to_string(kSqliteSchemaVersion) + " (upgrade chat4all)");
      }
      for (int v = version; v < kSqliteSchemaVersion; ++v) {
        exec(kMigrations[v]);
      }
      if (version != kSqliteSchemaVersion) {
        exec("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion));
      }
      exec("COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
  }

  /// Runs `body` in a write transaction: committed when it returns, rolled
  /// back when it throws.
  template <class Body>
  auto write_transaction(Body&& body) -> decltype(body()) {
    begin_write();
    try {
      auto result = body();
      exec("COMMIT");
      return result;
    } catch (...) {
      rollback();
      throw;
    }
  }

  /// Starts a write transaction, reporting how long the write lock took.
  void begin_write() {
    const auto started = std::chrono::steady_clock::now();
    exec("BEGIN IMMEDIATE");
    if (options_.on_write_lock_wait) {
      options_.on_write_lock_wait(
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        started)
              .count());
    }
  }

  /// SQLite's busy handler: true (retry) until options_.busy_timeout.
  /// SQLite's own busy_timeout sleeps 1, 2, 5, 10... ms between tries: a
  /// router waiting behind another's 2-3 ms commit slept longer than the
  /// commit took while the lock stood idle. Polling every 50-800 us took two
  /// routers' backlog drain from 1.1x to 1.38x one router's
  /// (docs/results/scaling/store-lock-ab.md).
  static int wait_while_busy(void* self, int attempt) {
    auto& store = *static_cast<SqliteStore*>(self);
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) store.busy_since_ = now;
    if (now - store.busy_since_ >= store.options_.busy_timeout) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(
        50 << std::min(attempt, 4)));  // NOLINT(hicpp-signed-bitwise)
    return 1;
  }

  /// exec() that retries for up to 30 s while the database is busy.
  void exec_while_busy(const std::string& sql) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (run_sql(sql, true) != SQLITE_OK) {
      rollback();
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("sqlite: database stayed busy for 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void prepare() {
    auto make = [&](const std::string& sql) {
      return std::make_unique<Statement>(db_, sql);
    };
    const std::string columns = kMessageColumns;
    statements_.insert_user = make(
        "INSERT OR IGNORE INTO users(id, username, password_hash, created_at) "
        "VALUES(?1, ?2, ?3, ?4)");
    const std::string user_select =
        "SELECT id, username, password_hash, created_at FROM users WHERE ";
    statements_.user_by_name = make(user_select + "username = ?1");
    statements_.user_by_id = make(user_select + "id = ?1");
    statements_.insert_message =
        make("INSERT OR IGNORE INTO messages(" + columns +
             ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    statements_.message =
        make("SELECT " + columns + " FROM messages WHERE message_id = ?1");
    statements_.history = make("SELECT " + columns +
                               " FROM messages WHERE conversation_id = ?1 "
                               "ORDER BY seq LIMIT ?2 OFFSET ?3");
    statements_.insert_conversation = make(
        "INSERT OR IGNORE INTO conversations(id, type, name, created_by, "
        "created_at, pair_key) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    statements_.conversation = make(
        "SELECT id, type, name, created_by, created_at FROM conversations "
        "WHERE id = ?1");
    statements_.conversation_by_pair =
        make("SELECT id FROM conversations WHERE pair_key = ?1");
    statements_.conversation_exists =
        make("SELECT 1 FROM conversations WHERE id = ?1");
    statements_.conversations_of = make(
        "SELECT conversation_id FROM members WHERE user_id = ?1 "
        "ORDER BY joined_at, conversation_id LIMIT ?2 OFFSET ?3");
    statements_.members = make(
        "SELECT user_id, role, joined_at FROM members WHERE "
        "conversation_id = ?1 ORDER BY joined_at, user_id");
    statements_.member_role = make(
        "SELECT role FROM members WHERE conversation_id = ?1 AND "
        "user_id = ?2");
    statements_.member_count =
        make("SELECT COUNT(*) FROM members WHERE conversation_id = ?1");
    statements_.insert_member = make(
        "INSERT OR IGNORE INTO members(conversation_id, user_id, role, "
        "joined_at) VALUES(?1, ?2, ?3, ?4)");
    statements_.delete_member =
        make("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2");
    const std::string file_columns = kFileColumns;
    statements_.insert_file =
        make("INSERT OR IGNORE INTO files(" + file_columns +
             ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    statements_.file =
        make("SELECT " + file_columns + " FROM files WHERE file_id = ?1");
    statements_.bytes_uploaded_by =
        make("SELECT COALESCE(SUM(size), 0) FROM files WHERE uploader_id = ?1");
    statements_.update_status = make(
        "UPDATE messages SET status = ?1, delivered_at = ?2, read_at = ?3 "
        "WHERE message_id = ?4");
  }

  void insert_member(std::string_view conversation, const Member& m) {
    statements_.insert_member->bind(1, conversation)
        .bind(2, m.user_id)
        .bind(3, to_string(m.role))
        .bind(4, m.joined_at_ms)
        .run();
  }

  std::optional<MemberRole> read_role(std::string_view conversation,
                                      std::string_view user) {
    auto& s = *statements_.member_role;
    s.bind(1, conversation).bind(2, user);
    std::optional<MemberRole> role;
    if (s.step()) {
      role = s.text(0) == "admin" ? MemberRole::kAdmin : MemberRole::kMember;
    }
    s.reset();
    return role;
  }

  std::optional<ConversationRecord> read_conversation(std::string_view id) {
    auto& s = *statements_.conversation;
    s.bind(1, id);
    std::optional<ConversationRecord> c;
    if (s.step()) {
      c = ConversationRecord{s.text(0),
                             s.text(1) == "group" ? ConversationType::kGroup
                                                  : ConversationType::kPrivate,
                             s.text(2),
                             s.text(3),
                             s.integer(4),
                             {}};
    }
    s.reset();
    if (!c) return c;
    auto& m = *statements_.members;
    m.bind(1, id);
    while (m.step()) {
      c->members.push_back(
          {m.text(0),
           m.text(1) == "admin" ? MemberRole::kAdmin : MemberRole::kMember,
           m.integer(2)});
    }
    m.reset();
    return c;
  }

  static std::optional<UserRecord> read_user(Statement& s,
                                             std::string_view key) {
    s.bind(1, key);
    std::optional<UserRecord> user;
    if (s.step()) {
      user = UserRecord{s.text(0), s.text(1), s.text(2), s.integer(3)};
    }
    s.reset();
    return user;
  }

  std::optional<MessageRecord> read_message(std::string_view message_id) {
    auto& s = *statements_.message;
    s.bind(1, message_id);
    std::optional<MessageRecord> m;
    if (s.step()) m = row_to_message(s);
    s.reset();
    return m;
  }

  static MessageRecord row_to_message(const Statement& s) {
    MessageRecord m;
    m.message_id = s.text(0);
    m.conversation_id = s.text(1);
    m.sender_id = s.text(2);
    m.recipient_id = s.text(3);
    m.content = s.text(4);
    m.file_id = s.text(5);
    m.timestamp_ms = s.integer(6);
    m.status = parse_status(s.text(7)).value_or(MessageStatus::kSent);
    m.delivered_at_ms = s.integer(8);
    m.read_at_ms = s.integer(9);
    m.content_type = s.text(10);
    return m;
  }

  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  Statements statements_;
  const SqliteStoreOptions options_;
  /// When the current wait for a lock began (guarded by mutex_: SQLite
  /// calls the busy handler inside our calls).
  std::chrono::steady_clock::time_point busy_since_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path,
                                         SqliteStoreOptions options) {
  return std::make_unique<SqliteStore>(path, std::move(options));
}

}  // namespace chat

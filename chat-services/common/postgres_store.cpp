// PostgreSQL implementation of Store on libpq (docs/adr/0006): one
// connection per store object behind a mutex, prepared statements, and a
// reconnect on the call after the connection was lost.
#include "postgres_store.hpp"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chat {
namespace {

// The schema as migrations: entry i takes a database from version i to
// i + 1 (the rows of schema_version). A migration that has shipped is never
// edited; a change is a new entry. Version 1 is SQLite's version 2: the
// PostgreSQL store started from there. `seq` is the storage order history
// pages in.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE users(
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE messages(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id TEXT NOT NULL UNIQUE,
  conversation_id TEXT NOT NULL,
  sender_id TEXT NOT NULL,
  recipient_id TEXT NOT NULL,
  content TEXT NOT NULL,
  file_id TEXT NOT NULL,
  timestamp_ms BIGINT NOT NULL,
  status TEXT NOT NULL,
  delivered_at BIGINT NOT NULL DEFAULT 0,
  read_at BIGINT NOT NULL DEFAULT 0,
  content_type TEXT NOT NULL DEFAULT 'text/plain');
CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
CREATE TABLE conversations(
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  pair_key TEXT UNIQUE);
CREATE TABLE members(
  conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL,
  joined_at BIGINT NOT NULL,
  PRIMARY KEY(conversation_id, user_id));
CREATE INDEX members_by_user ON members(user_id, joined_at);
CREATE TABLE files(
  file_id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  uploader_id TEXT NOT NULL,
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  checksum TEXT NOT NULL,
  blob_key TEXT NOT NULL,
  uploaded_at BIGINT NOT NULL);
CREATE INDEX files_by_uploader ON files(uploader_id);
)sql",
};
static_assert(std::size(kMigrations) == kPostgresSchemaVersion,
              "one migration per schema version");

/// Serialises migrations of one database: services starting together would
/// otherwise race on CREATE TABLE (an arbitrary key, the same in every
/// build).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(4711017)";

constexpr const char* kMessageColumns =
    "message_id, conversation_id, sender_id, recipient_id, content, file_id, "
    "timestamp_ms, status, delivered_at, read_at, content_type";
constexpr int kMessageFields = 11;
/// Rows per INSERT: libpq allows 65535 parameters a statement.
constexpr std::size_t kRowsPerInsert = 1000;

// Ids sort bytewise, as in SQLite, whatever the database's collation.
constexpr std::pair<const char*, const char*> kStatements[] = {
    {"insert_user",
     "INSERT INTO users(id, username, password_hash, created_at) "
     "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING"},
    {"user_by_name",
     "SELECT id, username, password_hash, created_at FROM users "
     "WHERE username = $1"},
    {"user_by_id",
     "SELECT id, username, password_hash, created_at FROM users "
     "WHERE id = $1"},
    {"message",
     "SELECT message_id, conversation_id, sender_id, recipient_id, "
     "content, file_id, timestamp_ms, status, delivered_at, "
     "read_at, content_type FROM messages WHERE message_id = $1"},
    {"message_for_update",
     "SELECT message_id, conversation_id, sender_id, recipient_id, content, "
     "file_id, timestamp_ms, status, delivered_at, read_at, content_type "
     "FROM messages WHERE message_id = $1 FOR UPDATE"},
    {"history",
     "SELECT message_id, conversation_id, sender_id, recipient_id, content, "
     "file_id, timestamp_ms, status, delivered_at, read_at, content_type "
     "FROM messages WHERE conversation_id = $1 ORDER BY seq "
     "LIMIT $2 OFFSET $3"},
    {"update_status",
     "UPDATE messages SET status = $1, delivered_at = $2, read_at = $3 "
     "WHERE message_id = $4"},
    {"insert_conversation",
     "INSERT INTO conversations(id, type, name, created_by, created_at, "
     "pair_key) VALUES($1, $2, $3, $4, $5, NULLIF($6, '')) "
     "ON CONFLICT DO NOTHING"},
    {"conversation",
     "SELECT id, type, name, created_by, created_at FROM conversations "
     "WHERE id = $1"},
    {"lock_conversation",
     "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE"},
    {"conversation_by_pair",
     "SELECT id FROM conversations WHERE pair_key = $1"},
    {"conversations_of",
     "SELECT conversation_id FROM members WHERE user_id = $1 "
     "ORDER BY joined_at, conversation_id COLLATE \"C\" LIMIT $2 OFFSET $3"},
    {"members",
     "SELECT user_id, role, joined_at FROM members WHERE conversation_id = $1 "
     "ORDER BY joined_at, user_id COLLATE \"C\""},
    {"member_role",
     "SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2"},
    {"member_count", "SELECT COUNT(*) FROM members WHERE conversation_id = $1"},
    {"insert_member",
     "INSERT INTO members(conversation_id, user_id, role, joined_at) "
     "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING"},
    {"delete_member",
     "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2"},
    {"insert_file",
     "INSERT INTO files(file_id, conversation_id, uploader_id, filename, "
     "content_type, size, checksum, blob_key, uploaded_at) "
     "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"},
    {"file",
     "SELECT file_id, conversation_id, uploader_id, filename, content_type, "
     "size, checksum, blob_key, uploaded_at FROM files WHERE file_id = $1"},
    {"bytes_uploaded_by",
     "SELECT COALESCE(SUM(size), 0) FROM files WHERE uploader_id = $1"},
};

/// SQLSTATEs that say the server cannot answer now rather than that the
/// statement is wrong: they become StoreUnavailable (503, retry).
bool unavailable(std::string_view sqlstate) {
  const std::string_view cls = sqlstate.substr(0, 2);
  return cls == "08"              // connection exception
         || cls == "40"           // serialization failure, deadlock
         || cls == "53"           // disk full, out of memory, too many
         || cls == "57"           // shutdown, cancel, cannot connect now
         || cls == "58"           // I/O error
         || sqlstate == "55P03"   // lock not available
         || sqlstate == "25006";  // read only (a standby after failover)
}

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

struct ConnectionCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, ConnectionCloser>;

/// A statement's rows, in libpq's text format.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  int rows() const { return PQntuples(r_.get()); }
  std::string text(int row, int column) const {
    return std::string(
        PQgetvalue(r_.get(), row, column),
        static_cast<std::size_t>(PQgetlength(r_.get(), row, column)));
  }
  std::int64_t integer(int row, int column) const {
    return std::strtoll(PQgetvalue(r_.get(), row, column), nullptr, 10);
  }
  /// Rows an INSERT, UPDATE or DELETE changed.
  std::size_t changed() const {
    return static_cast<std::size_t>(
        std::strtoull(PQcmdTuples(r_.get()), nullptr, 10));
  }

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> r_;
};

using Params = std::vector<std::string>;

/// libpq's text-format parameters as C strings. A NUL byte would cut one
/// short without an error (and PostgreSQL text cannot hold one): refused.
std::vector<const char*> values_of(const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    if (p.find('\0') != std::string::npos) {
      throw std::runtime_error(
          "postgres: text with a NUL byte cannot be stored");
    }
    values.push_back(p.c_str());
  }
  return values;
}

/// False when the server has closed `c`. A server going down sends an
/// idle connection its last message, then closes it: libpq reads (and
/// drops) the message, and a peek at the socket then finds the end of the
/// stream. Nothing is sent, so nothing can run twice.
bool alive(PGconn* c) {
  if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK) return false;
  char byte = 0;
  const auto n = recv(PQsocket(c), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

MemberRole parse_role(const std::string& s) {
  return s == "admin" ? MemberRole::kAdmin : MemberRole::kMember;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(std::string url, PostgresStoreOptions options)
      : url_(std::move(url)), options_(options) {
    std::lock_guard<std::mutex> lock(mutex_);
    // The statements name the tables: they are prepared once they exist.
    open_connection();
    migrate();
    prepare();
  }

  bool add_user(const UserRecord& u) override {
    return call([&] {
      return run("insert_user", {u.id, u.username, u.password_hash,
                                 std::to_string(u.created_at_ms)})
                 .changed() == 1;
    });
  }

  std::optional<UserRecord> user_by_name(std::string_view username) override {
    return call([&] { return read_user("user_by_name", username); });
  }

  std::optional<UserRecord> user_by_id(std::string_view id) override {
    return call([&] { return read_user("user_by_id", id); });
  }

  std::size_t add_messages(const std::vector<MessageRecord>& batch) override {
    if (batch.empty()) return 0;
    return call([&] {
      // One statement is one transaction; a larger batch is several
      // statements in one.
      if (batch.size() <= kRowsPerInsert) {
        return insert_messages(batch.begin(), batch.end());
      }
      return transaction([&] {
        std::size_t added = 0;
        for (auto from = batch.begin(); from != batch.end();) {
          const auto to =
              from + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                         kRowsPerInsert,
                         static_cast<std::size_t>(batch.end() - from)));
          added += insert_messages(from, to);
          from = to;
        }
        return added;
      });
    });
  }

  std::optional<MessageRecord> message(std::string_view message_id) override {
    return call([&] { return read_message("message", message_id); });
  }

  HistoryPage history(std::string_view conversation_id, std::size_t limit,
                      std::size_t offset) override {
    return call([&] {
      // One row more than asked tells whether there is a next page.
      const Result r =
          run("history", {std::string(conversation_id),
                          std::to_string(limit + 1), std::to_string(offset)});
      std::vector<MessageRecord> rows;
      for (int i = 0; i < r.rows(); ++i) rows.push_back(row_to_message(r, i));
      return history_page(std::move(rows), limit);
    });
  }

  CreatedConversation create_conversation(const ConversationRecord& c,
                                          std::string_view pair_key) override {
    return call([&] {
      return transaction([&] {
        CreatedConversation out;
        std::string existing;
        if (!pair_key.empty()) existing = conversation_of_pair(pair_key);
        if (existing.empty()) {
          // A concurrent creator of the same id or pair makes this wait for
          // its commit, then do nothing: the next SELECT sees its row.
          out.created =
              run("insert_conversation",
                  {c.id, to_string(c.type), c.name, c.created_by,
                   std::to_string(c.created_at_ms), std::string(pair_key)})
                  .changed() == 1;
          if (!out.created && !pair_key.empty()) {
            existing = conversation_of_pair(pair_key);
          }
          if (existing.empty()) existing = c.id;
        }
        if (out.created) {
          for (const auto& m : c.members) insert_member(c.id, m);
        }
        out.conversation = *read_conversation(existing);
        return out;
      });
    });
  }

  std::optional<ConversationRecord> conversation(std::string_view id) override {
    return call([&] { return read_conversation(id); });
  }

  ConversationPage conversations_of(std::string_view user_id, std::size_t limit,
                                    std::size_t offset) override {
    return call([&] {
      const Result r = run("conversations_of",
                           {std::string(user_id), std::to_string(limit + 1),
                            std::to_string(offset)});
      ConversationPage page;
      const auto rows = static_cast<std::size_t>(r.rows());
      page.has_more = rows > limit;
      for (std::size_t i = 0; i < std::min(rows, limit); ++i) {
        if (auto c = read_conversation(r.text(static_cast<int>(i), 0))) {
          page.conversations.push_back(std::move(*c));
        }
      }
      return page;
    });
  }

  std::optional<MemberRole> member_role(std::string_view conversation_id,
                                        std::string_view user_id) override {
    return call([&] { return read_role(conversation_id, user_id); });
  }

  MemberChange add_member(std::string_view conversation_id,
                          const Member& member,
                          std::size_t max_members) override {
    return call([&] {
      return transaction([&] {
        // The conversation's row lock serialises adders: two of them must
        // not both see room for one more.
        if (run("lock_conversation", {std::string(conversation_id)}).rows() ==
            0) {
          return MemberChange::kNoConversation;
        }
        if (read_role(conversation_id, member.user_id)) {
          return MemberChange::kUnchanged;
        }
        const auto members = static_cast<std::size_t>(
            run("member_count", {std::string(conversation_id)}).integer(0, 0));
        if (members >= max_members) return MemberChange::kFull;
        insert_member(conversation_id, member);
        return MemberChange::kDone;
      });
    });
  }

  MemberChange remove_member(std::string_view conversation_id,
                             std::string_view user_id) override {
    return call([&] {
      return run("delete_member",
                 {std::string(conversation_id), std::string(user_id)})
                         .changed() == 1
                 ? MemberChange::kDone
                 : MemberChange::kUnchanged;
    });
  }

  bool add_file(const FileRecord& f) override {
    return call([&] {
      return run("insert_file",
                 {f.file_id, f.conversation_id, f.uploader_id, f.filename,
                  f.content_type, std::to_string(f.size), f.checksum,
                  f.blob_key, std::to_string(f.uploaded_at_ms)})
                 .changed() == 1;
    });
  }

  std::optional<FileRecord> file(std::string_view file_id) override {
    return call([&] {
      const Result r = run("file", {std::string(file_id)});
      std::optional<FileRecord> f;
      if (r.rows() == 1) {
        f = FileRecord{
            r.text(0, 0),   r.text(0, 1),
            r.text(0, 2),   r.text(0, 3),
            r.text(0, 4),   static_cast<std::uint64_t>(r.integer(0, 5)),
            r.text(0, 6),   r.text(0, 7),
            r.integer(0, 8)};
      }
      return f;
    });
  }

  std::uint64_t bytes_uploaded_by(std::string_view user_id) override {
    return call([&] {
      return static_cast<std::uint64_t>(
          run("bytes_uploaded_by", {std::string(user_id)}).integer(0, 0));
    });
  }

  StatusChange set_status(std::string_view message_id, MessageStatus to,
                          std::int64_t at_ms) override {
    return call([&] {
      return transaction([&] {
        StatusChange change;
        // FOR UPDATE: a concurrent change (a connector's receipt racing the
        // user's read) waits, then checks its transition against this one.
        change.message = read_message("message_for_update", message_id);
        if (!change.message) return change;
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
          run("update_status",
              {std::string(to_string(m.status)),
               std::to_string(m.delivered_at_ms), std::to_string(m.read_at_ms),
               std::string(message_id)});
        }
        return change;
      });
    });
  }

  void ping() override {
    call([&] { return exec("SELECT 1"); });
  }

 private:
  /// Runs `body` under the mutex on a live connection. One lost earlier
  /// (its call failed with StoreUnavailable) is replaced first, and so is
  /// one the server closed while it was idle (a restart), so that the
  /// first call after a restart need not fail.
  template <class Body>
  auto call(Body&& body) -> decltype(body()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (conn_ && !alive(conn_.get())) conn_.reset();
    if (!conn_) connect();
    return body();
  }

  void connect() {
    open_connection();
    prepare();
  }

  void open_connection() {
    conn_.reset();
    // connect_timeout first: a value in the URL overrides it.
    const std::string timeout =
        std::to_string(options_.connect_timeout.count());
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), url_.c_str(), nullptr};
    Connection c(PQconnectdbParams(keys, values, 1));
    if (!c) throw StoreUnavailable("postgres connect: out of memory");
    if (PQstatus(c.get()) != CONNECTION_OK) {
      // The message names host and port, never the password.
      throw StoreUnavailable("postgres connect: " +
                             trimmed(PQerrorMessage(c.get())));
    }
    conn_ = std::move(c);
  }

  void prepare() {
    try {
      for (const auto& [name, sql] : kStatements) {
        checked(PQprepare(conn_.get(), name, sql, 0, nullptr),
                std::string("prepare ") + name);
      }
    } catch (...) {
      conn_.reset();  // half prepared: the next call starts over
      throw;
    }
  }

  /// Takes ownership of `r`; throws unless it succeeded. A lost connection
  /// is dropped, for call() to replace.
  Result checked(PGresult* r, const std::string& what) {
    const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      return Result(r);
    }
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    const std::string why =
        "postgres " + what + ": " +
        trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get()));
    PQclear(r);
    const bool lost = PQstatus(conn_.get()) != CONNECTION_OK;
    if (lost) conn_.reset();
    if (lost || unavailable(sqlstate)) throw StoreUnavailable(why);
    throw std::runtime_error(why);
  }

  Result run(const char* statement, const Params& params) {
    const auto values = values_of(params);
    return checked(
        PQexecPrepared(conn_.get(), statement, static_cast<int>(values.size()),
                       values.data(), nullptr, nullptr, 0),
        statement);
  }

  Result exec(const std::string& sql) {
    return checked(PQexec(conn_.get(), sql.c_str()), sql.substr(0, 40));
  }

  /// Runs `body` in a transaction: committed when it returns, rolled back
  /// when it throws.
  template <class Body>
  auto transaction(Body&& body) -> decltype(body()) {
    exec("BEGIN");
    try {
      auto result = body();
      exec("COMMIT");
      return result;
    } catch (...) {
      rollback();
      throw;
    }
  }

  /// Never throws: it runs while another error is on its way out, and the
  /// connection may be gone with the transaction.
  void rollback() noexcept {
    if (conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_.get(), "ROLLBACK"));
    }
  }

  /// Brings the schema to kPostgresSchemaVersion in one transaction, under
  /// an advisory lock so that services starting together do it once.
  void migrate() {
    transaction([&] {
      exec(kMigrationLock);
      exec(
          "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY "
          "KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      const auto version = static_cast<int>(
          exec("SELECT COALESCE(MAX(version), 0) FROM schema_version")
              .integer(0, 0));
      if (version > kPostgresSchemaVersion) {
        throw std::runtime_error(
            std::string("postgres store ") + PQdb(conn_.get()) +
            " has schema version " + std::to_string(version) +
            "; this build knows versions up to " +
            std::to_string(kPostgresSchemaVersion) + " (upgrade chat4all)");
      }
      for (int v = version; v < kPostgresSchemaVersion; ++v) {
        exec(kMigrations[v]);
        exec("INSERT INTO schema_version(version) VALUES(" +
             std::to_string(v + 1) + ")");
      }
      return 0;
    });
  }

  /// One multi-row INSERT; returns how many rows were new.
  std::size_t insert_messages(std::vector<MessageRecord>::const_iterator from,
                              std::vector<MessageRecord>::const_iterator to) {
    std::string sql =
        std::string("INSERT INTO messages(") + kMessageColumns + ") VALUES";
    Params params;
    int n = 0;
    for (auto it = from; it != to; ++it) {
      sql += it == from ? "(" : ",(";
      for (int f = 0; f < kMessageFields; ++f) {
        sql += (f ? ",$" : "$") + std::to_string(++n);
      }
      sql += ')';
      const auto& m = *it;
      params.insert(
          params.end(),
          {m.message_id, m.conversation_id, m.sender_id, m.recipient_id,
           m.content, m.file_id, std::to_string(m.timestamp_ms),
           std::string(to_string(m.status)), std::to_string(m.delivered_at_ms),
           std::to_string(m.read_at_ms), m.content_type});
    }
    // A redelivered message keeps what was stored first.
    sql += " ON CONFLICT (message_id) DO NOTHING";
    const auto values = values_of(params);
    return checked(PQexecParams(conn_.get(), sql.c_str(),
                                static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0),
                   "insert messages")
        .changed();
  }

  std::string conversation_of_pair(std::string_view pair_key) {
    const Result r = run("conversation_by_pair", {std::string(pair_key)});
    return r.rows() == 1 ? r.text(0, 0) : std::string();
  }

  void insert_member(std::string_view conversation, const Member& m) {
    run("insert_member", {std::string(conversation), m.user_id,
                          to_string(m.role), std::to_string(m.joined_at_ms)});
  }

  std::optional<MemberRole> read_role(std::string_view conversation,
                                      std::string_view user) {
    const Result r =
        run("member_role", {std::string(conversation), std::string(user)});
    if (r.rows() == 0) return std::nullopt;
    return parse_role(r.text(0, 0));
  }

  std::optional<ConversationRecord> read_conversation(std::string_view id) {
    const Result r = run("conversation", {std::string(id)});
    if (r.rows() == 0) return std::nullopt;
    ConversationRecord c{r.text(0, 0),
                         r.text(0, 1) == "group" ? ConversationType::kGroup
                                                 : ConversationType::kPrivate,
                         r.text(0, 2),
                         r.text(0, 3),
                         r.integer(0, 4),
                         {}};
    const Result m = run("members", {std::string(id)});
    for (int i = 0; i < m.rows(); ++i) {
      c.members.push_back(
          {m.text(i, 0), parse_role(m.text(i, 1)), m.integer(i, 2)});
    }
    return c;
  }

  std::optional<UserRecord> read_user(const char* statement,
                                      std::string_view key) {
    const Result r = run(statement, {std::string(key)});
    if (r.rows() == 0) return std::nullopt;
    return UserRecord{r.text(0, 0), r.text(0, 1), r.text(0, 2),
                      r.integer(0, 3)};
  }

  std::optional<MessageRecord> read_message(const char* statement,
                                            std::string_view message_id) {
    const Result r = run(statement, {std::string(message_id)});
    if (r.rows() == 0) return std::nullopt;
    return row_to_message(r, 0);
  }

  static MessageRecord row_to_message(const Result& r, int row) {
    MessageRecord m;
    m.message_id = r.text(row, 0);
    m.conversation_id = r.text(row, 1);
    m.sender_id = r.text(row, 2);
    m.recipient_id = r.text(row, 3);
    m.content = r.text(row, 4);
    m.file_id = r.text(row, 5);
    m.timestamp_ms = r.integer(row, 6);
    m.status = parse_status(r.text(row, 7)).value_or(MessageStatus::kSent);
    m.delivered_at_ms = r.integer(row, 8);
    m.read_at_ms = r.integer(row, 9);
    m.content_type = r.text(row, 10);
    return m;
  }

  const std::string url_;
  const PostgresStoreOptions options_;
  std::mutex mutex_;
  Connection conn_;  // guarded by mutex_; empty after a lost connection
};

}  // namespace

bool is_postgres_url(std::string_view url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

std::unique_ptr<Store> open_postgres_store(const std::string& url,
                                           PostgresStoreOptions options) {
  return std::make_unique<PostgresStore>(url, options);
}

// Here rather than in sqlite_store.cpp: it is the one place that knows both.
std::unique_ptr<Store> open_store(const std::string& url_or_path,
                                  SqliteStoreOptions sqlite) {
  if (is_postgres_url(url_or_path)) return open_postgres_store(url_or_path);
  return open_sqlite_store(url_or_path, std::move(sqlite));
}

}  // namespace chat

#pragma once
// Persistence for users, conversations and their members, messages and file
// metadata (file contents live in a BlobStore). SQLite is the embedded
// default; PostgreSQL (postgres_store.hpp) serves several hosts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "message_status.hpp"

namespace chat {

/// A store that cannot answer now (busy past its timeout, disk full, I/O
/// error, connection lost): the caller answers 503 and may retry later.
/// Other exceptions from a store are bugs.
class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct UserRecord {
  std::string id;
  std::string username;
  std::string password_hash;
  std::int64_t created_at_ms = 0;
};

struct MessageRecord {
  std::string message_id;
  std::string conversation_id;
  std::string sender_id;
  std::string recipient_id;  // empty: none
  std::string content;
  std::string content_type = "text/plain";
  std::string file_id;            // empty: none
  std::int64_t timestamp_ms = 0;  // accepted by the API
  MessageStatus status = MessageStatus::kSent;
  std::int64_t delivered_at_ms = 0;  // 0: not yet
  std::int64_t read_at_ms = 0;       // 0: not yet
};

/// An uploaded file's metadata.
struct FileRecord {
  std::string file_id;
  std::string conversation_id;
  std::string uploader_id;
  std::string filename;  // sanitised client name, for display only
  std::string content_type;
  std::uint64_t size = 0;
  std::string checksum;  // SHA-256, lowercase hex
  std::string blob_key;  // where the BlobStore keeps the bytes
  std::int64_t uploaded_at_ms = 0;
};

enum class ConversationType { kPrivate, kGroup };
enum class MemberRole { kMember, kAdmin };

struct Member {
  std::string user_id;
  MemberRole role = MemberRole::kMember;
  std::int64_t joined_at_ms = 0;
};

/// A conversation and who may read and write it. Membership is only ever
/// changed through the API (the router stores messages, never members).
struct ConversationRecord {
  std::string id;
  ConversationType type = ConversationType::kPrivate;
  std::string name;  // empty: none
  std::string created_by;
  std::int64_t created_at_ms = 0;
  std::vector<Member> members;  // in the order they joined
};

struct CreatedConversation {
  ConversationRecord conversation;  // as stored
  bool created = false;             // false: it existed already
};

struct ConversationPage {
  std::vector<ConversationRecord> conversations;  // in the order joined
  bool has_more = false;
};

enum class MemberChange { kDone, kUnchanged, kFull, kNoConversation };

inline const char* to_string(ConversationType type) {
  return type == ConversationType::kGroup ? "group" : "private";
}
inline const char* to_string(MemberRole role) {
  return role == MemberRole::kAdmin ? "admin" : "member";
}

struct HistoryPage {
  std::vector<MessageRecord> messages;  // oldest first
  bool has_more = false;
};

/// The page of `limit` messages from rows fetched with LIMIT limit + 1: the
/// one row more, if there, only tells that there is a next page.
inline HistoryPage history_page(std::vector<MessageRecord> rows,
                                std::size_t limit) {
  HistoryPage page;
  page.has_more = rows.size() > limit;
  if (page.has_more) rows.resize(limit);
  page.messages = std::move(rows);
  return page;
}

struct StatusChange {
  Transition outcome = Transition::kInvalid;
  std::optional<MessageRecord> message;  // after the change; empty: unknown id
};

/// Thread-safety: every member may be called from any thread; several
/// processes may open the same store. Members throw StoreUnavailable when
/// the database cannot answer now.
class Store {
 public:
  virtual ~Store() = default;

  /// False when the username is taken.
  virtual bool add_user(const UserRecord& user) = 0;
  virtual std::optional<UserRecord> user_by_name(std::string_view username) = 0;
  virtual std::optional<UserRecord> user_by_id(std::string_view id) = 0;

  /// Stores a batch atomically and durably. Idempotent by message_id:
  /// messages already stored are left as they are. Returns how many were new.
  virtual std::size_t add_messages(const std::vector<MessageRecord>& batch) = 0;

  virtual std::optional<MessageRecord> message(std::string_view message_id) = 0;

  /// A conversation's messages in the order they were stored (partition
  /// order, as each conversation lives on one partition).
  virtual HistoryPage history(std::string_view conversation_id,
                              std::size_t limit, std::size_t offset) = 0;

  /// Creates `conversation` with its members in one transaction, unless a
  /// conversation with its id exists already; then that one is returned.
  /// With a `pair_key` (a private conversation of two users), an existing
  /// conversation with the same key is returned instead of a second one.
  virtual CreatedConversation create_conversation(
      const ConversationRecord& conversation, std::string_view pair_key) = 0;

  /// The conversation with its members, or nullopt.
  virtual std::optional<ConversationRecord> conversation(
      std::string_view id) = 0;

  /// The conversations `user_id` is a member of, in the order joined (so
  /// pages stay stable while new ones are added).
  virtual ConversationPage conversations_of(std::string_view user_id,
                                            std::size_t limit,
                                            std::size_t offset) = 0;

  /// The member's role, or nullopt when `user_id` is not a member (or there
  /// is no such conversation).
  virtual std::optional<MemberRole> member_role(
      std::string_view conversation_id, std::string_view user_id) = 0;

  /// Adds a member unless the conversation has `max_members` already
  /// (kFull), does not exist (kNoConversation) or has them (kUnchanged).
  virtual MemberChange add_member(std::string_view conversation_id,
                                  const Member& member,
                                  std::size_t max_members) = 0;

  /// kDone, or kUnchanged when `user_id` was not a member.
  virtual MemberChange remove_member(std::string_view conversation_id,
                                     std::string_view user_id) = 0;

  /// False when the file_id exists already.
  virtual bool add_file(const FileRecord& file) = 0;
  virtual std::optional<FileRecord> file(std::string_view file_id) = 0;
  /// The total size of the files `user_id` uploaded, for quotas.
  virtual std::uint64_t bytes_uploaded_by(std::string_view user_id) = 0;

  /// Moves a message's status through check_transition(); stamps
  /// delivered_at / read_at with `at_ms` when they are reached.
  virtual StatusChange set_status(std::string_view message_id, MessageStatus to,
                                  std::int64_t at_ms) = 0;

  /// Throws StoreUnavailable unless the database answers now: what the
  /// services' readiness checks ask, so that a load balancer stops sending
  /// to a service whose database is down. An embedded file always answers.
  virtual void ping() {}
};

/// What the SQLite store reports about itself (all optional).
struct SqliteStoreOptions {
  /// Called with the seconds each write transaction waited for the
  /// database's write lock (held by another connection or process): the
  /// cost of sharing one file between routers.
  std::function<void(double)> on_write_lock_wait;
  /// How long a call waits for a lock held by another connection before
  /// it fails with "database is locked".
  std::chrono::milliseconds busy_timeout{10000};
  /// Largest database, in pages (4 KiB by default); 0: no limit. Writes
  /// beyond it fail as on a full disk (StoreUnavailable).
  std::int64_t max_page_count = 0;
};

/// The schema version this build writes (SQLite's `PRAGMA user_version`).
inline constexpr int kSqliteSchemaVersion = 2;

/// Opens (creating if needed) a SQLite store in WAL mode at `path`, and
/// applies the schema migrations it lacks. Throws std::runtime_error with
/// SQLite's message on failure, and for a database of a newer schema.
std::unique_ptr<Store> open_sqlite_store(const std::string& path,
                                         SqliteStoreOptions options = {});

/// Opens the store `url_or_path` names: a `postgresql://` (or
/// `postgres://`) URL selects PostgreSQL (open_postgres_store, with its
/// default options), anything else is the path of a SQLite file
/// (open_sqlite_store with `sqlite`).
std::unique_ptr<Store> open_store(const std::string& url_or_path,
                                  SqliteStoreOptions sqlite = {});

}  // namespace chat

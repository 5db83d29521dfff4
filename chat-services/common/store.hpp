#pragma once
// Persistence for users, messages, conversation participants and file
// metadata (file contents live in a BlobStore). SQLite is
// the embedded default; the interface leaves room for a server database.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "message_status.hpp"

namespace chat {

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

struct HistoryPage {
  std::vector<MessageRecord> messages;  // oldest first
  bool has_more = false;
};

struct StatusChange {
  Transition outcome = Transition::kInvalid;
  std::optional<MessageRecord> message;  // after the change; empty: unknown id
};

/// Thread-safety: every member may be called from any thread; several
/// processes may open the same store.
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

  /// Users who sent in, or were a recipient in, the conversation.
  virtual bool is_participant(std::string_view conversation_id,
                              std::string_view user_id) = 0;

  /// True when `user_id` is a participant of the conversation, or when the
  /// conversation has no participants yet: then `user_id` becomes its first
  /// one (atomically), so a file can be uploaded before the first message.
  virtual bool join_if_new(std::string_view conversation_id,
                           std::string_view user_id) = 0;

  /// False when the file_id exists already.
  virtual bool add_file(const FileRecord& file) = 0;
  virtual std::optional<FileRecord> file(std::string_view file_id) = 0;

  /// Moves a message's status through check_transition(); stamps
  /// delivered_at / read_at with `at_ms` when they are reached.
  virtual StatusChange set_status(std::string_view message_id, MessageStatus to,
                                  std::int64_t at_ms) = 0;
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
};

/// Opens (creating if needed) a SQLite store in WAL mode at `path`.
/// Throws std::runtime_error with SQLite's message on failure.
std::unique_ptr<Store> open_sqlite_store(const std::string& path,
                                         SqliteStoreOptions options = {});

}  // namespace chat

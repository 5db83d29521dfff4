#pragma once
// The PostgreSQL Store, for a chat4all that runs on more than one host: the
// API and every router share one server database instead of a file.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "store.hpp"

namespace chat {

struct PostgresStoreOptions {
  /// How long (re)connecting may take before the call fails with
  /// StoreUnavailable. A `connect_timeout` in the URL takes precedence.
  std::chrono::seconds connect_timeout{5};
};

/// The schema version this build writes (the highest row of the database's
/// `schema_version` table).
inline constexpr int kPostgresSchemaVersion = 1;

/// True for `postgres://` and `postgresql://` URLs (libpq's URI forms).
bool is_postgres_url(std::string_view url);

/// Connects to the database at `url` (a libpq connection URI) and applies
/// the schema migrations it lacks, in one transaction. Throws
/// StoreUnavailable when the server cannot be reached, std::runtime_error
/// for a database of a newer schema (and on other errors).
///
/// The store holds one connection, behind a mutex: calls from several
/// threads run one at a time. When the connection is lost (server restart,
/// network), the call fails with StoreUnavailable and the next call
/// connects again.
///
///   auto store = chat::open_postgres_store("postgresql://chat@db/chat");
std::unique_ptr<Store> open_postgres_store(const std::string& url,
                                           PostgresStoreOptions options = {});

}  // namespace chat

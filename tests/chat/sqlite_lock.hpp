#pragma once
// Another process holding a SQLite database's write lock, as a router
// mid-commit or a long write elsewhere would: for tests of what a store
// does while it cannot write.

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace chat_test {

class SqliteWriteLock {
 public:
  /// Opens `path` on a connection of its own and takes the write lock.
  explicit SqliteWriteLock(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK ||
        sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
      sqlite3_close(db_);
      throw std::runtime_error("cannot lock " + path);
    }
  }
  ~SqliteWriteLock() { release(); }
  SqliteWriteLock(const SqliteWriteLock&) = delete;
  SqliteWriteLock& operator=(const SqliteWriteLock&) = delete;

  /// Gives the lock up (writing nothing); idempotent.
  void release() {
    if (!db_) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace chat_test

#pragma once
// A throwaway PostgreSQL server for the store tests: initdb and pg_ctl in a
// temporary directory, listening on a free loopback port, run as the
// `postgres` system user when the tests run as root (PostgreSQL refuses
// root).

#include <string>

namespace chat_test {

/// One cluster per test process, started on the first get() and removed
/// when the tests end (a gtest Environment stops it). The first initdb on a
/// machine is kept as /tmp/chat-pg-template-<hash>, which later processes
/// copy instead of running initdb again. Not thread-safe: the
/// tests call it from their main thread.
///
///   std::string why;
///   auto* pg = chat_test::PostgresCluster::get(&why);
///   if (!pg) GTEST_SKIP() << why;
///   auto store = chat::open_postgres_store(pg->create_database());
class PostgresCluster {
 public:
  /// The cluster, or nullptr with the reason to skip in `why` (no
  /// PostgreSQL binaries, no `postgres` user). Throws std::runtime_error
  /// with the output when initdb or the server fails.
  static PostgresCluster* get(std::string* why);

  /// Creates an empty database; returns its postgresql:// URL.
  std::string create_database();
  /// Runs `sql` as the superuser in the database at `url`; returns the
  /// first value of its first row (empty: none). Throws on error.
  static std::string query(const std::string& url, const std::string& sql);

  /// pg_ctl stop -m immediate: the server dies as on a crash.
  void stop_immediate();
  /// pg_ctl stop -m fast: the server ends its sessions and shuts down
  /// cleanly, as on an administrator's restart.
  void stop_fast();
  /// The pid of the server process serving the session whose
  /// application_name is `name` in the database at `url`; 0: none.
  static int backend_pid(const std::string& url, const std::string& name);
  /// Starts the stopped server again, on the same port.
  void start();

  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

 private:
  PostgresCluster(std::string bin_dir, std::string dir);
  /// Creates the cluster's data directory.
  void init();
  /// Runs the shell `command` (as `postgres` when root); throws with its
  /// output and the server log when it fails.
  void run(const std::string& command, const std::string& what) const;
  std::string url(const std::string& database) const;
  /// pg_ctl stop -m `mode`.
  void stop(const std::string& mode);

  const std::string bin_dir_;
  const std::string dir_;  // data in dir_/data, socket and log in dir_
  int port_ = 0;
  int databases_ = 0;
  bool running_ = false;
};

}  // namespace chat_test

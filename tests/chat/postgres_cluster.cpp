#include "postgres_cluster.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace chat_test {
namespace {

PostgresCluster* g_cluster = nullptr;
std::string g_skip;   // why there is no cluster to test with here
std::string g_error;  // why the cluster failed to start

/// $CHAT_PG_BINDIR, or the newest /usr/lib/postgresql/<version>/bin with an
/// initdb (Debian's layout); empty when there is none.
std::string find_bin_dir() {
  if (const char* dir = std::getenv("CHAT_PG_BINDIR")) return dir;
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto bin = entry.path() / "bin";
    const int version = std::atoi(entry.path().filename().c_str());
    if (std::filesystem::exists(bin / "initdb") && version > best_version) {
      best = bin.string();
      best_version = version;
    }
  }
  return best;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

/// Stops the cluster when the tests end.
struct PostgresEnvironment : ::testing::Environment {
  void TearDown() override {
    delete g_cluster;
    g_cluster = nullptr;
  }
};
const auto* const g_environment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

PostgresCluster* PostgresCluster::get(std::string* why) {
  if (!g_cluster && g_skip.empty() && g_error.empty()) {
    const std::string bin = find_bin_dir();
    if (bin.empty()) {
      g_skip =
          "PostgreSQL server binaries not found (no "
          "/usr/lib/postgresql/*/bin/initdb; set CHAT_PG_BINDIR or install "
          "the postgresql package)";
    } else if (geteuid() == 0 && !getpwnam("postgres")) {
      g_skip =
          "running as root and there is no `postgres` user to run "
          "the PostgreSQL server as";
    } else {
      try {
        char pattern[] = "/tmp/chat-pg-XXXXXX";
        if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
        std::unique_ptr<PostgresCluster> cluster(
            new PostgresCluster(bin, pattern));
        if (geteuid() == 0) {
          const passwd* pg = getpwnam("postgres");
          if (chown(pattern, pg->pw_uid, pg->pw_gid) != 0) {
            throw std::runtime_error("chown to postgres failed");
          }
        }
        cluster->init();
        cluster->start();
        g_cluster = cluster.release();
      } catch (const std::exception& e) {
        g_error = e.what();
      }
    }
  }
  // Installed but not working is a failure, not a reason to skip.
  if (!g_error.empty()) throw std::runtime_error(g_error);
  *why = g_skip;
  return g_cluster;
}

PostgresCluster::PostgresCluster(std::string bin_dir, std::string dir)
    : bin_dir_(std::move(bin_dir)), dir_(std::move(dir)) {}

PostgresCluster::~PostgresCluster() {
  if (running_) stop_immediate();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void PostgresCluster::init() {
  // initdb takes seconds on a busy machine, a copy of its result
  // milliseconds; every test is a process of its own under ctest. So the
  // first process keeps a template per server build in /tmp (renamed into
  // place whole, so never seen half-written) and later ones copy it.
  const std::string cached = "/tmp/chat-pg-template-" +
                             std::to_string(std::hash<std::string>{}(bin_dir_));
  if (!std::filesystem::exists(cached + "/PG_VERSION")) {
    const std::string fresh = dir_ + "/template";
    run(bin_dir_ + "/initdb -D " + fresh +
            " -U postgres --auth=trust --no-sync --encoding=UTF8 --locale=C",
        "initdb");
    std::error_code ec;
    std::filesystem::rename(fresh, cached, ec);  // fails if another won
    std::filesystem::remove_all(fresh, ec);
  }
  run("cp -a " + cached + " " + dir_ + "/data", "copy-template");
}

void PostgresCluster::run(const std::string& command,
                          const std::string& what) const {
  const std::string as_postgres =
      geteuid() == 0 ? "runuser -u postgres -- " : "";
  const std::string log = dir_ + "/" + what + ".out";
  const std::string line = as_postgres + command + " >" + log + " 2>&1";
  if (std::system(line.c_str()) != 0) {
    throw std::runtime_error(what + " failed: " + line + "\n" + read_file(log) +
                             read_file(dir_ + "/server.log"));
  }
}

void PostgresCluster::start() {
  // A port found free can be taken before the server binds it: try again.
  for (int attempt = 0;; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = free_port();
    try {
      run(bin_dir_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
              "/server.log -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p " +
              std::to_string(port_) + " -c unix_socket_directories=" + dir_ +
              " -c fsync=off -c full_page_writes=off -c shared_buffers=16MB "
              "-c max_connections=40\" start",
          "pg_ctl-start");
      running_ = true;
      return;
    } catch (const std::exception&) {
      if (attempt == 2) throw;
    }
  }
}

void PostgresCluster::stop_immediate() { stop("immediate"); }

void PostgresCluster::stop_fast() { stop("fast"); }

void PostgresCluster::stop(const std::string& mode) {
  run(bin_dir_ + "/pg_ctl -D " + dir_ + "/data -m " + mode + " -w stop",
      "pg_ctl-stop");
  running_ = false;
}

int PostgresCluster::backend_pid(const std::string& url,
                                 const std::string& name) {
  // Names come from the tests, never from outside: quoting is enough.
  return std::atoi(
      query(url, "SELECT pid FROM pg_stat_activity WHERE application_name = '" +
                     name + "' ORDER BY backend_start DESC LIMIT 1")
          .c_str());
}

std::string PostgresCluster::url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" +
         database;
}

std::string PostgresCluster::create_database() {
  const std::string name = "store_test_" + std::to_string(++databases_);
  query(url("postgres"), "CREATE DATABASE " + name);
  return url(name);
}

std::string PostgresCluster::query(const std::string& url,
                                   const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(url.c_str()),
                                                  PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("connect " + url + ": " +
                             PQerrorMessage(conn.get()));
  }
  PGresult* r = PQexec(conn.get(), sql.c_str());
  const auto status = PQresultStatus(r);
  const std::string error = PQresultErrorMessage(r);
  const std::string value =
      status == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + error);
  }
  return value;
}

}  // namespace chat_test

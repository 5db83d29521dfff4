// The stack on PostgreSQL when the database fails under load: the
// development broker, the API and a router as real processes on loopback,
// their store a throwaway PostgreSQL cluster, and a steady in-test sender.
// The router's server process is killed (kill -9, which makes PostgreSQL
// restart every backend) and the server is stopped and started again; the
// services must reconnect by themselves, say they are not ready while the
// database is down, and store every message the API answered 202 exactly
// once.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "message_sender.hpp"
#include "postgres_cluster.hpp"
#include "process.hpp"
#include "stack_client.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::PostgresCluster;
using chat_test::Process;

const std::string kSecret = "postgres-e2e-test-secret-32-bytes!!";
constexpr int kRate = 100;  // messages a second: steady, far below capacity
constexpr const char* kRouterName = "chat-router-1";

int probe_status(int port) {
  auto r = chat_test::http_get(port, "/health/ready");
  return r ? r->status : 0;
}

/// `ids` as a PostgreSQL array literal (the API's m_<hex> ids: nothing in
/// them to escape).
std::string array_of(const std::vector<std::string>& ids) {
  std::string sql = "ARRAY[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    sql += (i ? ",'" : "'") + ids[i] + "'";
  }
  return sql + "]::text[]";
}

class PostgresFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    pg_ = PostgresCluster::get(&why);
    if (!pg_) GTEST_SKIP() << why;
    url_ = pg_->create_database();
    const std::string bin = CHAT_BIN_DIR;
    const std::string& d = dir_.path();
    brokers_ = chat_test::start_broker(broker_, bin, d);
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    // application_name tells the services' sessions apart in
    // pg_stat_activity.
    api_ = chat_test::start_api(
        bin, brokers_, d, kSecret, d + "/api.log",
        {"--store-url", url_ + "?application_name=chat-api"});
    router_ = std::make_unique<Process>(
        std::vector<std::string>{bin + "/chat-router", "--brokers", brokers_,
                                 "--data-dir", d, "--metrics-port", "0",
                                 "--instance", "router-1",
                                 "--session-timeout-ms", "3000", "--store-url",
                                 url_ + "?application_name=" + kRouterName},
        d + "/router.log");
    api_port_ = chat_test::listening_port(d + "/api.log", "api_listening");
    router_port_ =
        chat_test::listening_port(d + "/router.log", "endpoint_listening");
    ASSERT_TRUE(chat_test::wait_ready(api_port_))
        << chat_test::tail_of(d + "/api.log");
    ASSERT_TRUE(chat_test::wait_ready(router_port_))
        << chat_test::tail_of(d + "/router.log");
    const auto user = chat_test::login(api_port_, kSecret, "user_a", "pass_a");
    ASSERT_FALSE(user.token.empty());
    sender_ = std::make_unique<chat_test::Sender>(api_port_, user.token,
                                                  user.id, "pg", kRate);
    ASSERT_TRUE(accepting(kRate / 2)) << "the sender's messages are not "
                                         "accepted";
  }

  void TearDown() override {
    sender_.reset();
    router_.reset();
    api_.reset();
    broker_.reset();
  }

  /// Whether `more` messages are answered 202 within 30 s.
  bool accepting(std::size_t more) {
    const std::size_t from = sender_->accepted();
    return eventually([&] { return sender_->accepted() >= from + more; }, 30s);
  }

  /// How many of `ids` are not stored, and how many are stored more than
  /// once.
  std::pair<long, long> missing_and_duplicated(
      const std::vector<std::string>& ids) {
    const std::string wanted = array_of(ids);
    const long missing = std::atol(
        PostgresCluster::query(
            url_, "SELECT count(*) FROM unnest(" + wanted +
                      ") AS w(id) WHERE NOT EXISTS (SELECT 1 FROM messages m "
                      "WHERE m.message_id = w.id)")
            .c_str());
    const long duplicated = std::atol(
        PostgresCluster::query(
            url_,
            "SELECT count(*) FROM (SELECT message_id FROM messages WHERE "
            "message_id = ANY(" +
                wanted + ") GROUP BY message_id HAVING count(*) > 1) d")
            .c_str());
    return {missing, duplicated};
  }

  /// Stops the sender and checks that every message it got a 202 for is
  /// stored exactly once (waiting for the router to store the last ones).
  void expect_every_accepted_stored_once() {
    const chat_test::SendLog sent = sender_->stop();
    ASSERT_FALSE(sent.accepted.empty());
    EXPECT_EQ(sent.unavailable_without_retry, 0);
    EXPECT_EQ(sent.other, 0) << "first: " << sent.first_other;
    std::pair<long, long> check{-1, -1};
    EXPECT_TRUE(eventually(
        [&] {
          check = missing_and_duplicated(sent.accepted);
          return check.first == 0;
        },
        60s))
        << check.first << " of " << sent.accepted.size()
        << " accepted messages never stored\n"
        << chat_test::tail_of(router_->log_path());
    EXPECT_EQ(check.second, 0) << "messages stored twice";
  }

  /// The router is the process the test started: nothing restarted it.
  void expect_router_never_restarted() {
    EXPECT_FALSE(router_->wait(0ms)) << chat_test::tail_of(router_->log_path());
  }

  PostgresCluster* pg_ = nullptr;
  std::string url_;
  chat_test::TempDir dir_;
  std::string brokers_;
  std::unique_ptr<Process> broker_, api_, router_;
  int api_port_ = 0, router_port_ = 0;
  std::unique_ptr<chat_test::Sender> sender_;
};

TEST_F(PostgresFaults, RouterReconnectsAfterItsBackendIsKilled) {
  int backend = 0;
  ASSERT_TRUE(eventually(
      [&] {
        return (backend = PostgresCluster::backend_pid(url_, kRouterName));
      },
      30s))
      << "no session of the router in pg_stat_activity";
  // Mid-batch or between batches, whichever it is: either way the
  // postmaster ends every session and recovers, as after a crash.
  ASSERT_EQ(kill(backend, SIGKILL), 0);
  int again = 0;
  EXPECT_TRUE(eventually(
      [&] {
        try {
          again = PostgresCluster::backend_pid(url_, kRouterName);
        } catch (const std::exception&) {
          again = 0;  // still recovering
        }
        return again != 0 && again != backend;
      },
      30s))
      << "the router never reconnected\n"
      << chat_test::tail_of(router_->log_path());
  EXPECT_TRUE(accepting(kRate)) << chat_test::tail_of(api_->log_path());
  expect_every_accepted_stored_once();
  expect_router_never_restarted();
}

TEST_F(PostgresFaults, ReadinessFollowsADatabaseRestart) {
  pg_->stop_fast();
  // Both services: the API answers from the store, the router stores.
  const bool api_red =
      eventually([&] { return probe_status(api_port_) == 503; }, 15s);
  const bool router_red =
      eventually([&] { return probe_status(router_port_) == 503; }, 15s);
  pg_->start();
  EXPECT_TRUE(api_red) << "the API stayed ready without its database";
  EXPECT_TRUE(router_red) << "the router stayed ready without its database";
  EXPECT_TRUE(chat_test::wait_ready(api_port_))
      << chat_test::tail_of(api_->log_path());
  EXPECT_TRUE(chat_test::wait_ready(router_port_))
      << chat_test::tail_of(router_->log_path());
  EXPECT_TRUE(accepting(kRate)) << chat_test::tail_of(api_->log_path());
  expect_every_accepted_stored_once();
  expect_router_never_restarted();
}

}  // namespace

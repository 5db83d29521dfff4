// Fault tolerance of the chat stack, measured: the development broker, the
// API and two routers as real processes on free loopback ports, with a
// steady in-test sender. Each test breaks one thing, measures how long the
// stack takes to recover, and checks that every message the API answered
// 202 for is stored exactly once (SQL over the store).
//
// Set CHAT_FT_RESULTS=<file> to append one JSON line per test run with the
// measured numbers (scripts/demo-full.sh and docs/FAULT_TOLERANCE_TESTS.md
// use it with --gtest_repeat), and CHAT_FT_KEEP=<dir> to keep the logs.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kafka_client.hpp"
#include "message_sender.hpp"
#include "process.hpp"
#include "stack_client.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::eventually;
using chat_test::Process;
using chat_test::Sender;
using chat_test::SendLog;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "fault-tolerance-test-secret-32-bytes!";
constexpr int kPartitions = 6;
/// The routers consume `messages` and `status-updates`, 6 partitions each.
constexpr int kGroupPartitions = 2 * kPartitions;
constexpr const char* kGroup = "router-worker-group";
/// What scripts/stack.sh runs the routers with against the development
/// broker, whose group coordinator waits session timeout - 1 s in every
/// rebalance (docs/FAULT_TOLERANCE_TESTS.md).
constexpr const char* kSessionTimeoutMs = "3000";
/// Messages per second from the in-test sender: steady, well below what
/// the stack sustains, so recovery is measured rather than saturation.
constexpr int kRate = 100;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// The value of every series of `name` (with `label_filter` in its labels)
/// in a Prometheus text exposition.
std::vector<double> series_values(const std::string& exposition,
                                  const std::string& name,
                                  const std::string& label_filter = {}) {
  std::istringstream lines(exposition);
  std::vector<double> values;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    if (!label_filter.empty() && line.find(label_filter) == std::string::npos) {
      continue;
    }
    const auto space = line.rfind(' ');
    values.push_back(std::strtod(line.c_str() + space + 1, nullptr));
  }
  return values;
}

/// The consumer group's lag on `messages` as the broker sees it: high
/// watermark minus committed offset, summed over the partitions. Asked
/// directly (not through a router's sampled gauge) so it is exact at the
/// moment of asking and covers partitions nobody owns.
class GroupLag {
 public:
  explicit GroupLag(const std::string& brokers) {
    // Same group id, never subscribed: reads the group's committed offsets
    // without joining it.
    auto conf = chat::kafka_conf({{"bootstrap.servers", brokers},
                                  {"group.id", kGroup},
                                  {"enable.auto.commit", "false"}});
    std::string error;
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) throw std::runtime_error("lag consumer: " + error);
  }
  ~GroupLag() { consumer_->close(); }

  std::optional<std::int64_t> total() {
    std::vector<RdKafka::TopicPartition*> partitions;
    for (int p = 0; p < kPartitions; ++p) {
      partitions.push_back(RdKafka::TopicPartition::create("messages", p));
    }
    std::optional<std::int64_t> lag;
    if (consumer_->committed(partitions, 2000) == RdKafka::ERR_NO_ERROR) {
      lag = 0;
      for (auto* tp : partitions) {
        std::int64_t low = 0, high = 0;
        if (consumer_->query_watermark_offsets("messages", tp->partition(),
                                               &low, &high,
                                               2000) != RdKafka::ERR_NO_ERROR) {
          lag.reset();
          break;
        }
        const std::int64_t committed = tp->offset() >= 0 ? tp->offset() : low;
        *lag += high - committed;
      }
    }
    RdKafka::TopicPartition::destroy(partitions);
    return lag;
  }

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

struct StoreCheck {
  std::int64_t missing = -1;     // accepted but not stored
  std::int64_t duplicated = -1;  // stored more than once
};

/// Asks the store, in SQL, whether every id in `accepted` is stored
/// exactly once.
StoreCheck check_store(const std::string& db_path,
                       const std::vector<std::string>& accepted) {
  StoreCheck out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  auto exec = [&](const char* sql) {
    return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  };
  auto scalar = [&](const char* sql) -> std::int64_t {
    sqlite3_stmt* statement = nullptr;
    std::int64_t value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      value = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
    return value;
  };
  if (exec("CREATE TEMP TABLE accepted(id TEXT PRIMARY KEY)")) {
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO accepted VALUES(?)", -1,
                       &insert, nullptr);
    exec("BEGIN");
    for (const auto& id : accepted) {
      sqlite3_bind_text(insert, 1, id.c_str(), static_cast<int>(id.size()),
                        SQLITE_TRANSIENT);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
    exec("COMMIT");
    sqlite3_finalize(insert);
    out.missing = scalar(
        "SELECT count(*) FROM accepted a WHERE NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.message_id = a.id)");
    out.duplicated = scalar(
        "SELECT count(*) FROM (SELECT m.message_id FROM messages m "
        "JOIN accepted a ON a.id = m.message_id "
        "GROUP BY m.message_id HAVING count(*) > 1)");
  }
  sqlite3_close(db);
  return out;
}

/// Appends one result line to $CHAT_FT_RESULTS, if set.
void record(const std::string& test, json numbers) {
  numbers["test"] = test;
  numbers["at"] = std::time(nullptr);
  std::cout << "[ result   ] " << numbers.dump() << "\n";
  if (const char* path = std::getenv("CHAT_FT_RESULTS")) {
    std::ofstream(path, std::ios::app) << numbers.dump() << "\n";
  }
}

struct Router {
  std::unique_ptr<Process> process;
  int port = 0;
};

class FaultTolerance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<chat_test::TempDir>();
    const std::string bin = CHAT_BIN_DIR;
    const std::string& d = dir_->path();
    brokers_ = chat_test::start_broker(
        broker_, bin, d, {"--partitions", std::to_string(kPartitions)});
    ASSERT_FALSE(brokers_.empty()) << chat_test::tail_of(d + "/broker.log");
    api_ = chat_test::start_api(bin, brokers_, d, kSecret, d + "/api.log",
                                {"--publish-timeout-ms", "3000"});
    routers_[0] = start_router(1);
    api_port_ = chat_test::listening_port(d + "/api.log", "api_listening");
    ASSERT_TRUE(probe_is(api_port_, "ready", 200, 30s))
        << chat_test::tail_of(d + "/api.log");
    const auto user = chat_test::login(api_port_, kSecret, "user_a", "pass_a");
    ASSERT_FALSE(user.token.empty());
    token_ = user.token;
    user_ = user.id;
  }

  static void TearDownTestSuite() {
    for (auto& router : routers_) router.process.reset();
    api_.reset();
    broker_.reset();
    // CHAT_FT_KEEP=<dir>: keep the services' logs (evidence, debugging).
    if (const char* keep = std::getenv("CHAT_FT_KEEP")) {
      std::filesystem::create_directories(keep);
      for (const auto& entry :
           std::filesystem::directory_iterator(dir_->path())) {
        if (entry.path().extension() == ".log") {
          std::filesystem::copy(
              entry.path(), keep,
              std::filesystem::copy_options::overwrite_existing);
        }
      }
    }
    dir_.reset();
  }

  // Every test starts with both routers up and owning half the partitions
  // each, whatever the test before did to them.
  void SetUp() override {
    if (!routers_[1].process) routers_[1] = start_router(2);
    ASSERT_TRUE(eventually(
        [&] {
          return owned(routers_[0]) == kGroupPartitions / 2 &&
                 owned(routers_[1]) == kGroupPartitions / 2;
        },
        60s))
        << "routers never split the partitions\n"
        << chat_test::tail_of(routers_[0].process->log_path(), 10)
        << chat_test::tail_of(routers_[1].process->log_path(), 10);
    // Each its share of each topic, also when one joined later (router-2
    // restarted after the test before): storing scales only if both
    // routers get `messages` partitions.
    EXPECT_TRUE(eventually(
        [&] {
          return owned_messages(routers_[0]) == kPartitions / 2 &&
                 owned_messages(routers_[1]) == kPartitions / 2;
        },
        30s))
        << "messages partitions: router-1 " << owned_messages(routers_[0])
        << ", router-2 " << owned_messages(routers_[1]);
    lag_ = std::make_unique<GroupLag>(brokers_);
  }

  void TearDown() override { lag_.reset(); }

  static Router start_router(int k) {
    const std::string& d = dir_->path();
    const std::string log = d + "/router-" + std::to_string(k) + "-" +
                            std::to_string(++router_starts_) + ".log";
    Router router;
    router.process = std::make_unique<Process>(
        std::vector<std::string>{std::string(CHAT_BIN_DIR) + "/chat-router",
                                 "--brokers", brokers_, "--data-dir", d,
                                 "--metrics-port", "0", "--instance",
                                 "router-" + std::to_string(k),
                                 "--session-timeout-ms", kSessionTimeoutMs},
        log);
    router.port = chat_test::listening_port(log, "endpoint_listening");
    return router;
  }

  static std::optional<std::vector<double>> series(
      const Router& router, const std::string& name,
      const std::string& label_filter = {}) {
    auto r = chat_test::http_get(router.port, "/metrics");
    if (!r || r->status != 200) return std::nullopt;
    return series_values(r->body, name, label_filter);
  }

  /// The sum of a metric's series on `router`; nullopt if it has none.
  static std::optional<double> metric(const Router& router,
                                      const std::string& name,
                                      const std::string& label_filter = {}) {
    const auto values = series(router, name, label_filter);
    if (!values || values->empty()) return std::nullopt;
    return std::accumulate(values->begin(), values->end(), 0.0);
  }

  static int owned(const Router& router) {
    return static_cast<int>(
        metric(router, "chat_router_assigned_partitions").value_or(-1));
  }

  /// Partitions of `messages` the router owns: its lag probe has a series
  /// for each.
  static int owned_messages(const Router& router) {
    const auto values =
        series(router, "kafka_consumergroup_lag", "topic=\"messages\"");
    return values ? static_cast<int>(values->size()) : -1;
  }

  static int probe_status(int port, const std::string& probe) {
    auto r = chat_test::http_get(port, "/health/" + probe);
    return r ? r->status : 0;
  }

  static bool probe_is(int port, const std::string& probe, int status,
                       std::chrono::milliseconds timeout) {
    return eventually([&] { return probe_status(port, probe) == status; },
                      timeout);
  }

  std::unique_ptr<Sender> start_sender(const std::string& tag) {
    auto sender =
        std::make_unique<Sender>(api_port_, token_, user_, tag, kRate);
    EXPECT_TRUE(
        eventually([&] { return sender->accepted() >= kRate / 2; }, 30s))
        << "the sender's messages are not accepted";
    return sender;
  }

  /// The largest group lag seen over `window` of steady load.
  std::int64_t steady_lag(std::chrono::milliseconds window) {
    std::int64_t worst = 0;
    const auto until = Clock::now() + window;
    while (Clock::now() < until) {
      worst = std::max(worst, lag_->total().value_or(0));
      std::this_thread::sleep_for(50ms);
    }
    return worst;
  }

  /// Waits until every accepted message is stored; returns the final check.
  StoreCheck wait_all_stored(const std::vector<std::string>& accepted) {
    StoreCheck check;
    eventually(
        [&] {
          check = check_store(dir_->path() + "/chat.db", accepted);
          return check.missing == 0;
        },
        60s);
    return check;
  }

  static inline std::unique_ptr<chat_test::TempDir> dir_;
  static inline std::string brokers_;
  static inline std::unique_ptr<Process> broker_;
  static inline std::unique_ptr<Process> api_;
  static inline Router routers_[2];
  static inline int api_port_ = 0;
  static inline int router_starts_ = 0;
  static inline std::string token_, user_;
  std::unique_ptr<GroupLag> lag_;
};

// kill -9 one of two routers under load. Recovery = from the kill until the
// survivor owns every partition and the group's lag is back to its
// pre-kill level (plus 100 ms of arrivals). Target < 10 s.
TEST_F(FaultTolerance, RouterKilledUnderLoadRecoversWithinTenSeconds) {
  auto sender = start_sender("failover");
  const std::int64_t lag_before = steady_lag(1s);
  const std::int64_t lag_target = lag_before + kRate / 10;
  Router& survivor = routers_[0];
  Router& victim = routers_[1];
  const double duplicates_before =
      metric(survivor, "chat_messages_processed_total", "duplicate")
          .value_or(0);

  const auto killed = Clock::now();
  victim.process->signal(SIGKILL);
  ASSERT_TRUE(victim.process->wait(10s));
  std::int64_t lag_peak = 0;
  Clock::time_point assigned{}, recovered{};
  const bool ok = eventually(
      [&] {
        const auto lag = lag_->total();
        if (lag) lag_peak = std::max(lag_peak, *lag);
        if (assigned == Clock::time_point{}) {
          if (owned(survivor) != kGroupPartitions) return false;
          assigned = Clock::now();
        }
        if (!lag || *lag > lag_target) return false;
        recovered = Clock::now();
        return true;
      },
      30s);
  const SendLog sent = sender->stop();
  victim.process.reset();
  ASSERT_TRUE(ok) << "no recovery within 30 s; assigned after "
                  << (assigned == Clock::time_point{}
                          ? -1
                          : ms_between(killed, assigned))
                  << " ms\n"
                  << chat_test::tail_of(survivor.process->log_path(), 20);
  const StoreCheck stored = wait_all_stored(sent.accepted);
  const double redone =
      metric(survivor, "chat_messages_processed_total", "duplicate")
          .value_or(0) -
      duplicates_before;
  const double recovery_ms = ms_between(killed, recovered);
  record("router_failover", {{"assigned_ms", ms_between(killed, assigned)},
                             {"recovery_ms", recovery_ms},
                             {"lag_before", lag_before},
                             {"lag_peak", lag_peak},
                             {"accepted", sent.accepted.size()},
                             {"missing", stored.missing},
                             {"duplicated_in_store", stored.duplicated},
                             {"redelivered_duplicates", redone},
                             {"rate_per_s", kRate}});
  EXPECT_LT(recovery_ms, 10000);
  EXPECT_EQ(stored.missing, 0) << "accepted messages lost";
  EXPECT_EQ(stored.duplicated, 0);
  EXPECT_EQ(sent.other, 0) << sent.first_other;
}

// SIGTERM one of two routers under load: it finishes its batch, commits and
// leaves the group, so the survivor takes over at once (< 3 s) and
// processes nothing a second time.
TEST_F(FaultTolerance, RouterStoppedGracefullyHandsOverWithinThreeSeconds) {
  auto sender = start_sender("scale-in");
  Router& survivor = routers_[0];
  Router& leaver = routers_[1];
  const double duplicates_before =
      metric(survivor, "chat_messages_processed_total", "duplicate")
          .value_or(0);

  const auto stopped = Clock::now();
  leaver.process->signal(SIGTERM);
  Clock::time_point assigned{};
  const bool taken_over = eventually(
      [&] {
        if (owned(survivor) != kGroupPartitions) return false;
        assigned = Clock::now();
        return true;
      },
      30s);
  const auto exit_code = leaver.process->wait(15s);
  // Keep sending a while on the survivor alone, then check the store.
  const std::size_t at_handover = sender->accepted();
  EXPECT_TRUE(eventually(
      [&] { return sender->accepted() >= at_handover + kRate / 2; }, 30s));
  const SendLog sent = sender->stop();
  leaver.process.reset();
  ASSERT_TRUE(taken_over) << chat_test::tail_of(survivor.process->log_path());
  const StoreCheck stored = wait_all_stored(sent.accepted);
  const double redone =
      metric(survivor, "chat_messages_processed_total", "duplicate")
          .value_or(0) -
      duplicates_before;
  const double handover_ms = ms_between(stopped, assigned);
  record("router_graceful_scale_in",
         {{"handover_ms", handover_ms},
          {"accepted", sent.accepted.size()},
          {"missing", stored.missing},
          {"duplicated_in_store", stored.duplicated},
          {"redelivered_duplicates", redone},
          {"rate_per_s", kRate}});
  EXPECT_EQ(exit_code, std::optional<int>(0));
  EXPECT_LT(handover_ms, 3000);
  EXPECT_EQ(redone, 0) << "the survivor processed messages a second time";
  EXPECT_EQ(stored.missing, 0);
  EXPECT_EQ(stored.duplicated, 0);
  EXPECT_EQ(sent.other, 0) << sent.first_other;
}

// The broker goes down under load: the API answers 503 with Retry-After,
// readiness fails on the API and both routers while liveness stays green
// (the processes are fine, their dependency is not); all recover when the
// broker returns, and nothing answered 202 is lost.
TEST_F(FaultTolerance, BrokerOutageFailsReadinessNotLivenessAndLosesNothing) {
  auto sender = start_sender("outage");
  const std::vector<int> ports = {api_port_, routers_[0].port,
                                  routers_[1].port};
  auto all = [&](const std::string& probe, int status) {
    for (int port : ports) {
      if (probe_status(port, probe) != status) return false;
    }
    return true;
  };
  int liveness_failures = 0;
  auto watch_liveness = [&] {
    if (!all("live", 200)) ++liveness_failures;
  };

  const auto down = Clock::now();
  broker_->signal(SIGUSR1);
  Clock::time_point unready{};
  const int unavailable_before = sender->unavailable();
  // The outage lasts until every service reports not ready and the API has
  // refused several messages with 503.
  const bool degraded = eventually(
      [&] {
        watch_liveness();
        if (unready == Clock::time_point{} && all("ready", 503)) {
          unready = Clock::now();
        }
        return unready != Clock::time_point{} &&
               sender->unavailable() >= unavailable_before + 5;
      },
      30s);
  const auto up = Clock::now();
  broker_->signal(SIGUSR2);
  Clock::time_point ready_again{};
  const bool recovered = eventually(
      [&] {
        watch_liveness();
        if (ready_again == Clock::time_point{} && all("ready", 200)) {
          ready_again = Clock::now();
        }
        return ready_again != Clock::time_point{} &&
               sender->last_accepted_at() > ready_again;
      },
      60s);
  const auto accepting_again = sender->last_accepted_at();
  const SendLog sent = sender->stop();
  ASSERT_TRUE(degraded) << "readiness did not fail or no 503 was answered\n"
                        << chat_test::tail_of(dir_->path() + "/api.log", 20);
  ASSERT_TRUE(recovered) << "the stack did not recover\n"
                         << chat_test::tail_of(dir_->path() + "/api.log", 20);
  const StoreCheck stored = wait_all_stored(sent.accepted);
  record("broker_outage",
         {{"unready_after_ms", ms_between(down, unready)},
          {"outage_ms", ms_between(down, up)},
          {"ready_after_up_ms", ms_between(up, ready_again)},
          {"accepting_after_up_ms", ms_between(up, accepting_again)},
          {"answered_503", sent.unavailable},
          {"answered_503_without_retry_after", sent.unavailable_without_retry},
          {"liveness_failures", liveness_failures},
          {"accepted", sent.accepted.size()},
          {"missing", stored.missing},
          {"duplicated_in_store", stored.duplicated}});
  EXPECT_EQ(sent.unavailable_without_retry, 0);
  EXPECT_EQ(sent.other, 0) << "answers other than 202/503: "
                           << sent.first_other;
  EXPECT_EQ(liveness_failures, 0);
  EXPECT_EQ(stored.missing, 0) << "a message answered 202 was lost";
  EXPECT_EQ(stored.duplicated, 0);
}

}  // namespace

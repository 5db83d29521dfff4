// chat-router: consumer group `router-worker-group` on `messages` (and
// `router-worker-group-status` on `status-updates`); persists
// messages in the store and routes platform messages to the connectors.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vigil/http/endpoint.hpp>
#include <vigil/http/health.hpp>
#include <vigil/kafka/consumer_lag.hpp>
#include <vigil/process_collector.hpp>

#include "flags.hpp"
#include "kafka_client.hpp"
#include "router.hpp"
#include "service.hpp"
#include "store_health.hpp"

namespace {

constexpr const char* kService = "chat-router";

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(kService,
                    "Consumes `messages`, stores them and routes platform "
                    "messages to the connectors' topics.");
  flags
      .add("brokers", "KAFKA_BROKERS", "127.0.0.1:9092",
           "Kafka bootstrap servers")
      .add("data-dir", "CHAT_DATA_DIR", "data",
           "directory of the SQLite store (chat.db)")
      .add("store-url", "CHAT_STORE_URL", "",
           "the store: a postgresql:// URL, or a SQLite file (default: "
           "<data-dir>/chat.db)")
      .add("bind", "CHAT_BIND", "127.0.0.1", "address for metrics and health")
      .add("metrics-port", "CHAT_ROUTER_METRICS_PORT", "8082",
           "port for /metrics and /health (0: any free port)")
      .add("instance", "CHAT_ROUTER_INSTANCE", "",
           "name in logs and client.id (default: router-<pid>)")
      .add("max-batch", "CHAT_ROUTER_MAX_BATCH", "2000",
           "events stored and committed together at most")
      .add("session-timeout-ms", "CHAT_ROUTER_SESSION_TIMEOUT_MS", "6000",
           "consumer group session timeout: how soon a dead router's "
           "partitions move (6000 is a real Kafka broker's minimum; the "
           "development broker accepts less, scripts/stack.sh uses 3000)")
      .add("lag-interval-ms", "CHAT_ROUTER_LAG_INTERVAL_MS", "2000",
           "how often the consumer lag gauges are sampled")
      .add("liveness-threshold-ms", "CHAT_ROUTER_LIVENESS_THRESHOLD_MS",
           "60000",
           "/health/live fails when the poll loop has not turned for this "
           "long, or has retried a batch the store cannot take (busy, disk "
           "full, I/O error) for this long");
  chat::add_kafka_config_flag(flags);
  flags.parse(argc, argv);

  const vigil::LogSink log = vigil::stderr_log_sink();
  // Signals go to the waiting thread below only.
  const chat::Signals signals;

  chat::RouterOptions options;
  options.brokers = flags.str("brokers");
  options.instance = flags.str("instance").empty()
                         ? "router-" + std::to_string(getpid())
                         : flags.str("instance");
  options.max_batch =
      static_cast<std::size_t>(flags.integer("max-batch", 1, 100000));
  options.session_timeout = std::chrono::milliseconds(
      flags.integer("session-timeout-ms", 1000, 300000));
  options.liveness_threshold = std::chrono::milliseconds(
      flags.integer("liveness-threshold-ms", 1000, 3600000));

  return chat::run_service(kService, log, [&] {
    chat::apply_kafka_config(flags);
    std::filesystem::create_directories(flags.str("data-dir"));
    vigil::Registry registry;
    registry.include(std::make_shared<vigil::ProcessCollector>());
    // Routers share one SQLite file; its write lock is what they contend on.
    vigil::Histogram lock_wait =
        registry
            .histogram("chat_store_lock_wait_seconds",
                       "Time a store write waited for the database's write "
                       "lock (held by another router or the API).",
                       {}, vigil::buckets::latency_seconds(), {"seconds", 0})
            .with({});
    chat::SqliteStoreOptions store_options;
    store_options.on_write_lock_wait = [lock_wait](double seconds) mutable {
      lock_wait.observe(seconds);
    };
    const std::string store_url = flags.str("store-url");
    auto store = chat::open_store(
        store_url.empty() ? flags.str("data-dir") + "/chat.db" : store_url,
        std::move(store_options));
    chat::Router router(options, *store, registry, log);
    // After the router, so its check threads stop before the router goes.
    vigil::http::HealthRegistry health(registry);

    vigil::http::CheckOptions kafka_check;
    kafka_check.probes = vigil::http::Probe::kReadiness;
    kafka_check.interval = std::chrono::milliseconds(500);
    kafka_check.timeout = std::chrono::milliseconds(2000);
    kafka_check.component_type = "queue";
    health.add_check("kafka", kafka_check, [&router] {
      return router.check_ready(std::chrono::milliseconds(1000));
    });
    // Also when idle: a router that cannot store takes nothing over usefully.
    chat::add_store_readiness_check(health, *store);
    chat::add_liveness_check(health, router.watchdog());

    vigil::kafka::ConsumerLagOptions lag_options;
    lag_options.interval =
        std::chrono::milliseconds(flags.integer("lag-interval-ms", 100, 60000));
    vigil::kafka::ConsumerLagProbe lag(router.messages_consumer(), registry,
                                       lag_options);
    vigil::kafka::ConsumerLagProbe status_lag(router.status_consumer(),
                                              registry, lag_options);
    lag.start();
    status_lag.start();

    vigil::http::EndpointOptions endpoint_options;
    endpoint_options.bind = flags.str("bind");
    endpoint_options.port =
        static_cast<std::uint16_t>(flags.integer("metrics-port", 0, 65535));
    endpoint_options.service = kService;
    endpoint_options.log = log;
    vigil::http::Endpoint endpoint(endpoint_options, registry, health);
    endpoint.start();
    vigil::LogLine(log, "info", kService, "endpoint_listening")
        .field("instance", options.instance)
        .field("port", endpoint.port())
        .emit();

    std::thread waiter([&] {
      const int received = signals.wait();
      vigil::LogLine(log, "info", kService, "signal")
          .field("signal", received)
          .emit();
      // The probes stop before run() closes the consumers they sample.
      lag.stop();
      status_lag.stop();
      router.request_stop();
    });
    // However run() ends, the waiter must end too: a signal wakes it if it
    // is still waiting (run() threw), and is ignored if it already returned.
    struct JoinWaiter {
      std::thread& thread;
      ~JoinWaiter() {
        pthread_kill(thread.native_handle(), SIGTERM);
        thread.join();
      }
    } join_waiter{waiter};
    router.run();
    return 0;
  });
}

// chat-connector: delivers one channel's outbound messages (WhatsApp on
// 8083, Instagram on 8084) to the platform, with /metrics and /health* on
// its port.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>
#include <vigil/http/health.hpp>
#include <vigil/process_collector.hpp>

#include "connector.hpp"
#include "flags.hpp"
#include "kafka_client.hpp"
#include "server_flags.hpp"
#include "service.hpp"

namespace {

std::chrono::milliseconds ms(const chat::Flags& flags, const char* name,
                             std::int64_t min, std::int64_t max) {
  return std::chrono::milliseconds(flags.integer(name, min, max));
}

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(
      "chat-connector",
      "Delivers whatsapp-outbound or instagram-outbound to the "
      "platform and reports DELIVERED/PENDING on status-updates.");
  flags.add("channel", "CHAT_CONNECTOR_CHANNEL", "", "whatsapp or instagram")
      .add("brokers", "KAFKA_BROKERS", "127.0.0.1:9092",
           "Kafka bootstrap servers")
      .add("platform-url", "CHAT_PLATFORM_URL", "http://127.0.0.1:8085",
           "base URL of the platform API (http://HOST:PORT)")
      .add("bind", "CHAT_BIND", "127.0.0.1", "address for metrics and health")
      .add("port", "CHAT_CONNECTOR_PORT", "",
           "port for /metrics and /health (default 8083 whatsapp, 8084 "
           "instagram; 0: any free port)")
      .add("instance", "CHAT_CONNECTOR_INSTANCE", "",
           "name in logs and client.id (default: connector-<channel>-<pid>)")
      .add("max-in-flight", "CHAT_CONNECTOR_MAX_IN_FLIGHT", "64",
           "deliveries under way at once, and the most delivered but not yet "
           "committed (what a crash may send twice)")
      .add("max-held", "CHAT_CONNECTOR_MAX_HELD", "10000",
           "messages read and not committed before reading pauses")
      .add("call-timeout-ms", "CHAT_CONNECTOR_CALL_TIMEOUT_MS", "5000",
           "deadline of one platform call")
      .add("max-attempts", "CHAT_CONNECTOR_MAX_ATTEMPTS", "3",
           "attempts per delivery before the message waits (PENDING)")
      .add("backoff-ms", "CHAT_CONNECTOR_BACKOFF_MS", "100",
           "first retry's jittered backoff bound (doubles per retry)")
      .add("retry-later-ms", "CHAT_CONNECTOR_RETRY_LATER_MS", "1000",
           "wait before a PENDING message is tried again")
      .add("breaker-failures", "CHAT_CONNECTOR_BREAKER_FAILURES", "5",
           "consecutive failed calls that open the circuit breaker")
      .add("breaker-open-ms", "CHAT_CONNECTOR_BREAKER_OPEN_MS", "10000",
           "how long the breaker stays open before a half-open trial")
      .add("breaker-max-open-ms", "CHAT_CONNECTOR_BREAKER_MAX_OPEN_MS", "60000",
           "cap of the open wait, which doubles with each failed trial")
      .add("session-timeout-ms", "CHAT_CONNECTOR_SESSION_TIMEOUT_MS", "6000",
           "consumer group session timeout: how soon a dead connector's "
           "partitions move to its replacement");
  chat::add_server_limit_flags(flags, "CHAT_CONNECTOR");
  chat::add_kafka_config_flag(flags);
  flags.parse(argc, argv);
  const std::string channel = flags.str("channel");
  if (channel != "whatsapp" && channel != "instagram") {
    std::fprintf(stderr,
                 "chat-connector: --channel must be whatsapp or instagram\n");
    return 2;
  }
  const std::string service = "chat-connector-" + channel;
  const vigil::LogSink log = vigil::stderr_log_sink();
  // Signals go to serve_until_signal's wait only.
  const chat::Signals signals;

  chat::ConnectorOptions options;
  options.channel = channel;
  options.brokers = flags.str("brokers");
  options.platform_url = flags.str("platform-url");
  options.instance =
      flags.str("instance").empty()
          ? "connector-" + channel + "-" + std::to_string(getpid())
          : flags.str("instance");
  options.max_in_flight =
      static_cast<std::size_t>(flags.integer("max-in-flight", 1, 1024));
  options.max_held =
      static_cast<std::size_t>(flags.integer("max-held", 1, 1000000));
  options.call_timeout = ms(flags, "call-timeout-ms", 10, 600000);
  options.max_attempts =
      static_cast<std::uint32_t>(flags.integer("max-attempts", 1, 100));
  options.initial_backoff = ms(flags, "backoff-ms", 0, 60000);
  options.retry_later = ms(flags, "retry-later-ms", 1, 600000);
  options.breaker_failures =
      static_cast<std::uint32_t>(flags.integer("breaker-failures", 1, 1000));
  options.breaker_open_wait = ms(flags, "breaker-open-ms", 1, 3600000);
  options.breaker_max_open_wait = ms(flags, "breaker-max-open-ms", 1, 3600000);
  options.session_timeout = ms(flags, "session-timeout-ms", 1000, 300000);
  const std::string port = flags.str("port").empty()
                               ? (channel == "whatsapp" ? "8083" : "8084")
                               : flags.str("port");
  if (port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    std::fprintf(stderr, "chat-connector: --port must be in [0, 65535]\n");
    return 2;
  }

  return chat::run_service(service.c_str(), log, [&] {
    chat::apply_kafka_config(flags);
    vigil::Registry registry;
    registry.include(std::make_shared<vigil::ProcessCollector>());
    chat::Connector connector(options, registry, log);
    // After the connector, so its check threads stop before it goes.
    vigil::http::HealthRegistry health(registry);

    vigil::http::CheckOptions kafka_check;
    kafka_check.probes = vigil::http::Probe::kReadiness;
    kafka_check.interval = std::chrono::milliseconds(1000);
    kafka_check.timeout = std::chrono::milliseconds(2000);
    kafka_check.component_type = "queue";
    health.add_check("kafka", kafka_check, [&connector] {
      return connector.check_broker(std::chrono::milliseconds(1000))
                 ? vigil::http::CheckResult::pass()
                 : vigil::http::CheckResult::fail("broker unreachable");
    });
    // An open breaker is store-and-forward at work: warn, never fail.
    vigil::http::CheckOptions breaker_check;
    breaker_check.probes = vigil::http::Probe::kReadiness;
    breaker_check.interval = std::chrono::milliseconds(500);
    breaker_check.component_type = "component";
    health.add_check("platform-" + channel, breaker_check, [&connector] {
      const auto& breaker = connector.breaker();
      return vigil::http::CheckResult::from(
          breaker.health(), std::string("circuit breaker ") +
                                vigil::to_string(breaker.state()) +
                                ": messages are kept and forwarded later");
    });

    std::atomic<bool> failed{false};
    std::thread worker([&] {
      try {
        connector.run();
      } catch (const std::exception& e) {
        vigil::LogLine(log, "error", service, "fatal")
            .field("error", e.what())
            .emit();
        failed = true;
        kill(getpid(), SIGTERM);  // ends serve_until_signal's wait
      }
    });
    struct StopWorker {
      chat::Connector& connector;
      std::thread& thread;
      ~StopWorker() {
        connector.request_stop();
        thread.join();
      }
    } stop_worker{connector, worker};

    chat::HttpServerOptions server_options;
    server_options.bind = flags.str("bind");
    server_options.port = static_cast<std::uint16_t>(std::stoi(port));
    server_options.service = service;
    server_options.log = log;
    chat::apply_server_limit_flags(flags, server_options);
    chat::serve_until_signal(
        "connector", server_options, registry, health, {},
        [](chat::Request&&, chat::Respond respond) {
          respond(chat::json_response(
              404, R"({"type":"about:blank","status":404,)"
                   R"("detail":"only /metrics and /health* are served"})"));
        },
        signals);
    return failed ? 1 : 0;
  });
}

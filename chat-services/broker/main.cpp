// chat-broker: a development Kafka broker for laptops and CI. It hosts
// librdkafka's mock cluster with the chat topics and prints its bootstrap
// address. Data lives in memory only; every other service speaks plain Kafka
// through librdkafka and runs unchanged against a real cluster.
//
// Signals: SIGTERM/SIGINT stop it; SIGUSR1 takes the brokers down (clients
// see connections refused) and SIGUSR2 brings them back, which is how the
// stack's tests simulate a broker outage without losing the address.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vigil/log.hpp>

#include "flags.hpp"
#include "service.hpp"

namespace {

constexpr const char* kService = "chat-broker";
constexpr const char* kTopics[] = {"messages", "whatsapp-outbound",
                                   "instagram-outbound", "status-updates",
                                   "dead-letter"};

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(kService,
                    "Development Kafka broker (librdkafka mock cluster, in "
                    "memory, loopback only).");
  flags.add("partitions", "CHAT_BROKER_PARTITIONS", "6", "partitions per topic")
      .add("brokers", "CHAT_BROKER_COUNT", "1", "number of mock brokers")
      .add("address-file", "CHAT_BROKER_ADDRESS_FILE", "",
           "also write the bootstrap address to this file");
  flags.parse(argc, argv);
  const int partitions = static_cast<int>(flags.integer("partitions", 1, 256));
  const int brokers = static_cast<int>(flags.integer("brokers", 1, 9));
  const vigil::LogSink log = vigil::stderr_log_sink();

  // Block the signals before librdkafka starts threads, so they inherit the
  // mask and sigwait() below is the only place that sees them.
  const chat::Signals signals({SIGINT, SIGTERM, SIGUSR1, SIGUSR2});

  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The hosting client never connects anywhere; its notices are noise.
  rd_kafka_conf_set(conf, "log_level", "4", error, sizeof error);
  rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (host == nullptr) {
    vigil::LogLine(log, "error", kService, "start_failed")
        .field("reason", error)
        .emit();
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, brokers);
  if (cluster == nullptr) {
    vigil::LogLine(log, "error", kService, "start_failed")
        .field("reason", "mock cluster could not be created")
        .emit();
    rd_kafka_destroy(host);
    return 1;
  }
  for (const char* topic : kTopics) {
    rd_kafka_mock_topic_create(cluster, topic, partitions, 1);
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (!flags.str("address-file").empty()) {
    std::ofstream(flags.str("address-file")) << bootstrap << "\n";
  }
  vigil::LogLine(log, "info", kService, "broker_started")
      .field("bootstrap", bootstrap)
      .field("partitions", partitions)
      .field("brokers", brokers)
      .emit();
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);

  for (;;) {
    const int received = signals.wait();
    if (received == SIGUSR1 || received == SIGUSR2) {
      for (int id = 1; id <= brokers; ++id) {
        if (received == SIGUSR1) {
          rd_kafka_mock_broker_set_down(cluster, id);
        } else {
          rd_kafka_mock_broker_set_up(cluster, id);
        }
      }
      vigil::LogLine(log, "warn", kService,
                     received == SIGUSR1 ? "brokers_down" : "brokers_up")
          .emit();
      continue;
    }
    vigil::LogLine(log, "info", kService, "broker_stopping")
        .field("signal", received)
        .emit();
    break;
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(host);
  return 0;
}

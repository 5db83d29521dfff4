// chat-backlog: writes chat message events straight to the `messages` topic,
// as the API would after accepting them, so experiments can load the
// routers without the API in the way: a backlog as fast as the broker takes
// it (--rate 0), or a steady stream (--rate N per second). Every event is
// confirmed by the broker before its id is written to --ids-file, so the
// file lists exactly the events that must end up stored.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>
#include <vigil/log.hpp>

#include "events.hpp"
#include "flags.hpp"
#include "kafka_client.hpp"
#include "service.hpp"

namespace {

constexpr const char* kService = "chat-backlog";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(kService,
                    "Writes message events to the `messages` topic (a backlog "
                    "or a steady stream) for the scaling experiments.");
  flags
      .add("brokers", "KAFKA_BROKERS", "127.0.0.1:9092",
           "Kafka bootstrap servers")
      .add("count", "", "10000", "events to write")
      .add("rate", "", "0", "events per second (0: as fast as possible)")
      .add("conversations", "", "120",
           "conversations the events are spread over (keys: they pick the "
           "partition)")
      .add("content-bytes", "", "100", "size of each message's content")
      .add("prefix", "", "backlog", "conversation and message id prefix")
      .add("ids-file", "", "", "write the confirmed message ids here");
  flags.parse(argc, argv);
  const auto count = flags.integer("count", 1, 100000000);
  const auto rate = flags.integer("rate", 0, 1000000);
  const auto conversations = flags.integer("conversations", 1, 1000000);
  const std::string content(
      static_cast<std::size_t>(flags.integer("content-bytes", 1, 10240)), 'x');
  const std::string prefix = flags.str("prefix");
  const vigil::LogSink log = vigil::stderr_log_sink();

  return chat::run_service(kService, log, [&] {
    chat::ConfirmedProducer producer(flags.str("brokers"),
                                     {{"client.id", kService},
                                      {"linger.ms", "5"},
                                      {"batch.num.messages", "10000"}});
    std::ofstream ids;
    if (!flags.str("ids-file").empty()) ids.open(flags.str("ids-file"));
    // A backlog goes in rounds of 5000; a steady stream every 10 ms writes
    // what is due by then (so a slow confirmation never lowers the rate)
    // and waits for the broker's confirmation before the ids are recorded.
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::string> round_ids;
    std::int64_t written = 0;
    for (std::int64_t round = 1; written < count; ++round) {
      std::int64_t due = written + 5000;
      if (rate > 0) {
        std::this_thread::sleep_until(started +
                                      std::chrono::milliseconds(10 * round));
        const double elapsed = std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - started)
                                   .count();
        due = static_cast<std::int64_t>(elapsed * static_cast<double>(rate));
      }
      due = std::min(due, count);
      producer.begin_batch();
      round_ids.clear();
      for (std::int64_t n = written; n < due; ++n) {
        chat::MessageEvent event;
        event.message_id = "m_" + prefix + "_" + std::to_string(n);
        event.conversation_id =
            prefix + "-" + std::to_string(n % conversations);
        event.sender_id = "u_" + prefix;
        event.content = content;
        event.timestamp_ms = now_ms();
        producer.produce("messages", event.conversation_id,
                         chat::to_json(event));
        round_ids.push_back(event.message_id);
      }
      if (!producer.confirm(std::chrono::seconds(30))) {
        throw std::runtime_error("the broker did not confirm a round");
      }
      for (const auto& id : round_ids) ids << id << '\n';
      written = due;
    }
    const double seconds = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - started)
                               .count();
    vigil::LogLine(log, "info", kService, "backlog_written")
        .field("events", written)
        .field("seconds", seconds)
        .emit();
    return 0;
  });
}

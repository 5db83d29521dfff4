#include "router.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <utility>

namespace chat {
namespace {

constexpr const char* kService = "chat-router";
constexpr const char* kMessagesTopic = "messages";
constexpr const char* kStatusTopic = "status-updates";
constexpr const char* kDeadLetterTopic = "dead-letter";
/// The status-updates consumer's group (and client id) is the router's plus
/// this.
constexpr const char* kStatusGroupSuffix = "-status";
constexpr std::chrono::milliseconds kConfirmTimeout{10000};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* outbound_topic(const std::string& recipient) {
  Channel channel = Channel::kLocal;
  parse_recipient(recipient, channel);
  switch (channel) {
    case Channel::kWhatsApp:
      return "whatsapp-outbound";
    case Channel::kInstagram:
      return "instagram-outbound";
    case Channel::kLocal:
      break;
  }
  return nullptr;
}

std::string partition_list(
    const std::vector<RdKafka::TopicPartition*>& partitions) {
  std::string out;
  for (const auto* p : partitions) {
    if (!out.empty()) out += ',';
    out += p->topic() + "/" + std::to_string(p->partition());
  }
  return out;
}

vigil::CounterFamily& processed(vigil::Registry& metrics) {
  return metrics.counter("chat_messages_processed_total",
                         "Events processed, by outcome: stored, duplicate "
                         "(already stored) or dead_letter.",
                         {"outcome"});
}

vigil::CounterFamily& dead_letters(vigil::Registry& metrics) {
  return metrics.counter("chat_dead_letter_total",
                         "Events sent to the dead-letter topic, by reason: "
                         "malformed (not a valid event) or store_refused (the "
                         "store refused it, which retrying cannot cure).",
                         {"reason"});
}

vigil::CounterFamily& store_failures(vigil::Registry& metrics) {
  return metrics.counter(
      "chat_router_store_failures_total",
      "Attempts at storing a batch that failed, by reason: unavailable (the "
      "store cannot answer now; the batch is retried) or refused (it refused "
      "a statement; the batch is split and the events it refuses are "
      "dead-lettered).",
      {"reason"});
}

}  // namespace

Router::Router(RouterOptions options, Store& store, vigil::Registry& metrics,
               vigil::LogSink log)
    : options_(std::move(options)),
      store_(store),
      log_(std::move(log)),
      watchdog_("router_poll_loop", options_.liveness_threshold),
      producer_(options_.brokers, {{"client.id", options_.instance}}),
      consumed_(metrics.counter("chat_messages_consumed_total",
                                "Events consumed, by topic and partition.",
                                {"topic", "partition"})),
      stored_(processed(metrics).with({"stored"})),
      duplicates_(processed(metrics).with({"duplicate"})),
      dead_lettered_(processed(metrics).with({"dead_letter"})),
      dead_malformed_(dead_letters(metrics).with({"malformed"})),
      dead_store_refused_(dead_letters(metrics).with({"store_refused"})),
      store_unavailable_(store_failures(metrics).with({"unavailable"})),
      store_refused_(store_failures(metrics).with({"refused"})),
      processing_(metrics
                      .histogram("chat_processing_duration_seconds",
                                 "Time to store, forward and commit a batch.",
                                 {}, vigil::buckets::latency_seconds(),
                                 {"seconds", 0})
                      .with({})),
      end_to_end_(metrics
                      .histogram("chat_end_to_end_latency_seconds",
                                 "From the API accepting a message to the "
                                 "router storing it.",
                                 {}, vigil::buckets::latency_seconds(),
                                 {"seconds", 0})
                      .with({})),
      batch_size_(metrics
                      .histogram("chat_router_batch_size",
                                 "Events per processed batch.", {},
                                 vigil::exponential_buckets(1, 2, 11))
                      .with({})),
      rebalances_(metrics
                      .counter("chat_router_rebalances_total",
                               "Partition assignments and revocations seen.")
                      .with({})),
      status_updates_(metrics.counter(
          "chat_status_updates_total",
          "Status events from the connectors, by status and outcome: "
          "applied, replayed (already there or later: a no-op), invalid "
          "(not allowed from the current status) or unknown_message.",
          {"status", "outcome"})),
      assigned_partitions_(
          metrics
              .gauge("chat_router_assigned_partitions",
                     "Partitions this router owns now, over the topics it "
                     "consumes; summed over the routers it shows the group's "
                     "load split.")
              .with({})) {
  // One consumer (and group) per topic: in one group over both topics the
  // cooperative-sticky assignor balances the partition count only, and a
  // router joining later was handed all of `messages` while the other kept
  // all of `status-updates` (docs/SCALING_RESULTS.md). Per topic, each
  // router gets its share of each.
  messages_consumer_ = consumer_for(options_.group, options_.instance);
  status_consumer_ = consumer_for(options_.group + kStatusGroupSuffix,
                                  options_.instance + kStatusGroupSuffix);
}

std::unique_ptr<RdKafka::KafkaConsumer> Router::consumer_for(
    const std::string& group, const std::string& client_id) {
  return kafka_consumer(
      {
          {"bootstrap.servers", options_.brokers},
          {"group.id", group},
          {"client.id", client_id},
          // Offsets are stored (offsets_store) only once a batch is durable,
          // and librdkafka commits the stored ones: every 200 ms, and for
          // revoked partitions before they move. Unlike a commitSync per batch,
          // its commits wait out a rebalance, so a commit never lands with a
          // stale generation and loses the survivor's assignment.
          {"enable.auto.commit", "true"},
          {"enable.auto.offset.store", "false"},
          {"auto.commit.interval.ms", "200"},
          {"auto.offset.reset", "earliest"},
          // Only moved partitions stop during a rebalance (KIP-429).
          {"partition.assignment.strategy", "cooperative-sticky"},
          {"session.timeout.ms",
           std::to_string(options_.session_timeout.count())},
          {"heartbeat.interval.ms",
           std::to_string(options_.session_timeout.count() / 3)},
          // A fetch waits at most as long as a batch may: with the default
          // 500 ms, a broker that does not answer a waiting fetch as soon as
          // data arrives (the development broker) made messages wait up to half
          // a second between the API and the store.
          {"fetch.wait.max.ms",
           std::to_string(options_.max_batch_wait.count())},
      },
      this, this);
}

Router::~Router() = default;

void Router::run() {
  for (auto [consumer, topic] :
       {std::pair{messages_consumer_.get(), kMessagesTopic},
        std::pair{status_consumer_.get(), kStatusTopic}}) {
    const RdKafka::ErrorCode err = consumer->subscribe({topic});
    if (err != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error(std::string("subscribe to ") + topic + ": " +
                               RdKafka::err2str(err));
    }
  }
  vigil::LogLine(log_, "info", kService, "router_started")
      .field("instance", options_.instance)
      .field("group", options_.group)
      .emit();
  auto batch_started = std::chrono::steady_clock::now();
  while (!stopping_) {
    watchdog_.beat();
    const auto waited = std::chrono::steady_clock::now() - batch_started;
    const int timeout =
        batch_.empty()
            ? 100
            : static_cast<int>(std::max<std::int64_t>(
                  0, std::chrono::duration_cast<std::chrono::milliseconds>(
                         options_.max_batch_wait - waited)
                         .count()));
    // Messages set the pace; status updates are taken as they come, one
    // per turn (when idle they wait at most the 100 ms above).
    for (auto [consumer, wait] : {std::pair{messages_consumer_.get(), timeout},
                                  std::pair{status_consumer_.get(), 0}}) {
      std::unique_ptr<RdKafka::Message> message(consumer->consume(wait));
      if (message->err() == RdKafka::ERR_NO_ERROR) {
        if (batch_.empty()) batch_started = std::chrono::steady_clock::now();
        add(*message);
      } else if (message->err() != RdKafka::ERR__TIMED_OUT &&
                 message->err() != RdKafka::ERR__PARTITION_EOF) {
        vigil::LogLine(log_, "warn", kService, "consume_error")
            .field("error", message->errstr())
            .emit();
      }
    }
    if (batch_.size() >= options_.max_batch ||
        (!batch_.empty() && std::chrono::steady_clock::now() - batch_started >=
                                options_.max_batch_wait)) {
      flush();
    }
  }
  flush();
  vigil::LogLine(log_, "info", kService, "router_stopping")
      .field("instance", options_.instance)
      .emit();
  // Leaves the groups: the others take over at once.
  messages_consumer_->close();
  status_consumer_->close();
}

void Router::add(RdKafka::Message& message) {
  const int partition = message.partition();
  consumed_.with({message.topic_name(), std::to_string(partition)}).inc();
  batch_.push_back({message.topic_name(), partition, message.offset(),
                    std::string(static_cast<const char*>(message.payload()),
                                message.len())});
}

void Router::flush() {
  if (batch_.empty()) return;
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    const FlushResult result = try_flush();
    if (result == FlushResult::kDone) break;
    last_flush_ok_ = false;
    if (stopping_) return;  // uncommitted: redelivered to whoever is next
    // A broker outage is everyone's and restarting cannot cure it (readiness
    // says why), so waiting it out is progress, as an idle loop's polls are.
    // A store that stays unavailable is not: the watchdog starves, liveness
    // goes red after its threshold and a supervisor restarts the router,
    // which reopens the database.
    if (result == FlushResult::kForwardFailed) watchdog_.beat();
    std::this_thread::sleep_for(options_.retry_backoff);
  }
  last_flush_ok_ = true;
  processing_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count());
  batch_size_.observe(static_cast<double>(batch_.size()));
  batch_.clear();
}

std::size_t Router::store_messages(
    const std::vector<MessageRecord>& records,
    std::vector<std::optional<std::string>>& refused) {
  try {
    return store_.add_messages(records);
  } catch (const StoreUnavailable&) {
    throw;
  } catch (const std::exception& e) {
    // The database refused a statement (a constraint, say): the same batch
    // would fail forever and wedge its partitions, so find the events it
    // refuses and store the rest.
    store_refused_.inc();
    vigil::LogLine(log_, "error", kService, "store_refused_batch")
        .field("events", records.size())
        .field("error", e.what())
        .emit();
    return bisect(records, 0, records.size(), e.what(), refused);
  }
}

std::size_t Router::bisect(const std::vector<MessageRecord>& records,
                           std::size_t begin, std::size_t end, std::string why,
                           std::vector<std::optional<std::string>>& refused) {
  if (end - begin == 1) {
    refused[begin] = std::move(why);
    return 0;
  }
  // Halves rather than one event at a time: one poison event in a batch of
  // 2000 costs 2 * 11 transactions instead of 2000 (each one an fsync). The
  // left half is resolved before the right one is stored, so the events
  // stored keep their partition order; the depth is log2(max_batch).
  const std::size_t mid = begin + (end - begin) / 2;
  std::size_t added = 0;
  for (const auto& [from, to] : {std::pair{begin, mid}, std::pair{mid, end}}) {
    try {
      added += store_.add_messages(std::vector<MessageRecord>(
          records.begin() + static_cast<std::ptrdiff_t>(from),
          records.begin() + static_cast<std::ptrdiff_t>(to)));
    } catch (const StoreUnavailable&) {
      throw;
    } catch (const std::exception& e) {
      added += bisect(records, from, to, e.what(), refused);
    }
  }
  return added;
}

Router::FlushResult Router::try_flush() {
  // Parallel vectors: records[i] came from record_sources[i] and goes on to
  // record_topics[i] (nullptr: a local message, not forwarded).
  std::vector<MessageRecord> records;
  std::vector<const Pending*> record_sources;
  std::vector<const char*> record_topics;
  std::vector<StatusEvent> statuses;
  std::vector<const Pending*> status_sources;
  std::vector<DeadLetter> dead;
  for (const auto& pending : batch_) {
    std::string why;
    if (pending.topic == kStatusTopic) {
      if (auto status = parse_status_event(pending.payload, why)) {
        statuses.push_back(std::move(*status));
        status_sources.push_back(&pending);
        continue;
      }
    } else if (auto event = parse_message_event(pending.payload, why)) {
      record_topics.push_back(outbound_topic(event->recipient_id));
      records.push_back(to_record(*event));
      record_sources.push_back(&pending);
      continue;
    }
    dead.push_back({&pending, std::move(why), false});
  }
  std::vector<std::optional<std::string>> refused(records.size());
  std::size_t added = 0;
  try {
    added = store_messages(records, refused);
    apply(statuses, status_sources, dead);
  } catch (const StoreUnavailable& e) {
    // Events stored before it failed are there on the retry already: the
    // store is idempotent.
    store_unavailable_.inc();
    vigil::LogLine(log_, "error", kService, "store_unavailable")
        .field("events", batch_.size())
        .field("error", e.what())
        .emit();
    return FlushResult::kStoreUnavailable;
  }
  std::size_t refused_count = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!refused[i]) continue;
    ++refused_count;
    dead.push_back(
        {record_sources[i], "store refused the event: " + *refused[i], true});
  }
  // Dead letters and forwards only once the store is done with the batch,
  // so a batch retried while the store is unavailable is not dead-lettered
  // once per attempt, and a connector's status event always finds its
  // message.
  producer_.begin_batch();
  for (const auto& letter : dead) {
    const Pending& pending = *letter.event;
    const nlohmann::json body = {{"reason", letter.reason},
                                 {"topic", pending.topic},
                                 {"partition", pending.partition},
                                 {"offset", pending.offset},
                                 {"payload", pending.payload}};
    producer_.produce(
        kDeadLetterTopic, {},
        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    vigil::LogLine(log_, "warn", kService, "dead_letter")
        .field("reason", letter.reason)
        .field("topic", pending.topic)
        .field("partition", pending.partition)
        .field("offset", pending.offset)
        .emit();
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (record_topics[i] != nullptr && !refused[i]) {
      producer_.produce(record_topics[i], records[i].conversation_id,
                        record_sources[i]->payload);
    }
  }
  if (!producer_.confirm(kConfirmTimeout)) {
    vigil::LogLine(log_, "error", kService, "forward_failed")
        .field("events", batch_.size())
        .emit();
    return FlushResult::kForwardFailed;
  }
  // Commit the next offset of each partition in the batch, through the
  // consumer of its topic.
  std::map<std::pair<std::string, int>, std::int64_t> next;
  for (const auto& pending : batch_) {
    auto& offset = next[{pending.topic, pending.partition}];
    offset = std::max(offset, pending.offset + 1);
  }
  std::map<RdKafka::KafkaConsumer*, std::vector<RdKafka::TopicPartition*>>
      offsets;
  for (const auto& [key, offset] : next) {
    auto* consumer = key.first == kStatusTopic ? status_consumer_.get()
                                               : messages_consumer_.get();
    offsets[consumer].push_back(
        RdKafka::TopicPartition::create(key.first, key.second, offset));
  }
  for (auto& [consumer, partitions] : offsets) {
    const RdKafka::ErrorCode err = consumer->offsets_store(partitions);
    RdKafka::TopicPartition::destroy(partitions);
    if (err != RdKafka::ERR_NO_ERROR) {
      // The partition moved: its new owner redoes the batch, and the store
      // ignores what is already there.
      vigil::LogLine(log_, "warn", kService, "offset_store_failed")
          .field("error", RdKafka::err2str(err))
          .emit();
    }
  }
  const std::int64_t now = now_ms();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (refused[i]) continue;
    end_to_end_.observe(static_cast<double>(now - records[i].timestamp_ms) /
                        1000);
  }
  stored_.inc(static_cast<double>(added));
  duplicates_.inc(static_cast<double>(records.size() - refused_count - added));
  dead_lettered_.inc(static_cast<double>(dead.size()));
  for (const auto& letter : dead) {
    (letter.store_refused ? dead_store_refused_ : dead_malformed_).inc();
  }
  return FlushResult::kDone;
}

void Router::apply(const std::vector<StatusEvent>& statuses,
                   const std::vector<const Pending*>& sources,
                   std::vector<DeadLetter>& dead) {
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    const StatusEvent& status = statuses[i];
    StatusChange change;
    try {
      change =
          store_.set_status(status.message_id, status.status, status.at_ms);
    } catch (const StoreUnavailable&) {
      throw;
    } catch (const std::exception& e) {
      // Refused like a message would be: dead-lettered, not retried forever.
      store_refused_.inc();
      dead.push_back({sources[i],
                      std::string("store refused the event: ") + e.what(),
                      true});
      continue;
    }
    const char* outcome = "unknown_message";
    if (change.message) {
      switch (change.outcome) {
        case Transition::kApply:
          outcome = "applied";
          break;
        case Transition::kNoop:
          outcome = "replayed";
          break;
        case Transition::kInvalid:
          outcome = "invalid";
          break;
      }
    }
    status_updates_.with({std::string(to_string(status.status)), outcome})
        .inc();
    if (!change.message || change.outcome == Transition::kInvalid) {
      vigil::LogLine(log_, "warn", kService, "status_not_applied")
          .field("message_id", status.message_id)
          .field("status", to_string(status.status))
          .field("outcome", outcome)
          .emit();
    }
  }
}

void Router::rebalance_cb(RdKafka::KafkaConsumer* consumer,
                          RdKafka::ErrorCode err,
                          std::vector<RdKafka::TopicPartition*>& partitions) {
  rebalances_.inc();
  const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
  RdKafka::Error* error = nullptr;
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      error = consumer->incremental_assign(partitions);
    } else {
      consumer->assign(partitions);
    }
    joined_ |= consumer == messages_consumer_.get() ? 1U : 2U;
  } else {
    // Finish what we hold before letting go, so the next owner does not
    // process it again.
    flush();
    if (cooperative) {
      error = consumer->incremental_unassign(partitions);
    } else {
      consumer->unassign();
    }
  }
  const std::size_t owned = owned_partitions();
  assigned_partitions_.set(static_cast<double>(owned));
  vigil::LogLine(log_, "info", kService,
                 err == RdKafka::ERR__ASSIGN_PARTITIONS ? "partitions_assigned"
                                                        : "partitions_revoked")
      .field("instance", options_.instance)
      .field("partitions", partition_list(partitions))
      .field("count", partitions.size())
      .field("owned", owned)
      .emit();
  if (error != nullptr) {
    vigil::LogLine(log_, "error", kService, "rebalance_failed")
        .field("error", error->str())
        .emit();
    delete error;
  }
}

std::size_t Router::owned_partitions() {
  std::size_t owned = 0;
  for (auto* consumer : {messages_consumer_.get(), status_consumer_.get()}) {
    std::vector<RdKafka::TopicPartition*> partitions;
    consumer->assignment(partitions);
    owned += partitions.size();
    RdKafka::TopicPartition::destroy(partitions);
  }
  return owned;
}

vigil::http::CheckResult Router::check_ready(
    std::chrono::milliseconds timeout) {
  using vigil::http::CheckResult;
  if (joined_ != 3U) {
    return CheckResult::fail("not in both consumer groups yet");
  }
  RdKafka::Metadata* metadata = nullptr;
  const RdKafka::ErrorCode err = messages_consumer_->metadata(
      false, nullptr, &metadata, static_cast<int>(timeout.count()));
  delete metadata;
  if (err != RdKafka::ERR_NO_ERROR) {
    return CheckResult::fail("broker unreachable: " + RdKafka::err2str(err));
  }
  if (!last_flush_ok_) {
    return CheckResult::fail("the last batch could not be stored or forwarded");
  }
  return CheckResult::pass();
}

void Router::event_cb(RdKafka::Event& event) {
  if (event.type() != RdKafka::Event::EVENT_ERROR) return;
  vigil::LogLine(log_, event.fatal() ? "error" : "warn", kService,
                 "kafka_error")
      .field("error", event.str())
      .emit();
}

}  // namespace chat

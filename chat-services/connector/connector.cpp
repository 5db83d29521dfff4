#include "connector.hpp"

#include <future>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "events.hpp"
#include "platform_client.hpp"

namespace chat {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kStatusTopic = "status-updates";
constexpr const char* kDeadLetterTopic = "dead-letter";
constexpr std::chrono::milliseconds kPublishTimeout{10000};
constexpr std::chrono::milliseconds kCommitInterval{20};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

vigil::CircuitBreakerOptions breaker_options(const ConnectorOptions& o) {
  vigil::CircuitBreakerOptions b;
  b.consecutive_failures = o.breaker_failures;
  b.open_wait = o.breaker_open_wait;
  b.max_open_wait = std::max(o.breaker_max_open_wait, o.breaker_open_wait);
  return b;
}

vigil::CounterFamily& sent(vigil::Registry& metrics) {
  return metrics.counter(
      "chat_connector_messages_sent_total",
      "Delivery outcomes by channel and status: delivered (once per "
      "message), pending (a try that kept the message for later, breaker "
      "open or retries used up; counted per try) or rejected (refused by the "
      "platform, sent to dead-letter).",
      {"channel", "status"});
}

}  // namespace

/// The platform refused the message itself (4xx): retrying cannot help, and
/// the platform is up, so the breaker counts it as a success.
class Connector::Rejected : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool Connector::not_rejected(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Rejected&) {
    return false;
  } catch (...) {
    return true;
  }
}

/// The platform answered but could not take the message now (5xx, 429).
class Connector::RetryableStatus : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Connector::Connector(ConnectorOptions options, vigil::Registry& metrics,
                     vigil::LogSink log)
    : options_(std::move(options)),
      log_(std::move(log)),
      service_("chat-connector-" + options_.channel),
      breaker_(options_.channel, metrics,
               [&] {
                 auto b = breaker_options(options_);
                 b.is_failure = not_rejected;
                 return b;
               }()),
      retry_(options_.channel + "_send", metrics,
             [&] {
               vigil::RetryOptions r;
               r.max_attempts = options_.max_attempts;
               r.initial_backoff = options_.initial_backoff;
               r.max_backoff =
                   std::max(options_.max_backoff, options_.initial_backoff);
               r.retryable = not_rejected;
               return r;
             }()),
      scheduler_({options_.max_in_flight, options_.max_held}),
      publisher_(options_.brokers, kPublishTimeout,
                 {{"client.id", options_.instance}}),
      delivered_(sent(metrics).with({options_.channel, "delivered"})),
      deferred_(sent(metrics).with({options_.channel, "pending"})),
      rejected_(sent(metrics).with({options_.channel, "rejected"})),
      api_duration_(metrics
                        .histogram("chat_connector_api_duration_seconds",
                                   "Duration of each platform API call "
                                   "(every attempt, failed ones included).",
                                   {"channel"},
                                   vigil::buckets::latency_seconds(),
                                   {"seconds", 0})
                        .with({options_.channel})),
      pending_(metrics
                   .gauge("chat_connector_pending_messages",
                          "Messages reported PENDING and not delivered yet "
                          "(stored in Kafka, to be forwarded).",
                          {"channel"})
                   .with({options_.channel})) {
  if (options_.channel != "whatsapp" && options_.channel != "instagram") {
    throw std::invalid_argument("channel must be whatsapp or instagram");
  }
  // Every breaker transition is an event an operator needs to see, with
  // its reason (the state metric shows where it is, not why).
  breaker_.add_listener([this](const vigil::CircuitTransition& t) {
    vigil::LogLine(log_, t.to == vigil::CircuitState::kOpen ? "warn" : "info",
                   service_.c_str(), "breaker_transition")
        .field("channel", options_.channel)
        .field("from", vigil::to_string(t.from))
        .field("to", vigil::to_string(t.to))
        .field("reason", std::string(t.reason))
        .emit();
  });
  (void)PlatformClient(options_.platform_url,
                       options_.call_timeout);  // validates
  consumer_ = kafka_consumer(
      {
          {"bootstrap.servers", options_.brokers},
          {"group.id", "connector-" + options_.channel},
          {"client.id", options_.instance},
          {"enable.auto.commit", "false"},
          {"auto.offset.reset", "earliest"},
          {"session.timeout.ms",
           std::to_string(options_.session_timeout.count())},
          {"heartbeat.interval.ms",
           std::to_string(options_.session_timeout.count() / 3)},
      },
      this, this);
}

Connector::~Connector() {
  scheduler_.stop();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

void Connector::run() {
  const RdKafka::ErrorCode err = consumer_->subscribe({topic()});
  if (err != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("subscribe: " + RdKafka::err2str(err));
  }
  for (std::size_t i = 0; i < options_.max_in_flight; ++i) {
    workers_.emplace_back([this] { work(); });
  }
  vigil::LogLine(log_, "info", service_.c_str(), "connector_started")
      .field("instance", options_.instance)
      .field("channel", options_.channel)
      .field("platform", options_.platform_url)
      .field("max_in_flight", options_.max_in_flight)
      .emit();
  auto last_commit = Clock::now();
  while (!stopping_) {
    set_paused(!scheduler_.has_room());
    std::unique_ptr<RdKafka::Message> message(
        consumer_->consume(static_cast<int>(kCommitInterval.count())));
    if (message->err() == RdKafka::ERR_NO_ERROR) {
      read(*message);
    } else if (message->err() != RdKafka::ERR__TIMED_OUT &&
               message->err() != RdKafka::ERR__PARTITION_EOF) {
      vigil::LogLine(log_, "warn", service_.c_str(), "consume_error")
          .field("error", message->errstr())
          .emit();
    }
    if (Clock::now() - last_commit >= kCommitInterval) {
      commit_delivered();
      pending_.set(static_cast<double>(scheduler_.pending()));
      last_commit = Clock::now();
    }
  }
  // Deliveries under way finish (or give up) first, so what they delivered
  // is committed and not sent again by whoever comes next.
  scheduler_.stop();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  commit_delivered();
  vigil::LogLine(log_, "info", service_.c_str(), "deliveries_stopped")
      .field("instance", options_.instance)
      .field("held", scheduler_.held())
      .emit();
  consumer_->close();
}

void Connector::read(RdKafka::Message& message) {
  OutboundMessage m;
  m.partition = message.partition();
  m.offset = message.offset();
  m.payload.assign(static_cast<const char*>(message.payload()), message.len());
  if (message.key() != nullptr) m.conversation_id = *message.key();
  std::string why;
  if (auto event = parse_message_event(m.payload, why)) {
    m.message_id = event->message_id;
    m.conversation_id = event->conversation_id;
  }
  if (scheduler_.add(m)) report_pending({m});
}

void Connector::commit_delivered() {
  const auto commits = scheduler_.commits();
  if (commits.empty()) return;
  std::vector<RdKafka::TopicPartition*> offsets;
  for (const auto& [partition, offset] : commits) {
    offsets.push_back(
        RdKafka::TopicPartition::create(topic(), partition, offset));
  }
  const RdKafka::ErrorCode err = consumer_->commitSync(offsets);
  RdKafka::TopicPartition::destroy(offsets);
  if (err != RdKafka::ERR_NO_ERROR) {
    // Offered again next time: the scheduler keeps them until confirmed.
    vigil::LogLine(log_, "warn", service_.c_str(), "commit_failed")
        .field("error", RdKafka::err2str(err))
        .emit();
    return;
  }
  for (const auto& [partition, offset] : commits) {
    scheduler_.committed(partition, offset);
  }
}

void Connector::set_paused(bool paused) {
  if (paused == paused_) return;
  std::vector<RdKafka::TopicPartition*> partitions;
  if (consumer_->assignment(partitions) != RdKafka::ERR_NO_ERROR) return;
  const RdKafka::ErrorCode err =
      paused ? consumer_->pause(partitions) : consumer_->resume(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  if (err == RdKafka::ERR_NO_ERROR) {
    paused_ = paused;
    vigil::LogLine(log_, "info", service_.c_str(),
                   paused ? "reading_paused" : "reading_resumed")
        .field("held", scheduler_.held())
        .emit();
  }
}

void Connector::work() {
  PlatformClient client(options_.platform_url, options_.call_timeout);
  while (auto ticket = scheduler_.take()) deliver(*ticket, client);
}

void Connector::deliver(const DeliveryTicket& ticket, PlatformClient& client) {
  const OutboundMessage& m = ticket.message;
  std::string why;
  const auto event = parse_message_event(m.payload, why);
  if (!event) {  // the router validated it: only a foreign writer gets here
    vigil::LogLine(log_, "error", service_.c_str(), "malformed_message")
        .field("partition", m.partition)
        .field("offset", m.offset)
        .field("reason", why)
        .emit();
    rejected_.inc();
    scheduler_.finished(ticket);
    return;
  }
  json body = {{"message_id", event->message_id},
               {"conversation_id", event->conversation_id},
               {"recipient", event->recipient_id},
               {"content", event->content}};
  if (!event->file_id.empty()) body["file_id"] = event->file_id;
  const std::string path = "/" + options_.channel + "/v1/messages";
  try {
    const PlatformReply reply = retry_.run(breaker_, [&] {
      const auto started = Clock::now();
      struct Observe {
        vigil::Histogram& histogram;
        Clock::time_point started;
        ~Observe() {
          histogram.observe(
              std::chrono::duration<double>(Clock::now() - started).count());
        }
      } observe{api_duration_, started};
      // The message_id is the platform's idempotency key (the body carries
      // it too): a message sent again after a crash or a timed-out call is
      // answered as the first time, not delivered twice.
      PlatformReply r = client.post(path, body.dump(), event->message_id);
      if (r.status >= 500 || r.status == 429 || r.status == 408) {
        throw RetryableStatus("platform answered " + std::to_string(r.status));
      }
      if (r.status >= 400) {
        // The platform's words go into a log line and a dead letter: cut
        // on a character, and never raw bytes that are not UTF-8.
        throw Rejected("platform refused with " + std::to_string(r.status) +
                       ": " + printable_excerpt(r.body, 200));
      }
      return r;
    });
    const json answer = json::parse(reply.body, nullptr, false);
    StatusEvent status;
    status.message_id = event->message_id;
    status.status = MessageStatus::kDelivered;
    status.at_ms = now_ms();
    if (answer.is_object() && answer.contains("id") &&
        answer["id"].is_string()) {
      status.platform_message_id = answer["id"];
    }
    // Not handed back if the stop came first: unconfirmed, it is sent again
    // after the restart (one of the bounded duplicates).
    if (!publish_confirmed(kStatusTopic, event->conversation_id,
                           to_json(status))) {
      return;
    }
    delivered_.inc();
    scheduler_.delivered(ticket);
  } catch (const Rejected& e) {
    vigil::LogLine(log_, "error", service_.c_str(), "message_rejected")
        .field("message_id", event->message_id)
        .field("error", e.what())
        .emit();
    const json dead = {{"reason", e.what()},
                       {"topic", topic()},
                       {"partition", m.partition},
                       {"offset", m.offset},
                       {"payload", m.payload}};
    // Replacing what is not UTF-8 rather than throwing, which would end
    // this worker from inside its handler.
    if (!publish_confirmed(
            kDeadLetterTopic, event->conversation_id,
            dead.dump(-1, ' ', false, json::error_handler_t::replace))) {
      return;
    }
    rejected_.inc();
    scheduler_.finished(ticket);
  } catch (const std::exception& e) {
    // Breaker open, retries used up or the platform unreachable: keep it
    // (its offset stays uncommitted) and try again later, in order.
    if (ticket.attempts == 0) {
      vigil::LogLine(log_, "warn", service_.c_str(), "delivery_deferred")
          .field("message_id", event->message_id)
          .field("conversation_id", event->conversation_id)
          .field("breaker", vigil::to_string(breaker_.state()))
          .field("error", e.what())
          .emit();
    }
    deferred_.inc();
    report_pending(
        scheduler_.deferred(ticket, Clock::now() + options_.retry_later));
    pending_.set(static_cast<double>(scheduler_.pending()));
  }
}

bool Connector::publish_confirmed(const std::string& topic,
                                  const std::string& key,
                                  const std::string& payload) {
  // Tried once even when stopping: a delivery that just succeeded should be
  // recorded rather than sent again after the restart.
  do {
    auto acknowledged = std::make_shared<std::promise<bool>>();
    auto result = acknowledged->get_future();
    publisher_.publish(topic, key, payload, [acknowledged](bool ok) {
      acknowledged->set_value(ok);
    });
    if (result.get()) return true;
    vigil::LogLine(log_, "warn", service_.c_str(), "publish_failed")
        .field("topic", topic)
        .emit();
  } while (!stopping_);
  return false;
}

void Connector::report_pending(const std::vector<OutboundMessage>& messages) {
  for (const auto& m : messages) {
    if (m.message_id.empty()) continue;
    StatusEvent status;
    status.message_id = m.message_id;
    status.status = MessageStatus::kPending;
    status.at_ms = now_ms();
    // Best effort: a lost PENDING is harmless, DELIVERED follows anyway.
    publisher_.publish(kStatusTopic, m.conversation_id, to_json(status),
                       [](bool) {});
  }
}

void Connector::rebalance_cb(
    RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
    std::vector<RdKafka::TopicPartition*>& partitions) {
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    consumer->assign(partitions);
    paused_ = false;
  } else {
    commit_delivered();
    for (const auto* p : partitions) scheduler_.drop_partition(p->partition());
    consumer->unassign();
  }
  vigil::LogLine(log_, "info", service_.c_str(),
                 err == RdKafka::ERR__ASSIGN_PARTITIONS ? "partitions_assigned"
                                                        : "partitions_revoked")
      .field("instance", options_.instance)
      .field("count", partitions.size())
      .emit();
}

void Connector::event_cb(RdKafka::Event& event) {
  if (event.type() != RdKafka::Event::EVENT_ERROR) return;
  vigil::LogLine(log_, event.fatal() ? "error" : "warn", service_.c_str(),
                 "kafka_error")
      .field("error", event.str())
      .emit();
}

}  // namespace chat

#include "kafka_client.hpp"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace chat {

namespace {

std::map<std::string, std::string>& overrides() {
  static std::map<std::string, std::string> properties;
  return properties;
}

std::string trimmed(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

/// CHAT_KAFKA_SASL_MECHANISM -> sasl.mechanism; `__` stands for `_`.
std::string property_of_variable(const std::string& suffix) {
  std::string property;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    const char c = suffix[i];
    if (c == '_' && i + 1 < suffix.size() && suffix[i + 1] == '_') {
      property += '_';
      ++i;
    } else if (c == '_') {
      property += '.';
    } else {
      property +=
          static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return property;
}

/// librdkafka's message with `value` (perhaps a secret) blotted out.
std::string redacted(std::string error, const std::string& value) {
  if (value.empty()) return error;
  for (auto at = error.find(value); at != std::string::npos;
       at = error.find(value, at + 3)) {
    error.replace(at, value.size(), "***");
  }
  return error;
}

void check_not_protected(const std::string& property,
                         const std::string& where) {
  for (const char* p : kProtectedKafkaProperties) {
    if (property == p) {
      throw std::invalid_argument(
          where + ": kafka property " + property +
          " is set by the service itself" +
          (property == "bootstrap.servers" ? " (use --brokers)" : ""));
    }
  }
}

}  // namespace

std::map<std::string, std::string> kafka_overrides(const std::string& file,
                                                   char** environment) {
  std::map<std::string, std::string> properties;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw std::invalid_argument("cannot read kafka config " + file);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      line = trimmed(line);
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      const std::string where = file + ":" + std::to_string(number);
      if (eq == std::string::npos || trimmed(line.substr(0, eq)).empty()) {
        throw std::invalid_argument(where + ": expected key=value");
      }
      const std::string key = trimmed(line.substr(0, eq));
      check_not_protected(key, where);
      properties[key] = trimmed(line.substr(eq + 1));
    }
  }
  constexpr std::string_view kPrefix = "CHAT_KAFKA_";
  for (char** env = environment; env && *env; ++env) {
    const std::string entry = *env;
    const auto eq = entry.find('=');
    if (entry.compare(0, kPrefix.size(), kPrefix) != 0 ||
        eq == std::string::npos || eq == kPrefix.size()) {
      continue;
    }
    const std::string key =
        property_of_variable(entry.substr(kPrefix.size(), eq - kPrefix.size()));
    check_not_protected(key, entry.substr(0, eq));
    properties[key] = entry.substr(eq + 1);
  }
  // librdkafka's own check, so a typo fails at start-up with its message.
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [key, value] : properties) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      throw std::invalid_argument("kafka property " + key + ": " +
                                  redacted(error, value));
    }
  }
  return properties;
}

void set_kafka_overrides(std::map<std::string, std::string> properties) {
  overrides() = std::move(properties);
}

void add_kafka_config_flag(Flags& flags) {
  flags.add("kafka-config", "KAFKA_CONFIG", "",
            "file of librdkafka properties (key=value) for every Kafka "
            "client, e.g. SASL/TLS; CHAT_KAFKA_<PROPERTY> variables add "
            "more (docs/ARCHITECTURE.md#real-kafka-clusters)");
}

void apply_kafka_config(const Flags& flags) {
  set_kafka_overrides(kafka_overrides(flags.str("kafka-config"), environ));
}

std::unique_ptr<RdKafka::Conf> kafka_conf(
    const std::map<std::string, std::string>& properties) {
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  const auto set = [&](const std::string& key, const std::string& value) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      // Values may be secrets (sasl.password): never in the message.
      throw std::invalid_argument("kafka property " + key + ": " +
                                  redacted(error, value));
    }
  };
  for (const auto& [key, value] : properties) set(key, value);
  for (const auto& [key, value] : overrides()) set(key, value);
  return conf;
}

std::unique_ptr<RdKafka::KafkaConsumer> kafka_consumer(
    const std::map<std::string, std::string>& properties,
    RdKafka::RebalanceCb* rebalances, RdKafka::EventCb* events) {
  auto conf = kafka_conf(properties);
  std::string error;
  if (conf->set("rebalance_cb", rebalances, error) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", events, error) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("kafka callbacks: " + error);
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) throw std::runtime_error("kafka consumer: " + error);
  return consumer;
}

namespace {

/// An idempotent producer with acks=all reporting deliveries to `reports`:
/// exactly-once per partition on the broker side, and no ack before every
/// in-sync replica has the write, so an acknowledged message is not lost.
std::unique_ptr<RdKafka::Producer> idempotent_producer(
    const std::string& brokers, std::chrono::milliseconds timeout,
    const std::map<std::string, std::string>& extra,
    RdKafka::DeliveryReportCb* reports) {
  std::map<std::string, std::string> properties = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "1"},
      {"message.timeout.ms", std::to_string(timeout.count())},
  };
  for (const auto& [key, value] : extra) properties[key] = value;
  auto conf = kafka_conf(properties);
  std::string error;
  if (conf->set("dr_cb", reports, error) != RdKafka::Conf::CONF_OK) {
    throw std::invalid_argument("kafka dr_cb: " + error);
  }
  std::unique_ptr<RdKafka::Producer> producer(
      RdKafka::Producer::create(conf.get(), error));
  if (!producer) throw std::runtime_error("kafka producer: " + error);
  return producer;
}

}  // namespace

ConfirmedProducer::ConfirmedProducer(
    const std::string& brokers, const std::map<std::string, std::string>& extra)
    : producer_(idempotent_producer(brokers, std::chrono::seconds(10), extra,
                                    this)) {}

bool ConfirmedProducer::produce(const std::string& topic, std::string_view key,
                                std::string_view payload) {
  const RdKafka::ErrorCode err = producer_->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(payload.data()), payload.size(), key.data(), key.size(),
      0, nullptr);
  if (err != RdKafka::ERR_NO_ERROR) {
    ++failures_;
    return false;
  }
  return true;
}

bool ConfirmedProducer::confirm(std::chrono::milliseconds timeout) {
  producer_->flush(static_cast<int>(timeout.count()));
  return producer_->outq_len() == 0 && failures_ == 0;
}

void ConfirmedProducer::dr_cb(RdKafka::Message& message) {
  if (message.err() != RdKafka::ERR_NO_ERROR) ++failures_;
}

KafkaPublisher::KafkaPublisher(const std::string& brokers,
                               std::chrono::milliseconds timeout,
                               const std::map<std::string, std::string>& extra,
                               Watchdog* delivery_watchdog)
    : timeout_(timeout),
      producer_(idempotent_producer(brokers, timeout, extra, this)) {
  poller_ = std::thread([this, delivery_watchdog] {
    while (!stopping_) {
      if (delivery_watchdog != nullptr) delivery_watchdog->beat();
      producer_->poll(50);
      expire_overdue();
    }
  });
}

KafkaPublisher::~KafkaPublisher() { close(); }

void KafkaPublisher::close() {
  std::call_once(closed_, [this] {
    producer_->flush(2000);
    // Whatever is still queued fails now, so every caller hears back.
    producer_->purge(RdKafka::Producer::PURGE_QUEUE |
                     RdKafka::Producer::PURGE_INFLIGHT);
    producer_->flush(1000);
    stopping_ = true;
    poller_.join();
    producer_->poll(0);
    std::lock_guard<std::mutex> lock(pending_mutex_);
    for (auto& pending : pending_) pending->answer(false);
    pending_.clear();
  });
}

void KafkaPublisher::expire_overdue() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Pending>> overdue;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    while (!pending_.empty() &&
           (pending_.front()->answered || pending_.front()->deadline <= now)) {
      overdue.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
  }
  // Outside the lock: `done` answers an HTTP request.
  for (auto& pending : overdue) pending->answer(false);
}

void KafkaPublisher::publish(const std::string& topic, const std::string& key,
                             const std::string& payload, Done done) {
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  pending->deadline = std::chrono::steady_clock::now() + timeout_;
  // The delivery report gets its own reference: it may come after the
  // deadline expired the queue's.
  auto for_report = std::make_unique<std::shared_ptr<Pending>>(pending);
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_.push_back(pending);
  }
  const RdKafka::ErrorCode err = producer_->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(payload.data()), payload.size(), key.data(), key.size(),
      0, for_report.get());
  if (err != RdKafka::ERR_NO_ERROR) {
    pending->answer(false);
    return;
  }
  for_report.release();  // dr_cb owns it now
}

void KafkaPublisher::dr_cb(RdKafka::Message& message) {
  std::unique_ptr<std::shared_ptr<Pending>> pending(
      static_cast<std::shared_ptr<Pending>*>(message.msg_opaque()));
  const bool ok = message.err() == RdKafka::ERR_NO_ERROR;
  if (ok) available_ = true;
  if (pending) (*pending)->answer(ok);
}

bool KafkaPublisher::check_broker(std::chrono::milliseconds timeout) {
  RdKafka::Metadata* metadata = nullptr;
  const RdKafka::ErrorCode err = producer_->metadata(
      false, nullptr, &metadata, static_cast<int>(timeout.count()));
  delete metadata;
  available_ = err == RdKafka::ERR_NO_ERROR;
  return available_;
}

}  // namespace chat

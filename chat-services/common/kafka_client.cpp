#include "kafka_client.hpp"

#include <stdexcept>
#include <vector>

namespace chat {

std::unique_ptr<RdKafka::Conf> kafka_conf(
    const std::map<std::string, std::string>& properties) {
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [key, value] : properties) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      throw std::invalid_argument("kafka property " + key + "=" + value + ": " +
                                  error);
    }
  }
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

#include "kafka_client.hpp"

#include <stdexcept>

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

ConfirmedProducer::ConfirmedProducer(
    const std::string& brokers,
    const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> properties = {
      {"bootstrap.servers", brokers},
      // Exactly-once per partition on the broker side, and no ack before
      // every in-sync replica has the write: an accepted message is not lost.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "2"},
      {"message.timeout.ms", "10000"},
  };
  for (const auto& [key, value] : extra) properties[key] = value;
  auto conf = kafka_conf(properties);
  std::string error;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this),
                error) != RdKafka::Conf::CONF_OK) {
    throw std::invalid_argument("kafka dr_cb: " + error);
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), error));
  if (!producer_) throw std::runtime_error("kafka producer: " + error);
}

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

}  // namespace chat

// Operator-supplied librdkafka properties (--kafka-config, CHAT_KAFKA_*):
// what a real cluster needs (SASL, TLS) reaches every client, typos and
// overrides of the delivery guarantees fail at start-up.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kafka_client.hpp"

namespace {

class KafkaConfig : public ::testing::Test {
 protected:
  void TearDown() override {
    chat::set_kafka_overrides({});
    std::filesystem::remove(path_);
  }
  std::string file(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  // An environment block as main() receives it.
  char** env(std::vector<std::string> entries) {
    env_strings_ = std::move(entries);
    env_.clear();
    for (auto& e : env_strings_) env_.push_back(e.data());
    env_.push_back(nullptr);
    return env_.data();
  }
  std::string error_of(const std::string& path, std::vector<std::string> e) {
    try {
      chat::kafka_overrides(path, env(std::move(e)));
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "";
  }

 private:
  std::string path_ = std::filesystem::temp_directory_path() /
                      ("kafka-config-test-" + std::to_string(getpid()));
  std::vector<std::string> env_strings_;
  std::vector<char*> env_;
};

TEST_F(KafkaConfig, FileAndVariablesAreReadVariablesWinning) {
  const std::string path = file(
      "# a three-broker cluster with SASL\n"
      "\n"
      "  security.protocol = SASL_SSL \n"
      "sasl.mechanism=SCRAM-SHA-512\n"
      "socket.timeout.ms=30000\n");
  const auto properties = chat::kafka_overrides(
      path,
      env({"PATH=/usr/bin", "CHAT_KAFKA_SASL_MECHANISM=PLAIN",
           "CHAT_KAFKA_SOCKET_KEEPALIVE_ENABLE=true", "CHAT_API_PORT=8080"}));
  const std::map<std::string, std::string> expected = {
      {"security.protocol", "SASL_SSL"},
      {"sasl.mechanism", "PLAIN"},
      {"socket.timeout.ms", "30000"},
      {"socket.keepalive.enable", "true"}};
  EXPECT_EQ(properties, expected);
}

TEST_F(KafkaConfig, DoubleUnderscoreInAVariableStandsForAnUnderscore) {
  // Confluent's images' mapping; librdkafka's error names what was asked.
  const std::string error = error_of("", {"CHAT_KAFKA_SSL__ENGINE_ID=x"});
  EXPECT_NE(error.find("kafka property ssl_engine.id:"), std::string::npos)
      << error;
}

TEST_F(KafkaConfig, WhatTheGuaranteesRestOnCannotBeOverridden) {
  EXPECT_NE(error_of(file("acks=1\n"), {}).find("acks is set by the service"),
            std::string::npos);
  EXPECT_NE(error_of("", {"CHAT_KAFKA_ENABLE_IDEMPOTENCE=false"})
                .find("CHAT_KAFKA_ENABLE_IDEMPOTENCE: kafka property "
                      "enable.idempotence"),
            std::string::npos);
  EXPECT_NE(error_of("", {"CHAT_KAFKA_BOOTSTRAP_SERVERS=h:9092"})
                .find("use --brokers"),
            std::string::npos);
}

TEST_F(KafkaConfig, MistakesAreNamedAtStartUp) {
  EXPECT_NE(error_of(file("ok.no\nsocket.timeout.ms\n"), {}).find(":1:"),
            std::string::npos);  // a line without '='
  EXPECT_NE(error_of("/nonexistent/kafka.properties", {})
                .find("cannot read kafka config /nonexistent"),
            std::string::npos);
  const std::string typo = error_of(file("sasl.mechansim=PLAIN\n"), {});
  EXPECT_NE(typo.find("sasl.mechansim"), std::string::npos) << typo;
  // Values may be secrets: never echoed.
  const std::string bad = error_of("", {"CHAT_KAFKA_SOCKET_TIMEOUT_MS=s3cret"});
  EXPECT_NE(bad.find("socket.timeout.ms"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("s3cret"), std::string::npos) << bad;
}

TEST_F(KafkaConfig, OverridesApplyToEveryClientLast) {
  chat::set_kafka_overrides({{"linger.ms", "25"}, {"client.rack", "r1"}});
  auto conf = chat::kafka_conf({{"linger.ms", "1"}});
  std::string value;
  ASSERT_EQ(conf->get("linger.ms", value), RdKafka::Conf::CONF_OK);
  EXPECT_EQ(value, "25");
  ASSERT_EQ(conf->get("client.rack", value), RdKafka::Conf::CONF_OK);
  EXPECT_EQ(value, "r1");
}

}  // namespace

#pragma once
// The simulated WhatsApp and Instagram APIs the connectors deliver to, with
// latency and run-time fault injection, recording every delivery so tests can
// check exactly-once, in-order delivery.
//
// Idempotent, as a real platform is used: a message's key is its
// `Idempotency-Key` header, or its body's `message_id` without one. A message
// sent again under a key already delivered gets the first answer again (200,
// the same platform id) and is counted as received again
// (`duplicates_received`), not delivered again: `delivered_twice` counts
// message_ids delivered under two keys, and stays 0 for a client that keys
// by message_id.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <vigil/registry.hpp>

#include "http_server.hpp"

namespace chat {

/// Behaviour of one channel; changed at run time through /admin/faults.
struct ChannelBehaviour {
  std::uint32_t min_latency_ms = 0;
  std::uint32_t max_latency_ms = 0;
  double error_rate = 0;  // share of requests answered 500
  bool down = false;      // connections reset, nothing delivered
};

struct SimulatorOptions {
  ChannelBehaviour whatsapp{200, 500, 0, false};
  ChannelBehaviour instagram{300, 700, 0, false};
  std::uint64_t seed = 0;  // 0: random
};

/// Thread-safety: handle() may run on many threads at once.
class PlatformSimulator {
 public:
  PlatformSimulator(SimulatorOptions options, vigil::Registry& metrics);
  ~PlatformSimulator();

  /// Serves the platform and /admin routes (404/405 problems otherwise).
  void handle(Request&& req, Respond respond);
  static std::vector<std::string> routes();

 private:
  struct Channel {
    std::string name;
    ChannelBehaviour defaults;
    ChannelBehaviour now;
    std::uint64_t next_id = 1;
  };
  /// What a key was first delivered as, to answer its repeats.
  struct Delivered {
    std::string message_id;
    std::string platform_id;
  };

  void deliver(Channel& channel, const Request& req, Respond respond);
  void set_faults(const Request& req, Respond respond);
  void heal(Respond respond);
  Response stats() const;
  Response deliveries(std::string_view target) const;
  /// Answers after `delay_ms` without holding an HTTP thread.
  void after(std::uint32_t delay_ms, Respond respond, Response res);

  mutable std::mutex mutex_;
  Channel whatsapp_;
  Channel instagram_;
  std::mt19937_64 rng_;
  /// channel + '\n' + idempotency key -> its first delivery (keys are per
  /// platform, as each platform keeps its own).
  std::map<std::string, Delivered> by_key_;
  /// channel + '\n' + message_id -> deliveries
  std::map<std::string, std::uint64_t> seen_;
  std::map<std::string, std::vector<std::string>> by_conversation_;
  std::uint64_t deliveries_ = 0;
  std::uint64_t duplicates_received_ = 0;
  std::uint64_t delivered_twice_ = 0;
  std::uint64_t errors_injected_ = 0;
  std::uint64_t resets_injected_ = 0;

  vigil::CounterFamily& requests_;
  vigil::CounterFamily& duplicates_received_counter_;
  vigil::CounterFamily& delivered_twice_counter_;

  boost::asio::io_context timers_;
  std::thread timer_thread_;
};

}  // namespace chat

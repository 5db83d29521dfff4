// chat-platform-sim: simulated WhatsApp and Instagram APIs on 8085 with
// latency and run-time fault injection (POST/DELETE /admin/faults).
#include <cstdio>
#include <limits>
#include <memory>
#include <vigil/http/health.hpp>
#include <vigil/process_collector.hpp>

#include "flags.hpp"
#include "server_flags.hpp"
#include "service.hpp"
#include "simulator.hpp"

namespace {

constexpr const char* kService = "chat-platform-sim";

/// "MIN-MAX" or "N" milliseconds; exits 2 with a clear message otherwise.
chat::ChannelBehaviour latency(const std::string& flag,
                               const std::string& text) {
  chat::ChannelBehaviour b;
  unsigned min = 0;
  unsigned max = 0;
  char extra = 0;
  const int parsed = std::sscanf(text.c_str(), "%u-%u%c", &min, &max, &extra);
  if (parsed == 1) max = min;
  if ((parsed != 1 && parsed != 2) || min > max || max > 600000) {
    std::fprintf(stderr, "%s: --%s must be MIN-MAX or N milliseconds\n",
                 kService, flag.c_str());
    std::exit(2);
  }
  b.min_latency_ms = min;
  b.max_latency_ms = max;
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  chat::Flags flags(
      kService, "Simulated WhatsApp and Instagram APIs with fault injection.");
  flags.add("bind", "CHAT_BIND", "127.0.0.1", "address to listen on")
      .add("port", "CHAT_PLATFORM_PORT", "8085", "port (0: any free port)")
      .add("whatsapp-latency-ms", "CHAT_WHATSAPP_LATENCY_MS", "200-500",
           "WhatsApp response time, MIN-MAX or N ms (0 for load tests)")
      .add("instagram-latency-ms", "CHAT_INSTAGRAM_LATENCY_MS", "300-700",
           "Instagram response time, MIN-MAX or N ms")
      .add("seed", "CHAT_PLATFORM_SEED", "0",
           "random seed for latencies and errors (0: random)");
  chat::add_server_limit_flags(flags, "CHAT_PLATFORM");
  flags.parse(argc, argv);
  const vigil::LogSink log = vigil::stderr_log_sink();
  const chat::Signals signals;
  return chat::run_service(kService, log, [&] {
    chat::SimulatorOptions options;
    options.whatsapp =
        latency("whatsapp-latency-ms", flags.str("whatsapp-latency-ms"));
    options.instagram =
        latency("instagram-latency-ms", flags.str("instagram-latency-ms"));
    options.seed = static_cast<std::uint64_t>(
        flags.integer("seed", 0, std::numeric_limits<std::int64_t>::max()));
    vigil::Registry registry;
    registry.include(std::make_shared<vigil::ProcessCollector>());
    vigil::http::HealthRegistry health(registry);
    chat::PlatformSimulator simulator(options, registry);
    chat::HttpServerOptions server_options;
    server_options.bind = flags.str("bind");
    server_options.port =
        static_cast<std::uint16_t>(flags.integer("port", 0, 65535));
    server_options.service = kService;
    server_options.log = log;
    chat::apply_server_limit_flags(flags, server_options);
    chat::serve_until_signal(
        "platform", server_options, registry, health,
        chat::PlatformSimulator::routes(),
        [&simulator](chat::Request&& req, chat::Respond respond) {
          simulator.handle(std::move(req), std::move(respond));
        },
        signals);
    return 0;
  });
}

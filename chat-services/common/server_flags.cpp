#include "server_flags.hpp"

#include <chrono>
#include <string>

namespace chat {

void add_server_limit_flags(Flags& flags, const std::string& prefix) {
  const HttpServerOptions defaults;
  auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()); };
  flags
      .add("max-connections", prefix + "_MAX_CONNECTIONS",
           std::to_string(defaults.max_connections),
           "connections open at once (503 and close beyond)")
      .add("max-connections-per-address", prefix + "_MAX_CONNECTIONS_PER_ADDRESS",
           std::to_string(defaults.max_connections_per_address),
           "connections open at once from one client address (503 and close "
           "beyond)")
      .add("idle-timeout-ms", prefix + "_IDLE_TIMEOUT_MS",
           ms(defaults.idle_timeout),
           "how long a connection may wait between requests")
      .add("header-timeout-ms", prefix + "_HEADER_TIMEOUT_MS",
           ms(defaults.header_timeout),
           "how long a request's header may take from its first byte "
           "(slow headers are closed)")
      .add("read-timeout-ms", prefix + "_READ_TIMEOUT_MS",
           ms(defaults.read_timeout),
           "how long a body read (each wait of a streamed one) may wait for "
           "the client")
      .add("write-timeout-ms", prefix + "_WRITE_TIMEOUT_MS",
           ms(defaults.write_timeout),
           "how long a response write may wait for the client")
      .add("min-upload-bytes-per-second", prefix + "_MIN_UPLOAD_BYTES_PER_SECOND",
           std::to_string(defaults.min_upload_bytes_per_second),
           "streamed bodies slower than this are cut off with 408 (0: no "
           "limit)")
      .add("handler-timeout-ms", prefix + "_HANDLER_TIMEOUT_MS",
           ms(defaults.handler_timeout),
           "requests not answered by then get 503 from the server (0: no "
           "limit)")
      .add("drain-timeout-ms", prefix + "_DRAIN_TIMEOUT_MS",
           ms(defaults.drain_timeout),
           "on SIGTERM, how long requests under way may take to be answered");
}

void apply_server_limit_flags(const Flags& flags, HttpServerOptions& o) {
  constexpr std::int64_t kHour = 3600 * 1000;
  auto ms = [&](const char* name, std::int64_t min) {
    return std::chrono::milliseconds(flags.integer(name, min, kHour));
  };
  o.max_connections =
      static_cast<std::size_t>(flags.integer("max-connections", 1, 1000000));
  o.max_connections_per_address = static_cast<std::size_t>(
      flags.integer("max-connections-per-address", 1, 1000000));
  o.idle_timeout = ms("idle-timeout-ms", 100);
  o.header_timeout = ms("header-timeout-ms", 100);
  o.read_timeout = ms("read-timeout-ms", 100);
  o.write_timeout = ms("write-timeout-ms", 100);
  o.min_upload_bytes_per_second = static_cast<std::uint64_t>(
      flags.integer("min-upload-bytes-per-second", 0, std::int64_t{1} << 40));
  o.handler_timeout = ms("handler-timeout-ms", 0);
  o.drain_timeout = ms("drain-timeout-ms", 0);
}

}  // namespace chat

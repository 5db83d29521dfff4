#pragma once
// What every stack-level test suite does to bring its services up and talk
// to the API: start the broker, find the ports services log, wait for
// readiness, log in.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace chat_test {

/// A user of the API under test, logged in.
struct User {
  std::string id;
  std::string token;
};

/// Starts `bin_dir`/chat-broker (plus `extra` arguments) writing its address
/// into `dir`; returns the bootstrap address, or empty if none appeared
/// within 30 s.
std::string start_broker(std::unique_ptr<Process>& broker,
                         const std::string& bin_dir, const std::string& dir,
                         const std::vector<std::string>& extra = {});

/// Starts `bin_dir`/chat-api on a free port of 127.0.0.1, with `secret` for
/// tokens, its data in `data_dir`, a cheap password hash (tests log in a
/// lot), the demo users and `extra` arguments, logging to `log`.
std::unique_ptr<Process> start_api(const std::string& bin_dir,
                                   const std::string& brokers,
                                   const std::string& data_dir,
                                   const std::string& secret,
                                   const std::string& log,
                                   const std::vector<std::string>& extra = {});

/// The port of the first `event` line (e.g. "api_listening") in `log`,
/// waiting up to 30 s; 0 (and a test failure) if it never appears.
int listening_port(const std::string& log, const std::string& event);

/// Whether GET /health/ready on `port` answers 200 within `timeout`.
bool wait_ready(int port,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// A JSON request to the API on `port`, with `token` as bearer if not empty.
std::optional<HttpResponse> api_call(int port, const std::string& method,
                                     const std::string& target,
                                     const std::string& body = {},
                                     const std::string& token = {});

/// Logs in on the API at `port`; the id is the token's subject, verified
/// with the API's JWT `secret`.
User login(int port, const std::string& secret, const std::string& name,
           const std::string& password);

/// Registers `name` with password "secret-<name>", then logs in.
User new_user(int port, const std::string& secret, const std::string& name);

}  // namespace chat_test

#include "stack_client.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "jwt.hpp"

namespace chat_test {

using nlohmann::json;
using namespace std::chrono_literals;

std::string start_broker(std::unique_ptr<Process>& broker,
                         const std::string& bin_dir, const std::string& dir,
                         const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {bin_dir + "/chat-broker", "--address-file",
                                   dir + "/addr"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  broker = std::make_unique<Process>(argv, dir + "/broker.log");
  std::string address;
  eventually(
      [&] {
        std::ifstream in(dir + "/addr");
        return static_cast<bool>(std::getline(in, address)) && !address.empty();
      },
      30s);
  return address;
}

std::unique_ptr<Process> start_api(const std::string& bin_dir,
                                   const std::string& brokers,
                                   const std::string& data_dir,
                                   const std::string& secret,
                                   const std::string& log,
                                   const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {bin_dir + "/chat-api",
                                   "--brokers",
                                   brokers,
                                   "--data-dir",
                                   data_dir,
                                   "--port",
                                   "0",
                                   "--jwt-secret",
                                   secret,
                                   "--password-iterations",
                                   "1000",
                                   "--demo-users",
                                   "true"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(argv, log);
}

int listening_port(const std::string& log, const std::string& event) {
  const auto line = wait_for_line(log, "\"" + event + "\"", 30s);
  EXPECT_TRUE(line) << log << " never logged " << event << "\n" << tail_of(log);
  return line ? static_cast<int>(*json_int_field(*line, "port")) : 0;
}

bool wait_ready(int port, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        auto r = http_get(port, "/health/ready");
        return r && r->status == 200;
      },
      timeout);
}

std::optional<HttpResponse> api_call(int port, const std::string& method,
                                     const std::string& target,
                                     const std::string& body,
                                     const std::string& token) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
  return http_request(port, method, target, body, headers);
}

User login(int port, const std::string& secret, const std::string& name,
           const std::string& password) {
  auto r = api_call(port, "POST", "/auth/token",
                    json{{"username", name}, {"password", password}}.dump());
  EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
  User user;
  if (!r || r->status != 200) return user;
  user.token = json::parse(r->body)["access_token"];
  user.id = chat::JwtSigner(secret).verify(user.token, time(nullptr))->subject;
  return user;
}

User new_user(int port, const std::string& secret, const std::string& name) {
  auto r =
      api_call(port, "POST", "/auth/register",
               json{{"username", name}, {"password", "secret-" + name}}.dump());
  EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
  return login(port, secret, name, "secret-" + name);
}

}  // namespace chat_test

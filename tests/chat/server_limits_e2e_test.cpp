// Every chat binary that serves HTTP runs vigil's hardened server core and
// takes its limits as flags: the simulator and the connectors as the API.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "process.hpp"

namespace {

using namespace std::chrono_literals;
using chat_test::Process;

/// A raw connection to 127.0.0.1:port, closed by the destructor.
class Connection {
 public:
  explicit Connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                           sizeof address) == 0;
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) const {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  /// Whether the server closes the connection within `timeout` (reading
  /// and dropping whatever it sends before).
  bool closed_within(std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<char, 4096> buffer{};
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (::recv(fd_, buffer.data(), buffer.size(), 0) <= 0) return true;
    }
    return false;
  }

 private:
  int fd_;
  bool connected_ = false;
};

int listening_port(const std::string& log) {
  const auto line = chat_test::wait_for_line(log, "platform_listening", 10s);
  if (!line) return 0;
  return static_cast<int>(chat_test::json_int_field(*line, "port").value_or(0));
}

TEST(ServerLimits, TheSimulatorEnforcesItsLimitFlags) {
  chat_test::TempDir dir;
  const std::string log = dir.path() + "/platform.log";
  Process sim(
      {std::string(CHAT_BIN_DIR) + "/chat-platform-sim", "--port", "0",
       "--max-connections-per-address", "1", "--header-timeout-ms", "300"},
      log);
  const int port = listening_port(log);
  ASSERT_GT(port, 0) << chat_test::tail_of(log);

  // One connection from 127.0.0.1 is all the cap allows: the next one is
  // refused with 503 without its request being read.
  {
    Connection holder(port);
    ASSERT_TRUE(holder.connected());
    ASSERT_TRUE(chat_test::eventually(
        [&] {
          const auto res = chat_test::http_get(port, "/health/live");
          return res && res->status == 503;
        },
        5s));
    // A header trickling in is cut off by the header deadline (300 ms),
    // not the 60 s idle one.
    ASSERT_TRUE(holder.send("GET /health/live HTTP/1.1\r\nHo"));
    EXPECT_TRUE(holder.closed_within(3s));
  }
  // The connection closed, the address may connect again.
  ASSERT_TRUE(chat_test::eventually(
      [&] {
        const auto res = chat_test::http_get(port, "/health/live");
        return res && res->status == 200;
      },
      5s));
  const auto metrics = chat_test::http_get(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("vigil_http_requests_rejected_total{reason="
                               "\"timeout\"} 1\n"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("vigil_http_connections_rejected_total "),
            std::string::npos);
  EXPECT_TRUE(chat_test::wait_for_line(log, "\"reason\":\"address_cap\"", 1s));
  sim.signal(SIGTERM);
  EXPECT_EQ(sim.wait(15s), 0) << chat_test::tail_of(log);
}

/// The output and exit code of `command` run by the shell.
std::pair<std::string, int> run(const std::string& command) {
  std::string output;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(
      ::popen((command + " 2>&1").c_str(), "r"), ::pclose);
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get())) {
    output += buffer.data();
  }
  const int status = ::pclose(pipe.release());
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(ServerLimits, TheConnectorTakesAndChecksTheSameFlags) {
  const std::string connector = std::string(CHAT_BIN_DIR) + "/chat-connector";
  const auto [help, help_code] = run(connector + " --help");
  EXPECT_EQ(help_code, 0);
  for (const char* flag :
       {"--max-connections-per-address", "--header-timeout-ms",
        "--min-upload-bytes-per-second", "--handler-timeout-ms",
        "--write-timeout-ms", "--drain-timeout-ms"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag << "\n" << help;
  }
  const auto [error, code] =
      run(connector + " --channel whatsapp --header-timeout-ms 5");
  EXPECT_EQ(code, 2) << error;
  EXPECT_NE(error.find("header-timeout-ms"), std::string::npos) << error;
}

}  // namespace

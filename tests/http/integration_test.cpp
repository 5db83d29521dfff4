// Integration tests, run in the dev preset only (label `integration`): a
// thousand concurrent connections against the cap, and a real Prometheus
// scraping the hello-endpoint example.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_client.hpp"
#include "vigil/http/endpoint.hpp"

extern char** environ;

namespace {

namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using vigil_test::Client;
using vigil_test::eventually;
using vigil_test::sample_value;

TEST(ConnectionCap, ThousandKeepAliveConnectionsBeyondTheCapAreRefused) {
  constexpr int kClients = 1000;
  constexpr int kCap = 100;
  // Both ends of every connection live in this process.
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = std::max<rlim_t>(files.rlim_cur,
                                    std::min<rlim_t>(files.rlim_max, 4096));
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  ASSERT_GE(files.rlim_cur, rlim_t{2 * kClients + 100})
      << "raise the hard limit on open files (ulimit -Hn)";
  vigil::Registry registry;
  vigil::http::EndpointOptions options;
  options.max_connections = kCap;
  options.threads = 2;
  vigil::http::Endpoint endpoint(options, registry);
  endpoint.start();

  vigil_test::net::io_context ioc;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(ioc, endpoint.port()));
  }
  int served = 0;
  int refused = 0;
  for (auto& client : clients) {
    vigil_test::Reply reply;
    auto ec = client->send(bh::verb::get, "/health/live");
    if (!ec) ec = client->receive(reply);
    if (!ec && reply.result() == bh::status::ok) {
      ++served;
    } else {
      // Answered 503, or closed before the request was written or read.
      EXPECT_TRUE(ec || reply.result() == bh::status::service_unavailable);
      ++refused;
    }
  }
  EXPECT_EQ(served, kCap);
  EXPECT_EQ(refused, kClients - kCap);
  EXPECT_EQ(
      sample_value(registry.scrape(), "vigil_http_connections_rejected_total"),
      kClients - kCap);

  // The served connections are still usable, and once all close the
  // endpoint serves new clients again.
  int still_alive = 0;
  for (auto& client : clients) {
    vigil_test::Reply reply;
    if (!client->send(bh::verb::get, "/health/ready") &&
        !client->receive(reply) && reply.result() == bh::status::ok) {
      ++still_alive;
    }
  }
  EXPECT_EQ(still_alive, kCap);
  for (auto& client : clients) client->close();
  EXPECT_TRUE(eventually([&] {
    return sample_value(registry.scrape(), "vigil_http_connections_open") == 0;
  }));
  Client fresh(ioc, endpoint.port());
  EXPECT_EQ(fresh.get("/metrics").result(), bh::status::ok);
}

/// A child process, terminated (SIGTERM, then SIGKILL) and reaped when
/// destroyed so no test leaves one behind.
class Child {
 public:
  /// Starts `argv`; stdout goes to a pipe (read with read_line) when
  /// `stdout_path` is empty, else to that file; stderr to `stderr_path`.
  Child(const std::vector<std::string>& argv, const std::string& stdout_path,
        const std::string& stderr_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    int pipe_fds[2] = {-1, -1};
    if (stdout_path.empty()) {
      if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
      posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
      posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
      posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const int rc =
        posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (pipe_fds[1] >= 0) close(pipe_fds[1]);
    out_ = pipe_fds[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0]);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    terminate();
    if (out_ >= 0) close(out_);
  }

  bool running() {
    if (pid_ < 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }

  /// One line of the child's stdout, or nullopt at EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string line;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{out_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char c = 0;
      if (read(out_, &c, 1) != 1) return std::nullopt;
      if (c == '\n') return line;
      line += c;
    }
  }

  void terminate() {
    if (!running()) return;
    kill(pid_, SIGTERM);
    if (!eventually([this] { return !running(); }, 10s)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

/// A port no one listens on right now. Prometheus cannot take port 0, so
/// there is a window in which another process could grab it; the caller
/// retries if Prometheus fails to bind.
std::uint16_t free_port() {
  vigil_test::net::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, {boost::asio::ip::make_address_v4("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Runs a PromQL instant query; the result vector, or nullopt while
/// Prometheus cannot answer.
std::optional<nlohmann::json> query(std::uint16_t port,
                                    const std::string& promql) {
  std::string encoded;
  for (const unsigned char c : promql) {
    if (std::isalnum(c) || c == '_') {
      encoded += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      encoded += hex;
    }
  }
  try {
    vigil_test::net::io_context ioc;
    Client client(ioc, port);
    const auto reply = client.get("/api/v1/query?query=" + encoded);
    if (reply.result() != bh::status::ok) return std::nullopt;
    auto json = nlohmann::json::parse(reply.body());
    if (json["status"] != "success") return std::nullopt;
    return json["data"]["result"];
  } catch (const std::exception&) {
    return std::nullopt;  // not listening yet
  }
}

/// The value of the first series of a query, or nullopt if none yet.
std::optional<double> first_value(std::uint16_t port,
                                  const std::string& promql) {
  const auto result = query(port, promql);
  if (!result || result->empty()) return std::nullopt;
  return std::stod((*result)[0]["value"][1].get<std::string>());
}

TEST(Prometheus, ScrapesTheHelloEndpoint) {
  char dir_template[] = "/tmp/vigil-prometheus-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir(dir_template);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  Child hello({VIGIL_HELLO_ENDPOINT, "--port", "0"}, "",
              (dir / "hello.log").string());
  const auto url = hello.read_line(20s);
  ASSERT_TRUE(url) << read_file(dir / "hello.log");
  const std::string prefix = "http://127.0.0.1:";
  ASSERT_EQ(url->rfind(prefix, 0), 0u) << *url;
  const std::string target = url->substr(7, url->find("/metrics") - 7);

  std::ofstream(dir / "prometheus.yml") << "global:\n"
                                           "  scrape_interval: 1s\n"
                                           "  scrape_timeout: 1s\n"
                                           "scrape_configs:\n"
                                           "  - job_name: hello\n"
                                           "    static_configs:\n"
                                           "      - targets: ['"
                                        << target << "']\n";

  std::unique_ptr<Child> prometheus;
  std::uint16_t port = 0;
  for (int attempt = 0; attempt < 3 && !prometheus; ++attempt) {
    port = free_port();
    prometheus = std::make_unique<Child>(
        std::vector<std::string>{
            VIGIL_PROMETHEUS,
            "--config.file=" + (dir / "prometheus.yml").string(),
            "--storage.tsdb.path=" + (dir / "data").string(),
            "--web.listen-address=127.0.0.1:" + std::to_string(port),
            "--log.level=warn"},
        (dir / "prometheus.out").string(), (dir / "prometheus.log").string());
    const bool ready = eventually(
        [&] {
          if (!prometheus->running()) return true;
          return query(port, "up").has_value();
        },
        60s);
    if (!ready || !prometheus->running()) prometheus.reset();
  }
  ASSERT_TRUE(prometheus) << read_file(dir / "prometheus.log");

  const std::string up = "up{job=\"hello\"}";
  EXPECT_TRUE(eventually([&] { return first_value(port, up) == 1.0; }, 60s))
      << read_file(dir / "prometheus.log");
  EXPECT_TRUE(eventually(
      [&] {
        const auto greetings = first_value(port, "hello_greetings_total");
        return greetings && *greetings > 0;
      },
      60s));
  // Prometheus asks for OpenMetrics, and vigil's self-metrics say it got it.
  EXPECT_TRUE(eventually(
      [&] {
        return first_value(port, "vigil_scrapes_total{format=\"openmetrics\"}")
            .has_value();
      },
      60s));
  EXPECT_TRUE(eventually(
      [&] {
        return first_value(port,
                           "vigil_health_check_status{check=\"clock\","
                           "kind=\"readiness\"}") == 1.0;
      },
      60s));
}

}  // namespace

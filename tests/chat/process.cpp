#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vigil/detail/json.hpp>
#include <vigil/http/auth.hpp>

#include "validation.hpp"

extern char** environ;

namespace chat_test {

Process::Process(std::vector<std::string> argv, std::string log_path,
                 std::vector<std::string> env)
    : log_path_(std::move(log_path)) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  for (auto& e : env) environment.push_back(e);
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc =
      posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0] + ": " +
                             std::to_string(rc));
  }
}

Process::~Process() {
  if (pid_ > 0 && !wait(std::chrono::milliseconds(0))) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::signal(int signo) const {
  if (pid_ > 0) kill(pid_, signo);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::optional<std::string> wait_for_line(const std::string& path,
                                         const std::string& needle,
                                         std::chrono::milliseconds timeout) {
  std::optional<std::string> found;
  eventually(
      [&] {
        std::ifstream file(path);
        for (std::string line; std::getline(file, line);) {
          if (line.find(needle) != std::string::npos) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

std::string tail_of(const std::string& path, std::size_t lines) {
  std::ifstream file(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(file, line);) all.push_back(line);
  std::string out = "--- last lines of " + path + ":\n";
  const std::size_t from = all.size() > lines ? all.size() - lines : 0;
  for (std::size_t i = from; i < all.size(); ++i) out += all[i] + "\n";
  return out;
}

std::optional<long> json_int_field(const std::string& line,
                                   const std::string& key) {
  const std::string pattern = "\"" + key + "\":";
  const auto at = line.find(pattern);
  if (at == std::string::npos) return std::nullopt;
  return std::strtol(line.c_str() + at + pattern.size(), nullptr, 10);
}

namespace {

/// A connected loopback socket with a receive timeout, or -1.
int connect_loopback(int port, std::chrono::seconds receive_timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{static_cast<time_t>(receive_timeout.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads the response until the server closes, then closes `fd`.
std::optional<HttpResponse> read_response(int fd) {
  std::string raw;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    // A signal to the test process (a child started with std::system()
    // exiting) is not the end of the answer: with SO_RCVTIMEO set, the
    // kernel does not restart the call.
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  if (raw.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
  HttpResponse response;
  response.status = std::atoi(raw.c_str() + 9);
  const auto body_start = raw.find("\r\n\r\n");
  if (body_start != std::string::npos) {
    response.head = raw.substr(0, body_start);
    response.body = raw.substr(body_start + 4);
  }
  return response;
}

// --- Recording exchanges for the API contract test (tests/api/) ---------
//
// With CHAT_API_RECORD naming a file, every exchange of http_request and
// http_request_streamed appends one JSON line to it: which test sent it, the
// port, method, target, the request's Content-Type (and whether it carried
// a token or a Range), the status, the response headers the contract is
// about and the body. JSON and other text bodies up to kMaxTextBody are kept
// as text, other bodies up to kMaxBase64Body as base64; anything larger
// (downloads) only as its length. One write() with O_APPEND per line, so
// lines from concurrent requests never interleave. Every service the tests
// talk to is recorded; tests/api/check_contract.py decides what is the API.

constexpr std::size_t kMaxTextBody = 256 * 1024;
constexpr std::size_t kMaxBase64Body = 4096;

using vigil::detail::append_json_string;  // keeps a line valid UTF-8

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(),
                    [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    });
}

/// The value of request header `name` among complete header lines.
std::optional<std::string> request_header(
    const std::vector<std::string>& headers, std::string_view name) {
  for (const auto& line : headers) {
    if (line.size() > name.size() && line[name.size()] == ':' &&
        iequals_prefix(line, name)) {
      const auto value = line.find_first_not_of(' ', name.size() + 1);
      return value == std::string::npos ? std::string() : line.substr(value);
    }
  }
  return std::nullopt;
}

/// Which test is running, for the report ("Suite.Test", or the suite's
/// set-up).
std::string current_test() {
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (const auto* test = unit->current_test_info()) {
    return std::string(test->test_suite_name()) + "." + test->name();
  }
  if (const auto* suite = unit->current_test_suite()) {
    return std::string(suite->name()) + ".SetUpTestSuite";
  }
  return {};
}

/// Appends the exchange to $CHAT_API_RECORD, if set. `response` is nullopt
/// when the connection was made but no HTTP response came back.
void record_exchange(int port, const std::string& method,
                     const std::string& target,
                     const std::vector<std::string>& headers,
                     const std::optional<HttpResponse>& response) {
  const char* path = std::getenv("CHAT_API_RECORD");
  if (path == nullptr || *path == '\0') return;
  std::string line = "{\"test\":";
  append_json_string(line, current_test());
  line += ",\"port\":" + std::to_string(port) + ",\"method\":";
  append_json_string(line, method);
  line += ",\"target\":";
  append_json_string(line, target);
  if (const auto type = request_header(headers, "Content-Type")) {
    line += ",\"request_content_type\":";
    append_json_string(line, *type);
  }
  if (const auto range = request_header(headers, "Range")) {
    line += ",\"request_range\":";
    append_json_string(line, *range);
  }
  line += ",\"request_authorization\":";
  line += request_header(headers, "Authorization") ? "true" : "false";
  if (!response) {
    line += ",\"status\":null}\n";
  } else {
    line +=
        ",\"status\":" + std::to_string(response->status) + ",\"headers\":{";
    bool first = true;
    for (const char* name :
         {"Content-Type", "Content-Length", "Retry-After", "Allow",
          "WWW-Authenticate", "Location", "Content-Range", "Accept-Ranges",
          "Content-Disposition", "Cache-Control"}) {
      if (const auto value = response->header(name)) {
        if (!first) line += ',';
        first = false;
        append_json_string(line, name);
        line += ':';
        append_json_string(line, *value);
      }
    }
    const std::string& body = response->body;
    const std::string type = response->header("Content-Type").value_or("");
    const bool textual = iequals_prefix(type, "text/") ||
                         iequals_prefix(type, "application/json") ||
                         type.find("+json") != std::string::npos;
    line += "},\"body_length\":" + std::to_string(body.size());
    if (textual && body.size() <= kMaxTextBody && chat::valid_utf8(body)) {
      line += ",\"body\":";
      append_json_string(line, body);
    } else if (body.size() <= kMaxBase64Body) {
      line += ",\"body_base64\":\"" + vigil::http::detail::base64(body) + "\"";
    } else {
      line += ",\"body_omitted\":true";
    }
    line += "}\n";
  }
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write: concurrent lines never interleave. A short write (disk
  // full) leaves a broken line, which the checker reports.
  const ssize_t written = ::write(fd, line.data(), line.size());
  (void)written;
  close(fd);
}

std::string request_head(const std::string& method, const std::string& target,
                         const std::vector<std::string>& headers) {
  std::string head = method + " " + target +
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n";
  for (const auto& header : headers) head += header + "\r\n";
  return head;
}

}  // namespace

std::optional<HttpResponse> http_request(
    int port, const std::string& method, const std::string& target,
    const std::string& body, const std::vector<std::string>& headers) {
  const int fd = connect_loopback(port, std::chrono::seconds(5));
  if (fd < 0) return std::nullopt;
  std::string request = request_head(method, target, headers);
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!send_all(fd, request)) {
    close(fd);
    return std::nullopt;
  }
  auto response = read_response(fd);
  record_exchange(port, method, target, headers, response);
  return response;
}

std::optional<HttpResponse> http_request_streamed(
    int port, const std::string& method, const std::string& target,
    const std::vector<std::string>& headers,
    const std::function<bool(std::string&)>& next,
    std::chrono::seconds response_timeout) {
  const int fd = connect_loopback(port, response_timeout);
  if (fd < 0) return std::nullopt;
  bool sending = send_all(fd, request_head(method, target, headers) + "\r\n");
  std::string piece;
  while (sending && next(piece)) sending = send_all(fd, piece);
  // A server that answered early may have stopped reading: its answer is
  // still there to read.
  auto response = read_response(fd);
  record_exchange(port, method, target, headers, response);
  return response;
}

std::optional<std::string> HttpResponse::header(const std::string& name) const {
  std::size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const std::size_t start = line + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string text = head.substr(start, end - start);
    const auto colon = text.find(':');
    if (colon == name.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      const auto value = text.find_first_not_of(' ', colon + 1);
      return value == std::string::npos ? std::string() : text.substr(value);
    }
    line = end;
  }
  return std::nullopt;
}

TempDir::TempDir() {
  char pattern[] = "/tmp/chat-test-XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace chat_test

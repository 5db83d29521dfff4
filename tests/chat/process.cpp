#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <thread>

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
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads the response until the server closes, then closes `fd`.
std::optional<HttpResponse> read_response(int fd) {
  std::string raw;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
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
  return read_response(fd);
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
  return read_response(fd);
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

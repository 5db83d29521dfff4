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
#include <sstream>
#include <stdexcept>
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

std::optional<HttpResponse> http_request(
    int port, const std::string& method, const std::string& target,
    const std::string& body, const std::vector<std::string>& headers) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return std::nullopt;
  }
  std::string request = method + " " + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Connection: close\r\n";
  for (const auto& header : headers) request += header + "\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return std::nullopt;
  }
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
  const auto headers_start = raw.find("\r\n");
  if (body_start != std::string::npos) {
    response.headers =
        raw.substr(headers_start + 2, body_start + 2 - (headers_start + 2));
    response.body = raw.substr(body_start + 4);
  }
  return response;
}

std::optional<std::string> HttpResponse::header(const std::string& name) const {
  std::istringstream lines(headers);
  for (std::string line; std::getline(lines, line);) {
    const auto colon = line.find(':');
    if (colon != name.size() ||
        !std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      continue;
    }
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (!value.empty() && value.back() == '\r') value.pop_back();
    return value;
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

#pragma once
// Test helpers for starting the chat binaries as real processes on loopback:
// every process is killed and reaped when its handle goes, and every wait
// has a deadline.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace chat_test {

class Process {
 public:
  /// Starts `argv` with the current environment plus `env` ("K=V"), stdout
  /// and stderr appended to `log_path`.
  Process(std::vector<std::string> argv, std::string log_path,
          std::vector<std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  void signal(int signo) const;
  /// The exit code (128 + signal when killed), or nullopt if the process is
  /// still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout);

/// The first line of `path` containing `needle`, once it appears.
std::optional<std::string> wait_for_line(const std::string& path,
                                         const std::string& needle,
                                         std::chrono::milliseconds timeout);

/// The last `lines` lines of `path`, for failure messages.
std::string tail_of(const std::string& path, std::size_t lines = 40);

/// The integer value of `"key":N` in a JSON log line.
std::optional<long> json_int_field(const std::string& line,
                                   const std::string& key);

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and header lines
  std::string body;
  /// The value of header `name` (case-insensitive), if present.
  std::optional<std::string> header(const std::string& name) const;
};
/// A blocking request to 127.0.0.1:port on a fresh connection; `headers`
/// are complete lines without CRLF. nullopt if the connection fails.
///
/// With the environment variable CHAT_API_RECORD naming a file, this and
/// http_request_streamed append each exchange to it as a JSON line (the
/// running test, port, method, target, request Content-Type, status, the
/// response headers and body; large non-text bodies only as a length), for
/// the API contract test in tests/api/. Unset: nothing is recorded.
std::optional<HttpResponse> http_request(
    int port, const std::string& method, const std::string& target,
    const std::string& body = {}, const std::vector<std::string>& headers = {});

/// Like http_request, but the body is produced piece by piece by `next`
/// (it fills its argument and returns false once there is no more), so a
/// test can send more than fits in memory. `headers` must frame the body
/// (Content-Length or Transfer-Encoding). Waits up to `response_timeout`
/// for each read of the answer.
std::optional<HttpResponse> http_request_streamed(
    int port, const std::string& method, const std::string& target,
    const std::vector<std::string>& headers,
    const std::function<bool(std::string&)>& next,
    std::chrono::seconds response_timeout = std::chrono::seconds(60));

inline std::optional<HttpResponse> http_get(int port,
                                            const std::string& target) {
  return http_request(port, "GET", target);
}

/// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace chat_test

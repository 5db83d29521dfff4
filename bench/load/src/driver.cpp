#include "driver.hpp"

#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base64url.hpp"

namespace chat_load {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr const char* kMessageCheck = "message accepted (202)";
constexpr const char* kFileCheck = "file stored (201)";

struct Identity {
  std::string token;
  std::string user_id;
};

std::string bearer_subject(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return {};
  const auto payload =
      chat::base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) return {};
  const auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("sub")) return {};
  return claims["sub"].get<std::string>();
}

Identity login(const DriverOptions& o, const std::string& user,
               const std::string& password) {
  const auto res = simple_request(
      o.host, o.port, "POST", "/auth/token",
      nlohmann::json{{"username", user}, {"password", password}}.dump());
  const std::string token = json_string_field(res.body, "access_token");
  const std::string id = bearer_subject(token);
  if (res.status != 200 || id.empty()) {
    throw std::runtime_error("login as " + user + " failed: HTTP " +
                             std::to_string(res.status) + " " + res.body);
  }
  return {token, id};
}

std::string message_body(const std::string& conversation,
                         const Identity& sender, const Identity& recipient,
                         std::uint64_t seq, const std::string& file_id) {
  std::string body =
      R"({"conversation_id":")" + conversation + R"(","sender_id":")" +
      sender.user_id + R"(","recipient_id":")" + recipient.user_id +
      R"(","content":"chat-load message )" + std::to_string(seq) +
      R"(: the quick brown fox jumps over the lazy dog")";
  if (!file_id.empty()) body += R"(,"file_id":")" + file_id + '"';
  body += '}';
  return body;
}

/// Shared by the workers: the schedule, the identities, the id file.
struct Run {
  Run(const DriverOptions& o, const Scenario& s) : options(o), scenario(s) {}
  const DriverOptions& options;
  const Scenario& scenario;
  std::vector<Identity> users;
  tcp::endpoint endpoint;
  Clock::time_point start;
  Clock::time_point end;
  std::atomic<bool> stop{false};
  std::mutex ids_mutex;
  std::FILE* ids = nullptr;
};

class Worker {
 public:
  Worker(Run& run, std::size_t index, std::size_t workers)
      : run_(run),
        o_(run.options),
        index_(index),
        workers_(workers),
        timer_(io_),
        random_(static_cast<std::uint32_t>(index * 7919 + 17)) {
    if (run_.scenario.file_upload) {
      file_bytes_.resize(o_.file_max_bytes);
      for (auto& c : file_bytes_) c = static_cast<char>(random_());
    }
  }

  void run() {
    if (run_.scenario.model == Model::kOpen) {
      next_ = run_.start;
      net::post(io_, [this] { schedule(); });
    } else {
      net::post(io_, [this] { control_vus(); });
    }
    io_.run();
    flush_ids(true);
  }

  void stop_now() { io_.stop(); }

  /// Moves what was recorded since the last call into `into`.
  void drain(Window& into) {
    std::lock_guard<std::mutex> lock(mutex_);
    into.merge(current_);
    current_.reset();
  }
  std::size_t in_flight() const { return in_flight_.load(); }
  std::size_t active_vus() const { return active_vus_.load(); }

 private:
  enum class Step { kMessage, kUpload };

  /// Idle connections older than this are reconnected before reuse: well
  /// under the servers' idle timeouts (60 s for chat-api).
  static constexpr std::chrono::seconds kMaxIdle{20};

  struct Conn {
    explicit Conn(net::io_context& io) : stream(io), think(io) {}
    beast::tcp_stream stream;
    net::steady_timer think;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> request;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    bool connected = false;
    Step step = Step::kMessage;
    Clock::time_point origin;  // latency is measured from here
    std::size_t vu = 0;        // closed model
    bool vu_active = false;
    std::uint64_t seq = 0;  // the iteration's number: picks the sender
    std::size_t sent_bytes = 0;
    std::size_t received_bytes = 0;
    Clock::time_point idle_since;  // open model: when it went back to idle_
  };

  double seconds_since_start(Clock::time_point t) const {
    return std::chrono::duration<double>(t - run_.start).count();
  }
  bool finished(Clock::time_point now) const {
    return run_.stop.load() || now >= run_.end;
  }

  // ---- open model: requests start on a schedule --------------------------
  void schedule() {
    const auto now = Clock::now();
    if (finished(now)) return;  // in-flight requests complete on their own
    while (next_ <= now) {
      dispatch(next_);
      const double rate =
          run_.scenario.target_at(seconds_since_start(next_)) / workers_;
      if (rate <= 0) {
        next_ = now + std::chrono::milliseconds(10);
        break;
      }
      next_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / rate));
    }
    timer_.expires_at(std::min(next_, run_.end));
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) schedule();
    });
  }

  void dispatch(Clock::time_point intended) {
    if (!idle_.empty()) {
      Conn* c = idle_.back();
      idle_.pop_back();
      // A connection that sat idle this long may have been closed by the
      // server (the API's idle timeout is 60 s): writing to it fails with
      // no answer. A soak reused one after a quiet spell and counted an
      // error the stack never made; a fresh connection avoids it.
      if (c->connected && Clock::now() - c->idle_since > kMaxIdle) close(*c);
      return start_iteration(*c, intended);
    }
    if (conns_.size() <
        std::max<std::size_t>(1, o_.max_connections / workers_)) {
      return start_iteration(new_conn(), intended);
    }
    if (backlog_.size() < o_.max_backlog / workers_) {
      backlog_.push_back(intended);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++current_.dropped;
  }

  // ---- closed model: virtual users ---------------------------------------
  std::size_t wanted_vus(Clock::time_point now) const {
    const auto total = static_cast<std::size_t>(
        run_.scenario.target_at(seconds_since_start(now)));
    return total / workers_ + (index_ < total % workers_ ? 1 : 0);
  }

  void control_vus() {
    const auto now = Clock::now();
    if (finished(now)) return;
    const std::size_t want = wanted_vus(now);
    while (conns_.size() < want) {
      Conn& vu = new_conn();
      vu.vu = conns_.size() - 1;
    }
    for (std::size_t i = 0; i < want; ++i) {
      Conn& c = *conns_[i];
      if (!c.vu_active) {
        c.vu_active = true;
        ++active_vus_;
        start_iteration(c, now);
      }
    }
    timer_.expires_after(std::chrono::milliseconds(50));
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) control_vus();
    });
  }

  // ---- iterations ----------------------------------------------------------
  Conn& new_conn() {
    conns_.push_back(std::make_unique<Conn>(io_));
    return *conns_.back();
  }

  void start_iteration(Conn& c, Clock::time_point origin) {
    ++in_flight_;
    c.seq = ++seq_;
    if (run_.scenario.file_upload) {
      c.step = Step::kUpload;
      prepare_upload(c);
    } else {
      c.step = Step::kMessage;
      prepare_message(c, {});
    }
    issue(c, origin);
  }

  const Identity& sender(const Conn& c) const { return run_.users[c.seq % 2]; }
  const Identity& recipient(const Conn& c) const {
    return run_.users[(c.seq + 1) % 2];
  }
  std::string conversation(const Conn& c) const {
    // File uploads need a conversation the sender is known in (setup seeds
    // one per VU); plain messages spread over a few conversations so that
    // several partitions and routers share the work.
    if (run_.scenario.file_upload) {
      return "load-files-" + std::to_string(index_) + "-" +
             std::to_string(c.vu);
    }
    return "load-" + std::to_string(index_) + "-" + std::to_string(c.seq % 32);
  }

  void prepare_message(Conn& c, const std::string& file_id) {
    auto& r = c.request;
    r = {};
    r.method(bhttp::verb::post);
    r.target("/v1/messages");
    r.version(11);
    r.set(bhttp::field::host, o_.host);
    r.set(bhttp::field::content_type, "application/json");
    r.set(bhttp::field::authorization, "Bearer " + sender(c).token);
    r.body() =
        message_body(conversation(c), sender(c), recipient(c), c.seq, file_id);
    r.keep_alive(true);
    r.prepare_payload();
  }

  void prepare_upload(Conn& c) {
    std::uniform_int_distribution<std::size_t> size(o_.file_min_bytes,
                                                    o_.file_max_bytes);
    const std::size_t bytes = size(random_);
    const std::string boundary = "chatload" + std::to_string(c.seq);
    std::string body;
    body.reserve(bytes + 512);
    body += "--" + boundary +
            "\r\nContent-Disposition: form-data; name=\"conversation_id\""
            "\r\n\r\n" +
            conversation(c) + "\r\n--" + boundary +
            "\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"load-" +
            std::to_string(c.seq) +
            ".bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    body.append(file_bytes_.data(), bytes);
    body += "\r\n--" + boundary + "--\r\n";
    auto& r = c.request;
    r = {};
    r.method(bhttp::verb::post);
    r.target("/v1/files");
    r.version(11);
    r.set(bhttp::field::host, o_.host);
    r.set(bhttp::field::content_type,
          "multipart/form-data; boundary=" + boundary);
    r.set(bhttp::field::authorization, "Bearer " + sender(c).token);
    r.body() = std::move(body);
    r.keep_alive(true);
    r.prepare_payload();
  }

  void issue(Conn& c, Clock::time_point origin) {
    c.origin = origin;
    c.stream.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o_.request_timeout_seconds)));
    if (c.connected) return write(c);
    c.stream.async_connect(run_.endpoint, [this, &c](beast::error_code ec) {
      if (ec) return finish(c, 0, {});
      c.connected = true;
      c.stream.socket().set_option(tcp::no_delay(true));
      write(c);
    });
  }

  void write(Conn& c) {
    bhttp::async_write(c.stream, c.request,
                       [this, &c](beast::error_code ec, std::size_t bytes) {
                         if (ec) return finish(c, 0, {});
                         c.sent_bytes = bytes;
                         read(c);
                       });
  }

  void read(Conn& c) {
    c.parser.emplace();
    c.parser->body_limit(1024 * 1024);
    bhttp::async_read(c.stream, c.buffer, *c.parser,
                      [this, &c](beast::error_code ec, std::size_t bytes) {
                        if (ec) return finish(c, 0, {});
                        c.received_bytes = bytes;
                        auto& res = c.parser->get();
                        if (!res.keep_alive()) close(c);
                        finish(c, res.result_int(), std::move(res.body()));
                      });
  }

  void close(Conn& c) {
    beast::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c.stream.close();
    c.buffer.clear();
    c.connected = false;
  }

  void finish(Conn& c, int status, const std::string& body) {
    const auto now = Clock::now();
    if (status == 0) close(c);
    const auto latency =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.origin);
    std::string file_id;
    bool iteration_done = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& w = current_;
      w.duration.record(static_cast<std::uint64_t>(latency.count()));
      ++w.requests;
      ++w.statuses[status];
      w.bytes_sent += status ? c.sent_bytes : 0;
      w.bytes_received += status ? c.received_bytes : 0;
      if (status == 0 || status >= 400) ++w.failed;
      if (c.step == Step::kUpload) {
        const bool stored = status == 201;
        if (stored) file_id = json_string_field(body, "file_id");
        auto& check = w.checks[kFileCheck];
        (stored && !file_id.empty() ? check.first : check.second)++;
        iteration_done = file_id.empty();
      } else {
        const std::string id =
            status == 202 ? json_string_field(body, "message_id") : "";
        auto& check = w.checks[kMessageCheck];
        (id.empty() ? check.second : check.first)++;
        if (!id.empty()) {
          ++w.accepted;
          ids_buffer_ += id;
          ids_buffer_ += '\n';
        }
      }
      if (iteration_done) ++w.iterations;
    }
    flush_ids(false);
    if (!iteration_done) {
      c.step = Step::kMessage;
      prepare_message(c, file_id);
      return issue(c, now);
    }
    --in_flight_;
    free(c, now);
  }

  void free(Conn& c, Clock::time_point now) {
    if (run_.scenario.model == Model::kOpen) {
      if (!backlog_.empty()) {
        const auto intended = backlog_.front();
        backlog_.pop_front();
        return start_iteration(c, intended);
      }
      c.idle_since = now;
      idle_.push_back(&c);
      return;
    }
    if (finished(now) || c.vu >= wanted_vus(now)) {
      c.vu_active = false;
      --active_vus_;
      return;
    }
    if (run_.scenario.think_seconds <= 0) return start_iteration(c, now);
    c.think.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(run_.scenario.think_seconds)));
    c.think.async_wait([this, &c](beast::error_code ec) {
      const auto later = Clock::now();
      if (ec || finished(later)) {
        c.vu_active = false;
        --active_vus_;
        return;
      }
      start_iteration(c, later);
    });
  }

  void flush_ids(bool all) {
    if (ids_buffer_.empty() || (!all && ids_buffer_.size() < 64 * 1024)) return;
    if (run_.ids) {
      std::lock_guard<std::mutex> lock(run_.ids_mutex);
      std::fwrite(ids_buffer_.data(), 1, ids_buffer_.size(), run_.ids);
    }
    ids_buffer_.clear();
  }

  net::io_context io_{1};  // first: outlives the connections below
  Run& run_;
  const DriverOptions& o_;
  std::size_t index_;
  std::size_t workers_;
  net::steady_timer timer_;
  std::mt19937_64 random_;
  std::string file_bytes_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> idle_;
  std::deque<Clock::time_point> backlog_;
  Clock::time_point next_;
  std::uint64_t seq_ = 0;
  std::string ids_buffer_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> active_vus_{0};
  std::mutex mutex_;
  Window current_;
};

/// CPU and memory of the stack's processes, from /proc.
class ProcessSampler {
 public:
  explicit ProcessSampler(std::string stack_dir) : dir_(std::move(stack_dir)) {}

  std::map<std::string, ProcessSample> sample(double elapsed_seconds) {
    std::map<std::string, ProcessSample> out;
    if (dir_.empty()) return out;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_ + "/pids", ec)) {
      std::ifstream pid_file(entry.path());
      long pid = 0;
      if (!(pid_file >> pid) || pid <= 0) continue;
      const std::string name = entry.path().filename().string();
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      // Fields after the command name (which may hold spaces): state is
      // field 3, utime 14, stime 15.
      std::istringstream rest(line.substr(line.rfind(')') + 2));
      std::string field;
      unsigned long long ticks = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::stoull(field);
      }
      std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
      unsigned long long size = 0, resident = 0;
      statm >> size >> resident;
      ProcessSample s;
      s.rss_bytes =
          resident * static_cast<unsigned long long>(sysconf(_SC_PAGESIZE));
      const auto previous = last_.find(name);
      if (previous != last_.end() &&
          elapsed_seconds > previous->second.second) {
        s.cpu_percent = 100.0 *
                        static_cast<double>(ticks - previous->second.first) /
                        static_cast<double>(sysconf(_SC_CLK_TCK)) /
                        (elapsed_seconds - previous->second.second);
      }
      last_[name] = {ticks, elapsed_seconds};
      out[name] = s;
    }
    return out;
  }

 private:
  std::string dir_;
  std::map<std::string, std::pair<unsigned long long, double>> last_;
};

StressStep evaluate_step(const Window& w, double target, double seconds,
                         const BreakpointRule& rule) {
  StressStep s;
  s.target_rate = target;
  s.achieved_rate = static_cast<double>(w.requests) / seconds;
  s.p99_ms = w.duration.percentile(99) / 1e6;
  s.error_rate = w.requests ? static_cast<double>(w.failed + w.dropped) /
                                  static_cast<double>(w.requests + w.dropped)
                            : 1.0;
  char why[160] = "";
  if (s.p99_ms >= rule.max_p99_ms) {
    std::snprintf(why, sizeof why, "p99 %.1f ms >= %.0f ms", s.p99_ms,
                  rule.max_p99_ms);
  } else if (s.error_rate > rule.max_error_rate) {
    std::snprintf(why, sizeof why, "errors %.3f%% > %.3f%%", 100 * s.error_rate,
                  100 * rule.max_error_rate);
  } else if (s.achieved_rate < rule.min_achieved_ratio * target) {
    std::snprintf(why, sizeof why, "achieved %.0f/s < %.0f%% of %.0f/s",
                  s.achieved_rate, 100 * rule.min_achieved_ratio, target);
  }
  s.why = why;
  s.passed = s.why.empty();
  return s;
}

}  // namespace

void Window::merge(const Window& o) {
  duration.merge(o.duration);
  requests += o.requests;
  failed += o.failed;
  accepted += o.accepted;
  iterations += o.iterations;
  dropped += o.dropped;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  for (const auto& [k, v] : o.statuses) statuses[k] += v;
  for (const auto& [k, v] : o.checks) {
    checks[k].first += v.first;
    checks[k].second += v.second;
  }
}

void Window::reset() { *this = Window(); }

std::string json_string_field(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const auto at = json.find(needle);
  if (at == std::string::npos) return {};
  const auto start = at + needle.size();
  const auto end = json.find('"', start);
  if (end == std::string::npos) return {};
  return json.substr(start, end - start);
}

SimpleResponse simple_request(const std::string& host, std::uint16_t port,
                              const std::string& method,
                              const std::string& target,
                              const std::string& body,
                              const std::string& bearer) {
  net::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(60));
  stream.connect(tcp::endpoint(net::ip::make_address(host), port), ec);
  if (ec) return {};
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target,
                                         11);
  req.set(bhttp::field::host, host);
  if (!bearer.empty()) req.set(bhttp::field::authorization, "Bearer " + bearer);
  if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req, ec);
  if (ec) return {};
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res, ec);
  if (ec) return {};
  return {static_cast<int>(res.result_int()), res.body()};
}

RunResult run_load(const DriverOptions& options, const ProgressFn& progress) {
  const Scenario& scenario = options.scenario;
  Run run(options, scenario);
  run.endpoint =
      tcp::endpoint(net::ip::make_address(options.host), options.port);
  run.users = {login(options, "user_a", "pass_a"),
               login(options, "user_b", "pass_b")};
  const std::size_t workers = std::max<std::size_t>(1, options.threads);
  if (scenario.file_upload) {
    // Only participants may upload to a conversation: each VU's conversation
    // gets a first message, and uploads start once it is stored.
    double peak = scenario.start_level;
    for (const auto& stage : scenario.stages)
      peak = std::max(peak, stage.level);
    const auto vus =
        static_cast<std::size_t>(std::ceil(scenario.base_vus * peak));
    for (std::size_t w = 0; w < workers; ++w) {
      for (std::size_t v = 0; v < vus / workers + 1; ++v) {
        const std::string conversation =
            "load-files-" + std::to_string(w) + "-" + std::to_string(v);
        for (const auto& sender : {0, 1}) {
          simple_request(options.host, options.port, "POST", "/v1/messages",
                         message_body(conversation, run.users[sender],
                                      run.users[1 - sender], 0, {}),
                         run.users[sender].token);
        }
        const auto deadline = Clock::now() + std::chrono::seconds(30);
        while (simple_request(
                   options.host, options.port, "GET",
                   "/v1/conversations/" + conversation + "/messages?limit=1",
                   {}, run.users[0].token)
                       .status != 200 &&
               Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
  }
  if (!options.ids_path.empty()) {
    run.ids = std::fopen(options.ids_path.c_str(), "w");
    if (!run.ids) {
      throw std::runtime_error("cannot write " + options.ids_path);
    }
  }

  RunResult result;
  ProcessSampler sampler(options.stack_dir);
  run.start = Clock::now();
  run.end = run.start +
            std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(scenario.duration_seconds()));
  result.started_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  sampler.sample(0);

  std::vector<std::unique_ptr<Worker>> pool;
  for (std::size_t i = 0; i < workers; ++i) {
    pool.push_back(std::make_unique<Worker>(run, i, workers));
  }
  std::atomic<std::size_t> running{workers};
  std::vector<std::thread> threads;
  for (auto& w : pool) {
    threads.emplace_back([&running, worker = w.get()] {
      worker->run();
      --running;
    });
  }

  Window step;
  const auto grace = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.grace_seconds));
  std::optional<Clock::time_point> schedule_ended;
  for (int tick = 1;; ++tick) {
    std::this_thread::sleep_until(run.start + std::chrono::seconds(tick));
    Second s;
    s.t = tick;
    s.unix_ms = result.started_unix_ms + tick * 1000;
    s.target = schedule_ended ? 0 : scenario.target_at(tick - 0.5);
    for (auto& w : pool) {
      w->drain(s.window);
      s.active_vus += w->active_vus();
    }
    s.processes = sampler.sample(tick);
    result.max_vus = std::max(result.max_vus, s.active_vus);
    result.total.merge(s.window);
    result.seconds_series.push_back(s);
    if (scenario.breakpoint && !schedule_ended) {
      // Judge each step of the ramp on the seconds it covered.
      step.merge(s.window);
      const double length = scenario.breakpoint->step_seconds;
      if (std::floor(tick / length) != std::floor((tick - 1) / length)) {
        result.steps.push_back(
            evaluate_step(step, s.target, length, *scenario.breakpoint));
        if (!result.steps.back().passed) run.stop = true;
        step.reset();
      }
    }
    if (progress) progress(s, result);
    const auto now = Clock::now();
    if (!schedule_ended && (run.stop.load() || now >= run.end)) {
      schedule_ended = std::min(now, run.end);
    }
    // Workers return once nothing is in flight after the schedule ended.
    if (running.load() == 0) break;
    if (schedule_ended && now - *schedule_ended >= grace) break;
  }
  for (auto& w : pool) {
    result.interrupted += w->in_flight();
    w->stop_now();
  }
  for (auto& t : threads) t.join();
  // What arrived between the last tick and the stop.
  Window rest;
  for (auto& w : pool) w->drain(rest);
  result.total.merge(rest);
  result.seconds =
      std::chrono::duration<double>(
          schedule_ended.value_or(std::min(Clock::now(), run.end)) - run.start)
          .count();
  if (run.ids) std::fclose(run.ids);
  return result;
}

}  // namespace chat_load

#include "simulator.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

namespace chat {
namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

/// chat::problem, titled with the status's reason phrase.
Response problem_response(unsigned status, std::string_view detail) {
  const auto reason =
      bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return problem(status, std::string_view(reason.data(), reason.size()),
                 detail);
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

PlatformSimulator::PlatformSimulator(SimulatorOptions options,
                                     vigil::Registry& metrics)
    : whatsapp_{"whatsapp", options.whatsapp, options.whatsapp},
      instagram_{"instagram", options.instagram, options.instagram},
      rng_(options.seed ? options.seed : std::random_device{}()),
      requests_(metrics.counter(
          "chat_platform_requests_total",
          "Requests to the simulated platforms, by channel and outcome "
          "(delivered; duplicate: an idempotency key already delivered, "
          "answered as the first time; key_reused: the key of another "
          "message_id, refused; error_injected; reset_injected).",
          {"channel", "outcome"})),
      duplicates_received_counter_(metrics.counter(
          "chat_platform_duplicates_received_total",
          "Messages sent again under an idempotency key already delivered: "
          "received twice, delivered once.",
          {"channel"})),
      delivered_twice_counter_(metrics.counter(
          "chat_platform_duplicate_deliveries_total",
          "Deliveries of a message_id already delivered under another "
          "idempotency key: delivered twice (0 for a client that keys by "
          "message_id).",
          {"channel"})) {
  // Both channels' series from the start: "0 delivered twice" is a value
  // to show, not a missing series.
  for (const char* channel : {"whatsapp", "instagram"}) {
    duplicates_received_counter_.with({channel});
    delivered_twice_counter_.with({channel});
  }
  timer_thread_ = std::thread([this] {
    auto work = boost::asio::make_work_guard(timers_);
    timers_.run();
  });
}

PlatformSimulator::~PlatformSimulator() {
  timers_.stop();
  timer_thread_.join();
}

std::vector<std::string> PlatformSimulator::routes() {
  return {"/whatsapp/v1/messages", "/instagram/v1/messages", "/admin/faults",
          "/admin/stats", "/admin/deliveries"};
}

void PlatformSimulator::handle(Request&& req, Respond respond) {
  const auto target = req.target();
  const std::string_view full(target.data(), target.size());
  const std::string_view path = path_of(full);
  const auto method = req.method();
  auto only = [&](bhttp::verb allowed, const char* allow) {
    if (method == allowed) return true;
    Response res = problem_response(405, std::string("use ") + allow);
    res.set(bhttp::field::allow, allow);
    respond(std::move(res));
    return false;
  };
  if (path == "/whatsapp/v1/messages") {
    if (only(bhttp::verb::post, "POST")) deliver(whatsapp_, req, respond);
  } else if (path == "/instagram/v1/messages") {
    if (only(bhttp::verb::post, "POST")) deliver(instagram_, req, respond);
  } else if (path == "/admin/faults") {
    if (method == bhttp::verb::delete_) return heal(respond);
    if (only(bhttp::verb::post, "POST, DELETE")) set_faults(req, respond);
  } else if (path == "/admin/stats") {
    if (only(bhttp::verb::get, "GET")) respond(stats());
  } else if (path == "/admin/deliveries") {
    if (only(bhttp::verb::get, "GET")) respond(deliveries(full));
  } else {
    respond(problem_response(404, "no such resource"));
  }
}

void PlatformSimulator::deliver(Channel& channel, const Request& req,
                                Respond respond) {
  const json body = json::parse(req.body(), nullptr, false);
  if (!body.is_object() || !body.contains("message_id") ||
      !body["message_id"].is_string()) {
    return respond(problem_response(400, "message_id is required"));
  }
  const std::string message_id = body["message_id"];
  const std::string conversation = body.value("conversation_id", std::string());
  const auto header = req.find("Idempotency-Key");
  const std::string key =
      header != req.end() ? std::string(header->value()) : message_id;
  if (key.empty() || key.size() > 255) {
    return respond(problem_response(400, "Idempotency-Key: 1-255 bytes"));
  }
  std::uint32_t delay = 0;
  Response res;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const ChannelBehaviour& b = channel.now;
    delay = b.max_latency_ms > b.min_latency_ms
                ? std::uniform_int_distribution<std::uint32_t>(
                      b.min_latency_ms, b.max_latency_ms)(rng_)
                : b.min_latency_ms;
    if (b.down) {
      ++resets_injected_;
      requests_.with({channel.name, "reset_injected"}).inc();
      return respond(drop_connection());
    }
    if (std::uniform_real_distribution<double>(0, 1)(rng_) < b.error_rate) {
      ++errors_injected_;
      requests_.with({channel.name, "error_injected"}).inc();
      res = problem_response(500, "injected failure");
    } else if (const auto first = by_key_.find(channel.name + '\n' + key);
               first != by_key_.end()) {
      if (first->second.message_id != message_id) {
        requests_.with({channel.name, "key_reused"}).inc();
        res = problem_response(
            422, "Idempotency-Key already used for another message_id");
      } else {
        // Sent again (a connector that crashed before committing, a retry
        // after a timeout): answered as the first time, not delivered again.
        ++duplicates_received_;
        duplicates_received_counter_.with({channel.name}).inc();
        requests_.with({channel.name, "duplicate"}).inc();
        res = json_response(200, json{{"id", first->second.platform_id},
                                      {"message_id", message_id}}
                                     .dump());
      }
    } else {
      const std::string platform_id =
          (channel.name == "whatsapp" ? "wamid." : "ig.") +
          std::to_string(channel.next_id++);
      by_key_.emplace(channel.name + '\n' + key,
                      Delivered{message_id, platform_id});
      ++deliveries_;
      if (seen_[channel.name + '\n' + message_id]++ > 0) {
        ++delivered_twice_;
        delivered_twice_counter_.with({channel.name}).inc();
      }
      by_conversation_[conversation].push_back(message_id);
      requests_.with({channel.name, "delivered"}).inc();
      res = json_response(
          200, json{{"id", platform_id}, {"message_id", message_id}}.dump());
    }
  }
  after(delay, std::move(respond), std::move(res));
}

void PlatformSimulator::after(std::uint32_t delay_ms, Respond respond,
                              Response res) {
  if (delay_ms == 0) return respond(std::move(res));
  auto timer = std::make_shared<boost::asio::steady_timer>(
      timers_, std::chrono::milliseconds(delay_ms));
  timer->async_wait([timer, respond = std::move(respond), res = std::move(res)](
                        const boost::system::error_code&) { respond(res); });
}

void PlatformSimulator::set_faults(const Request& req, Respond respond) {
  const json body = json::parse(req.body(), nullptr, false);
  if (!body.is_object()) {
    return respond(problem_response(400, "the body must be a JSON object"));
  }
  const std::string which = body.value("channel", std::string());
  if (!which.empty() && which != "whatsapp" && which != "instagram") {
    return respond(
        problem_response(400, "channel must be whatsapp or instagram"));
  }
  const auto rate = body.find("error_rate");
  const auto down = body.find("down");
  const auto latency = body.find("latency_ms");
  if ((rate != body.end() &&
       (!rate->is_number() || *rate < 0.0 || *rate > 1.0)) ||
      (down != body.end() && !down->is_boolean()) ||
      (latency != body.end() &&
       (!latency->is_number_unsigned() || *latency > 600000))) {
    return respond(problem_response(
        400, "error_rate in [0,1], down a boolean, latency_ms 0-600000"));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (Channel* c : {&whatsapp_, &instagram_}) {
    if (!which.empty() && c->name != which) continue;
    if (rate != body.end()) c->now.error_rate = rate->get<double>();
    if (down != body.end()) c->now.down = down->get<bool>();
    if (latency != body.end()) {
      c->now.min_latency_ms = c->now.max_latency_ms =
          latency->get<std::uint32_t>();
    }
  }
  respond(json_response(200, json{{"applied", body}}.dump()));
}

void PlatformSimulator::heal(Respond respond) {
  std::lock_guard<std::mutex> lock(mutex_);
  whatsapp_.now = whatsapp_.defaults;
  instagram_.now = instagram_.defaults;
  respond(json_response(200, R"({"healed":true})"));
}

Response PlatformSimulator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return json_response(200, json{{"deliveries", deliveries_},
                                 {"unique_messages", seen_.size()},
                                 {"duplicates_received", duplicates_received_},
                                 {"delivered_twice", delivered_twice_},
                                 {"errors_injected", errors_injected_},
                                 {"resets_injected", resets_injected_}}
                                .dump());
}

Response PlatformSimulator::deliveries(std::string_view target) const {
  const auto at = target.find("conversation=");
  if (at == std::string_view::npos) {
    return problem_response(400, "conversation=<id> is required");
  }
  const std::string conversation(target.substr(at + 13));
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = by_conversation_.find(conversation);
  return json_response(200,
                       json{{"conversation_id", conversation},
                            {"message_ids", it == by_conversation_.end()
                                                ? std::vector<std::string>{}
                                                : it->second}}
                           .dump());
}

}  // namespace chat

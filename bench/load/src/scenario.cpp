#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace chat_load {
namespace {

// The table: shapes and thresholds. Durations are the full ones;
// --duration shrinks a scenario keeping its shape.
Scenario warmup() {
  Scenario s;
  s.name = "warmup";
  s.base_rate = 50;
  s.base_vus = 5;
  s.think_seconds = 0.1;
  s.stages = {{120, 1}};
  s.thresholds = {{"http_req_failed", "rate==0"}};
  return s;
}

Scenario baseline() {
  Scenario s;
  s.name = "baseline";
  s.base_rate = 500;
  s.base_vus = 20;
  s.think_seconds = 0.04;
  s.stages = {{300, 1}};
  s.thresholds = {{"http_req_duration", "p(95)<200"},
                  {"http_req_duration", "p(99)<500"},
                  {"http_req_failed", "rate<0.005"}};
  return s;
}

Scenario spike() {
  Scenario s;
  s.name = "spike";
  s.base_rate = 200;
  s.base_vus = 5;
  s.think_seconds = 0.02;
  // 1x, up to 10x in 10 s, hold, back down, then a quiet minute in which the
  // consumers must drain what the spike queued.
  s.stages = {{10, 1}, {10, 10}, {30, 10}, {10, 1}, {60, 1}};
  s.thresholds = {{"http_req_failed", "rate<0.01"}};
  return s;
}

Scenario file_upload() {
  Scenario s;
  s.name = "file-upload";
  s.model = Model::kClosed;
  s.base_rate = 20;
  s.base_vus = 10;
  s.stages = {{120, 1}};
  s.file_upload = true;
  s.thresholds = {{"http_req_duration", "p(95)<1000"},
                  {"http_req_failed", "rate<0.01"}};
  return s;
}

Scenario stress() {
  Scenario s;
  s.name = "stress";
  s.base_rate = 1000;  // the first step; each step adds as much again
  s.base_vus = 20;
  s.stages = {{300, 1}};  // replaced by steps in make_scenario
  s.breakpoint = BreakpointRule{};
  s.thresholds = {{"http_req_failed", "rate<0.01"}};
  return s;
}

Scenario soak() {
  Scenario s;
  s.name = "soak";
  s.base_rate = 200;
  s.base_vus = 10;
  s.think_seconds = 0.05;
  s.stages = {{900, 1}};
  s.thresholds = {{"http_req_failed", "rate==0"}};
  s.max_memory_growth = 0.10;
  return s;
}

/// Step k (1-based) runs at level k for one step: the stress ramp.
std::vector<Stage> steps(double total_seconds, double step_seconds) {
  std::vector<Stage> out;
  const int count = std::max(1, static_cast<int>(total_seconds / step_seconds));
  for (int k = 1; k <= count; ++k) {
    out.push_back({0, static_cast<double>(k)});
    out.push_back({step_seconds, static_cast<double>(k)});
  }
  return out;
}

}  // namespace

double Scenario::duration_seconds() const {
  double total = 0;
  for (const auto& stage : stages) total += stage.seconds;
  return total;
}

double Scenario::level_at(double seconds) const {
  double level = start_level;
  double start = 0;
  for (const auto& stage : stages) {
    const double end = start + stage.seconds;
    if (seconds < end) {
      const double f = (seconds - start) / stage.seconds;
      return level + (stage.level - level) * f;
    }
    level = stage.level;
    start = end;
  }
  return level;
}

double Scenario::target_at(double seconds) const {
  const double level = level_at(seconds);
  return model == Model::kOpen ? base_rate * level
                               : std::round(base_vus * level);
}

std::vector<std::string> scenario_names() {
  return {"warmup", "baseline", "spike", "file-upload", "stress", "soak"};
}

std::optional<Scenario> make_scenario(const std::string& name,
                                      const Overrides& overrides,
                                      std::string* error) {
  Scenario s;
  if (name == "warmup") {
    s = warmup();
  } else if (name == "baseline") {
    s = baseline();
  } else if (name == "spike") {
    s = spike();
  } else if (name == "file-upload") {
    s = file_upload();
  } else if (name == "stress") {
    s = stress();
  } else if (name == "soak") {
    s = soak();
  } else {
    *error = "unknown scenario '" + name + "'";
    return std::nullopt;
  }
  if (overrides.duration_seconds) {
    if (!(*overrides.duration_seconds > 0)) {
      *error = "--duration must be positive";
      return std::nullopt;
    }
    const double scale = *overrides.duration_seconds / s.duration_seconds();
    for (auto& stage : s.stages) stage.seconds *= scale;
  }
  if (overrides.rate) {
    if (!(*overrides.rate > 0)) {
      *error = "--rate must be positive";
      return std::nullopt;
    }
    s.base_rate = *overrides.rate;
    s.model = Model::kOpen;
  }
  if (overrides.vus) {
    if (*overrides.vus < 1) {
      *error = "--vus must be at least 1";
      return std::nullopt;
    }
    s.base_vus = *overrides.vus;
    s.model = Model::kClosed;
  }
  if (overrides.think_seconds) s.think_seconds = *overrides.think_seconds;
  if (s.breakpoint) {
    if (overrides.step_seconds) {
      if (!(*overrides.step_seconds > 0)) {
        *error = "--step-seconds must be positive";
        return std::nullopt;
      }
      s.breakpoint->step_seconds = *overrides.step_seconds;
    }
    s.start_level = 1;
    s.stages = steps(s.duration_seconds(), s.breakpoint->step_seconds);
  }
  return s;
}

std::optional<bool> threshold_holds(
    const std::string& expression, const std::map<std::string, double>& stats) {
  static const char* const kOperators[] = {"<=", ">=", "==", "!=", "<", ">"};
  for (const char* op : kOperators) {
    const auto at = expression.find(op);
    if (at == std::string::npos) continue;
    std::string key = expression.substr(0, at);
    key.erase(std::remove(key.begin(), key.end(), ' '), key.end());
    const std::string number =
        expression.substr(at + std::char_traits<char>::length(op));
    char* end = nullptr;
    const double limit = std::strtod(number.c_str(), &end);
    if (end == number.c_str() ||
        !std::all_of(static_cast<const char*>(end),
                     number.c_str() + number.size(),
                     [](char c) { return c == ' '; })) {
      return std::nullopt;
    }
    const auto it = stats.find(key);
    if (it == stats.end()) return std::nullopt;
    const double v = it->second;
    const std::string o = op;
    if (o == "<=") return v <= limit;
    if (o == ">=") return v >= limit;
    if (o == "==") return v == limit;
    if (o == "!=") return v != limit;
    if (o == "<") return v < limit;
    return v > limit;
  }
  return std::nullopt;
}

}  // namespace chat_load

#include "summary.hpp"

#include <cstdio>

namespace chat_load {
namespace {

using nlohmann::json;

double ms(double nanoseconds) { return nanoseconds / 1e6; }

json trend(const LatencyHistogram& h) {
  return {{"avg", ms(h.mean())},
          {"min", ms(static_cast<double>(h.min()))},
          {"med", ms(h.percentile(50))},
          {"max", ms(static_cast<double>(h.max()))},
          {"p(90)", ms(h.percentile(90))},
          {"p(95)", ms(h.percentile(95))},
          {"p(99)", ms(h.percentile(99))}};
}

json counter(double count, double seconds) {
  return {{"count", count}, {"rate", seconds > 0 ? count / seconds : 0}};
}

/// k6's Rate: "passes" counts the true samples, "fails" the false ones.
json rate(std::uint64_t trues, std::uint64_t falses) {
  const auto total = trues + falses;
  return {
      {"passes", trues},
      {"fails", falses},
      {"value",
       total ? static_cast<double>(trues) / static_cast<double>(total) : 0.0}};
}

std::map<std::string, double> numbers_of(const json& metric) {
  std::map<std::string, double> out;
  for (const auto& [key, value] : metric.items()) {
    if (value.is_number()) out[key] = value.get<double>();
  }
  // Rate metrics are compared as "rate" in thresholds.
  if (metric.contains("value") && metric.contains("passes")) {
    out["rate"] = metric["value"].get<double>();
  }
  return out;
}

/// Peak RSS growth after the first fifth of the run, per process.
json processes_of(const RunResult& r) {
  json out = json::object();
  const auto& series = r.seconds_series;
  if (series.empty()) return out;
  const std::size_t settled = series.size() / 5;
  for (const auto& [name, first] : series[settled].processes) {
    double cpu = 0;
    std::uint64_t peak = 0;
    std::size_t samples = 0;
    for (std::size_t i = settled; i < series.size(); ++i) {
      const auto it = series[i].processes.find(name);
      if (it == series[i].processes.end()) continue;
      cpu += it->second.cpu_percent;
      peak = std::max(peak, it->second.rss_bytes);
      ++samples;
    }
    const double growth =
        first.rss_bytes
            ? static_cast<double>(peak) / static_cast<double>(first.rss_bytes) -
                  1.0
            : 0.0;
    out[name] = {{"cpu_percent_avg", samples ? cpu / samples : 0.0},
                 {"rss_bytes_settled", first.rss_bytes},
                 {"rss_bytes_peak", peak},
                 {"rss_growth", growth}};
  }
  return out;
}

}  // namespace

json k6_summary(const RunResult& r, const Scenario& scenario,
                const std::string& ids_path) {
  const Window& t = r.total;
  const double seconds = r.seconds;
  json metrics;
  metrics["http_reqs"] = counter(static_cast<double>(t.requests), seconds);
  metrics["http_req_duration"] = trend(t.duration);
  metrics["http_req_failed"] = rate(t.failed, t.requests - t.failed);
  metrics["iterations"] = counter(static_cast<double>(t.iterations), seconds);
  metrics["dropped_iterations"] =
      counter(static_cast<double>(t.dropped), seconds);
  metrics["data_sent"] = counter(static_cast<double>(t.bytes_sent), seconds);
  metrics["data_received"] =
      counter(static_cast<double>(t.bytes_received), seconds);
  metrics["vus_max"] = {
      {"value", r.max_vus}, {"min", r.max_vus}, {"max", r.max_vus}};
  std::uint64_t passes = 0, fails = 0;
  json checks = json::object();
  for (const auto& [name, counts] : t.checks) {
    passes += counts.first;
    fails += counts.second;
    checks[name] = {{"name", name},
                    {"path", "::" + name},
                    {"id", ""},
                    {"passes", counts.first},
                    {"fails", counts.second}};
  }
  metrics["checks"] = rate(passes, fails);
  metrics["chat_messages_accepted"] =
      counter(static_cast<double>(t.accepted), seconds);

  const json processes = processes_of(r);
  json memory_threshold = json::object();
  if (scenario.max_memory_growth) {
    double worst = 0;
    for (const auto& [name, p] : processes.items()) {
      worst = std::max(worst, p["rss_growth"].get<double>());
    }
    metrics["process_rss_growth"] = {{"value", worst}};
    char expression[64];
    std::snprintf(expression, sizeof expression, "value<%g",
                  *scenario.max_memory_growth);
    memory_threshold = {{"process_rss_growth", expression}};
  }

  std::vector<Threshold> thresholds = scenario.thresholds;
  for (const auto& [metric, expression] : memory_threshold.items()) {
    thresholds.push_back({metric, expression.get<std::string>()});
  }
  for (const auto& th : thresholds) {
    auto& metric = metrics[th.metric];
    const auto holds = threshold_holds(th.expression, numbers_of(metric));
    metric["thresholds"][th.expression] = !holds.value_or(false);
  }

  json statuses = json::object();
  for (const auto& [status, count] : t.statuses) {
    statuses[std::to_string(status)] = count;
  }
  json extra = {{"tool", "chat-load"},
                {"scenario", scenario.name},
                {"model", scenario.model == Model::kOpen ? "open" : "closed"},
                {"base_rate", scenario.base_rate},
                {"base_vus", scenario.base_vus},
                {"planned_seconds", scenario.duration_seconds()},
                {"started_unix_ms", r.started_unix_ms},
                {"statuses", statuses},
                {"accepted", t.accepted},
                {"interrupted", r.interrupted},
                {"message_ids_file", ids_path},
                {"processes", processes}};
  if (scenario.breakpoint) {
    json steps = json::array();
    double breakpoint = 0, achieved = 0, p99 = 0;
    std::string broken_by;
    for (const auto& s : r.steps) {
      steps.push_back({{"target_rate", s.target_rate},
                       {"achieved_rate", s.achieved_rate},
                       {"p99_ms", s.p99_ms},
                       {"error_rate", s.error_rate},
                       {"passed", s.passed},
                       {"why", s.why}});
      if (s.passed && broken_by.empty()) {
        breakpoint = s.target_rate;
        achieved = s.achieved_rate;
        p99 = s.p99_ms;
      } else if (broken_by.empty()) {
        broken_by = s.why;
      }
    }
    extra["stress"] = {
        {"steps", steps},
        {"breakpoint_rate", breakpoint},
        {"breakpoint_achieved_rate", achieved},
        {"breakpoint_p99_ms", p99},
        {"broken_by", broken_by.empty() ? "not reached" : broken_by},
        {"rule",
         {{"max_p99_ms", scenario.breakpoint->max_p99_ms},
          {"max_error_rate", scenario.breakpoint->max_error_rate},
          {"min_achieved_ratio", scenario.breakpoint->min_achieved_ratio},
          {"step_seconds", scenario.breakpoint->step_seconds}}}};
  }
  json summary = {{"root_group",
                   {{"name", ""},
                    {"path", ""},
                    {"id", "d41d8cd98f00b204e9800998ecf8427e"},
                    {"groups", json::object()},
                    {"checks", checks}}},
                  {"metrics", metrics},
                  {"state", {{"testRunDurationMs", seconds * 1000}}},
                  {"chat_load", extra}};
  summary["chat_load"]["thresholds_passed"] = thresholds_passed(summary);
  return summary;
}

bool thresholds_passed(const json& summary) {
  for (const auto& [name, metric] : summary.at("metrics").items()) {
    if (!metric.contains("thresholds")) continue;
    for (const auto& [expression, failed] : metric["thresholds"].items()) {
      if (failed.get<bool>()) return false;
    }
  }
  return true;
}

json time_series_line(const Second& s) {
  const Window& w = s.window;
  json statuses = json::object();
  for (const auto& [status, count] : w.statuses) {
    statuses[std::to_string(status)] = count;
  }
  json processes = json::object();
  for (const auto& [name, p] : s.processes) {
    processes[name] = {{"cpu_percent", p.cpu_percent},
                       {"rss_bytes", p.rss_bytes}};
  }
  return {{"t", s.t},
          {"unix_ms", s.unix_ms},
          {"target", s.target},
          {"vus", s.active_vus},
          {"http_reqs", w.requests},
          {"accepted", w.accepted},
          {"failed", w.failed},
          {"dropped", w.dropped},
          {"iterations", w.iterations},
          {"p50_ms", w.duration.percentile(50) / 1e6},
          {"p95_ms", w.duration.percentile(95) / 1e6},
          {"p99_ms", w.duration.percentile(99) / 1e6},
          {"max_ms", static_cast<double>(w.duration.max()) / 1e6},
          {"statuses", statuses},
          {"processes", processes}};
}

std::string text_summary(const json& summary) {
  const auto& m = summary.at("metrics");
  const auto& extra = summary.at("chat_load");
  std::string out;
  char line[512];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  add("\n  scenario %s (%s model)\n\n",
      extra["scenario"].get<std::string>().c_str(),
      extra["model"].get<std::string>().c_str());
  for (const auto& [name, metric] : m.items()) {
    if (!metric.contains("thresholds")) continue;
    for (const auto& [expression, failed] : metric["thresholds"].items()) {
      add("  %s %s %s\n", failed.get<bool>() ? "FAIL" : "ok  ", name.c_str(),
          expression.c_str());
    }
  }
  const auto& d = m["http_req_duration"];
  add("\n  http_req_duration....: avg=%.2fms min=%.2fms med=%.2fms max=%.2fms "
      "p(90)=%.2fms p(95)=%.2fms p(99)=%.2fms\n",
      d["avg"].get<double>(), d["min"].get<double>(), d["med"].get<double>(),
      d["max"].get<double>(), d["p(90)"].get<double>(),
      d["p(95)"].get<double>(), d["p(99)"].get<double>());
  add("  http_req_failed......: %.2f%% (%llu of %llu)\n",
      100 * m["http_req_failed"]["value"].get<double>(),
      m["http_req_failed"]["passes"].get<unsigned long long>(),
      m["http_reqs"]["count"].get<unsigned long long>());
  add("  http_reqs............: %.0f  %.1f/s\n",
      m["http_reqs"]["count"].get<double>(),
      m["http_reqs"]["rate"].get<double>());
  add("  messages accepted....: %.0f  %.1f/s\n",
      m["chat_messages_accepted"]["count"].get<double>(),
      m["chat_messages_accepted"]["rate"].get<double>());
  add("  iterations...........: %.0f  dropped %.0f\n",
      m["iterations"]["count"].get<double>(),
      m["dropped_iterations"]["count"].get<double>());
  add("  statuses.............: %s\n", extra["statuses"].dump().c_str());
  if (extra.contains("stress")) {
    const auto& s = extra["stress"];
    add("  breakpoint...........: %.0f msg/s sustained (achieved %.0f/s, p99 "
        "%.2f ms); next step broke: %s\n",
        s["breakpoint_rate"].get<double>(),
        s["breakpoint_achieved_rate"].get<double>(),
        s["breakpoint_p99_ms"].get<double>(),
        s["broken_by"].get<std::string>().c_str());
  }
  for (const auto& [name, p] : extra["processes"].items()) {
    add("  process %-20s cpu avg %5.1f%%  rss %.1f MB (growth %+.1f%%)\n",
        name.c_str(), p["cpu_percent_avg"].get<double>(),
        p["rss_bytes_peak"].get<double>() / 1e6,
        100 * p["rss_growth"].get<double>());
  }
  add("\n  thresholds: %s\n",
      extra["thresholds_passed"].get<bool>() ? "all passed" : "FAILED");
  return out;
}

}  // namespace chat_load

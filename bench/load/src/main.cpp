// chat-load: load scenarios against the chat API with k6-shaped results.
//   chat-load --scenario baseline --duration 20 --out-dir results/load
// Writes <out-dir>/<name>.summary.json (k6 --summary-export shape),
// <name>.timeseries.jsonl (one line per second) and <name>.ids (every
// accepted message_id); the name is the scenario's unless --name says. Exit 0
// when every threshold passed, 99 when one failed (as k6), 1 on errors.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "driver.hpp"
#include "flags.hpp"
#include "summary.hpp"

namespace {

std::optional<double> optional_number(const chat::Flags& flags,
                                      const std::string& name) {
  const std::string& text = flags.str(name);
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') {
    std::fprintf(stderr, "chat-load: --%s must be a number\n", name.c_str());
    std::exit(2);
  }
  return value;
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds);
  char out[32];
  std::snprintf(out, sizeof out, "%02ld:%02ld", s / 60, s % 60);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string names;
  for (const auto& n : chat_load::scenario_names()) {
    names += (names.empty() ? "" : ", ") + n;
  }
  chat::Flags flags("chat-load",
                    "Load scenarios against the chat API (" + names +
                        "); k6-shaped summary, time series and accepted ids.");
  flags.add("scenario", "", "baseline", "scenario: " + names)
      .add("name", "", "",
           "name of this run and its files (default: the scenario)")
      .add("host", "CHAT_API_HOST", "127.0.0.1", "API address")
      .add("port", "CHAT_API_PORT", "8080", "API port")
      .add("duration", "", "",
           "seconds (default: the scenario's; its shape is kept)")
      .add("rate", "", "", "base arrival rate/s: the open model")
      .add("vus", "", "", "base virtual users: the closed model")
      .add("think", "", "",
           "closed model: seconds a VU waits between iterations")
      .add("step-seconds", "", "", "stress: seconds per step of the ramp")
      .add("threads", "CHAT_LOAD_THREADS", "1", "driver threads")
      .add("connections", "", "256", "open model: most connections at once")
      .add("grace", "", "10", "seconds answers may still arrive after the end")
      .add("out-dir", "", "results/load", "where results go")
      .add("stack-dir", "CHAT_STACK_DIR", "",
           "stack state directory: sample CPU/RSS of its pids/* each second")
      .add("progress", "", "auto",
           "auto (a live line on a terminal, else periodic lines), plain, off")
      .add("progress-seconds", "", "10",
           "seconds between plain progress lines");
  flags.parse(argc, argv);

  chat_load::Overrides overrides;
  overrides.duration_seconds = optional_number(flags, "duration");
  overrides.rate = optional_number(flags, "rate");
  if (const auto vus = optional_number(flags, "vus")) {
    overrides.vus = static_cast<int>(*vus);
  }
  overrides.think_seconds = optional_number(flags, "think");
  overrides.step_seconds = optional_number(flags, "step-seconds");
  std::string error;
  const auto scenario =
      chat_load::make_scenario(flags.str("scenario"), overrides, &error);
  if (!scenario) {
    std::fprintf(stderr, "chat-load: %s (one of %s)\n", error.c_str(),
                 names.c_str());
    return 2;
  }
  const std::string progress_mode = flags.str("progress");
  if (progress_mode != "auto" && progress_mode != "plain" &&
      progress_mode != "off") {
    std::fprintf(stderr, "chat-load: --progress must be auto, plain or off\n");
    return 2;
  }

  chat_load::DriverOptions options;
  options.host = flags.str("host");
  options.port = static_cast<std::uint16_t>(flags.integer("port", 1, 65535));
  options.scenario = *scenario;
  options.threads = static_cast<std::size_t>(flags.integer("threads", 1, 64));
  options.max_connections =
      static_cast<std::size_t>(flags.integer("connections", 1, 100000));
  options.grace_seconds = static_cast<double>(flags.integer("grace", 0, 600));
  options.stack_dir = flags.str("stack-dir");
  const std::string out_dir = flags.str("out-dir");
  std::filesystem::create_directories(out_dir);
  const std::string run_name =
      flags.str("name").empty() ? scenario->name : flags.str("name");
  const std::string stem = out_dir + "/" + run_name;
  options.ids_path = stem + ".ids";

  const bool live = progress_mode == "auto" && isatty(STDERR_FILENO);
  const bool plain =
      progress_mode == "plain" || (progress_mode == "auto" && !live);
  const long every =
      static_cast<long>(flags.integer("progress-seconds", 1, 3600));
  const double planned = scenario->duration_seconds();
  std::ofstream series(stem + ".timeseries.jsonl", std::ios::trunc);
  std::fprintf(stderr, "chat-load: %s, %s model, %s planned, results in %s.*\n",
               scenario->name.c_str(),
               scenario->model == chat_load::Model::kOpen ? "open" : "closed",
               clock_text(planned).c_str(), stem.c_str());

  const auto progress = [&](const chat_load::Second& s,
                            const chat_load::RunResult& r) {
    series << chat_load::time_series_line(s).dump() << '\n';
    if (!live && !(plain && static_cast<long>(s.t) % every == 0)) return;
    const auto& w = s.window;
    const auto& t = r.total;
    char line[256];
    std::snprintf(
        line, sizeof line,
        "[%s] %s/%s  rate %.0f/s (target %.0f%s)  p95 %.2f ms  errors %llu "
        "(%.2f%%)  accepted %llu",
        scenario->name.c_str(), clock_text(s.t).c_str(),
        clock_text(planned).c_str(), static_cast<double>(w.requests), s.target,
        scenario->model == chat_load::Model::kOpen ? "/s" : " VUs",
        w.duration.percentile(95) / 1e6,
        static_cast<unsigned long long>(t.failed + t.dropped),
        t.requests ? 100.0 * static_cast<double>(t.failed) /
                         static_cast<double>(t.requests)
                   : 0.0,
        static_cast<unsigned long long>(t.accepted));
    if (live) {
      std::fprintf(stderr, "\r\033[K%s", line);
    } else {
      std::fprintf(stderr, "%s\n", line);
    }
  };

  chat_load::RunResult result;
  try {
    result = chat_load::run_load(options, progress);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nchat-load: %s\n", e.what());
    return 1;
  }
  if (live) std::fprintf(stderr, "\n");
  auto summary = chat_load::k6_summary(result, *scenario, options.ids_path);
  summary["chat_load"]["name"] = run_name;
  std::ofstream(stem + ".summary.json", std::ios::trunc)
      << summary.dump(2) << '\n';
  std::printf("%s", chat_load::text_summary(summary).c_str());
  std::printf("  summary: %s.summary.json\n", stem.c_str());
  return summary["chat_load"]["thresholds_passed"].get<bool>() ? 0 : 99;
}

#pragma once
// The load scenarios by name (the k6 scripts in bench/load/k6 mirror them)
// and k6-style threshold expressions ("p(95)<200", "rate<0.005").

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chat_load {

/// Open: requests start on a schedule at a target rate whatever the server
/// does (no coordinated omission). Closed: N virtual users, each sending
/// its next request once the last one answered and it has thought.
enum class Model { kOpen, kClosed };

/// Moves the load level linearly from the previous stage's level to `level`
/// over `seconds` (0 seconds: a step). Levels multiply the base rate/VUs.
struct Stage {
  double seconds = 0;
  double level = 1;
};

/// A k6 threshold: `expression` over the summary of `metric`.
struct Threshold {
  std::string metric;
  std::string expression;
};

/// Where a stress scenario stops: the first step whose p99 or error rate
/// breaks these (or whose achieved rate falls below the target).
struct BreakpointRule {
  double step_seconds = 15;
  double max_p99_ms = 25;
  double max_error_rate = 0.001;
  double min_achieved_ratio = 0.95;
};

struct Scenario {
  std::string name;
  Model model = Model::kOpen;
  double base_rate = 100;  // requests/s at level 1 (open model)
  int base_vus = 10;       // virtual users at level 1 (closed model)
  double think_seconds = 0;
  double start_level = 1;
  std::vector<Stage> stages;
  std::vector<Threshold> thresholds;
  bool file_upload = false;
  std::optional<BreakpointRule> breakpoint;  // stress only
  /// Memory of every watched process may grow at most this much after the
  /// first fifth of the run (soak).
  std::optional<double> max_memory_growth;

  double duration_seconds() const;
  double level_at(double seconds) const;
  /// Requests/s (open) or VUs (closed) wanted at `seconds` into the run.
  double target_at(double seconds) const;
};

struct Overrides {
  std::optional<double> duration_seconds;
  std::optional<double> rate;
  std::optional<int> vus;  // also switches to the closed model
  std::optional<double> think_seconds;
  std::optional<double> step_seconds;
};

/// warmup, baseline, spike, file-upload, stress, soak.
std::vector<std::string> scenario_names();
/// The named scenario with the overrides applied; nullopt (and `error`) for
/// an unknown name or a nonsensical override.
std::optional<Scenario> make_scenario(const std::string& name,
                                      const Overrides& overrides,
                                      std::string* error);

/// Whether `expression` ("p(95)<200", "rate==0", "avg<=5", "count>10")
/// holds over `stats` (keys as in k6's summary: "p(95)", "rate", "avg"...).
/// nullopt when malformed or when the statistic is missing.
std::optional<bool> threshold_holds(const std::string& expression,
                                    const std::map<std::string, double>& stats);

}  // namespace chat_load

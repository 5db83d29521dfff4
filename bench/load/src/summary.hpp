#pragma once
// chat-load's results in k6's shapes: the --summary-export JSON (so one
// analyzer reads both tools), the per-second time series, and the text
// summary printed at the end.

#include <nlohmann/json.hpp>
#include <string>

#include "driver.hpp"

namespace chat_load {

/// The k6 --summary-export document: metrics http_reqs, http_req_duration
/// (ms; avg, min, med, max, p(90), p(95), p(99)), http_req_failed,
/// iterations, dropped_iterations, checks, data_sent, data_received, vus;
/// root_group with the checks; each metric's thresholds as k6 writes them
/// (true = the threshold FAILED). chat-load's own details (scenario,
/// statuses, stress steps and breakpoint, process CPU/memory) go under
/// "chat_load".
nlohmann::json k6_summary(const RunResult& result, const Scenario& scenario,
                          const std::string& ids_path);

/// Whether every threshold in a summary passed (none failed or malformed).
bool thresholds_passed(const nlohmann::json& summary);

/// One JSON object per second of the run.
nlohmann::json time_series_line(const Second& second);

/// The end-of-run text, k6-like.
std::string text_summary(const nlohmann::json& summary);

}  // namespace chat_load

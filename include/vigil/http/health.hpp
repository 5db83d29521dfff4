#pragma once
// Health checks for /health, /health/live, /health/ready and
// /health/started: everything a service needs, one header per concept.
// Include this, or only the header you use.

#include "vigil/http/check_report.hpp"
#include "vigil/http/check_result.hpp"
#include "vigil/http/health_options.hpp"
#include "vigil/http/health_probe.hpp"
#include "vigil/http/health_registry.hpp"
#include "vigil/http/health_report.hpp"

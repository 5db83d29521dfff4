#pragma once
// Everything in the vigil::vigil target: include this or the single headers.

#include "vigil/buckets.hpp"
#include "vigil/circuit_breaker.hpp"
#include "vigil/counter.hpp"
#include "vigil/exposition.hpp"
#include "vigil/exposition_format.hpp"
#include "vigil/family.hpp"
#include "vigil/gauge.hpp"
#include "vigil/health_verdict.hpp"
#include "vigil/histogram.hpp"
#include "vigil/log.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/process_collector.hpp"
#include "vigil/registry.hpp"
#include "vigil/retry.hpp"
#include "vigil/version.hpp"

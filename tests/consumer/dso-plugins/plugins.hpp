#pragma once
// The functions the two plugin libraries export (see plugin.cpp).
#include <cstdint>

#include "vigil/counter.hpp"

extern "C" {
void plugin_a_inc(vigil::Counter* counter, std::uint64_t times);
void plugin_b_inc(vigil::Counter* counter, std::uint64_t times);
}

// What guarding a call with vigil::CircuitBreaker costs: a permit plus its
// outcome in CLOSED at 1 and 2 threads next to the same call unguarded, and
// the price of a rejection while OPEN. Numbers and the ratio table are in
// docs/results/micro-benchmarks.md ("Circuit breaker (issue 4)").
#include <benchmark/benchmark.h>

#include <chrono>
#include <vigil/circuit_breaker.hpp>
#include <vigil/registry.hpp>

namespace {

// The guarded "remote call": opaque to the optimiser, nearly free, so the
// difference between the runs is the breaker.
VIGIL_NOINLINE int remote_call(int x) {
  benchmark::DoNotOptimize(x);
  return x + 1;
}

vigil::Registry& registry() {
  static vigil::Registry r;
  return r;
}

vigil::CircuitBreaker& closed_breaker() {
  static vigil::CircuitBreaker breaker("bench_closed", registry());
  return breaker;
}

vigil::CircuitBreaker& timed_breaker() {
  static vigil::CircuitBreaker breaker("bench_timed", registry(), [] {
    vigil::CircuitBreakerOptions o;
    o.slow_call_duration = std::chrono::seconds(1);
    return o;
  }());
  return breaker;
}

vigil::CircuitBreaker& time_window_breaker() {
  static vigil::CircuitBreaker breaker("bench_time_window", registry(), [] {
    vigil::CircuitBreakerOptions o;
    o.window_type = vigil::SlidingWindowType::kTime;
    return o;
  }());
  return breaker;
}

vigil::CircuitBreaker& open_breaker() {
  static vigil::CircuitBreaker breaker("bench_open", registry(), [] {
    vigil::CircuitBreakerOptions o;
    o.open_wait = std::chrono::hours(1);
    o.max_open_wait = std::chrono::hours(1);
    return o;
  }());
  static const bool tripped = [] {
    for (int i = 0; i < 5; ++i) breaker.try_acquire().failure();
    return true;
  }();
  benchmark::DoNotOptimize(tripped);
  return breaker;
}

void BM_Unguarded(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) x = remote_call(x);
  benchmark::DoNotOptimize(x);
}

void guarded(benchmark::State& state, vigil::CircuitBreaker& breaker) {
  int x = 0;
  for (auto _ : state) {
    if (auto permit = breaker.try_acquire()) {
      x = remote_call(x);
      permit.success();
    }
  }
  benchmark::DoNotOptimize(x);
}

void BM_PermitSuccess_Closed(benchmark::State& state) {
  guarded(state, closed_breaker());
}
void BM_PermitSuccess_Closed_SlowCallTiming(benchmark::State& state) {
  guarded(state, timed_breaker());
}
void BM_PermitSuccess_Closed_TimeWindow(benchmark::State& state) {
  guarded(state, time_window_breaker());
}

void BM_Call_Closed(benchmark::State& state) {
  vigil::CircuitBreaker& breaker = closed_breaker();
  int x = 0;
  for (auto _ : state) x = breaker.call([&] { return remote_call(x); });
  benchmark::DoNotOptimize(x);
}

void BM_Rejected_Open(benchmark::State& state) {
  vigil::CircuitBreaker& breaker = open_breaker();
  int x = 0;
  for (auto _ : state) {
    if (auto permit = breaker.try_acquire()) x = remote_call(x);
  }
  benchmark::DoNotOptimize(x);
}

BENCHMARK(BM_Unguarded)->Threads(1)->Threads(2);
BENCHMARK(BM_PermitSuccess_Closed)->Threads(1)->Threads(2);
BENCHMARK(BM_Call_Closed)->Threads(1)->Threads(2);
BENCHMARK(BM_PermitSuccess_Closed_SlowCallTiming)->Threads(1)->Threads(2);
BENCHMARK(BM_PermitSuccess_Closed_TimeWindow)->Threads(1)->Threads(2);
BENCHMARK(BM_Rejected_Open)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();

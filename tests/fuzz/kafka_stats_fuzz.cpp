// librdkafka statistics come from a library we do not control: the JSON
// parser and the exporter behind it must survive any bytes, without crash,
// leak, sanitizer report or unbounded recursion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vigil/kafka/client_stats.hpp"
#include "vigil/kafka/json.hpp"
#include "vigil/registry.hpp"

namespace {

// Touches every value so the sanitizers see each string and vector read.
std::size_t walk(const vigil::kafka::JsonValue& v) {
  std::size_t n = 1 + v.string().size();
  for (const auto& item : v.items()) n += walk(item);
  for (const auto& member : v.members()) {
    n += member.key.size() + walk(member.value);
    if (v.find(member.key) == nullptr) __builtin_trap();  // a key must be found
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto doc = vigil::kafka::parse_json(text)) walk(*doc);
  // One exporter across inputs, as in a process that receives statistics
  // every interval: series come, go and come back. A small series limit
  // keeps memory flat as the fuzzer invents client and broker names, and
  // exercises the overflow series.
  static vigil::Registry registry([] {
    vigil::RegistryOptions options;
    options.max_series_per_family = 64;
    return options;
  }());
  static vigil::kafka::ClientStats stats(registry);
  stats.update(text);
  return 0;
}

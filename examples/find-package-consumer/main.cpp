// Counts three events and prints vigil's version and the exposition a scraper
// would read.
#include <cstdio>
#include <vigil/vigil.hpp>

int main() {
  std::printf("vigil %s\n", VIGIL_VERSION_STRING);
  vigil::Registry registry;
  auto events =
      registry.counter("consumer_events_total", "Events seen.").with({});
  for (int i = 0; i < 3; ++i) events.inc();
  std::fputs(registry.scrape().c_str(), stdout);
}

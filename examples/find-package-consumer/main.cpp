// Counts three events and prints the exposition a scraper would read.
#include <cstdio>
#include <vigil/vigil.hpp>

int main() {
  vigil::Registry registry;
  auto events =
      registry.counter("consumer_events_total", "Events seen.").with({});
  for (int i = 0; i < 3; ++i) events.inc();
  std::fputs(registry.scrape().c_str(), stdout);
}

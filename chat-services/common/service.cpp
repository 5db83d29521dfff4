#include "service.hpp"

#include <pthread.h>

namespace chat {

Signals::Signals(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int Signals::wait() const {
  int received = 0;
  sigwait(&set_, &received);
  return received;
}

}  // namespace chat

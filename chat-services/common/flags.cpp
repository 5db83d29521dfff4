#include "flags.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace chat {

Flags::Flags(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

Flags& Flags::add(const std::string& name, const std::string& env,
                  const std::string& default_value, const std::string& help) {
  if (!flags_.emplace(name, Flag{env, default_value, default_value, help})
           .second) {
    throw std::logic_error("flag declared twice: " + name);
  }
  order_.push_back(name);
  return *this;
}

void Flags::parse(int argc, const char* const* argv) {
  for (auto& [name, flag] : flags_) {
    if (flag.env.empty()) continue;
    if (const char* from_env = std::getenv(flag.env.c_str())) {
      flag.value = from_env;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage().c_str(), stdout);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) fail("unexpected argument '" + arg + "'");
    std::string value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto it = flags_.find(arg.substr(2));
    if (it == flags_.end()) fail("unknown flag '" + arg + "'");
    if (eq == std::string::npos) {
      if (i + 1 >= argc) fail("flag '" + arg + "' needs a value");
      value = argv[++i];
    }
    it->second.value = value;
  }
}

const std::string& Flags::str(const std::string& name) const {
  const auto it = flags_.find(name);
  if (it == flags_.end()) throw std::logic_error("undeclared flag: " + name);
  return it->second.value;
}

std::int64_t Flags::integer(const std::string& name, std::int64_t min,
                            std::int64_t max) const {
  const std::string& text = str(name);
  std::int64_t value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    fail("--" + name + " must be an integer in [" + std::to_string(min) + ", " +
         std::to_string(max) + "], got '" + text + "'");
  }
  return value;
}

std::string Flags::usage() const {
  std::string out =
      "usage: " + program_ + " [flags]\n\n" + summary_ + "\n\nflags:\n";
  for (const auto& name : order_) {
    const Flag& flag = flags_.at(name);
    out += "  --" + name + " VALUE\n      " + flag.help;
    out += " (default: " + (flag.default_value.empty()
                                ? std::string("none")
                                : "'" + flag.default_value + "'");
    if (!flag.env.empty()) out += "; env " + flag.env;
    out += ")\n";
  }
  out += "  --help\n      print this and exit\n";
  return out;
}

void Flags::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(),
               message.c_str());
  std::exit(2);
}

}  // namespace chat

#pragma once
// Command-line flags with environment fallbacks and --help, the same for
// every chat binary: a flag beats its environment variable, which beats the
// default.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chat {

class Flags {
 public:
  Flags(std::string program, std::string summary);

  /// Declares `--name VALUE` with environment variable `env` (may be empty).
  Flags& add(const std::string& name, const std::string& env,
             const std::string& default_value, const std::string& help);

  /// Parses argv. Prints usage and exits 0 on --help; prints the problem and
  /// exits 2 on an unknown flag or a missing value.
  void parse(int argc, const char* const* argv);

  const std::string& str(const std::string& name) const;
  /// The flag as an integer in [min, max]; exits 2 with a clear message
  /// otherwise.
  std::int64_t integer(const std::string& name, std::int64_t min,
                       std::int64_t max) const;

  std::string usage() const;

 private:
  struct Flag {
    std::string env;
    std::string value;
    std::string default_value;
    std::string help;
  };
  [[noreturn]] void fail(const std::string& message) const;

  std::string program_;
  std::string summary_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
};

}  // namespace chat

// version.hpp spells the inline namespace (v<major>_<minor>) separately from
// VIGIL_VERSION_MAJOR/MINOR. If the two drift apart, two vigil versions could
// share a namespace and mix silently; this stops compiling instead.
#include <type_traits>
#include <vigil/vigil.hpp>

#define VIGIL_TEST_CONCAT(a, b, c) VIGIL_TEST_CONCAT_(a, b, c)
#define VIGIL_TEST_CONCAT_(a, b, c) v##a##_##b##c
namespace expected =
    vigil::VIGIL_TEST_CONCAT(VIGIL_VERSION_MAJOR, VIGIL_VERSION_MINOR, );

static_assert(std::is_same_v<vigil::Registry, expected::Registry>,
              "vigil's inline namespace does not match its version macros");

int main() {}

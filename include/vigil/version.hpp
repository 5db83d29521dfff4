#pragma once

/// vigil's version. The ABI namespace below carries major and minor, so two
/// different vigil versions linked into one program fail to link instead of
/// silently violating the one-definition rule.
#define VIGIL_VERSION_MAJOR 0
#define VIGIL_VERSION_MINOR 1
#define VIGIL_VERSION_PATCH 0
#define VIGIL_VERSION_STRING "0.1.0"

#define VIGIL_NAMESPACE_BEGIN \
  namespace vigil {           \
  inline namespace v0_1 {
#define VIGIL_NAMESPACE_END \
  }                         \
  }

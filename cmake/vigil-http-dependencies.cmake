# Loaded by vigilConfig.cmake before vigil-http-targets.cmake when a consumer
# asks for the `http` component.
include(CMakeFindDependencyMacro)
find_dependency(Boost 1.74)
find_dependency(ZLIB)

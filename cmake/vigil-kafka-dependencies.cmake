# Loaded by vigilConfig.cmake before vigil-kafka-targets.cmake when a consumer
# asks for the `kafka` component: recreates the librdkafka target that the
# exported vigil::kafka links. Debian's librdkafka-dev ships pkg-config files
# only, no CMake package, hence pkg-config rather than find_dependency.
if(NOT TARGET PkgConfig::VIGIL_RDKAFKA)
  include(CMakeFindDependencyMacro)
  find_dependency(PkgConfig)
  pkg_check_modules(VIGIL_RDKAFKA QUIET IMPORTED_TARGET rdkafka++ rdkafka)
  if(NOT VIGIL_RDKAFKA_FOUND)
    # The same protocol as find_dependency, so vigilConfig.cmake handles it.
    set(vigil_NOT_FOUND_MESSAGE
        "vigil component 'kafka' needs librdkafka (pkg-config modules rdkafka++ and rdkafka; Debian: librdkafka-dev)")
    set(vigil_FOUND FALSE)
    return()
  endif()
endif()

# Loaded by vigilConfig.cmake before vigil-kafka-targets.cmake when a consumer
# asks for the `kafka` component: recreates the librdkafka target that the
# exported vigil::kafka links.
if(NOT TARGET PkgConfig::VIGIL_RDKAFKA)
  include(CMakeFindDependencyMacro)
  find_dependency(PkgConfig)
  pkg_check_modules(VIGIL_RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++ rdkafka)
endif()

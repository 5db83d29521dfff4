# vigil::kafka — the consumer-lag probe and librdkafka statistics exporter.
# Header-only on librdkafka (C and C++ APIs) from Debian's librdkafka-dev,
# found through pkg-config.
find_package(PkgConfig REQUIRED)
# GLOBAL so a parent project that add_subdirectory()s vigil can link
# vigil::kafka from its own directories.
pkg_check_modules(VIGIL_RDKAFKA REQUIRED IMPORTED_TARGET GLOBAL rdkafka++
                  rdkafka)

add_library(vigil_kafka INTERFACE)
add_library(vigil::kafka ALIAS vigil_kafka)
target_link_libraries(vigil_kafka INTERFACE vigil::vigil
                                            PkgConfig::VIGIL_RDKAFKA)
set_target_properties(vigil_kafka PROPERTIES EXPORT_NAME kafka)

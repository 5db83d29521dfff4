include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(VIGIL_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/vigil)

install(DIRECTORY include/vigil DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vigil EXPORT vigil-core-targets)
install(EXPORT vigil-core-targets NAMESPACE vigil::
        FILE vigil-core-targets.cmake DESTINATION ${VIGIL_CMAKE_DIR})

# Component `http`: find_package(vigil COMPONENTS http) loads it.
install(TARGETS vigil_http EXPORT vigil-http-targets)
install(EXPORT vigil-http-targets NAMESPACE vigil::
        FILE vigil-http-targets.cmake DESTINATION ${VIGIL_CMAKE_DIR})
install(FILES cmake/vigil-http-dependencies.cmake
        DESTINATION ${VIGIL_CMAKE_DIR})

# Component `kafka`: find_package(vigil COMPONENTS kafka) loads it.
install(TARGETS vigil_kafka EXPORT vigil-kafka-targets)
install(EXPORT vigil-kafka-targets NAMESPACE vigil::
        FILE vigil-kafka-targets.cmake DESTINATION ${VIGIL_CMAKE_DIR})
install(FILES cmake/vigil-kafka-dependencies.cmake
        DESTINATION ${VIGIL_CMAKE_DIR})

configure_package_config_file(
  cmake/vigilConfig.cmake.in ${PROJECT_BINARY_DIR}/vigilConfig.cmake
  INSTALL_DESTINATION ${VIGIL_CMAKE_DIR})
# Header-only: ARCH_INDEPENDENT so a 32-bit consumer is not refused.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/vigilConfigVersion.cmake
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/vigilConfig.cmake
              ${PROJECT_BINARY_DIR}/vigilConfigVersion.cmake
        DESTINATION ${VIGIL_CMAKE_DIR})

include(GNUInstallDirs)

# vigil is header-only: its targets are INTERFACE libraries carrying include
# paths, the C++17 requirement and the dependencies each component needs.
add_library(vigil INTERFACE)
add_library(vigil::vigil ALIAS vigil)
target_include_directories(
  vigil INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(vigil INTERFACE cxx_std_17)
target_link_libraries(vigil INTERFACE prometheus-cpp::core fmt::fmt
                                      Threads::Threads)
set_target_properties(vigil PROPERTIES EXPORT_NAME vigil)
if(VIGIL_DISABLE_METRICS)
  target_compile_definitions(vigil INTERFACE VIGIL_DISABLE_METRICS)
endif()

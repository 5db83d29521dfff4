# vigil::http — the embedded endpoint (/metrics, health probes) and HTTP
# server instrumentation. Header-only on Boost.Beast/Asio and zlib, both from
# Debian (libboost-dev, zlib1g-dev).
find_package(Boost 1.74 REQUIRED)
find_package(ZLIB REQUIRED)

add_library(vigil_http INTERFACE)
add_library(vigil::http ALIAS vigil_http)
target_link_libraries(vigil_http INTERFACE vigil::vigil Boost::headers
                                           ZLIB::ZLIB)
set_target_properties(vigil_http PROPERTIES EXPORT_NAME http)

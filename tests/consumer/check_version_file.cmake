# Evaluates an installed vigilConfigVersion.cmake as find_package(vigil
# <VERSION>) would, for a consumer whose sizeof(void*) is POINTER_SIZE, and
# fails unless it accepts. A whole find_package cannot show this: vigil's
# dependencies (prometheus-cpp, civetweb) are architecture-specific and
# refuse such a consumer first.
#   cmake -DVERSION_FILE=... -DVERSION=0.1 -DPOINTER_SIZE=4 -P check_version_file.cmake
# The policies of a consumer project (CMP0012: if() knows TRUE).
cmake_minimum_required(VERSION 3.21)
set(PACKAGE_FIND_NAME vigil)
set(PACKAGE_FIND_VERSION ${VERSION})
string(REPLACE "." ";" parts "${VERSION}")
list(LENGTH parts PACKAGE_FIND_VERSION_COUNT)
list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
set(CMAKE_SIZEOF_VOID_P ${POINTER_SIZE})
include(${VERSION_FILE})
if(PACKAGE_VERSION_UNSUITABLE OR NOT PACKAGE_VERSION_COMPATIBLE)
  message(FATAL_ERROR
          "vigil ${PACKAGE_VERSION} refused a consumer asking for ${VERSION} "
          "with sizeof(void*) == ${POINTER_SIZE}")
endif()
message(STATUS "vigil ${PACKAGE_VERSION} accepts a consumer asking for "
               "${VERSION} with sizeof(void*) == ${POINTER_SIZE}")

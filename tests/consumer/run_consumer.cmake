# Plays one consumer of vigil: cmake -P run_consumer.cmake with
#   MODE=install           installs VIGIL_BUILD_DIR into PREFIX (emptied first,
#                          so files from an older layout cannot mask a bug).
#   MODE=find_package      configures CONSUMER_DIR against PREFIX.
#   MODE=add_subdirectory  configures CONSUMER_DIR, which pulls in
#                          VIGIL_SOURCE_DIR itself.
# and, for the consumer modes:
#   CONSUMER_ARGS          extra -D arguments, separated by '|'.
#   EXPECT_ERROR=<regex>   configuring must fail with this in its output.
#   EXPECT_OUTPUT=<regex>  otherwise build, run ./consumer and match its output.
#   BUILD=ON               (without EXPECT_OUTPUT) build, run nothing.
#   (none of these)        configuring must succeed; nothing is built.
# WORK_DIR holds the consumer's build tree.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${VIGIL_BUILD_DIR} --prefix ${PREFIX})
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
string(REPLACE "|" ";" args "${CONSUMER_ARGS}")
if(MODE STREQUAL "find_package")
  # Only the test prefix: no package registry, no vigil from elsewhere.
  list(APPEND args -DCMAKE_PREFIX_PATH=${PREFIX}
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND args -DVIGIL_SOURCE_DIR=${VIGIL_SOURCE_DIR})
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
set(configure ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_BUILD_TYPE=Release ${args})

if(DEFINED EXPECT_ERROR)
  execute_process(COMMAND ${configure} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "configuring succeeded but had to fail:\n${out}")
  endif()
  # CMake wraps long messages: compare with the line breaks taken out.
  string(REGEX REPLACE "[ \n]+" " " flat "${out} ${err}")
  if(NOT flat MATCHES "${EXPECT_ERROR}")
    message(FATAL_ERROR
            "configuring failed, but not with '${EXPECT_ERROR}':\n${err}")
  endif()
  message(STATUS "refused as expected:\n${err}")
  return()
endif()

run(${configure})
if(NOT DEFINED EXPECT_OUTPUT AND NOT BUILD)
  return()
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
if(NOT DEFINED EXPECT_OUTPUT)
  return()
endif()
run(${WORK_DIR}/build/consumer)
message(STATUS "consumer output:\n${last_output}")
if(NOT last_output MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "consumer output does not match '${EXPECT_OUTPUT}'")
endif()

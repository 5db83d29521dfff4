# Configures, builds and runs a consumer project of vigil.
#   MODE=find_package:    installs VIGIL_BUILD_DIR into a fresh prefix first.
#   MODE=add_subdirectory: the consumer pulls in VIGIL_SOURCE_DIR itself.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(args)
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${VIGIL_BUILD_DIR} --prefix ${WORK_DIR}/prefix)
  list(APPEND args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND args -DVIGIL_SOURCE_DIR=${VIGIL_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_BUILD_TYPE=Release ${args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
message(STATUS "consumer output:\n${last_output}")
if(NOT last_output MATCHES "consumer_events_total 3")
  message(FATAL_ERROR "consumer did not print the expected exposition")
endif()

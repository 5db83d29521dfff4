# promtool must accept every scrape the golden tests, the exposition
# sample and five random registries of exposition_property_test.cpp (seeds
# chosen for their size; none has a NUL byte, which CMake strings cannot
# hold) produce, in both formats:
# - text 0.0.4 through `promtool check metrics` (a parse error fails; lint
#   remarks such as "no help text" are printed but allowed);
# - OpenMetrics through `promtool tsdb create-blocks-from openmetrics`, which
#   parses strictly and imports every sample (the sample program adds the
#   timestamps the importer requires); then `promtool tsdb dump` must show
#   as many samples as the input has, so nothing was dropped or merged.
# Inputs: SAMPLE (vigil_exposition_sample), PROMTOOL, WORK (scratch dir).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run_sample out_var format which)
  execute_process(COMMAND ${SAMPLE} ${format} ${which} ${ARGN}
                  OUTPUT_VARIABLE body RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "exposition sample ${format} ${which} failed: ${rc}")
  endif()
  set(${out_var} "${body}" PARENT_SCOPE)
endfunction()

foreach(which sample golden foreign random25 random5 random28 random3 random21)
  # Text format.
  run_sample(body text ${which})
  set(prom ${WORK}/${which}.prom)
  file(WRITE ${prom} "${body}")
  execute_process(COMMAND ${PROMTOOL} check metrics INPUT_FILE ${prom}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  # 0: clean; 3: lint remarks only. Anything else is a parse failure.
  if(NOT (rc EQUAL 0 OR rc EQUAL 3) OR "${out}${err}" MATCHES "error")
    message(FATAL_ERROR "promtool check metrics rejected ${which} (${rc}): "
                        "${out}${err}\n${body}")
  endif()
  message(STATUS "promtool check metrics ${which}: ok ${out}${err}")

  # OpenMetrics.
  run_sample(body openmetrics ${which} timestamps)
  set(om ${WORK}/${which}.om)
  file(WRITE ${om} "${body}")
  string(REGEX MATCHALL "(^|\n)[^#\n][^\n]*" samples "${body}")
  list(LENGTH samples expected)
  set(blocks ${WORK}/${which}-blocks)
  execute_process(
    COMMAND ${PROMTOOL} tsdb create-blocks-from openmetrics ${om} ${blocks}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "promtool rejected the OpenMetrics ${which} (${rc}): "
                        "${out}${err}\n${body}")
  endif()
  file(MAKE_DIRECTORY ${blocks}/wal)  # dump opens the blocks as a TSDB
  execute_process(COMMAND ${PROMTOOL} tsdb dump ${blocks}
                  OUTPUT_VARIABLE dump ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "promtool tsdb dump ${which} failed (${rc}): ${err}")
  endif()
  string(REGEX MATCHALL "(^|\n){[^\n]*" imported "${dump}")
  list(LENGTH imported got)
  if(NOT got EQUAL expected)
    message(FATAL_ERROR "promtool imported ${got} of the ${expected} "
                        "OpenMetrics samples of ${which}:\n${body}\n${dump}")
  endif()
  message(STATUS "promtool imported all ${got} OpenMetrics samples of ${which}")
endforeach()

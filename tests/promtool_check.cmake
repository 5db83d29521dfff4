# Runs the exposition sample in both formats and has promtool lint the text
# format (promtool reads the 0.0.4 text format only).
execute_process(COMMAND ${SAMPLE} text OUTPUT_VARIABLE body RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exposition sample failed: ${rc}")
endif()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/sample.prom "${body}")
execute_process(COMMAND ${PROMTOOL} check metrics
                INPUT_FILE ${CMAKE_CURRENT_BINARY_DIR}/sample.prom
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message(STATUS "promtool: ${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "promtool check metrics rejected the exposition:\n${body}")
endif()

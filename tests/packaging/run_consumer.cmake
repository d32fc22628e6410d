# cmake -P run_consumer.cmake: configure, build and run the consumer project for one way of consuming ebm.
# Inputs: MODE, EBM_SOURCE_DIR, EBM_BINARY_DIR, WORK_DIR, PREFIX_PATH.
file(REMOVE_RECURSE ${WORK_DIR})
set(extra "")
if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${EBM_BINARY_DIR} --prefix ${WORK_DIR}/prefix
                  RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installing ebm failed (${rc})")
  endif()
  set(extra "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix;${PREFIX_PATH}")
elseif(PREFIX_PATH)
  set(extra "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer -B ${WORK_DIR}/build
                        -DCMAKE_BUILD_TYPE=Release -DEBM_CONSUME=${MODE} -DEBM_SOURCE_DIR=${EBM_SOURCE_DIR} ${extra}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the ${MODE} consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the ${MODE} consumer failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the ${MODE} consumer failed (${rc})")
endif()

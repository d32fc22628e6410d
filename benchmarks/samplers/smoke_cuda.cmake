# bench_samplers --device cuda at small size on the targets with device energies; reported as skipped without a GPU.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${PROGRAM} --quick --device cuda --targets gauss2,gauss100,funnel10,banana2,gmm,mlp --output ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0 AND "${out}${err}" MATCHES "no CUDA device is available")
  message("SKIPPED: no CUDA device")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_samplers --device cuda failed (${rc})")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/check_results.cmake)
check_results(${OUT}/results.csv 31 cuda)  # header + 6 targets x 5 samplers

# bench_samplers at small size on every CPU target but convnet, with every sampler; checks the outputs.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${PROGRAM} --quick --output ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_samplers failed (${rc})")
endif()
foreach(f results.csv results.md runs.json ess_per_second.png init_gauss2_16.npy init_gauss100_16.npy init_funnel10_16.npy
          init_banana2_16.npy init_gmm_16.npy init_mlp_16.npy)
  if(NOT EXISTS ${OUT}/${f})
    message(FATAL_ERROR "bench_samplers did not write ${f}")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/check_results.cmake)
check_results(${OUT}/results.csv 31 cpu)  # header + 6 targets x 5 samplers

# cmake -DPROGRAM=<moment_matching> -DOUT=<folder> -P smoke.cmake
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION)
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${PROGRAM} --iterations 100 --image-size 8 --evaluate-every 50 --draws 500 --batch 50 --steps 20
                        --quiet --output ${OUT}/run
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "moment_matching failed (${rc}):\n${out}${err}")
endif()
foreach(f gap.csv moment_gap.png samples.png metrics.json)
  if(NOT EXISTS ${OUT}/run/${f})
    message(FATAL_ERROR "moment_matching did not write ${f}")
  endif()
endforeach()
# Three measurements (iterations 0, 50, 100) under the header.
file(STRINGS ${OUT}/run/gap.csv rows)
list(LENGTH rows n)
if(NOT n EQUAL 4)
  message(FATAL_ERROR "gap.csv has ${n} lines, expected 4")
endif()
# 100 iterations are far from the fixed point, but the learned chain must already be much closer to the data's
# feature means than the untrained one.
file(READ ${OUT}/run/metrics.json j)
string(JSON learned GET "${j}" averaged_last_half max_abs_z)
string(JSON untrained GET "${j}" controls untrained max_abs_z)
if(NOT learned LESS untrained)
  message(FATAL_ERROR "learned gap ${learned} is not below the untrained chain's ${untrained}")
endif()
message(STATUS "max |z|: learned ${learned}, untrained ${untrained}")

# Bad input is refused with a clear message.
execute_process(COMMAND ${PROGRAM} --image-size 12 --output ${OUT}/bad RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "image-size")
  message(FATAL_ERROR "--image-size 12 was not refused (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${PROGRAM} --draws 20000 --output ${OUT}/bad RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "draws")
  message(FATAL_ERROR "--draws 20000 was not refused (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${PROGRAM} --learning-rate 0.001 --final-learning-rate 0.01 --output ${OUT}/bad
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "final-learning-rate")
  message(FATAL_ERROR "--final-learning-rate above --learning-rate was not refused (${rc}):\n${out}${err}")
endif()

# The convnet target at small size: a tiny train_images run (the Fashion-MNIST demo's configuration with a 16-feature
# net (narrower ones take oneDNN's slow reference kernels), 2 iterations), then a short bench_samplers run on its
# checkpoint with every sampler.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${TRAIN} --config ${CONFIG} --output ${OUT}/run --threads 2 --set data.limit=128
                        --set model.features=16 --set sampler.steps=3 --set training.batch_size=16
                        --set training.iterations=2 --set output.checkpoint_every=2 --set output.image_every=2
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train_images failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${PROGRAM} --targets convnet --convnet-run ${OUT}/run --chains 16 --warmup 10 --draws 8
                        --thin 1 --output ${OUT}/bench
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_samplers --targets convnet failed (${rc})")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/check_results.cmake)
check_results(${OUT}/bench/results.csv 6 cpu)  # header + 5 samplers

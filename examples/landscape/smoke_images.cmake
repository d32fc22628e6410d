# landscape --run end to end at small size (cmake -P): a tiny model trained for 2 iterations, mapped from 4 data
# images. Skipped (ctest: Skipped) without dataset-fashion-mnist.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${TRAIN} --preset short_run --set data.limit=32 --set model.features=4
                        --set sampler.steps=2 --set training.batch_size=8 --set training.iterations=2
                        --output ${OUT}/run
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train_images failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${LANDSCAPE} --run ${OUT}/run --images 4 --descent-steps 20000 --attraction-steps 20
                        --merge-alpha 10 --barrier-alpha 100 --output ${OUT}/landscape
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "landscape --run failed (${rc}):\n${out}${err}")
endif()
foreach(f landscape.json basins.png basins.npy disconnectivity.png)
  if(NOT EXISTS ${OUT}/landscape/${f})
    message(FATAL_ERROR "landscape --run did not write ${f}:\n${err}")
  endif()
endforeach()
file(READ ${OUT}/landscape/landscape.json doc)
string(JSON basins LENGTH "${doc}" basins)
string(JSON minima GET "${doc}" minima_found)
string(JSON temperature GET "${doc}" training_temperature)
if(basins LESS 1 OR basins GREATER minima)
  message(FATAL_ERROR "landscape --run: ${basins} basins from ${minima} minima")
endif()
message(STATUS "landscape --run smoke: ${basins} basins from ${minima} minima, E = U / ${temperature}")

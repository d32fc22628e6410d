# cmake -DTRAIN=<train_images> -DSAMPLE=<sample_images> -DSCORE=<score_images> -DCONFIG=<fashion_mnist_demo.json>
#       -DOUT=<folder> -P demo_smoke.cmake
# The Fashion-MNIST demonstration (scripts/fashion_mnist_demo.sh) in miniature: its configuration file with a tiny
# network, data set and iteration count; then short-run sampling and the score against the test split.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc}\n${out}${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${TRAIN} --config ${CONFIG} --output ${OUT}/run --threads 2 --set data.limit=128 --set model.features=4
    --set sampler.steps=3 --set training.batch_size=16 --set training.iterations=4 --set output.image_every=2
    --set output.checkpoint_every=2 --set output.grid_images=16)
foreach(f diagnostics.csv diagnostics.png samples/negatives-000000004.png checkpoint-000000000004.safetensors)
  if(NOT EXISTS ${OUT}/run/${f})
    message(FATAL_ERROR "the demo run did not write ${f}")
  endif()
endforeach()
run(${SAMPLE} --run ${OUT}/run --chains 64 --grid 16 --seed 2024 --output ${OUT}/samples --threads 2)
run(${SCORE} --samples ${OUT}/samples/short_run.npy --json ${OUT}/score.json --threads 2)
file(READ ${OUT}/score.json score)
string(JSON fd GET "${score}" fd)
string(JSON images GET "${score}" images)
if(NOT images EQUAL 64 OR NOT fd GREATER 0)
  message(FATAL_ERROR "unexpected score: ${score}")
endif()
message(STATUS "demo smoke: FD ${fd} of 64 samples after 4 tiny iterations")

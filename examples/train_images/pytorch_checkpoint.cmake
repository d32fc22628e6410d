# cmake -DTRAIN=<train_images> -DEVALUATE=<evaluate_energy> -DPYTHON=<python3> -DSCRIPT=<torch_checkpoint.py>
#       -DOUT=<folder> -P pytorch_checkpoint.cmake
# A checkpoint written by train_images loads into the equivalent PyTorch module (load_state_dict, strict) and gives
# the same energies as ebm; weights PyTorch saves load back into ebm with the same energies. Skipped (77) without
# dataset-fashion-mnist or torch.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
execute_process(COMMAND ${PYTHON} -c "import torch, numpy" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(STATUS "SKIPPED: ${PYTHON} cannot import torch")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc}\n${out}${err}")
  endif()
endfunction()

run(${TRAIN} --preset short_run --set data.limit=64 --set model.features=4 --set sampler.steps=3
    --set training.batch_size=8 --set training.iterations=2 --set output.image_every=0 --output ${OUT}/run)
set(checkpoint ${OUT}/run/checkpoint-000000000002.safetensors)
run(${PYTHON} ${SCRIPT} load --checkpoint ${checkpoint} --dir ${OUT})
set(net --arch short_run --image-size 32 --n-f 4 --channels 1 --input ${OUT}/x.npy)
run(${EVALUATE} ${net} --weights ${checkpoint} --energies ${OUT}/u_ebm_checkpoint.npy)
run(${EVALUATE} ${net} --weights ${OUT}/torch_weights.safetensors --energies ${OUT}/u_ebm_torch.npy)
run(${PYTHON} ${SCRIPT} compare --dir ${OUT})

# cmake -DTRAIN=<train_images> -DSAMPLE=<sample_images> -DEVALUATE=<evaluate_energy> -DPYTHON=<python3>
#       -DSCRIPT=<torch_network.py> -DCONFIG=<fashion_mnist_network.json> -DOUT=<folder> -P network_smoke.cmake
# model.architecture network end to end on the CPU: the configuration file's JSON network trains, checkpoints,
# resumes bit-identically and samples; the checkpoint's stored description evaluates with evaluate_energy and, when
# torch imports, the checkpoint loads into the nn.Sequential the description transcribes (load_state_dict(strict=True)
# of its "energy." tensors) with the same energies. Bad descriptions fail before any work.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
set(common --config ${CONFIG} --threads 2 --set data.limit=64 --set sampler.steps=3 --set training.batch_size=8
    --set output.checkpoint_every=2 --set output.image_every=2 --set output.grid_images=4)

function(run expect_rc)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "${ARGN}: exit ${rc}, expected ${expect_rc}\n${out}${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()
function(expect_message text)
  string(FIND "${last_output}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected '${text}' in: ${last_output}")
  endif()
endfunction()

# 4 iterations straight versus 2 + --resume to 4: byte-identical final checkpoints (the same folder name, which is
# part of the stored configuration).
run(0 ${TRAIN} ${common} --set training.iterations=4 --output ${OUT}/run)
file(RENAME ${OUT}/run ${OUT}/straight)
run(0 ${TRAIN} ${common} --set training.iterations=2 --output ${OUT}/run)
run(0 ${TRAIN} --resume --set training.iterations=4 --output ${OUT}/run)
expect_message("resumed from")
set(checkpoint ${OUT}/run/checkpoint-000000000004.safetensors)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/straight/checkpoint-000000000004.safetensors
                        ${checkpoint} RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "resumed run's final checkpoint differs from the uninterrupted run's")
endif()
foreach(f diagnostics.csv config.json samples/negatives-000000004.png)
  if(NOT EXISTS ${OUT}/run/${f})
    message(FATAL_ERROR "missing ${f}")
  endif()
endforeach()

# The stored configuration holds the description itself, not the file's name.
file(READ ${OUT}/run/config.json config)
string(JSON type TYPE "${config}" model network)
if(NOT type STREQUAL "OBJECT")
  message(FATAL_ERROR "config.json's model.network is ${type}, expected the description inline")
endif()
string(JSON network GET "${config}" model network)
file(WRITE ${OUT}/network.json "${network}")

run(0 ${SAMPLE} --run ${OUT}/run --chains 8 --grid 4 --steps 3 --seed 7 --output ${OUT}/samples --threads 2)
set(x ${OUT}/samples/short_run.npy)
# evaluate_energy reads the checkpoint's energy ("energy." tensors).
run(0 ${EVALUATE} --arch ${OUT}/network.json --weights ${checkpoint} --input ${x} --energies ${OUT}/u_ebm.npy
    --gradients ${OUT}/g_ebm.npy)

# Bad input fails before any work: a network for other images, a bad description, a missing file, another
# architecture.
run(1 ${TRAIN} ${common} --set data.image_size=28 --output ${OUT}/bad)
expect_message("model.network's input must be the data's shape [data.channels, data.image_size, data.image_size] = [1, 28, 28] (got '[1, 32, 32]')")
run(1 ${TRAIN} ${common} --set "model.network={\"input\": [1, 32, 32], \"layers\": [{\"type\": \"Dense\"}]}"
    --output ${OUT}/bad)
expect_message("unknown layer type 'Dense'")
run(1 ${TRAIN} ${common} --set model.network=${OUT}/absent.json --output ${OUT}/bad)
expect_message("${OUT}/absent.json")
run(1 ${TRAIN} ${common} --set model.architecture=convnet --output ${OUT}/bad)
expect_message("model.network applies to model.architecture network only")
if(EXISTS ${OUT}/bad)
  message(FATAL_ERROR "a failed run left an output folder")
endif()

execute_process(COMMAND ${PYTHON} -c "import torch, numpy" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(STATUS "SKIPPED: ${PYTHON} cannot import torch (the rest passed)")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
run(0 ${PYTHON} ${SCRIPT} energies --arch ${OUT}/network.json --weights ${checkpoint} --input ${x}
    --out ${OUT}/u_torch.npy)
run(0 ${PYTHON} -c "
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape == (8,), (a.shape, b.shape)
err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)
print('ebm', a, '\\ntorch', b, '\\nrelative error', err)
sys.exit(0 if err <= 1e-4 else 1)
" ${OUT}/u_ebm.npy ${OUT}/u_torch.npy)
message(STATUS "${last_output}")
message(STATUS "train_images network smoke: trained, resumed bit-identically, sampled; PyTorch agrees")

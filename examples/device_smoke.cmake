# cmake -DTOY2D=.. -DLANDSCAPE=.. -DTRAIN=.. -DSAMPLE=.. -DEVALUATE=.. -DGENERATE=.. -DOUT=<folder> -DCUDA_BUILT=ON|OFF
#       -DNETWORK_CONFIG=<fashion_mnist_network.json> -DNETWORK_JSON=<small_network.json> [-DPYTHON=<python3>]
#       -P device_smoke.cmake
# Every program's --device cuda: on a GPU, each runs and writes the same files as its --device cpu run, and a
# checkpoint trained on the GPU resumes on the CPU. Without a GPU the programs must say so ("no CUDA device is
# available"; the test is then reported as skipped); in a build without the CUDA backend they must say that.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})

function(run expect_ok)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(text "${out}${err}")
  if(NOT CUDA_BUILT)
    if(rc EQUAL 0 OR NOT text MATCHES "needs the CUDA backend, and this build has none")
      message(FATAL_ERROR "a build without the CUDA backend did not refuse --device cuda clearly (${rc}):\n${text}")
    endif()
    set(outcome "refused" PARENT_SCOPE)
    return()
  endif()
  if(text MATCHES "no CUDA device is available")
    message("SKIPPED: no CUDA device (${text})")
    set(outcome "no_gpu" PARENT_SCOPE)
    return()
  endif()
  if(expect_ok AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc}\n${text}")
  endif()
  message(STATUS "${out}")
  set(outcome "ran" PARENT_SCOPE)
endfunction()

function(same_files a b)
  file(GLOB_RECURSE fa RELATIVE ${a} ${a}/*)
  file(GLOB_RECURSE fb RELATIVE ${b} ${b}/*)
  list(SORT fa)
  list(SORT fb)
  if(NOT fa STREQUAL fb)
    message(FATAL_ERROR "--device cuda wrote other files than --device cpu:\n cpu: ${fa}\n cuda: ${fb}")
  endif()
endfunction()

# toy2d
set(toy_args --iterations 3 --kde-samples 200 --resolution 32 --quiet)
run(TRUE ${TOY2D} ${toy_args} --device cuda --output ${OUT}/toy_cuda)
if(NOT outcome STREQUAL "ran")
  message(STATUS "toy2d --device cuda: ${outcome}")
  if(outcome STREQUAL "no_gpu")
    return()
  endif()
else()
  run(TRUE ${TOY2D} ${toy_args} --device cpu --output ${OUT}/toy_cpu)
  same_files(${OUT}/toy_cpu ${OUT}/toy_cuda)
  file(READ ${OUT}/toy_cuda/metrics.json metrics)
  if(NOT metrics MATCHES "\"device\": \"cuda\"")
    message(FATAL_ERROR "toy2d metrics.json does not record the device")
  endif()
endif()

# landscape: the learned toy trained and mapped on the GPU (ADELM's descent and chains on the device)
set(landscape_args --energy learned-gmm --iterations 3 --starts 4 --quiet)
run(TRUE ${LANDSCAPE} ${landscape_args} --device cuda --output ${OUT}/landscape_cuda)
if(outcome STREQUAL "ran")
  run(TRUE ${LANDSCAPE} ${landscape_args} --device cpu --output ${OUT}/landscape_cpu)
  same_files(${OUT}/landscape_cpu ${OUT}/landscape_cuda)
endif()

if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "dataset-fashion-mnist not installed: the image programs are not run")
  return()
endif()
# train_images: a tiny short-run model on the GPU, then resumed on the CPU (checkpoints move between devices).
set(train_args --preset short_run --set data.limit=64 --set model.features=4 --set sampler.steps=3
               --set training.batch_size=8 --set output.image_every=2 --threads 2)
run(TRUE ${TRAIN} ${train_args} --set training.iterations=2 --device cuda --output ${OUT}/train)
if(outcome STREQUAL "ran")
  run(TRUE ${TRAIN} --resume --set training.iterations=4 --device cpu --threads 2 --output ${OUT}/train)
  foreach(f config.json diagnostics.csv diagnostics.png samples/positives.png samples/negatives-000000002.png
            samples/negatives-000000004.png)
    if(NOT EXISTS ${OUT}/train/${f})
      message(FATAL_ERROR "train_images --device cuda (then --resume on the CPU) did not write ${f}")
    endif()
  endforeach()
endif()
# sample_images on the GPU from that run
run(TRUE ${SAMPLE} --run ${OUT}/train --chains 4 --steps 3 --long-run-steps 4 --sampler mala --trace-every 2
    --device cuda --output ${OUT}/samples)
if(outcome STREQUAL "ran")
  foreach(f short_run.png short_run.npy long_run.png long_run.npy energy_trace.csv)
    if(NOT EXISTS ${OUT}/samples/${f})
      message(FATAL_ERROR "sample_images --device cuda did not write ${f}")
    endif()
  endforeach()
  # generate on both devices: that short-run ConvNet and a tiny non-local net (nonzero Hessian), the same files, and
  # reconstruction errors within 1e-3 of each other (the GPU's Hessian-vector products are the composed network's)
  run(TRUE ${TRAIN} --preset short_run --set model.architecture=nonlocal --set data.limit=64 --set model.features=4
      --set sampler.steps=3 --set training.batch_size=8 --set training.iterations=1 --device cpu --threads 2
      --output ${OUT}/train_nonlocal)
  foreach(model train train_nonlocal)
    foreach(device cuda cpu)
      run(TRUE ${GENERATE} interpolate --run ${OUT}/${model} --pairs 2 --points 3 --device ${device} --threads 2
          --output ${OUT}/generate_${model}_${device})
      run(TRUE ${GENERATE} reconstruct --run ${OUT}/${model} --images 3 --batch 2 --iterations 3 --sequence 2
          --sequence-every 1 --baseline-images 20 --noise --device ${device} --threads 2
          --output ${OUT}/generate_${model}_${device})
      file(READ ${OUT}/generate_${model}_${device}/reconstruction.json j)
      string(JSON mse_${device} GET "${j}" mse_per_pixel)
      string(JSON recorded GET "${j}" device)
      if(NOT recorded STREQUAL device)
        message(FATAL_ERROR "generate --device ${device}: reconstruction.json records device ${recorded}")
      endif()
    endforeach()
    same_files(${OUT}/generate_${model}_cpu ${OUT}/generate_${model}_cuda)
    if(DEFINED PYTHON)  # CMake has no floating-point comparison
      execute_process(COMMAND ${PYTHON} -c
                      "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-3 * max(abs(b), 1e-30) else 1)"
                      ${mse_cuda} ${mse_cpu} RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "generate reconstruct (${model}): MSE ${mse_cuda} on cuda, ${mse_cpu} on cpu")
      endif()
    endif()
    message(STATUS "generate (${model}): reconstruction MSE ${mse_cuda} on cuda, ${mse_cpu} on cpu")
  endforeach()
  # evaluate_energy on the GPU: initial weights, the short-run samples as input
  run(TRUE ${EVALUATE} --arch short_run --n-f 4 --channels 1 --init-seed 1 --save-weights ${OUT}/w.safetensors
      --input ${OUT}/samples/short_run.npy --energies ${OUT}/u_cuda.npy --gradients ${OUT}/g_cuda.npy --device cuda)
  run(TRUE ${EVALUATE} --arch short_run --n-f 4 --channels 1 --weights ${OUT}/w.safetensors
      --input ${OUT}/samples/short_run.npy --energies ${OUT}/u_cpu.npy --device cpu)
  foreach(f u_cuda.npy g_cuda.npy u_cpu.npy)
    if(NOT EXISTS ${OUT}/${f})
      message(FATAL_ERROR "evaluate_energy did not write ${f}")
    endif()
  endforeach()
  # model.architecture network (a JSON description: cuda_backend::network) trained on the GPU, resumed on the CPU;
  # its checkpoint evaluated on both devices, energies within 1e-4 of each other
  set(network_args --config ${NETWORK_CONFIG} --set data.limit=64 --set sampler.steps=3 --set training.batch_size=8
                   --set output.image_every=2 --set output.checkpoint_every=2 --threads 2)
  run(TRUE ${TRAIN} ${network_args} --set training.iterations=2 --device cuda --output ${OUT}/network)
  run(TRUE ${TRAIN} --resume --set training.iterations=4 --device cpu --threads 2 --output ${OUT}/network)
  set(checkpoint ${OUT}/network/checkpoint-000000000004.safetensors)
  if(NOT EXISTS ${checkpoint})
    message(FATAL_ERROR "train_images --device cuda with a JSON network (then --resume on the CPU) did not write ${checkpoint}")
  endif()
  foreach(device cuda cpu)
    run(TRUE ${EVALUATE} --arch ${NETWORK_JSON} --weights ${checkpoint} --input ${OUT}/samples/short_run.npy
        --energies ${OUT}/u_network_${device}.npy --device ${device})
  endforeach()
  set(numpy 1)
  if(DEFINED PYTHON)
    execute_process(COMMAND ${PYTHON} -c "import numpy" RESULT_VARIABLE numpy OUTPUT_QUIET ERROR_QUIET)
  endif()
  if(numpy EQUAL 0)
    execute_process(COMMAND ${PYTHON} -c "
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)
print('cuda', a, 'cpu', b, 'relative difference', err)
sys.exit(0 if err <= 1e-4 else 1)
" ${OUT}/u_network_cuda.npy ${OUT}/u_network_cpu.npy RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "the JSON network's energies differ between --device cuda and --device cpu:\n${text}")
    endif()
    message(STATUS "${text}")
  else()
    message(STATUS "no python3 with numpy: the JSON network's energies were written on both devices, not compared")
  endif()
elseif(outcome STREQUAL "refused")
  run(TRUE ${GENERATE} interpolate --checkpoint ${OUT}/none.safetensors --output ${OUT}/generate --device cuda)
  run(TRUE ${EVALUATE} --arch short_run --init-seed 1 --save-weights ${OUT}/w.safetensors --device cuda)
  run(TRUE ${EVALUATE} --arch ${NETWORK_JSON} --init-seed 1 --save-weights ${OUT}/w.safetensors --device cuda)
endif()
message(STATUS "device smoke: ${outcome}")

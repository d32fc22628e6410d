# cmake -DTRAIN=<train_images> -DGENERATE=<generate> -DOUT=<folder> -P smoke.cmake
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION)
endif()
file(REMOVE_RECURSE ${OUT})
function(run_ok what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}${err}")
  endif()
endfunction()
function(run_refused what expected)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "${expected}")
    message(FATAL_ERROR "${what} was not refused with '${expected}' (${rc}):\n${out}${err}")
  endif()
endfunction()

# A tiny short-run model (the decoupled chain on F) and a tiny Anatomy-form one (U = F / (eps^2 / 2), scaled).
run_ok("train_images (short run)" ${TRAIN} --set data.limit=32 --set model.features=4 --set sampler.steps=3
       --set training.batch_size=8 --set training.iterations=2 --output ${OUT}/short_run)
run_ok("train_images (anatomy)" ${TRAIN} --preset anatomy_convergent --set data.limit=32 --set model.features=4
       --set sampler.steps=2 --set training.batch_size=8 --set init.bank_size=16 --set training.iterations=2
       --output ${OUT}/anatomy)

run_ok("generate interpolate" ${GENERATE} interpolate --run ${OUT}/short_run --pairs 2 --points 3 --output ${OUT}/interpolation)
foreach(f interpolation.png interpolation.npy interpolation.json)
  if(NOT EXISTS ${OUT}/interpolation/${f})
    message(FATAL_ERROR "generate interpolate did not write ${f}")
  endif()
endforeach()
file(READ ${OUT}/interpolation/interpolation.json j)
string(JSON rho GET "${j}" rho)
string(JSON rho_middle GET "${j}" rho 1)
string(JSON noise GET "${j}" noise)
if(NOT rho_middle EQUAL 0.5 OR NOT noise STREQUAL "off")
  message(FATAL_ERROR "interpolation.json: rho ${rho}, noise ${noise}")
endif()
# 2 pairs x 3 points x 1 x 32 x 32 floats and the .npy header.
file(SIZE ${OUT}/interpolation/interpolation.npy bytes)
if(bytes LESS 24576 OR bytes GREATER 24832)
  message(FATAL_ERROR "interpolation.npy has ${bytes} bytes, expected 2 x 3 x 1024 floats and a header")
endif()

foreach(model short_run anatomy)
  run_ok("generate reconstruct (${model})" ${GENERATE} reconstruct --run ${OUT}/${model} --images 3 --batch 2
         --iterations 4 --sequence 2 --sequence-every 2 --baseline-images 50 --noise --output ${OUT}/reconstruction_${model})
  foreach(f reconstruction.png reconstruction.npy latents.npy reconstruction.json)
    if(NOT EXISTS ${OUT}/reconstruction_${model}/${f})
      message(FATAL_ERROR "generate reconstruct (${model}) did not write ${f}")
    endif()
  endforeach()
  file(READ ${OUT}/reconstruction_${model}/reconstruction.json j)
  string(JSON images GET "${j}" images)
  string(JSON curve_length LENGTH "${j}" mse_curve)
  string(JSON mse GET "${j}" mse_per_pixel)
  string(JSON nearest GET "${j}" baselines nearest_training_image)
  string(JSON training GET "${j}" baselines training_images)
  if(NOT images EQUAL 3 OR NOT curve_length EQUAL 5 OR NOT training EQUAL 50 OR mse LESS_EQUAL 0 OR nearest LESS_EQUAL 0)
    message(FATAL_ERROR "reconstruction.json (${model}): images ${images}, curve ${curve_length}, training ${training}, "
                        "mse ${mse}, nearest ${nearest}")
  endif()
endforeach()

run_refused("a missing checkpoint" "checkpoint file not found"
            ${GENERATE} reconstruct --checkpoint ${OUT}/missing.safetensors --output ${OUT}/bad)
run_refused("--run and --checkpoint together" "give exactly one of --run and --checkpoint"
            ${GENERATE} interpolate --run ${OUT}/short_run --checkpoint ${OUT}/x --output ${OUT}/bad)
run_refused("more images than the test split" "--images must not exceed the test split's 10000 images"
            ${GENERATE} reconstruct --run ${OUT}/short_run --images 10001 --output ${OUT}/bad)
run_refused("no subcommand" "A subcommand is required" ${GENERATE} --run ${OUT}/short_run --output ${OUT}/bad)
message(STATUS "generate smoke: interpolation and reconstruction written for a short-run and an Anatomy-form model")

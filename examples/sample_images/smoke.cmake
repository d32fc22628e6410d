# cmake -DTRAIN=<train_images> -DSAMPLE=<sample_images> -DOUT=<folder> -P smoke.cmake
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${TRAIN} --preset anatomy_convergent --set data.limit=32 --set model.features=4
                        --set sampler.steps=2 --set training.batch_size=8 --set init.bank_size=16
                        --set training.iterations=2 --output ${OUT}/run
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train_images failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SAMPLE} --run ${OUT}/run --chains 4 --steps 3 --long-run-steps 4 --sampler mala
                        --trace-every 2 --output ${OUT}/samples
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sample_images failed (${rc}):\n${out}${err}")
endif()
foreach(f short_run.png short_run.npy long_run.png long_run.npy energy_trace.csv)
  if(NOT EXISTS ${OUT}/samples/${f})
    message(FATAL_ERROR "sample_images did not write ${f}")
  endif()
endforeach()
file(STRINGS ${OUT}/samples/energy_trace.csv rows)
list(LENGTH rows n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "energy_trace.csv has ${n} lines, expected 3")
endif()
# A decoupled (short-run recipe) model: MALA samples U/T at the training chain's T = sigma^2/(2 lambda) = 5e-05.
execute_process(COMMAND ${TRAIN} --set data.limit=32 --set model.features=4 --set sampler.steps=2
                        --set training.batch_size=8 --set training.iterations=2 --output ${OUT}/short_run
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train_images (short_run) failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SAMPLE} --run ${OUT}/short_run --chains 4 --steps 2 --long-run-steps 2 --sampler mala
                        --trace-every 2 --output ${OUT}/short_run_samples
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "MALA on U/T, T = 5e-05 \\(the training chain's\\), epsilon 0.01")
  message(FATAL_ERROR "sample_images --sampler mala on a decoupled model did not sample at T = 5e-05 with "
                      "epsilon 0.01 (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SAMPLE} --checkpoint ${OUT}/missing.safetensors --output ${OUT}/bad
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "checkpoint file not found")
  message(FATAL_ERROR "a missing checkpoint was not refused clearly (${rc}): ${err}")
endif()
message(STATUS "sample_images smoke: short run, MALA long run (Anatomy and decoupled models) and energy trace written")

# The Anatomy code's non-local net (model.architecture nonlocal) trains, checkpoints and samples end to end; a
# non-local net at 64 px is refused before any work.
execute_process(COMMAND ${TRAIN} --preset anatomy_convergent --set model.architecture=nonlocal --set data.limit=16
                        --set model.features=4 --set sampler.steps=2 --set training.batch_size=4 --set init.bank_size=8
                        --set training.iterations=2 --output ${OUT}/nonlocal
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT}/nonlocal/checkpoint-000000000002.safetensors)
  message(FATAL_ERROR "train_images (nonlocal) failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${SAMPLE} --run ${OUT}/nonlocal --chains 4 --steps 2 --long-run-steps 2 --sampler mala
                        --trace-every 2 --output ${OUT}/nonlocal_samples
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT}/nonlocal_samples/long_run.png)
  message(FATAL_ERROR "sample_images (nonlocal) failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${TRAIN} --set model.architecture=nonlocal --set data.image_size=64 --set data.limit=8
                        --set training.iterations=1
                        --output ${OUT}/nonlocal64
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "model.architecture nonlocal needs data.image_size 32 \\(got 64\\)")
  message(FATAL_ERROR "a 64 px non-local net was not refused clearly (${rc}):\n${out}${err}")
endif()

# A long run from data with the steady-state measures: 5 trace columns, the trace figure, FD and saturation filled.
execute_process(COMMAND ${SAMPLE} --run ${OUT}/run --chains 4 --steps 1 --long-run-steps 4 --trace-every 2
                        --long-run-start data --compare 8 --output ${OUT}/steady
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT}/steady/long_run_trace.png OR NOT out MATCHES "8 data images to compare with")
  message(FATAL_ERROR "sample_images --compare failed (${rc}):\n${out}${err}")
endif()
file(STRINGS ${OUT}/steady/energy_trace.csv rows)
list(GET rows 0 header)
list(GET rows 2 last)
if(NOT header STREQUAL "step,mean_energy,acceptance,saturated_fraction,fd" OR NOT last MATCHES "^4,[^,]+,[^,]+,[0-9.e-]+,[0-9.e+-]+$")
  message(FATAL_ERROR "energy_trace.csv: header '${header}', last row '${last}'")
endif()

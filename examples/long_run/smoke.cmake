# long_run end to end at small size (cmake -P): tiny models trained for 2 iterations, then every start and sampler,
# grids at chosen steps, the trace, the summary, the bank start against the checkpoint's bytes, and bad inputs.
# Skipped (ctest: Skipped) without dataset-fashion-mnist.
if(NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
function(run_ok what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

# A convergent-recipe model (persistent bank of 16, Anatomy form) and a short-run one (decoupled form, uniform init).
run_ok("train_images (bank)" ${TRAIN} --preset anatomy_convergent --set data.limit=32 --set model.features=4
       --set sampler.steps=2 --set training.batch_size=8 --set init.bank_size=16 --set training.iterations=2
       --output ${OUT}/bank_model)
run_ok("train_images (short run)" ${TRAIN} --set data.limit=32 --set model.features=4 --set sampler.steps=2
       --set training.batch_size=8 --set training.iterations=2 --output ${OUT}/short_model)

# From the bank, adapted MALA, grids at steps 3 and 6, a trace every 2 steps, compared with 8 data images.
run_ok("long_run --start bank" ${LONG_RUN} --run ${OUT}/bank_model --start bank --chains 4 --steps 6 --sampler mala
       --adapt 4 --trace-every 2 --grids-at 3,6 --compare 8 --output ${OUT}/bank)
if(NOT out MATCHES "MALA step adapted over 4 warm-up steps" OR NOT out MATCHES "MALA on U/T, T = 1 ")
  message(FATAL_ERROR "long_run --adapt: no adaptation line or not at T = 1:\n${out}")
endif()
foreach(f start.png start.npy long_run.png long_run.npy long_run-000000003.png long_run-000000003.npy
          long_run-000000006.npy energy_trace.csv long_run_trace.png long_run.json)
  if(NOT EXISTS ${OUT}/bank/${f})
    message(FATAL_ERROR "long_run did not write ${f}")
  endif()
endforeach()
file(STRINGS ${OUT}/bank/energy_trace.csv rows)
list(LENGTH rows n)
list(GET rows 1 first_row)
list(GET rows 2 grid_row)
if(NOT n EQUAL 5 OR NOT first_row MATCHES "^2," OR NOT grid_row MATCHES "^3,")
  message(FATAL_ERROR "energy_trace.csv: expected rows at steps 2, 3 (a grid step), 4, 6:\n${rows}")
endif()
file(READ ${OUT}/bank/long_run.json summary)
string(JSON warmup GET "${summary}" warmup_steps)
string(JSON start GET "${summary}" start)
string(JSON acceptance GET "${summary}" acceptance)
string(JSON data_images GET "${summary}" data images)
if(NOT warmup EQUAL 4 OR NOT start STREQUAL "bank" OR acceptance LESS 0 OR acceptance GREATER 1
   OR NOT data_images EQUAL 8)
  message(FATAL_ERROR "long_run.json: ${summary}")
endif()
# The final states after 6 steps equal the grid written at step 6.
file(READ ${OUT}/bank/long_run.npy final_states HEX)
file(READ ${OUT}/bank/long_run-000000006.npy grid_states HEX)
if(NOT final_states STREQUAL grid_states)
  message(FATAL_ERROR "long_run-000000006.npy differs from long_run.npy")
endif()
# start.npy holds the first 4 states of the checkpoint's bank, byte for byte: the safetensors header (8-byte length,
# JSON) gives the tensor's offsets; start.npy's data follows its own header (v1: length at bytes 8-9).
set(checkpoint ${OUT}/bank_model/checkpoint-000000000002.safetensors)
file(READ ${checkpoint} length_hex OFFSET 0 LIMIT 8 HEX)
string(SUBSTRING "${length_hex}" 2 2 b1)
string(SUBSTRING "${length_hex}" 0 2 b0)
math(EXPR header_length "0x${b1}${b0}")
file(READ ${checkpoint} header OFFSET 8 LIMIT ${header_length})
string(JSON bank_begin GET "${header}" initializer.bank data_offsets 0)
math(EXPR bank_bytes "4 * 1024 * 4")
math(EXPR bank_at "8 + ${header_length} + ${bank_begin}")
file(READ ${checkpoint} bank_hex OFFSET ${bank_at} LIMIT ${bank_bytes} HEX)
file(READ ${OUT}/bank/start.npy npy_length_hex OFFSET 8 LIMIT 2 HEX)
string(SUBSTRING "${npy_length_hex}" 2 2 n1)
string(SUBSTRING "${npy_length_hex}" 0 2 n0)
math(EXPR npy_data "10 + 0x${n1}${n0}")
file(READ ${OUT}/bank/start.npy start_hex OFFSET ${npy_data} HEX)
if(NOT bank_hex STREQUAL start_hex)
  message(FATAL_ERROR "--start bank: start.npy is not the first 4 states of the checkpoint's bank")
endif()

# The same output again: an earlier long_run result is replaced.
run_ok("long_run (replacing its earlier result)" ${LONG_RUN} --run ${OUT}/bank_model --start noise --chains 4
       --steps 2 --output ${OUT}/bank)
file(READ ${OUT}/bank/long_run.json summary)
string(JSON start GET "${summary}" start)
if(NOT start STREQUAL "noise" OR EXISTS ${OUT}/bank/long_run-000000006.npy)
  message(FATAL_ERROR "the earlier long_run result was not replaced whole: ${summary}")
endif()

# A decoupled model: ULA in its training form from short runs, and MALA at its T = sigma^2/(2 lambda) = 5e-05 from
# data.
run_ok("long_run --start short_run" ${LONG_RUN} --run ${OUT}/short_model --start short_run --chains 4 --steps 3
       --output ${OUT}/short)
if(NOT out MATCHES "started from 4 short runs of K = 2 steps")
  message(FATAL_ERROR "long_run --start short_run:\n${out}")
endif()
run_ok("long_run --start data --sampler mala" ${LONG_RUN} --run ${OUT}/short_model --start data --chains 4
       --steps 2 --sampler mala --output ${OUT}/short_mala)
if(NOT out MATCHES "MALA on U/T, T = 5e-05 \\(the training chain's\\), epsilon 0.01")
  message(FATAL_ERROR "long_run --sampler mala on a decoupled model is not at T = 5e-05, epsilon 0.01:\n${out}")
endif()

# Bad inputs: a clear message, exit 1 (2 for --output), and nothing written.
foreach(case IN ITEMS
        "bank_without_bank|--run;${OUT}/short_model;--start;bank|--start bank needs a model trained with init.kind persistent_bank"
        "adapt_ula|--run;${OUT}/bank_model;--adapt;5|--adapt needs --sampler mala"
        "grid_step|--run;${OUT}/bank_model;--steps;4;--grids-at;2,9|--grids-at steps must lie in \\[1, --steps = 4\\]"
        "too_many_chains|--run;${OUT}/bank_model;--start;bank;--chains;17|--start bank needs --chains <= the bank's 16 states"
        "missing|--checkpoint;${OUT}/missing.safetensors|checkpoint file not found"
        "both|--run;${OUT}/bank_model;--checkpoint;x.safetensors|give exactly one of --run and --checkpoint")
  string(FIND "${case}" "|" bar1)
  string(SUBSTRING "${case}" 0 ${bar1} name)
  math(EXPR rest_at "${bar1} + 1")
  string(SUBSTRING "${case}" ${rest_at} -1 rest)
  string(FIND "${rest}" "|" bar2)
  string(SUBSTRING "${rest}" 0 ${bar2} args)
  math(EXPR expected_at "${bar2} + 1")
  string(SUBSTRING "${rest}" ${expected_at} -1 expected)
  execute_process(COMMAND ${LONG_RUN} ${args} --output ${OUT}/bad_${name}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 1 OR NOT err MATCHES "${expected}" OR EXISTS ${OUT}/bad_${name})
    message(FATAL_ERROR "long_run bad input '${name}': exit ${rc}, expected a message matching '${expected}':\n${err}")
  endif()
endforeach()
file(MAKE_DIRECTORY ${OUT}/not_a_result)
file(WRITE ${OUT}/not_a_result/keep.txt "user data\n")
execute_process(COMMAND ${LONG_RUN} --run ${OUT}/bank_model --steps 1 --output ${OUT}/not_a_result
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT EXISTS ${OUT}/not_a_result/keep.txt OR NOT err MATCHES "refusing to replace it")
  message(FATAL_ERROR "long_run replaced a folder that is not its result (${rc}):\n${err}")
endif()
message(STATUS "long_run smoke: bank/noise/short-run/data starts, ULA and adapted MALA, grids, trace, summary, errors")

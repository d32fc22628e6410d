# cmake -DSCORE=<score_images> -DOUT=<folder> -P score_images_smoke.cmake
# Writes small float32 .npy files itself (bytes through printf %b, since CMake cannot write NUL bytes), scores them,
# and checks the refusals of bad input. The Fashion-MNIST part runs last; without dataset-fashion-mnist it is
# skipped with exit 77 after everything else has passed.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})

# Little-endian float32 bytes as printf %b octal escapes.
set(level_0 "\\0000\\0000\\0200\\0277")  # -1.0
set(level_1 "\\0000\\0000\\0000\\0277")  # -0.5
set(level_2 "\\0000\\0000\\0000\\0077")  #  0.5
set(level_3 "\\0000\\0000\\0200\\0077")  #  1.0
set(level_nan "\\0000\\0000\\0300\\0177")

# write_npy(<file> <shape text, e.g. "60, 1, 16, 16"> <images> <values per image> <pattern> [NAN])
# pattern "a": level ((x / w + y / w + k) mod 4), w = 1 + k mod 3 (checkers of three sizes);
# pattern "b": level ((x + 2 y + 3 k) / (1 + k mod 2) mod 4) (diagonal stripes). x, y on a 16-wide grid.
function(write_npy file shape images per_image pattern)
  set(dict "{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }")
  string(LENGTH "${dict}" n)
  math(EXPR pad "(64 - (10 + ${n} + 1) % 64) % 64")
  string(REPEAT " " ${pad} spaces)
  math(EXPR header_len "${n} + ${pad} + 1")
  math(EXPR low "${header_len} % 256")
  math(EXPR high "${header_len} / 256")
  foreach(v low high)  # header length, little-endian, as octal escapes
    math(EXPR o2 "${${v}} / 64")
    math(EXPR o1 "(${${v}} / 8) % 8")
    math(EXPR o0 "${${v}} % 8")
    set(${v}_esc "\\0${o2}${o1}${o0}")
  endforeach()
  set(args "\\0223NUMPY\\0001\\0000${low_esc}${high_esc}${dict}${spaces}\\n")
  math(EXPR last_image "${images} - 1")
  math(EXPR last_value "${per_image} - 1")
  foreach(k RANGE ${last_image})
    set(image "")
    math(EXPR w "1 + ${k} % 3")
    math(EXPR period "1 + ${k} % 2")
    foreach(p RANGE ${last_value})
      math(EXPR x "${p} % 16")
      math(EXPR y "${p} / 16")
      if(pattern STREQUAL "a")
        math(EXPR level "(${x} / ${w} + ${y} / ${w} + ${k}) % 4")
      else()
        math(EXPR level "((${x} + 2 * ${y} + 3 * ${k}) / ${period}) % 4")
      endif()
      if(ARGV5 STREQUAL "NAN" AND k EQUAL 3 AND p EQUAL 5)
        string(APPEND image "${level_nan}")
      else()
        string(APPEND image "${level_${level}}")
      endif()
    endforeach()
    list(APPEND args "${image}")
  endforeach()
  execute_process(COMMAND printf %b ${args} OUTPUT_FILE ${file} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "printf could not write ${file} (${rc})")
  endif()
endfunction()

write_npy(${OUT}/a.npy "60, 1, 16, 16" 60 256 a)
write_npy(${OUT}/b.npy "64, 1, 16, 16" 64 256 b)
write_npy(${OUT}/nan.npy "60, 1, 16, 16" 60 256 a NAN)
write_npy(${OUT}/few.npy "10, 1, 16, 16" 10 256 a)
write_npy(${OUT}/flat.npy "60, 16, 16" 60 256 a)          # no channel axis
write_npy(${OUT}/side12.npy "60, 1, 12, 12" 60 144 a)     # side not a multiple of 8
write_npy(${OUT}/two_channels.npy "60, 2, 8, 8" 60 128 b)  # another image shape

# run(<name> <expected rc> <regex on stdout+stderr> args...)
function(run name expected regex)
  execute_process(COMMAND ${SCORE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expected OR NOT "${out}${err}" MATCHES "${regex}")
    message(FATAL_ERROR "${name}: expected exit ${expected} and output matching '${regex}', got ${rc}:\n${out}${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

function(json_number file key var)
  file(READ ${file} text)
  string(JSON value GET "${text}" ${key})
  set(${var} ${value} PARENT_SCOPE)
endfunction()

# Scores, with the JSON file.
run(score 0 "FD  [0-9.e+-]+\nKID " --samples ${OUT}/a.npy --reference-npy ${OUT}/b.npy --json ${OUT}/a_vs_b.json)
json_number(${OUT}/a_vs_b.json fd fd_ab)
json_number(${OUT}/a_vs_b.json images images)
json_number(${OUT}/a_vs_b.json reference_images reference_images)
json_number(${OUT}/a_vs_b.json kid_subset_size subset)
if(NOT fd_ab GREATER 0 OR NOT images EQUAL 60 OR NOT reference_images EQUAL 64 OR NOT subset EQUAL 60)
  message(FATAL_ERROR "a_vs_b.json: fd ${fd_ab}, images ${images}/${reference_images}, subset ${subset}")
endif()
file(GLOB leftovers ${OUT}/*.tmp-*)
if(leftovers)
  message(FATAL_ERROR "temporary files left behind: ${leftovers}")
endif()

# A set against itself: FD 0 (to rounding), and different sets score higher.
run(self 0 "FD " --samples ${OUT}/a.npy --reference-npy ${OUT}/a.npy --json ${OUT}/a_vs_a.json)
json_number(${OUT}/a_vs_a.json fd fd_aa)
if(fd_aa GREATER 1e-9)
  message(FATAL_ERROR "FD of a set with itself is ${fd_aa}, expected 0")
endif()

# The noise calibration set takes the reference's shape and needs no data set.
run(noise 0 "noise \\(10000 images 1x16x16" --baseline noise --reference-npy ${OUT}/b.npy)

# Bad input: clear message, exit 1.
run(nan 1 "must be finite; value 773 is not \\(got nan\\)" --samples ${OUT}/nan.npy --reference-npy ${OUT}/b.npy)
run(few 1 "must hold at least 50 images; images \\(got 10\\)" --samples ${OUT}/few.npy --reference-npy ${OUT}/b.npy)
run(flat 1 "must be an N x C x S x S array \\(square images\\); shape \\(got '60x16x16'\\)"
    --samples ${OUT}/flat.npy --reference-npy ${OUT}/b.npy)
run(side 1 "multiple of 8; S \\(got 12\\)" --samples ${OUT}/side12.npy --reference-npy ${OUT}/b.npy)
run(shape 1 "must have the reference's image shape 1x16x16 .*\\(got '2x8x8'\\)"
    --samples ${OUT}/two_channels.npy --reference-npy ${OUT}/b.npy)
run(missing 1 "cannot open file" --samples ${OUT}/missing.npy --reference-npy ${OUT}/b.npy)
run(neither 1 "give --samples FILE.npy or --baseline" --reference-npy ${OUT}/b.npy)
run(both 1 "excludes" --samples ${OUT}/a.npy --baseline noise)
run(no_dataset 1 "Fashion-MNIST file not found" --samples ${OUT}/a.npy --fashion-mnist-dir ${OUT}/nowhere)

if(NOT EXISTS /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz OR
   NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  message(STATUS "SKIPPED: dataset-fashion-mnist not installed: the Fashion-MNIST part is skipped")
  return()  # ctest reads "SKIPPED:" (SKIP_REGULAR_EXPRESSION); cmake_language(EXIT) needs CMake 3.29
endif()
run(fmnist_shape 1 "must have the reference's image shape 1x32x32 \\(fashion_mnist_test\\); shape \\(got '1x16x16'\\)"
    --samples ${OUT}/a.npy)
# The floor: training images against the test split (docs/scores.md records FD 0.0304, KID ~0).
run(train 0 "fashion_mnist_train \\(10000 images 1x32x32" --baseline train --json ${OUT}/train.json)
json_number(${OUT}/train.json fd fd_train)
if(NOT fd_train LESS 0.1)
  message(FATAL_ERROR "train-vs-test FD is ${fd_train}, expected about 0.03")
endif()
message(STATUS "score_images smoke: scores, JSON, calibration sets and bad-input refusals checked")

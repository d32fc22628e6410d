# Fuzz harnesses of ebm's file readers (tests/fuzz, docs/testing.md "Fuzzing").
#
# Two ways in, one file:
#  * tests/fuzz/CMakeLists.txt includes it for ebm_add_fuzz_harness(). With EBM_FUZZ OFF (the default, any
#    compiler) each harness links tests/fuzz/replay_main.cpp and runs its corpus once as the ctest entry
#    fuzz_replay.<reader> (label fuzz). With EBM_FUZZ ON (clang) each harness is a libFuzzer program; the target
#    ebm_fuzz_harnesses builds them all.
#  * preset fuzz names it as the project include (CMAKE_PROJECT_ebm_INCLUDE) with the test suites, examples and
#    benchmarks off: it then includes tests/fuzz/CMakeLists.txt alone, deferred to the end of the top-level CMakeLists.txt so that
#    the library targets exist. Compile flags (-fsanitize=fuzzer-no-link,address,undefined) come from the preset.
include_guard(GLOBAL)

option(EBM_FUZZ "Build tests/fuzz as libFuzzer programs (clang) instead of corpus replays" OFF)

if(EBM_FUZZ AND DEFINED EBM_BUILD_TESTS AND NOT EBM_BUILD_TESTS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "EBM_FUZZ needs clang (libFuzzer); CMAKE_CXX_COMPILER is ${CMAKE_CXX_COMPILER}")
  endif()
  # (a deferred call may not add_subdirectory; tests/fuzz/CMakeLists.txt is written to be include()d as well)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL include "${CMAKE_SOURCE_DIR}/tests/fuzz/CMakeLists.txt")
endif()

# ebm_add_fuzz_harness(<reader> <source> [libraries...]): the program fuzz_<reader>, a libFuzzer target with
# EBM_FUZZ, else a corpus replay registered as ctest fuzz_replay.<reader> over tests/fuzz/corpus/<reader>.
function(ebm_add_fuzz_harness reader source)
  set(target fuzz_${reader})
  add_executable(${target} ${source})  # source: a full path (the file may be include()d from the top level)
  target_link_libraries(${target} PRIVATE ebm::ebm ebm_developer_flags ${ARGN})
  if(NOT TARGET ebm_fuzz_harnesses)
    add_custom_target(ebm_fuzz_harnesses)
  endif()
  add_dependencies(ebm_fuzz_harnesses ${target})
  if(EBM_FUZZ)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
    add_test(NAME fuzz_replay.${reader} COMMAND ${target} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${reader})
    set_tests_properties(fuzz_replay.${reader} PROPERTIES LABELS fuzz)
  endif()
endfunction()

# CUDA backend (include/ebm/backend/cuda/*.cuh): the INTERFACE target ebm_cuda / ebm::cuda (EXPORT_NAME cuda).
#
# Two modes, one file:
#  * included from the top-level CMakeLists.txt (`include(cmake/ebm_cuda.cmake OPTIONAL)`): looks for a CUDA
#    compiler; when one is found and EBM_ENABLE_CUDA is ON (the default when found) it enables the CUDA language,
#    finds the toolkit (cudart, cuBLAS) and cuDNN, defines ebm::cuda and installs/exports it with ebmTargets.
#    Without a CUDA compiler nothing is defined and the CPU build is exactly as before (EBM_HAVE_CUDA = OFF).
#  * included from the installed ebmConfig.cmake with EBM_CUDA_FIND_DEPENDENCIES_ONLY set: only finds the
#    dependencies the exported ebm::cuda names (CUDA::cudart, CUDA::cublas, ebm::cudnn).
#
# cuDNN: looked up in EBM_CUDNN_ROOT, CUDNN_ROOT, then the toolkit's own include/ and lib64/ (where the NVIDIA
# packages put it) and the system paths; it becomes the imported target ebm::cudnn.

# ebm::cudnn — cuDNN 9 (header cudnn.h, library libcudnn); defined in both modes.
function(_ebm_find_cudnn)
  if(TARGET ebm::cudnn)
    set(EBM_CUDNN_FOUND ON PARENT_SCOPE)
    return()
  endif()
  set(_hints ${EBM_CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDNN_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR})
  find_path(EBM_CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${_hints} ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include targets/x86_64-linux/include targets/sbsa-linux/include)
  find_library(EBM_CUDNN_LIBRARY NAMES cudnn
    HINTS ${_hints} ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib64 lib lib/x64 targets/x86_64-linux/lib targets/sbsa-linux/lib)
  if(EBM_CUDNN_INCLUDE_DIR AND EBM_CUDNN_LIBRARY)
    add_library(ebm::cudnn UNKNOWN IMPORTED)
    set_target_properties(ebm::cudnn PROPERTIES
      IMPORTED_LOCATION "${EBM_CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${EBM_CUDNN_INCLUDE_DIR}")
    set(EBM_CUDNN_FOUND ON PARENT_SCOPE)
  else()
    set(EBM_CUDNN_FOUND OFF PARENT_SCOPE)
  endif()
endfunction()

if(EBM_CUDA_FIND_DEPENDENCIES_ONLY)
  include(CMakeFindDependencyMacro)
  find_dependency(CUDAToolkit)
  _ebm_find_cudnn()
  if(NOT EBM_CUDNN_FOUND)
    set(${CMAKE_FIND_PACKAGE_NAME}_NOT_FOUND_MESSAGE "ebm::cuda needs cuDNN 9 (set EBM_CUDNN_ROOT)")
    set(${CMAKE_FIND_PACKAGE_NAME}_FOUND FALSE)
  endif()
  return()
endif()

include(CheckLanguage)
if(NOT CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # nvcc's host compiler: the same g++ as the C++ code, so both sides see one standard library.
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}" CACHE FILEPATH "Host compiler of nvcc")
endif()
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_ebm_cuda_default ON)
else()
  set(_ebm_cuda_default OFF)
endif()
option(EBM_ENABLE_CUDA "Build the CUDA backend (ebm::cuda) when a CUDA compiler is found" ${_ebm_cuda_default})
set(EBM_HAVE_CUDA OFF)

if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "ebm: no CUDA compiler found (set CMAKE_CUDA_COMPILER or CUDACXX to nvcc); "
                 "the CUDA backend (ebm::cuda) is skipped")
elseif(NOT EBM_ENABLE_CUDA)
  message(STATUS "ebm: EBM_ENABLE_CUDA is OFF; the CUDA backend is skipped")
else()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    # A100 (sm_80) and H100/H200 (sm_90); override with -DCMAKE_CUDA_ARCHITECTURES=native on a GPU machine.
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  _ebm_find_cudnn()
  if(NOT EBM_CUDNN_FOUND)
    message(STATUS "ebm: cuDNN not found (set EBM_CUDNN_ROOT); the CUDA backend is skipped")
  elseif(CUDAToolkit_VERSION VERSION_LESS 12.0)
    message(STATUS "ebm: CUDA ${CUDAToolkit_VERSION} is older than 12.0 (C++20 in nvcc); the CUDA backend is skipped")
  else()
    set(EBM_HAVE_CUDA ON)
    add_library(ebm_cuda INTERFACE)
    add_library(ebm::cuda ALIAS ebm_cuda)
    set_target_properties(ebm_cuda PROPERTIES EXPORT_NAME cuda)
    target_link_libraries(ebm_cuda INTERFACE ebm_core CUDA::cudart CUDA::cublas
      $<BUILD_INTERFACE:ebm::cudnn> $<INSTALL_INTERFACE:ebm::cudnn>)
    target_compile_features(ebm_cuda INTERFACE cxx_std_20)
    target_compile_definitions(ebm_cuda INTERFACE EBM_HAVE_CUDA=1)
    # -std=c++20 spelled out: CMake 3.25 does not know the cuda_std_20 feature of nvcc 13.
    # --expt-relaxed-constexpr: std::bit_cast / std::array members inside EBM_HOST_DEVICE functors.
    # --extended-lambda: __device__ lambdas may be handed to launch_elements.
    # No --use_fast_math: the noise must stay bit-identical to the CPU's (docs/cuda.md).
    target_compile_options(ebm_cuda INTERFACE
      $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr --extended-lambda>)
    install(TARGETS ebm_cuda EXPORT ebmTargets)
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/ebm_cuda.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ebm)
    message(STATUS "ebm: CUDA ${CUDAToolkit_VERSION} (${CMAKE_CUDA_COMPILER}), architectures "
                   "${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${EBM_CUDNN_LIBRARY}: ebm::cuda enabled")
  endif()
endif()

# oneDNN v3 for the ConvNet energies (include/ebm/energy/convnet*.hpp, include/ebm/backend/cpu/onednn*.hpp).
# Looked up through its CMake package config (DNNL::dnnl): first in EBM_ONEDNN_ROOT (default: the project-local
# prefix that scripts/install_onednn.sh fills from PyPI), then DNNL_DIR / CMAKE_PREFIX_PATH / system paths.
# When found, ebm::cpu links DNNL::dnnl and EBM_HAVE_ONEDNN is ON; otherwise the ConvNet tests, benchmarks and the
# evaluate_energy tool are skipped with a message and everything else builds as before.
option(EBM_WITH_ONEDNN "Use oneDNN v3 for ConvNet energies when it is found" ON)
set(EBM_ONEDNN_ROOT "${PROJECT_SOURCE_DIR}/build/onednn/prefix" CACHE PATH
    "Prefix of a oneDNN v3 installation (default: where scripts/install_onednn.sh installs it)")
set(EBM_HAVE_ONEDNN OFF)
set(EBM_ONEDNN_CONFIG_DIR "")
if(EBM_WITH_ONEDNN)
  # oneDNN 3.2's exported targets file still says cmake_policy(VERSION 2.6); newer CMake needs a floor.
  if(NOT DEFINED CMAKE_POLICY_VERSION_MINIMUM)
    set(CMAKE_POLICY_VERSION_MINIMUM 3.5)
    set(_ebm_unset_policy_minimum ON)
  endif()
  find_package(dnnl 3 CONFIG QUIET HINTS "${EBM_ONEDNN_ROOT}")
  if(_ebm_unset_policy_minimum)
    unset(CMAKE_POLICY_VERSION_MINIMUM)
    unset(_ebm_unset_policy_minimum)
  endif()
  if(dnnl_FOUND AND TARGET DNNL::dnnl)
    if(DEFINED DNNL_CPU_THREADING_RUNTIME AND NOT DNNL_CPU_THREADING_RUNTIME STREQUAL "OMP")
      message(STATUS "ebm: oneDNN ${dnnl_VERSION} uses ${DNNL_CPU_THREADING_RUNTIME} threads, not OpenMP; "
                     "it works, but its threads and ebm's OpenMP threads will not share a pool")
    endif()
    set(EBM_HAVE_ONEDNN ON)
    set(EBM_ONEDNN_CONFIG_DIR "${dnnl_DIR}")
    target_link_libraries(ebm_cpu INTERFACE DNNL::dnnl)
    message(STATUS "ebm: oneDNN ${dnnl_VERSION} found (${dnnl_DIR}); ConvNet energies enabled")
  else()
    message(STATUS "ebm: oneDNN v3 not found (run scripts/install_onednn.sh, or set EBM_ONEDNN_ROOT / DNNL_DIR); "
                   "ConvNet energies, their tests, benchmarks and examples/evaluate_energy are skipped")
  endif()
else()
  message(STATUS "ebm: EBM_WITH_ONEDNN is OFF; ConvNet energies are skipped")
endif()

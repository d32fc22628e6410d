#pragma once
// Eigen for ebm's host code, and a build error where it must not go. nvcc translation units (.cu) must not include
// Eigen: nvcc's host pass sees Eigen with other alignment settings than the host compiler does, so the same inline
// Eigen functions (aligned_malloc / aligned_free) differ between a .cu and a .cpp file of one program, the linker
// keeps one copy of each, and memory allocated by one is freed by the other (heap corruption, e.g. "double free or
// corruption (out)" in a program whose .cu file included the FD code). Keep Eigen code in host-compiled files and
// call it from .cu files through a non-template function (examples/long_run/data_comparison.cpp does).
#if defined(__CUDACC__)
#error "ebm: this header uses Eigen, which must not be included in an nvcc (.cu) translation unit; move the Eigen code to a host-compiled .cpp file and call it through a non-template function (see ebm/detail/eigen.hpp)"
#endif
#include <Eigen/Core>

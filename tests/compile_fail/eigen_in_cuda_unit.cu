// Must not compile: an nvcc translation unit that includes ebm's FD code (Eigen). ebm/detail/eigen.hpp stops it.
#include <ebm/eval/frechet.hpp>

int main() { return 0; }

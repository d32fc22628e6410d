#pragma once
#include <cstdint>
namespace ebm_test {
struct noise_digests {
    std::uint64_t portable;       // kernels/portable_math.hpp Box-Muller and uniform_between over 2^20 words
    std::uint64_t distributions;  // ebm::fill_normal over 2^20 elements
};
// Exported from the two shared libraries (built with hidden visibility, see tests/cuda/CMakeLists.txt).
#if defined(__GNUC__)
#define EBM_DIGEST_EXPORT __attribute__((visibility("default")))
#else
#define EBM_DIGEST_EXPORT
#endif
EBM_DIGEST_EXPORT noise_digests digest_contract_off();
EBM_DIGEST_EXPORT noise_digests digest_contract_fast();
}  // namespace ebm_test

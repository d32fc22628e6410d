#pragma once
#include <cstdint>
namespace ebm_test {
struct noise_digests {
    std::uint64_t portable;       // kernels/portable_math.hpp Box-Muller and uniform_between over 2^20 words
    std::uint64_t distributions;  // ebm::fill_normal over 2^20 elements
};
noise_digests digest_contract_off();
noise_digests digest_contract_fast();
}  // namespace ebm_test

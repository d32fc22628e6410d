// Fuzz harness: checkpoint files (ebm::read_checkpoint_info: safetensors header, CRC-32 checks, metadata,
// counters). Input: the file.
#include <ebm/train/checkpoint.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = ebm_fuzz::write_file("input.safetensors", data, size);
    ebm_fuzz::expect_ebm_errors([&] { (void)ebm::read_checkpoint_info(path); });
    return 0;
}

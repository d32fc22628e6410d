// Fuzz harness: safetensors files (ebm::io::read_safetensors). Input: the file. Only the entry point is used,
// so the harness does not depend on how tensors are represented.
#include <ebm/io/safetensors.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = ebm_fuzz::write_file("input.safetensors", data, size);
    ebm_fuzz::expect_ebm_errors([&] { (void)ebm::io::read_safetensors(path); });
    return 0;
}

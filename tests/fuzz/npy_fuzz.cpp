// Fuzz harness: NumPy .npy files (ebm::io::read_npy). Input: the file.
#include <ebm/io/npy.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = ebm_fuzz::write_file("input.npy", data, size);
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::io::npy_array a = ebm::io::read_npy(path);
        bool empty = false;
        for (ebm::index s : a.shape) {
            ebm_fuzz::check(s >= 0, "read_npy: shape entries >= 0");
            empty = empty || s == 0;
        }
        std::size_t count = empty ? 0 : 1;  // a zero extent: no data, whatever the other extents say
        for (ebm::index s : a.shape)
            ebm_fuzz::check(empty || !__builtin_mul_overflow(count, static_cast<std::size_t>(s), &count),
                            "read_npy: shape product overflows");
        ebm_fuzz::check(a.values.size() == count, "read_npy: values == shape product");
    });
    return 0;
}

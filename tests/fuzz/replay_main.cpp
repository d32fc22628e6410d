// Replays a fuzz corpus without libFuzzer (any compiler): every regular file under each folder given, in name
// order, goes once through the harness's LLVMFuzzerTestOneInput. A harness reports a finding by aborting or by
// letting an exception other than ebm::error / ebm::runtime_error escape, which fails the test.
// Usage: fuzz_<reader> <corpus folder or file>...   A missing or empty folder is an error (exit status 2).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <corpus folder or file>...\n", argv[0]);
        return 2;
    }
    std::vector<std::filesystem::path> inputs;
    for (int k = 1; k < argc; ++k) {
        const std::filesystem::path arg = argv[k];
        std::error_code ec;
        if (std::filesystem::is_regular_file(arg, ec)) {
            inputs.push_back(arg);
            continue;
        }
        if (!std::filesystem::is_directory(arg, ec)) {
            std::fprintf(stderr, "FAILED: corpus folder '%s' does not exist\n", arg.c_str());
            return 2;
        }
        std::vector<std::filesystem::path> found;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(arg))
            if (entry.is_regular_file()) found.push_back(entry.path());
        if (found.empty()) {
            std::fprintf(stderr, "FAILED: corpus folder '%s' holds no files\n", arg.c_str());
            return 2;
        }
        std::sort(found.begin(), found.end());
        inputs.insert(inputs.end(), found.begin(), found.end());
    }
    std::size_t bytes = 0;
    for (const auto& path : inputs) {
        std::ifstream in(path, std::ios::binary);
        const std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.eof() && in.fail()) {
            std::fprintf(stderr, "FAILED: cannot read '%s'\n", path.c_str());
            return 2;
        }
        std::fprintf(stderr, "replay %s (%zu bytes)\n", path.c_str(), data.size());
        try {
            LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "FAILED: '%s' let an exception escape: %s\n", path.c_str(), e.what());
            return 1;
        }
        bytes += data.size();
    }
    std::printf("replayed %zu inputs (%zu bytes): no findings\n", inputs.size(), bytes);
    return 0;
}

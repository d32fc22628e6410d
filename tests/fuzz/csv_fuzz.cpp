// Fuzz harness: diagnostics CSV files, read by ebm::read_csv (plot_diagnostics, train_images) and re-read and
// truncated by ebm::csv_log when a run resumes.
// Input: a first line with first_iteration in decimal (anything else reads as 0), then the CSV file.
// csv_log must leave the header and exactly the parseable rows of iterations < first_iteration, and append after
// them.
#include <ebm/train/diagnostics.hpp>
#include <ebm/train/session.hpp>

#include <charconv>

#include "fuzz_common.hpp"

namespace {

std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string_view number = input.substr(0, newline);
    std::uint64_t first = 0;
    if (std::from_chars(number.data(), number.data() + number.size(), first).ec != std::errc{}) first = 0;
    input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
    const auto path = ebm_fuzz::write_file("diagnostics.csv", input);

    ebm_fuzz::expect_ebm_errors([&] { (void)ebm::read_csv(path); });

    // The rows csv_log keeps: every line after the first that is non-empty, starts with an iteration number
    // (std::stoull of the text before the first comma) and has iteration < first.
    std::vector<std::string> expected;
    {
        const auto before = lines_of(path);
        for (std::size_t k = 1; k < before.size(); ++k) {
            const std::string& line = before[k];
            if (line.empty()) continue;
            try {
                if (std::stoull(line.substr(0, line.find(','))) < first) expected.push_back(line);
            } catch (const std::exception&) {
            }
        }
    }
    ebm_fuzz::expect_ebm_errors([&] {
        ebm::csv_log log(path, first);
        const auto after = lines_of(path);
        ebm_fuzz::check(!after.empty() && after[0] == ebm::csv_header(), "csv_log: the header comes first");
        ebm_fuzz::check(std::vector<std::string>(after.begin() + 1, after.end()) == expected,
                        "csv_log: keeps exactly the rows before first_iteration");
        ebm::iteration_record rec;
        rec.iteration = first;
        log.write(rec);
        const auto appended = lines_of(path);
        ebm_fuzz::check(appended.size() == after.size() + 1 && appended.back() == ebm::csv_row(rec),
                        "csv_log: write appends one row");
    });
    return 0;
}

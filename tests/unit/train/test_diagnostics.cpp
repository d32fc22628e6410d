// Diagnostics: autocorrelation and cross-correlation of the logged series, and the CSV log.
#include <doctest/doctest.h>

#include <ebm/train/diagnostics.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

TEST_CASE("autocorrelation: 1 at lag 0, alternating sign for an alternating series") {
    std::vector<double> a;
    for (int t = 0; t < 200; ++t) a.push_back(t % 2 == 0 ? 1.0 : -1.0);
    const auto r = ebm::autocorrelation(a, 3);
    REQUIRE(r.size() == 4);
    CHECK(r[0] == doctest::Approx(1.0));
    CHECK(r[1] < -0.95);
    CHECK(r[2] > 0.95);
    const auto uncentred = ebm::autocorrelation(std::vector<double>(50, 2.0), 2, false);
    CHECK(uncentred[0] == doctest::Approx(1.0));
    CHECK(uncentred[1] == doctest::Approx(49.0 / 50.0));  // uncentred: a constant series stays correlated
}

TEST_CASE("cross_correlation: a delayed copy peaks at its delay") {
    std::vector<double> a, b;
    for (int t = 0; t < 300; ++t) a.push_back(std::sin(0.37 * t) + 0.5 * std::cos(1.3 * t * t));
    for (int t = 0; t < 300; ++t) b.push_back(t >= 4 ? a[static_cast<std::size_t>(t - 4)] : 0.0);
    const auto r = ebm::cross_correlation(a, b, 6, true);
    REQUIRE(r.size() == 13);
    const auto peak = std::max_element(r.begin(), r.end()) - r.begin();
    CHECK(peak - 6 == 4);  // sum_t a_t b_{t+lag} is largest at lag = +4
}

TEST_CASE("write_csv: header and one row per record, written atomically") {
    const auto dir = std::filesystem::temp_directory_path() / "ebm_test_diagnostics";
    std::filesystem::create_directories(dir);
    const auto path = dir / "log.csv";
    std::vector<ebm::iteration_record> records(3);
    for (std::size_t i = 0; i < 3; ++i) {
        records[i].iteration = i;
        records[i].d = 0.5 * static_cast<double>(i);
        records[i].diverged = i == 2;
    }
    ebm::write_csv(path, records);
    CHECK(!std::filesystem::exists(path.string() + ".tmp"));
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    CHECK(line == ebm::csv_header());
    int rows = 0;
    while (std::getline(in, line)) {
        ++rows;
        CHECK(line.rfind(std::to_string(rows - 1) + ",", 0) == 0);
    }
    CHECK(rows == 3);
    CHECK(ebm::csv_row(records[2]).back() == '1');
    std::filesystem::remove_all(dir);
}

// Diagnostics: autocorrelation and cross-correlation of the logged series, and the CSV log.
#include <doctest/doctest.h>

#include <ebm/train/diagnostics.hpp>

#include "common/error_message.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
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
    CHECK(peak - 6 == -4);  // sum_t a_{t+lag} b_t is largest at lag = -4: b follows a by 4 steps
}

TEST_CASE("cross_correlation equals numpy.correlate(a, b, 'full') of the standardised series, lag for lag") {
    // Reference: numpy 1.24, sa and sb centred and scaled to unit sum of squares / (n - 1), then
    // np.correlate(sa, sb, 'full') / (n - 1); lags -4..4.
    const std::vector<double> a = {1, 2, 0, -1, 3}, b = {0, 1, -2, 1, 0.5};
    const double numpy[] = {0.0,        0.05080005, 0.06350006, -0.48260048, 0.25400025,
                            0.63500064, -0.74930075, 0.25400025, -0.02540003};
    const auto r = ebm::cross_correlation(a, b, 4, true);
    REQUIRE(r.size() == 9);
    for (std::size_t k = 0; k < 9; ++k) {
        INFO("lag " << static_cast<int>(k) - 4);
        CHECK(r[k] == doctest::Approx(numpy[k]).epsilon(1e-6));
    }
}

TEST_CASE("partial_autocorrelation: the closed forms of AR(1) and AR(2)") {
    // AR(1), coefficient f: acf_k = f^k, pacf = 1, f, 0, 0, ...
    const double f = 0.7;
    std::vector<double> acf1;
    for (int k = 0; k <= 6; ++k) acf1.push_back(std::pow(f, k));
    const auto p1 = ebm::partial_autocorrelation(acf1);
    REQUIRE(p1.size() == 7);
    CHECK(p1[0] == 1.0);
    CHECK(p1[1] == doctest::Approx(f));
    for (std::size_t k = 2; k < 7; ++k) CHECK(std::abs(p1[k]) < 1e-12);
    // AR(2) x_t = a x_{t-1} + b x_{t-2}: acf_1 = a / (1 - b), acf_k = a acf_{k-1} + b acf_{k-2}; pacf = 1, acf_1, b, 0...
    const double a = 0.5, b = -0.3;
    std::vector<double> acf2 = {1.0, a / (1.0 - b)};
    for (int k = 2; k <= 6; ++k) acf2.push_back(a * acf2[acf2.size() - 1] + b * acf2[acf2.size() - 2]);
    const auto p2 = ebm::partial_autocorrelation(acf2);
    CHECK(p2[1] == doctest::Approx(a / (1.0 - b)));
    CHECK(p2[2] == doctest::Approx(b));
    for (std::size_t k = 3; k < 7; ++k) CHECK(std::abs(p2[k]) < 1e-12);
    // Negative control: a white-noise acf has no partial correlation; a perfectly predictable series stops the
    // recursion (the rest are 0).
    const auto white = ebm::partial_autocorrelation(std::vector<double>{1, 0, 0, 0});
    CHECK(white[1] == 0.0);
    const auto constant = ebm::partial_autocorrelation(std::vector<double>{1, 1, 1, 1});
    CHECK(constant[1] == 1.0);
    CHECK(constant[2] == 0.0);
    CHECK_THROWS_AS(ebm::partial_autocorrelation(std::vector<double>{}), ebm::error);
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

TEST_CASE("read_csv: reads back what write_csv wrote and rejects a malformed file whole") {
    const auto dir = std::filesystem::temp_directory_path() / "ebm_test_read_csv";
    std::filesystem::create_directories(dir);
    const auto path = dir / "log.csv";
    std::vector<ebm::iteration_record> records(4);
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto& rec = records[i];
        rec.iteration = 10 + i;
        rec.d = -0.25 * static_cast<double>(i) + 0.125;
        rec.v = 1.5, rec.r = 0.0625 * static_cast<double>(i), rec.acceptance = i == 1 ? 0.5 : -1.0;
        rec.positive_energy = -3.0, rec.negative_energy = 2.5, rec.learning_rate = 1e-4, rec.seconds = 0.75;
        rec.non_finite_rejections = static_cast<std::int64_t>(i);
        rec.diverged = i == 3;
    }
    records[3].d = std::numeric_limits<double>::quiet_NaN();  // a skipped update is logged as nan
    ebm::write_csv(path, records);
    const auto back = ebm::read_csv(path);
    REQUIRE(back.size() == records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        CHECK(back[i].iteration == records[i].iteration);
        if (i < 3) CHECK(back[i].d == records[i].d);
        CHECK(back[i].r == records[i].r);
        CHECK(back[i].acceptance == records[i].acceptance);
        CHECK(back[i].learning_rate == doctest::Approx(1e-4).epsilon(1e-8));
        CHECK(back[i].non_finite_rejections == records[i].non_finite_rejections);
        CHECK(back[i].diverged == records[i].diverged);
    }
    CHECK(std::isnan(back[3].d));

    // Written piece by piece (operator+ chains trip GCC 12's false -Wrestrict positive).
    auto write = [&](std::initializer_list<std::string> pieces) {
        std::ofstream out(path, std::ios::trunc);
        out << ebm::csv_header() << '\n';
        for (const auto& piece : pieces) out << piece;
    };
    write({ebm::csv_row(records[0]), "\n", "11,0.5,1,2\n"});
    CHECK(ebm_test::message_of([&] { (void)ebm::read_csv(path); }).find("line 3") != std::string::npos);
    write({ebm::csv_row(records[0]), "x\n"});
    CHECK(ebm_test::message_of([&] { (void)ebm::read_csv(path); }).find("line 2") != std::string::npos);
    std::ofstream(path, std::ios::trunc) << "iteration,d\n";
    CHECK(ebm_test::message_of([&] { (void)ebm::read_csv(path); }).find("header") != std::string::npos);
    CHECK(ebm_test::message_of([&] { (void)ebm::read_csv(dir / "missing.csv"); }).find("ebm::read_csv: cannot open") != std::string::npos);
    std::filesystem::remove_all(dir);
}

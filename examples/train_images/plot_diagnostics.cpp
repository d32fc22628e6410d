// plot_diagnostics: the Anatomy-Fig.-4 figure (d_t, r_t, their cross-correlation and autocorrelations) from a
// diagnostics CSV written by train_images or toy2d -- the same figure train_images draws while it trains.
//
//   plot_diagnostics --csv run/diagnostics.csv --output run/diagnostics.png [--title T] [--window 2000] [--max-lag 15]
//
// Exit status: 0 done, 1 bad input (a malformed CSV is rejected whole; nothing is written).
#include <CLI/CLI.hpp>

#include "common/options.hpp"

#include <ebm/io/diagnostics_figure.hpp>
#include <ebm/train/diagnostics.hpp>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"plot_diagnostics: the Anatomy Fig. 4 diagnostics figure from a diagnostics CSV"};
    std::string csv, output, title = "diagnostics";
    ebm::io::diagnostics_figure_options options;
    app.add_option("--csv", csv, "diagnostics CSV (train_images' diagnostics.csv, toy2d's <run>.csv)")->required();
    app.add_option("--output", output, "PNG file to write")->required();
    app.add_option("--title", title, "title of the top panels");
    app.add_option("--window", options.window, "correlations over the last N iterations")->check(CLI::Range(20, 100'000'000));
    app.add_option("--max-lag", options.max_lag, "largest lag of the correlations")->check(CLI::Range(1, 1000));
    CLI11_PARSE(app, argc, argv);
    try {
        const auto records = ebm::read_csv(csv);
        ebm::io::diagnostics_figure(output, title, records, options);
        std::printf("plot_diagnostics: %zu iterations -> %s\n", records.size(), output.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "plot_diagnostics: %s\n", e.what());
        return 1;
    }
}

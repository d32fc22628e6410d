// score_images: Fréchet distance (FD) and kernel distance (KID) of generated images against a reference set, on the
// fixed random-feature map ebm::eval::image_features (v1, 1024 features). See docs/scores.md.
//
//   score_images --samples FILE.npy [--reference fashion_mnist_test | --reference-npy FILE.npy] [--json OUT.json]
//   score_images --baseline train|noise [--reference ... | --reference-npy ...] [--json OUT.json]
//
// Images are N x C x S x S float32 arrays in [-1, 1] (what sample_images writes as short_run.npy), S a multiple of
// 8; samples and reference must have the same C and S. The reference fashion_mnist_test is the Fashion-MNIST test
// split (10,000 images) exactly as train_images loads it with data.fit = pad, image_size 32, channels 1: bytes
// b -> b / 127.5 - 1, 28x28 centred in 32x32 with -1 around (Debian's dataset-fashion-mnist, or
// --fashion-mnist-dir). The calibration points: --baseline train scores the first 10,000 Fashion-MNIST training
// images (the floor: real images that are not the reference), --baseline noise scores 10,000 U[-1,1] images of the
// reference's shape (the ceiling: exactly the starting states of sample_images' chains with its default seed 2024).
// Exit status: 0 done, 1 bad input (shape, non-finite values, fewer than 50 images, missing files).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/options.hpp"

#include <ebm/batch.hpp>
#include <ebm/data/dataset.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/error.hpp>
#include <ebm/eval/frechet.hpp>
#include <ebm/eval/image_features.hpp>
#include <ebm/eval/kernel_distance.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/random/philox.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fs = std::filesystem;

namespace {

constexpr const char* tool = "score_images";
constexpr ebm::index min_images = 50;          // below this, both scores are mostly estimation noise
constexpr ebm::index baseline_images = 10'000;  // size of the train and noise calibration sets
constexpr std::uint64_t noise_seed = 2024;     // sample_images' default --seed

/// A set of images: NCHW floats, with where they came from.
struct image_set {
    std::vector<float> values;
    ebm::index count = 0, channels = 0, size = 0;
    std::string name;

    [[nodiscard]] ebm::const_batch_view view() const { return {values.data(), channels * size * size, count}; }
    [[nodiscard]] std::string shape() const {
        return std::to_string(channels) + "x" + std::to_string(size) + "x" + std::to_string(size);
    }
};

std::string shape_text(const std::vector<ebm::index>& shape) {
    std::string s;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        if (k > 0) s += 'x';  // appending: "x" + string trips a GCC 12 -Wrestrict false positive
        s += std::to_string(shape[k]);
    }
    return s.empty() ? "scalar" : s;
}

/// An N x C x S x S float32 .npy with finite values and S a multiple of 8.
image_set read_images(const std::string& flag, const std::string& path) {
    ebm::io::npy_array a = ebm::io::read_npy(path);
    const std::string what = flag + " '" + path + "'";
    if (a.shape.size() != 4 || a.shape[2] != a.shape[3] || a.shape[1] < 1 || a.shape[2] < 1)
        ebm::detail::fail(tool, what + " must be an N x C x S x S array (square images); shape", shape_text(a.shape));
    if (a.shape[2] % 8 != 0)
        ebm::detail::fail(tool, what + " must hold images whose side S is a multiple of 8; S", a.shape[2]);
    for (std::size_t k = 0; k < a.values.size(); ++k)
        if (!std::isfinite(a.values[k]))
            ebm::detail::fail(tool, what + " must be finite; value " + std::to_string(k) + " is not", a.values[k]);
    image_set s;
    s.count = a.shape[0];
    s.channels = a.shape[1];
    s.size = a.shape[2];
    s.values = std::move(a.values);
    s.name = path;
    return s;
}

/// Fashion-MNIST as train_images loads it (data.fit = pad, image_size 32, channels 1), first `limit` images.
image_set fashion_mnist(const fs::path& folder, bool train_split, ebm::index limit) {
    const std::string split = train_split ? "train" : "t10k";
    const fs::path file = folder / (split + "-images-idx3-ubyte.gz");
    if (!fs::exists(file))
        ebm::detail::fail(tool, "Fashion-MNIST file not found (install Debian's dataset-fashion-mnist or give "
                                "--fashion-mnist-dir)", file.string());
    ebm::data::dataset data(ebm::data::read_idx_images(file));
    if (limit > 0) data.truncate(limit);
    const ebm::data::dataset padded = data.fit({1, 32, 32}, ebm::data::fit_mode::pad);
    image_set s;
    s.count = padded.size();
    s.channels = 1;
    s.size = 32;
    s.values.assign(padded.images().data, padded.images().data + padded.images().size());
    s.name = train_split ? "fashion_mnist_train" : "fashion_mnist_test";
    return s;
}

/// 10,000 U[-1,1] images of the reference's shape: sample_images' initial chains with seed 2024.
image_set noise_like(const image_set& reference) {
    image_set s;
    s.count = baseline_images;
    s.channels = reference.channels;
    s.size = reference.size;
    s.values.resize(static_cast<std::size_t>(s.count * s.channels * s.size * s.size));
    const ebm::batch_view x{s.values.data(), s.channels * s.size * s.size, s.count};
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(ebm::seed{noise_seed}), ebm::purpose::init_noise, 0);
    s.name = "noise";
    return s;
}

void require_enough(const std::string& what, const image_set& s) {
    if (s.count < min_images)
        ebm::detail::fail(tool, what + " must hold at least " + std::to_string(min_images) + " images; images",
                          s.count);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"score_images: FD and KID of images against a reference, on ebm's fixed random-feature map"};
    std::string samples, baseline, reference = "fashion_mnist_test", reference_npy, json, fmnist_dir;
    int threads = 0;
    auto* samples_opt = app.add_option("--samples", samples, "images to score: N x C x S x S float32 .npy in [-1,1]");
    auto* baseline_opt = app.add_option("--baseline", baseline,
                                        "score a calibration set instead: train (10,000 Fashion-MNIST training "
                                        "images, the floor) or noise (10,000 U[-1,1] images, the ceiling)")
                             ->check(CLI::IsMember({"train", "noise"}));
    auto* reference_opt = app.add_option("--reference", reference, "named reference set")
                              ->check(CLI::IsMember({"fashion_mnist_test"}))->capture_default_str();
    app.add_option("--reference-npy", reference_npy, "reference images as an N x C x S x S float32 .npy")
        ->excludes(reference_opt);
    app.add_option("--fashion-mnist-dir", fmnist_dir, "folder of the Fashion-MNIST .gz files")
        ->default_str(ebm::data::debian_fashion_mnist_folder.string());
    app.add_option("--json", json, "also write the scores to this JSON file (atomically)");
    app.add_option("--threads", threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    samples_opt->excludes(baseline_opt);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);  // prints help, or the flag error
        return rc == 0 ? 0 : 1;      // every bad flag is bad input: exit 1
    }
#if defined(_OPENMP)
    if (threads > 0) omp_set_num_threads(threads);
#endif

    try {
        if (samples.empty() && baseline.empty())
            ebm::detail::fail(tool, "give --samples FILE.npy or --baseline train|noise", "neither");
        const fs::path folder = fmnist_dir.empty() ? ebm::data::debian_fashion_mnist_folder : fs::path(fmnist_dir);
        const auto t0 = std::chrono::steady_clock::now();

        const image_set ref = reference_npy.empty() ? fashion_mnist(folder, false, 0)
                                                    : read_images("--reference-npy", reference_npy);
        image_set set;
        if (!samples.empty())
            set = read_images("--samples", samples);
        else if (baseline == "train")
            set = fashion_mnist(folder, true, baseline_images);
        else
            set = noise_like(ref);
        const std::string set_what = samples.empty() ? "--baseline " + baseline : "--samples '" + samples + "'";
        require_enough(set_what, set);
        require_enough(reference_npy.empty() ? "the reference" : "--reference-npy '" + reference_npy + "'", ref);
        if (set.channels != ref.channels || set.size != ref.size)
            ebm::detail::fail(tool, set_what + " must have the reference's image shape " + ref.shape() + " (" + ref.name +
                                        "); shape", set.shape());
        const auto [low, high] = std::minmax_element(set.values.begin(), set.values.end());
        std::printf("score_images: %s (%lld images %s, values in [%.3g, %.3g]) vs %s (%lld images)\n",
                    set.name.c_str(), static_cast<long long>(set.count), set.shape().c_str(), *low, *high,
                    ref.name.c_str(), static_cast<long long>(ref.count));

        const ebm::eval::image_features map(ref.channels);
        const auto t1 = std::chrono::steady_clock::now();
        const Eigen::MatrixXf fx = map(set.view(), set.size);
        const Eigen::MatrixXf fy = map(ref.view(), ref.size);
        const double feature_seconds = seconds_since(t1);
        const auto t2 = std::chrono::steady_clock::now();
        const double fd = ebm::eval::frechet_distance(fx, fy);
        const double fd_seconds = seconds_since(t2);
        const auto t3 = std::chrono::steady_clock::now();
        const ebm::eval::kid_result kid = ebm::eval::kernel_distance(fx, fy);
        const double kid_seconds = seconds_since(t3);

        std::printf("FD  %.6g\n", fd);
        std::printf("KID %.6g +- %.2g (std over %lld subsets of %lld)\n", kid.mean, kid.std,
                    static_cast<long long>(kid.subsets), static_cast<long long>(kid.subset_size));
        std::printf("images %lld vs %lld; features v%d (%lld-d) %.1f s, FD %.1f s, KID %.1f s, total %.1f s\n",
                    static_cast<long long>(set.count), static_cast<long long>(ref.count),
                    ebm::eval::image_features::version, static_cast<long long>(ebm::eval::image_features::dimension),
                    feature_seconds, fd_seconds, kid_seconds, seconds_since(t0));

        if (!json.empty()) {
            nlohmann::ordered_json j;
            j["samples"] = set.name;
            j["kind"] = samples.empty() ? "baseline_" + baseline : "samples";
            j["reference"] = ref.name;
            j["image_shape"] = {set.channels, set.size, set.size};
            j["images"] = set.count;
            j["reference_images"] = ref.count;
            j["fd"] = fd;
            j["kid"] = kid.mean;
            j["kid_std"] = kid.std;
            j["kid_subsets"] = kid.subsets;
            j["kid_subset_size"] = kid.subset_size;
            j["feature_map"] = {{"name", "ebm::eval::image_features"},
                                {"version", ebm::eval::image_features::version},
                                {"dimension", ebm::eval::image_features::dimension},
                                {"seed", ebm::eval::image_features::default_seed}};
            ebm::io::write_file_atomically(json, j.dump(2) + "\n", tool);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "score_images: %s\n", e.what());
        return 1;
    }
}

// .npy and safetensors: round trips, PyTorch state_dict names, and bad files (wrong dtype, missing / extra /
// mis-shaped tensors, NaN weights, truncated data) rejected with ebm::error naming what is wrong, with nothing
// written or changed partially. Also the evaluate_energy tool end to end when the examples are built, with the
// ConvNets and with a network description (--arch FILE.json).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/safetensors.hpp>

#include "convnet_test_support.hpp"

using namespace convnet_test;

namespace {

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const ebm::error& e) {
        return e.what();
    }
    return "(no ebm::error)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string npy_with(const std::string& dict, std::size_t data_bytes) {
    std::string header = dict;
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + std::string(data_bytes, '\0');
}

std::string safetensors_with(const std::string& json, std::size_t data_bytes) {
    std::string out(8, '\0');
    const std::uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    return out + json + std::string(data_bytes, '\0');
}

/// The tool's energies (u.npy, shape [n]) and dU/dx (g.npy, `shape`) in `dir` against the library's for x.
template <class Net>
void check_tool_output(const Net& net, const ebm::batch& x, const std::vector<ebm::index>& shape,
                       const scratch_dir& dir) {
    const ebm::index n = x.count();
    auto ws = net.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n));
    ebm::batch g(net.dimension(), n);
    net.energy_and_gradient(x, u, g, ws);
    const auto u_tool = ebm::io::read_npy(dir.file("u.npy"));
    const auto g_tool = ebm::io::read_npy(dir.file("g.npy"));
    CHECK(u_tool.shape == std::vector<ebm::index>{n});
    CHECK(g_tool.shape == shape);
    CHECK(relative_error(u_tool.values, u) < 1e-5);
    CHECK(relative_error(g_tool.values, g.view().values()) < 1e-5);
}

}  // namespace

TEST_CASE("npy: float32 round trip / numpy's header layout / 1-d and 0-d shapes") {
    scratch_dir dir;
    const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f};
    ebm::io::write_npy(dir.file("a.npy"), v, {2, 3});
    const auto a = ebm::io::read_npy(dir.file("a.npy"));
    CHECK(a.shape == std::vector<ebm::index>{2, 3});
    CHECK(a.values == v);
    std::ifstream in(dir.file("a.npy"), std::ios::binary);
    std::string head(128, '\0');
    in.read(head.data(), 128);
    CHECK(contains(head, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    CHECK(std::filesystem::file_size(dir.file("a.npy")) == 128 + 6 * 4);  // header padded to 64 bytes
    ebm::io::write_npy(dir.file("b.npy"), std::span<const float>(v).first(5), {5});
    CHECK(ebm::io::read_npy(dir.file("b.npy")).shape == std::vector<ebm::index>{5});
    ebm::io::write_npy(dir.file("c.npy"), std::span<const float>(v).first(1), {});
    CHECK(ebm::io::read_npy(dir.file("c.npy")).values == std::vector<float>{1.5f});
    // A header written by numpy (with an 'L'-free shape and trailing spaces) reads the same.
    write_bytes(dir.file("np.npy"), npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2), }", 16));
    CHECK(ebm::io::read_npy(dir.file("np.npy")).shape == std::vector<ebm::index>{2, 1, 2});
    // No temporary files left behind.
    for (const auto& entry : std::filesystem::directory_iterator(dir.path))
        CHECK_FALSE(contains(entry.path().filename().string(), ".tmp-"));
}

TEST_CASE("npy: non-float32 / Fortran order / truncated and garbage files are ebm::errors - failed writes leave no file") {
    scratch_dir dir;
    write_bytes(dir.file("f8.npy"), npy_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16));
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("f8.npy")); }),
                   "ebm::read_npy: dtype must be float32 '<f4' in"));
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("f8.npy")); }), "(got '<f8')"));
    write_bytes(dir.file("i4.npy"), npy_with("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8));
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("i4.npy")); }), "dtype must be float32"));
    write_bytes(dir.file("fo.npy"), npy_with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16));
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("fo.npy")); }), "C order"));
    write_bytes(dir.file("short.npy"), npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 20));
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("short.npy")); }),
                   "data size does not match shape (3, 2)"));
    write_bytes(dir.file("junk.npy"), "hello world, not numpy");
    CHECK(contains(error_of([&] { (void)ebm::io::read_npy(dir.file("junk.npy")); }), "not a .npy file"));
    CHECK_THROWS_AS((void)ebm::io::read_npy(dir.file("missing.npy")), ebm::runtime_error);

    const std::vector<float> v(6, 1.0f);
    CHECK(contains(error_of([&] { ebm::io::write_npy(dir.file("bad.npy"), v, {4, 2}); }),
                   "the product of the shape must equal the number of values (6) (got 8)"));
    CHECK_FALSE(std::filesystem::exists(dir.file("bad.npy")));
    // An existing file stays intact when a later write fails.
    ebm::io::write_npy(dir.file("keep.npy"), v, {6});
    CHECK_THROWS((void)ebm::io::write_npy(dir.file("keep.npy"), v, {7}));
    CHECK(ebm::io::read_npy(dir.file("keep.npy")).values == v);
    CHECK_THROWS_AS(ebm::io::write_npy(dir.file("no_such_dir/x.npy"), v, {6}), ebm::runtime_error);
}

TEST_CASE("safetensors: parameters round trip under PyTorch's state_dict names - metadata kept") {
    scratch_dir dir;
    const auto net = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{3});
    ebm::io::save_parameters(net, dir.file("w.safetensors"), {{"format", "pt"}, {"arch", "short_run_32"}});
    const auto file = ebm::io::read_safetensors(dir.file("w.safetensors"));
    CHECK(file.metadata.at("format") == "pt");
    REQUIRE(file.tensors.size() == net.parameter_tensors().size());
    CHECK(file.tensors[0].name == "f.0.weight");
    CHECK(file.tensors[0].shape == std::vector<ebm::index>{4, 3, 3, 3});
    auto other = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{4});
    ebm::io::load_parameters(other, dir.file("w.safetensors"));
    CHECK(std::equal(net.parameters().begin(), net.parameters().end(), std::as_const(other).parameters().begin()));
    // Tensor data begins 8-byte aligned.
    std::uint64_t n = 0;
    std::ifstream in(dir.file("w.safetensors"), std::ios::binary);
    in.read(reinterpret_cast<char*>(&n), 8);
    CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: missing / extra / mis-shaped / non-F32 and NaN tensors are ebm::errors - parameters unchanged") {
    scratch_dir dir;
    auto net = ebm::convnet::short_run(32, 4, 1, 0.2f, {}, ebm::seed{3});
    const std::vector<float> before(net.parameters().begin(), net.parameters().end());
    auto tensors = ebm::io::parameter_tensors_of(net);
    const auto unchanged = [&] {
        return std::equal(before.begin(), before.end(), std::as_const(net).parameters().begin());
    };

    auto missing = tensors;
    missing.erase(missing.begin() + 3);  // f.2.bias
    ebm::io::write_safetensors(dir.file("missing.safetensors"), missing);
    const std::string e1 = error_of([&] { ebm::io::load_parameters(net, dir.file("missing.safetensors")); });
    CHECK(contains(e1, "ebm::load_parameters: tensor 'f.2.bias' [8] is missing from"));
    CHECK(unchanged());

    auto extra = tensors;
    extra.push_back(ebm::io::named_tensor::of("f.9.weight", {2}, std::vector<float>{1.0f, 2.0f}));
    ebm::io::write_safetensors(dir.file("extra.safetensors"), extra);
    const std::string e2 = error_of([&] { ebm::io::load_parameters(net, dir.file("extra.safetensors")); });
    CHECK(contains(e2, "unexpected tensor"));
    CHECK(contains(e2, "(got 'f.9.weight')"));
    CHECK(unchanged());

    auto shaped = tensors;
    shaped[0].shape = {4, 1, 9};  // same count, wrong shape
    ebm::io::write_safetensors(dir.file("shape.safetensors"), shaped);
    const std::string e3 = error_of([&] { ebm::io::load_parameters(net, dir.file("shape.safetensors")); });
    CHECK(contains(e3, "tensor 'f.0.weight' in"));
    CHECK(contains(e3, "must have shape [4, 1, 3, 3] (got '[4, 1, 9]')"));
    CHECK(unchanged());

    auto nan = tensors;
    const float not_a_number = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(nan[4].bytes.data() + 5 * sizeof(float), &not_a_number, sizeof(float));
    ebm::io::write_safetensors(dir.file("nan.safetensors"), nan);
    CHECK(contains(error_of([&] { ebm::io::load_parameters(net, dir.file("nan.safetensors")); }),
                   "tensor 'f.4.weight' in"));
    CHECK(unchanged());

    // A 3-channel file into a 1-channel net: the first weight's shape names the mismatch.
    const auto rgb = ebm::convnet::short_run(32, 4, 3);
    ebm::io::save_parameters(rgb, dir.file("rgb.safetensors"));
    CHECK(contains(error_of([&] { ebm::io::load_parameters(net, dir.file("rgb.safetensors")); }),
                   "must have shape [4, 1, 3, 3] (got '[4, 3, 3, 3]')"));
    CHECK(unchanged());

    write_bytes(dir.file("f16.safetensors"),
                safetensors_with(R"({"f.0.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4));
    CHECK(contains(error_of([&] { (void)ebm::io::read_safetensors(dir.file("f16.safetensors")); }),
                   "tensor 'f.0.weight' has a dtype other than F32, F64, I64, U32 and U64 (got '\"F16\"')"));
    write_bytes(dir.file("range.safetensors"),
                safetensors_with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
    CHECK(contains(error_of([&] { (void)ebm::io::read_safetensors(dir.file("range.safetensors")); }),
                   "data_offsets lie outside the data"));
    write_bytes(dir.file("size.safetensors"),
                safetensors_with(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16));
    CHECK(contains(error_of([&] { (void)ebm::io::read_safetensors(dir.file("size.safetensors")); }),
                   "byte size does not match its dtype and shape [3]"));
    write_bytes(dir.file("json.safetensors"), safetensors_with("{not json", 0));
    CHECK(contains(error_of([&] { (void)ebm::io::read_safetensors(dir.file("json.safetensors")); }),
                   "the JSON header cannot be parsed"));
    write_bytes(dir.file("tiny.safetensors"), "abc");
    CHECK(contains(error_of([&] { (void)ebm::io::read_safetensors(dir.file("tiny.safetensors")); }),
                   "shorter than the 8-byte header length"));
    CHECK_THROWS_AS((void)ebm::io::read_safetensors(dir.file("absent.safetensors")), ebm::runtime_error);
    std::vector<ebm::io::named_tensor> bad = {ebm::io::named_tensor::of("a", {3}, std::vector<float>{1.0f, 2.0f})};
    CHECK(contains(error_of([&] { ebm::io::write_safetensors(dir.file("bad.safetensors"), bad); }),
                   "tensor 'a' has 2 values but shape [3]"));
    CHECK_FALSE(std::filesystem::exists(dir.file("bad.safetensors")));
}

#ifdef EBM_EVALUATE_ENERGY_TOOL
TEST_CASE("evaluate_energy tool: energies and gradients match the library - bad input fails and writes nothing") {
    scratch_dir dir;
    const auto net = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{8});
    ebm::io::save_parameters(net, dir.file("w.safetensors"));
    const ebm::index n = 5;
    const ebm::batch x = uniform_batch(net.dimension(), n, 17);
    ebm::io::write_npy(dir.file("x.npy"), x.view().values(), {n, 3, 32, 32});
    const std::string tool = EBM_EVALUATE_ENERGY_TOOL;
    const std::string common = tool + " --arch short_run --image-size 32 --n-f 4 --channels 3 --weights " +
                               dir.file("w.safetensors") + " --batch 2";
    const auto run = [&](const std::string& args) {
        return std::system((common + " " + args + " >" + dir.file("log.txt") + " 2>&1").c_str());
    };
    REQUIRE(run("--input " + dir.file("x.npy") + " --energies " + dir.file("u.npy") + " --gradients " +
                dir.file("g.npy")) == 0);
    check_tool_output(net, x, {n, 3, 32, 32}, dir);

    const auto read_log = [&] {
        std::ifstream in(dir.file("log.txt"));
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    // NaN input: an error naming it; no output written.
    ebm::batch bad = x;
    bad.data()[700] = std::numeric_limits<float>::quiet_NaN();
    ebm::io::write_npy(dir.file("nan.npy"), bad.view().values(), {n, 3, 32, 32});
    CHECK(run("--input " + dir.file("nan.npy") + " --energies " + dir.file("u2.npy")) != 0);
    CHECK(contains(read_log(), "must be finite; element 700 is not"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u2.npy")));
    // Wrong image size and channel count.
    ebm::io::write_npy(dir.file("small.npy"), std::span<const float>(x.data(), 2 * 3 * 16 * 16), {2, 3, 16, 16});
    CHECK(run("--input " + dir.file("small.npy") + " --energies " + dir.file("u3.npy")) != 0);
    CHECK(contains(read_log(), "input must have shape [N, 3, 32, 32] (got '[2, 3, 16, 16]')"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u3.npy")));
    // A float64 file.
    write_bytes(dir.file("f8.npy"), npy_with("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3, 32, 32), }",
                                             3 * 32 * 32 * 8));
    CHECK(run("--input " + dir.file("f8.npy") + " --energies " + dir.file("u4.npy")) != 0);
    CHECK(contains(read_log(), "dtype must be float32"));
    // Weights for another width.
    const auto wide = ebm::convnet::short_run(32, 8, 3);
    ebm::io::save_parameters(wide, dir.file("wide.safetensors"));
    CHECK(std::system((tool + " --arch short_run --n-f 4 --weights " + dir.file("wide.safetensors") + " --input " +
                       dir.file("x.npy") + " --energies " + dir.file("u5.npy") + " >" + dir.file("log.txt") + " 2>&1")
                          .c_str()) != 0);
    CHECK(contains(read_log(), "tensor 'f.0.weight' in"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u5.npy")));
    // An unsupported image size for the architecture.
    CHECK(std::system((tool + " --arch short_run --image-size 48 --weights " + dir.file("w.safetensors") +
                       " --input " + dir.file("x.npy") + " --energies " + dir.file("u6.npy") + " >" +
                       dir.file("log.txt") + " 2>&1")
                          .c_str()) != 0);
    CHECK(contains(read_log(), "image_size must be 32, 64 or 128 (got 48)"));
}

TEST_CASE("evaluate_energy tool: --arch FILE.json evaluates a network description - bad descriptions and shapes fail and write nothing") {
    scratch_dir dir;
    const std::string tool = EBM_EVALUATE_ENERGY_TOOL;
    const auto run = [&](const std::string& args) {
        return std::system((tool + " " + args + " >" + dir.file("log.txt") + " 2>&1").c_str());
    };
    const auto read_log = [&] {
        std::ifstream in(dir.file("log.txt"));
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    // Images: a convolution, a residual block with a skip convolution, a linear head, and the description's sign.
    const std::string description =
        R"({"input": [2, 8, 8], "negate": true, "layers": [)"
        R"({"type": "Conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "SiLU"},)"
        R"({"type": "AvgPool2d", "kernel_size": 2},)"
        R"({"type": "ResidualBlock", "in_channels": 4, "out_channels": 6, "activation": {"type": "ELU"}},)"
        R"({"type": "Flatten"}, {"type": "Linear", "in_features": 96, "out_features": 1}]})";
    write_bytes(dir.file("net.json"), description);
    const ebm::network net(ebm::network_spec_from_json(nlohmann::json::parse(description)), ebm::seed{3});
    ebm::io::save_parameters(net, dir.file("w.safetensors"));
    const ebm::index n = 5;
    const ebm::batch x = uniform_batch(net.dimension(), n, 21);
    ebm::io::write_npy(dir.file("x.npy"), x.view().values(), {n, 2, 8, 8});
    const std::string network = " --arch " + dir.file("net.json") + " --input " + dir.file("x.npy");
    REQUIRE(run(network + " --weights " + dir.file("w.safetensors") + " --batch 2 --energies " + dir.file("u.npy") +
                " --gradients " + dir.file("g.npy")) == 0);
    check_tool_output(net, x, {n, 2, 8, 8}, dir);
    // --init-seed gives ebm::network's own initialisation from that seed.
    REQUIRE(run(network + " --init-seed 3 --energies " + dir.file("u_init.npy")) == 0);
    CHECK(relative_error(ebm::io::read_npy(dir.file("u_init.npy")).values, ebm::io::read_npy(dir.file("u.npy")).values) <
          1e-5);

    // A flat input [D] takes [N, D] states.
    const std::string flat = R"({"input": [6], "layers": [{"type": "Linear", "in_features": 6, "out_features": 4},)"
                             R"( {"type": "Tanh"}, {"type": "Linear", "in_features": 4, "out_features": 1}]})";
    write_bytes(dir.file("flat.json"), flat);
    const ebm::network flat_net(ebm::network_spec_from_json(nlohmann::json::parse(flat)), ebm::seed{4});
    const ebm::batch y = uniform_batch(6, 3, 22);
    ebm::io::write_npy(dir.file("y.npy"), y.view().values(), {3, 6});
    REQUIRE(run("--arch " + dir.file("flat.json") + " --init-seed 4 --input " + dir.file("y.npy") + " --energies " +
                dir.file("uy.npy") + " --gradients " + dir.file("gy.npy")) == 0);
    auto flat_ws = flat_net.make_workspace(3);
    std::vector<float> uy(3);
    flat_net.energy(y, uy, flat_ws);
    CHECK(relative_error(ebm::io::read_npy(dir.file("uy.npy")).values, uy) < 1e-5);
    CHECK(ebm::io::read_npy(dir.file("gy.npy")).shape == std::vector<ebm::index>{3, 6});

    // States of another shape.
    ebm::io::write_npy(dir.file("wide.npy"), std::span<const float>(x.data(), 2 * 3 * 8 * 8), {2, 3, 8, 8});
    CHECK(run("--arch " + dir.file("net.json") + " --weights " + dir.file("w.safetensors") + " --input " +
              dir.file("wide.npy") + " --energies " + dir.file("u1.npy")) != 0);
    CHECK(contains(read_log(), "input must have shape [N, 2, 8, 8] (got '[2, 3, 8, 8]')"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u1.npy")));
    // A file that is not JSON, a layer type that does not exist, a file that does not exist.
    write_bytes(dir.file("broken.json"), R"({"input": [2, 8, 8], "layers": [)");
    CHECK(run("--arch " + dir.file("broken.json") + " --init-seed 1 --input " + dir.file("x.npy") + " --energies " +
              dir.file("u2.npy")) != 0);
    CHECK(contains(read_log(), "ebm::load_network_spec: " + dir.file("broken.json") + " is not valid JSON"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u2.npy")));
    write_bytes(dir.file("dense.json"), R"({"input": [2, 8, 8], "layers": [{"type": "Flatten"}, {"type": "Dense"}]})");
    CHECK(run("--arch " + dir.file("dense.json") + " --init-seed 1 --input " + dir.file("x.npy") + " --energies " +
              dir.file("u3.npy")) != 0);
    CHECK(contains(read_log(), "layers[1]: unknown layer type 'Dense'"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u3.npy")));
    CHECK(run("--arch " + dir.file("absent.json") + " --init-seed 1 --input " + dir.file("x.npy") + " --energies " +
              dir.file("u4.npy")) != 0);
    CHECK(contains(read_log(), "cannot open the network description (got '" + dir.file("absent.json") + "')"));
    // The description sets its own sign and shape: the ConvNets' options are refused with it.
    CHECK(run(network + " --weights " + dir.file("w.safetensors") + " --negate --energies " + dir.file("u5.npy")) != 0);
    CHECK(contains(read_log(), "--negate does not apply to --arch FILE.json"));
    CHECK(run(network + " --weights " + dir.file("w.safetensors") + " --channels 2 --energies " + dir.file("u5.npy")) != 0);
    CHECK(contains(read_log(), "--channels does not apply to --arch FILE.json"));
    CHECK_FALSE(std::filesystem::exists(dir.file("u5.npy")));
    // An unknown name that is not a file is still an unknown architecture.
    CHECK(run("--arch resnet --init-seed 1 --input " + dir.file("x.npy") + " --energies " + dir.file("u6.npy")) != 0);
    CHECK(contains(read_log(), "--arch must be short_run, vanilla, nonlocal or a network description FILE.json (got 'resnet')"));
}
#endif

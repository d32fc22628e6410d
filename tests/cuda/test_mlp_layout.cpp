// The CUDA MLP's kernel layouts (backend/cuda/mlp_layout.hpp) as plain C++: the flat view is ebm::mlp's parameter
// layout, the shared-memory copy keeps every row 16-byte aligned, the matrices apart and a quarter warp's float4 reads
// in 32 different banks, and the lanes-per-row rule fills a team. The kernels that use these layouts run on a GPU
// (test_cuda_gpu); a wrong layout here would give wrong energies there or slow kernels, not an error.
#include <doctest/doctest.h>

#include <ebm/backend/cuda/mlp_layout.hpp>
#include <ebm/energy/parameter_tensor.hpp>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

namespace detail = ebm::cuda_backend::detail;

namespace {

// Networks with the toy's sizes, widths that are not multiples of 4, a wide input and the most layers the kernels take.
const std::vector<std::vector<int>> networks = {
    {2, 32, 64, 64, 64, 1}, {3, 37, 70, 5, 19, 1}, {784, 128, 1}, {2, 16, 16, 16, 16, 16, 16, 16, 1}, {1, 200, 1}};

detail::mlp_shape flat_of(const std::vector<int>& sizes) {
    return detail::flat_shape(sizes.data(), static_cast<int>(sizes.size()));
}

// Half-open float ranges of one layout's parts.
void add_range(std::vector<std::pair<int, int>>& ranges, int begin, int count) { ranges.emplace_back(begin, begin + count); }

}  // namespace

TEST_CASE("MLP kernel layout: lanes per row fill a team of 128 threads") {
    CHECK(detail::row_split(1) == 32);
    CHECK(detail::row_split(2) == 32);
    CHECK(detail::row_split(5) == 16);
    CHECK(detail::row_split(32) == 4);
    CHECK(detail::row_split(37) == 2);
    CHECK(detail::row_split(64) == 2);
    CHECK(detail::row_split(65) == 1);
    for (int rows = 1; rows <= 300; ++rows) {
        const int split = detail::row_split(rows);
        INFO("rows " << rows << ", split " << split);
        CHECK((split & (split - 1)) == 0);
        CHECK(split <= 32);
        CHECK((split == 1 || split * rows <= detail::team_threads));
        CHECK((split == 32 || 2 * split * rows > detail::team_threads));
    }
}

TEST_CASE("MLP kernel layout: the flat view is ebm::mlp's parameter layout") {
    for (const auto& sizes : networks) {
        const std::vector<ebm::index> wide(sizes.begin(), sizes.end());
        const auto tensors = ebm::mlp_parameter_tensors(wide);
        const detail::mlp_shape s = flat_of(sizes);
        INFO("network of " << sizes.size() - 1 << " layers, input " << sizes[0]);
        REQUIRE(s.layers == static_cast<int>(sizes.size()) - 1);
        CHECK(s.input == sizes[0]);
        int hidden = 0, widest = 0;
        for (int l = 0; l < s.layers; ++l) {
            const int in = sizes[static_cast<std::size_t>(l)], out = sizes[static_cast<std::size_t>(l) + 1];
            const auto& w = s.forward[l];
            const auto& wt = s.backward[l];
            CHECK(w.offset == tensors[2 * static_cast<std::size_t>(l)].offset);
            CHECK(s.bias_offset[l] == tensors[2 * static_cast<std::size_t>(l) + 1].offset);
            CHECK((w.rows == out && w.columns == in && w.row_stride == in && w.column_stride == 1));
            CHECK((wt.offset == w.offset && wt.rows == in && wt.columns == out && wt.row_stride == 1 &&
                   wt.column_stride == in));
            CHECK(w.vector == (w.offset % 4 == 0 && in % 4 == 0));
            CHECK_FALSE(wt.vector);
            if (l + 1 < s.layers) {
                CHECK(s.z_offset[l] == hidden);
                hidden += detail::padded4(out);
            }
            widest = std::max({widest, in, out});
        }
        CHECK(s.hidden_floats == hidden);
        CHECK(s.widest == detail::padded4(widest));
        CHECK(s.parameter_floats == tensors.back().offset + tensors.back().count());
    }
}

TEST_CASE("MLP kernel layout: the shared-memory copy is aligned, disjoint and free of bank conflicts") {
    for (const auto& sizes : networks) {
        const detail::mlp_shape flat = flat_of(sizes);
        const detail::mlp_shape s = detail::shared_shape(flat);
        INFO("network of " << sizes.size() - 1 << " layers, input " << sizes[0]);
        std::vector<std::pair<int, int>> parts;
        for (int l = 0; l < s.layers; ++l) {
            for (const detail::row_product* m : {&s.forward[l], &s.backward[l]}) {
                CHECK(m->vector);
                CHECK(m->row_stride >= m->columns);
                CHECK(m->offset % 4 == 0);
                add_range(parts, m->offset, m->rows * m->row_stride);
                // A quarter warp: 8 lanes, `split` of them on each of 8 / split rows, lane k at float4 k of its row.
                const int split = 1 << m->split_shift;
                if (split < 8) {
                    std::set<int> groups;
                    for (int q = 0; q < 8; ++q) {
                        const int r = q / split, k = q % split;
                        groups.insert(((m->offset + r * m->row_stride) / 4 + k) % 8);
                    }
                    CHECK_MESSAGE(groups.size() == 8, "layer " << l << ": rows " << m->rows << ", stride "
                                                               << m->row_stride << ", split " << split);
                }
            }
            CHECK(s.forward[l].rows == flat.forward[l].rows);
            CHECK(s.forward[l].columns == flat.forward[l].columns);
            CHECK(s.bias_offset[l] % 4 == 0);
            add_range(parts, s.bias_offset[l], detail::padded4(s.forward[l].rows));
        }
        std::sort(parts.begin(), parts.end());
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) CHECK(parts[i].second <= parts[i + 1].first);
        CHECK(parts.back().second <= s.parameter_floats);
        CHECK(s.parameter_floats % 4 == 0);
        CHECK(detail::whole_chain_floats(s) % 4 == 0);
    }
    // The toy network (compiled into its own kernel) with one chain fits the 227 KiB of shared memory a block may have
    // on an H100 or H200, twice over.
    const std::size_t toy_bytes =
        sizeof(float) * static_cast<std::size_t>(detail::toy_shared.parameter_floats + detail::whole_chain_floats(detail::toy_shared));
    MESSAGE("toy network: " << toy_bytes << " bytes of shared memory for one chain");
    CHECK(2 * toy_bytes <= std::size_t{227} * 1024);
    CHECK(detail::toy_shared == detail::shared_shape(detail::toy_flat));
}

// generate reconstruct's pixel-space baselines (generate_baselines.hpp), host-compiled.
#include "generate_baselines.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <limits>
#include <vector>

namespace image_run {

baseline_errors pixel_baselines(ebm::train_config c, const ebm::data::dataset& test, ebm::index limit) {
    c.data.train_split = true;
    c.data.limit = limit;
    const ebm::data::dataset train = load_data(c);
    const ebm::index d = test.dimension(), n = test.size(), m = train.size();
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const matrix> t(test.image(0), n, d), r(train.image(0), m, d);
    baseline_errors out;
    out.training_images = m;
    const Eigen::VectorXd mean = r.cast<double>().colwise().mean().transpose();
    for (ebm::index i = 0; i < n; ++i) out.mean_image += (t.row(i).cast<double>().transpose() - mean).squaredNorm();
    out.mean_image /= static_cast<double>(n * d);
    // Nearest by |t|^2 + |r|^2 - 2 t.r in float blocks (a matrix product), then the winner's error in double.
    const Eigen::VectorXf train_norms = r.rowwise().squaredNorm();
    std::vector<ebm::index> best(static_cast<std::size_t>(n), 0);
    std::vector<float> best_distance(static_cast<std::size_t>(n), std::numeric_limits<float>::infinity());
    constexpr ebm::index block = 4096;
    for (ebm::index first = 0; first < m; first += block) {
        const ebm::index count = std::min(block, m - first);
        const matrix products = t * r.middleRows(first, count).transpose();
        for (ebm::index i = 0; i < n; ++i)
            for (ebm::index j = 0; j < count; ++j) {
                const float distance = train_norms[first + j] - 2.0f * products(i, j);  // |t_i|^2 is the same for all j
                if (distance < best_distance[static_cast<std::size_t>(i)]) {
                    best_distance[static_cast<std::size_t>(i)] = distance;
                    best[static_cast<std::size_t>(i)] = first + j;
                }
            }
    }
    for (ebm::index i = 0; i < n; ++i)
        out.nearest_image += (t.row(i).cast<double>() - r.row(best[static_cast<std::size_t>(i)]).cast<double>()).squaredNorm();
    out.nearest_image /= static_cast<double>(n * d);
    return out;
}

}  // namespace image_run

#pragma once
// Polyak–Ruppert averaging: the running mean of a parameter vector over the iterations it is given (in double).
// Stochastic approximation with a constant rate leaves the iterates moving around the fixed point of the estimating
// equation by about the rate; their average settles at it. The short-run paper reads its learning as Robbins–Monro's
// solution of E_q[∂U/∂θ] = E_data[∂U/∂θ] (§4.2); averaging the last iterates is how to get that solution's value
// (docs/generator.md, "Moment matching"). Host memory; add() allocates nothing.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ebm {

class parameter_average {
public:
    explicit parameter_average(index parameter_count) : sum_(checked_size(parameter_count), 0.0) {}

    /// Adds one iterate (parameter_count() values, finite).
    void add(std::span<const float> theta) {
        const char* where = "parameter_average::add";
        if (theta.size() != sum_.size())
            detail::fail(where, "theta must hold parameter_count() = " + detail::to_text(sum_.size()) + " values", theta.size());
        for (std::size_t j = 0; j < theta.size(); ++j) {
            if (!std::isfinite(theta[j])) detail::fail(where, "theta must be finite; entry " + detail::to_text(j) + " is not", theta[j]);
        }
        for (std::size_t j = 0; j < theta.size(); ++j) sum_[j] += theta[j];
        ++count_;
    }

    [[nodiscard]] index parameter_count() const { return static_cast<index>(sum_.size()); }
    [[nodiscard]] std::int64_t count() const { return count_; }

    /// The mean of the iterates added so far, rounded to float, into `theta` (at least one iterate added).
    void write_mean(std::span<float> theta) const {
        const char* where = "parameter_average::write_mean";
        if (count_ == 0) detail::fail(where, "no iterate was added", count_);
        if (theta.size() != sum_.size())
            detail::fail(where, "theta must hold parameter_count() = " + detail::to_text(sum_.size()) + " values", theta.size());
        for (std::size_t j = 0; j < theta.size(); ++j) theta[j] = static_cast<float>(sum_[j] / static_cast<double>(count_));
    }

    void reset() {
        std::fill(sum_.begin(), sum_.end(), 0.0);
        count_ = 0;
    }

private:
    static std::size_t checked_size(index parameter_count) {
        detail::require_positive("parameter_average", "parameter_count", parameter_count);
        return static_cast<std::size_t>(parameter_count);
    }

    std::vector<double> sum_;
    std::int64_t count_ = 0;
};

}  // namespace ebm

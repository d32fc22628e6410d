#pragma once
// A batch of chain states: `count` chains of `dimension` floats each, chain-major (each chain contiguous).
// For images that is NCHW; for Eigen it is a column-major (dimension x count) matrix. Views carry the memory space
// their data lives in (memory_space.hpp); `batch` owns host storage.
#include <cmath>
#include <span>
#include <string_view>

#include "config.hpp"
#include "detail/aligned_buffer.hpp"
#include "error.hpp"
#include "memory_space.hpp"

namespace ebm {

/// A batch of `count` chains of `dimension` floats in memory space Space (host_space or device_space). The views
/// of the two spaces are different types: a device batch cannot be handed to code that reads host memory.
template <class Space>
struct basic_batch_view {
    using memory_space = Space;
    float* data = nullptr;
    index dimension = 0;
    index count = 0;

    [[nodiscard]] float* chain(index i) const { return data + i * dimension; }
    [[nodiscard]] index size() const { return dimension * count; }
    [[nodiscard]] basic_batch_view chains(index first, index n) const { return {chain(first), dimension, n}; }
    [[nodiscard]] span_in<float, Space> values() const { return {data, static_cast<std::size_t>(size())}; }
};

template <class Space>
struct basic_const_batch_view {
    using memory_space = Space;
    const float* data = nullptr;
    index dimension = 0;
    index count = 0;

    basic_const_batch_view() = default;
    basic_const_batch_view(const float* d, index dim, index n) : data(d), dimension(dim), count(n) {}
    basic_const_batch_view(basic_batch_view<Space> v) : data(v.data), dimension(v.dimension), count(v.count) {}  // NOLINT

    [[nodiscard]] const float* chain(index i) const { return data + i * dimension; }
    [[nodiscard]] index size() const { return dimension * count; }
    [[nodiscard]] basic_const_batch_view chains(index first, index n) const { return {chain(first), dimension, n}; }
    [[nodiscard]] span_in<const float, Space> values() const { return {data, static_cast<std::size_t>(size())}; }
};

using batch_view = basic_batch_view<host_space>;
using const_batch_view = basic_const_batch_view<host_space>;
using device_batch_view = basic_batch_view<device_space>;
using const_device_batch_view = basic_const_batch_view<device_space>;

/// The batch views of the memory space an energy (or any type) keeps its data in.
template <class E>
using batch_view_for = basic_batch_view<memory_space_of_t<E>>;
template <class E>
using const_batch_view_for = basic_const_batch_view<memory_space_of_t<E>>;

/// Owning, 64-byte aligned batch storage.
class batch {
public:
    batch() = default;
    batch(index dimension, index count) { resize(dimension, count); }

    void resize(index dimension, index count) {
        detail::require_positive("batch", "dimension", dimension);
        detail::require_non_negative("batch", "count", count);
        dimension_ = dimension;
        count_ = count;
        storage_.assign(static_cast<std::size_t>(dimension * count), 0.0f);
    }
    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] index count() const { return count_; }
    [[nodiscard]] float* data() { return storage_.data(); }
    [[nodiscard]] const float* data() const { return storage_.data(); }
    [[nodiscard]] float* chain(index i) { return data() + i * dimension_; }
    [[nodiscard]] const float* chain(index i) const { return data() + i * dimension_; }
    [[nodiscard]] batch_view view() { return {data(), dimension_, count_}; }
    [[nodiscard]] const_batch_view view() const { return {data(), dimension_, count_}; }
    operator batch_view() { return view(); }               // NOLINT
    operator const_batch_view() const { return view(); }   // NOLINT

private:
    index dimension_ = 0;
    index count_ = 0;
    detail::aligned_vector<float> storage_;
};

namespace detail {

/// Validates a caller's batch: expected dimension, at least one chain, no NaN or Inf.
inline void require_batch(std::string_view where, std::string_view name, const_batch_view x, index dimension) {
    if (x.data == nullptr && x.size() > 0) fail(where, std::string(name) + " must not be null", "nullptr");
    if (x.dimension != dimension)
        fail(where, std::string(name) + " dimension must equal " + to_text(dimension), x.dimension);
    if (x.count <= 0) fail(where, std::string(name) + " must hold at least one chain", x.count);
    for (index i = 0; i < x.size(); ++i)
        if (!std::isfinite(x.data[i]))
            fail(where, std::string(name) + " must be finite; element " + to_text(i) + " is not", x.data[i]);
}

}  // namespace detail
}  // namespace ebm

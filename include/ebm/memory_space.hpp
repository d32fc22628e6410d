#pragma once
// Where data lives is part of its type (as Kokkos' View<T, MemorySpace>): host_space for the CPU backend's memory,
// device_space for a GPU's. Spans over host memory are std::span; spans over device memory are ebm::device_span,
// a different type, so device data handed to code that reads host memory is a compile-time error, never a crash.
// An energy says where its data lives with `using memory_space = ebm::device_space;` (or by naming a backend,
// `using backend = ebm::cuda;`); an energy that says nothing lives in host memory. Plain C++: no CUDA include.
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

#include "config.hpp"

namespace ebm {

/// Host memory: what the CPU backend reads and writes.
struct host_space {
    static constexpr const char* name = "host";
};
/// Device memory: what the CUDA backend's kernels read and write (not dereferenceable on the host).
struct device_space {
    static constexpr const char* name = "device";
};

/// A contiguous range of T in device memory. Like std::span (data, size, subspan), but a distinct type: it cannot
/// be passed where host memory is expected, and nothing on the host dereferences it.
template <class T>
class device_span {
public:
    using element_type = T;
    using memory_space = device_space;

    constexpr device_span() = default;
    constexpr device_span(T* data, std::size_t size) : data_(data), size_(size) {}
    /// device_span<T> -> device_span<const T>.
    template <class U>
        requires(std::is_same_v<std::remove_const_t<T>, U> && std::is_const_v<T>)
    constexpr device_span(device_span<U> other) : data_(other.data()), size_(other.size()) {}  // NOLINT

    [[nodiscard]] constexpr T* data() const { return data_; }
    [[nodiscard]] constexpr std::size_t size() const { return size_; }
    [[nodiscard]] constexpr std::size_t size_bytes() const { return size_ * sizeof(T); }
    [[nodiscard]] constexpr bool empty() const { return size_ == 0; }
    [[nodiscard]] constexpr device_span subspan(std::size_t offset, std::size_t count) const {
        return {data_ + offset, count};
    }
    [[nodiscard]] constexpr device_span first(std::size_t count) const { return {data_, count}; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

namespace detail {
template <class T, class Space>
struct span_in_space;
template <class T>
struct span_in_space<T, host_space> {
    using type = std::span<T>;
};
template <class T>
struct span_in_space<T, device_space> {
    using type = device_span<T>;
};
}  // namespace detail

/// The span type of memory space Space: std::span<T> (host) or device_span<T> (device).
template <class T, class Space>
using span_in = typename detail::span_in_space<T, Space>::type;

/// True for the two memory spaces ebm knows.
template <class S>
concept memory_space_tag = std::same_as<S, host_space> || std::same_as<S, device_space>;

/// The memory space of an energy (or any type): T::memory_space, else T::backend::memory_space, else host.
template <class T>
struct memory_space_of {
    using type = host_space;
};
template <class T>
    requires requires { typename T::memory_space; }
struct memory_space_of<T> {
    using type = typename T::memory_space;
};
template <class T>
    requires(!requires { typename T::memory_space; } && requires { typename T::backend::memory_space; })
struct memory_space_of<T> {
    using type = typename T::backend::memory_space;
};
template <class T>
using memory_space_of_t = typename memory_space_of<T>::type;

/// True when T's data lives in device memory.
template <class T>
inline constexpr bool in_device_memory = std::is_same_v<memory_space_of_t<T>, device_space>;

/// For wrappers and policies written for host memory only: `static_assert(ebm::check_host_memory<E>())` fails to
/// compile, with this sentence, when E's data lives in device memory.
template <class E>
constexpr bool check_host_memory() {
    static_assert(!in_device_memory<E>,
                  "ebm: this wrapper/policy reads host memory (it is written for the CPU backend only), but the energy "
                  "it was given keeps its data in device memory (a CUDA energy, memory_space = ebm::device_space); "
                  "use a wrapper/policy written for both backends (ebm::scaled, ebm::langevin, ...) or a CPU energy");
    return true;
}

}  // namespace ebm

#pragma once
// A std::vector whose storage is 64-byte aligned, so SIMD loads of chain states never straddle lines.
#include <cstddef>
#include <new>
#include <vector>

namespace ebm::detail {

template <class T, std::size_t Alignment = 64>
struct aligned_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Alignment>;
    };
    aligned_allocator() noexcept = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Alignment>&) noexcept {}
    T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Alignment)));
    }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Alignment)); }
    friend bool operator==(const aligned_allocator&, const aligned_allocator&) noexcept { return true; }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

}  // namespace ebm::detail

// Large arrays read at random (codes, f16 and float rows, level-0 links,
// visited tags) are allocated on 2 MiB-aligned memory and, on Linux, marked
// for transparent huge pages before they are first touched. A search jumps
// from row to row across hundreds of MiB: on 4 KiB pages nearly every row
// read also misses the TLB and walks the page table, and with 2 MiB pages
// one TLB entry covers 512 of them (bench/README.md, "Huge pages").
//
// The advice is only advice: where the kernel has transparent huge pages
// off, or none are free, the memory is ordinary pages and works the same.
// Arrays below kHugeThreshold, and every array on systems other than Linux
// (or under AddressSanitizer, which watches malloc's blocks, not mappings),
// use the ordinary allocator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fanns {

constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;
constexpr std::size_t kHugeThreshold = std::size_t(4) << 20;

#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(__SANITIZE_ADDRESS__)
// Bytes a large array maps: whole huge pages (0 when that overflows).
inline std::size_t large_span(std::size_t bytes) {
    if (bytes > std::numeric_limits<std::size_t>::max() - 2 * kHugePageBytes) return 0;
    return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
}

// A large array is a mapping of its own, not a block of malloc's heap:
// glibc serves blocks below its (moving, up to 32 MiB) mmap threshold from
// the heap, where the advice would outlive the array and put the small
// blocks later carved from that range on huge pages too. The mapping is
// made 2 MiB longer, then trimmed to an aligned start; munmap takes the
// advice with it.
inline void* allocate_large(std::size_t bytes) {
    if (bytes < kHugeThreshold) return ::operator new(bytes);
    const std::size_t span = large_span(bytes);
    if (span == 0) throw std::bad_alloc();
    void* raw = mmap(nullptr, span + kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kHugePageBytes - 1) & ~std::uintptr_t(kHugePageBytes - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const std::size_t tail = kHugePageBytes - (aligned - start);
    if (tail > 0) munmap(reinterpret_cast<void*>(aligned + span), tail);
    void* p = reinterpret_cast<void*>(aligned);
    (void)madvise(p, span, MADV_HUGEPAGE);
    return p;
}

inline void free_large(void* p, std::size_t bytes) noexcept {
    if (bytes < kHugeThreshold) ::operator delete(p);
    else munmap(p, large_span(bytes));
}
#else
inline void* allocate_large(std::size_t bytes) { return ::operator new(bytes); }
inline void free_large(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

template <class T>
struct LargeArrayAllocator {
    using value_type = T;

    LargeArrayAllocator() noexcept = default;
    template <class U>
    LargeArrayAllocator(const LargeArrayAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(allocate_large(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { free_large(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const LargeArrayAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const LargeArrayAllocator<U>&) const noexcept { return false; }
};

// A vector for the engine's large arrays (see above).
template <class T>
using LargeVector = std::vector<T, LargeArrayAllocator<T>>;

}  // namespace fanns

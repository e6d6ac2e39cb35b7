// Vectors for the forward pass's buffers. Their data starts on a cache line, so that the
// kernels' 64-byte loads and stores never straddle two lines (glibc puts large blocks 16 bytes
// into a page); from 2 MiB up it starts on a 2 MiB boundary and asks for transparent huge
// pages, which spare the TLB misses of attention reading many sequences' KV caches.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <vector>

namespace kiln {

template <class T>
struct CacheLineAllocator {
    using value_type = T;
    static constexpr size_t kLine = 64, kHuge = size_t{2} << 20;

    CacheLineAllocator() = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U>&) {}

    T* allocate(size_t n) {
        const size_t bytes = n * sizeof(T);
        void* p = ::operator new(bytes, std::align_val_t{alignment(bytes)});
        if (bytes >= kHuge) ::madvise(p, bytes / kHuge * kHuge, MADV_HUGEPAGE);  // a hint only
        return static_cast<T*>(p);
    }
    void deallocate(T* p, size_t n) { ::operator delete(p, std::align_val_t{alignment(n * sizeof(T))}); }
    template <class U>
    bool operator==(const CacheLineAllocator<U>&) const { return true; }

private:
    static size_t alignment(size_t bytes) { return bytes >= kHuge ? kHuge : kLine; }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace kiln

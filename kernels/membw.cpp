#include "kernels/membw.h"
#include "kernels/cpu.h"
#include "kernels/targets.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kiln {

namespace {

KILN_BEGIN_TARGET(KILN_TARGET_AVX2)
// Sums 32-byte words with four independent chains, so the loads are the only limit.
uint64_t read_all(const uint8_t* p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    alignas(32) uint64_t out[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
    return out[0] + out[1] + out[2] + out[3];
}
KILN_END_TARGET

// The same without AVX2, for CPUs that lack it.
uint64_t read_all_scalar(const uint8_t* p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        uint64_t w[4];
        std::memcpy(w, p + i, sizeof w);
        a += w[0], b += w[1], c += w[2], d += w[3];
    }
    return a + b + c + d;
}

}  // namespace

double read_bandwidth_gbs(size_t bytes, int n_threads, int reps) {
    bytes = bytes / 4096 * 4096;
    auto* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, bytes));
    if (buf == nullptr) return 0.0;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < bytes; i += 4096) std::memset(buf + i, static_cast<int>(i >> 12), 4096);  // each thread touches its own part
    const auto read = isa_supported(Isa::avx2) ? read_all : read_all_scalar;
    double best = 0.0;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t total = 0;
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
        {
            const size_t per = bytes / static_cast<size_t>(omp_get_num_threads()) / 128 * 128;
            total += read(buf + per * static_cast<size_t>(omp_get_thread_num()), per);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + total;
        if (bytes / s / 1e9 > best) best = bytes / s / 1e9;
    }
    std::free(buf);
    return best;
}

}  // namespace kiln

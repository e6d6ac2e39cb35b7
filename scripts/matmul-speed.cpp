// Prompt-processing speed of one weight matrix: the product of a ROWS x COLS matrix of a weight
// type with TOKENS activation rows, as the prompt pass runs it, in GFLOP/s (2 per weight and
// token). It shows which matrix shapes and types stop scaling; Google Benchmark repeats each.
// usage: matmul-speed [--types=q4_0,q8_0,q4_k] [--shapes=ROWSxCOLS,...] [--tokens=N] [--threads=N]
//                     [benchmark flags, e.g. --benchmark_min_time=1]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/type_table.h"

namespace {

struct Shape {
    size_t rows, cols;
};

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    for (size_t p = 0; p <= s.size();) {
        const size_t q = std::min(s.find(',', p), s.size());
        if (q > p) out.emplace_back(s.substr(p, q - p));
        p = q + 1;
    }
    return out;
}

const kiln::TypeTraits* find_type(const std::string& name) {
    for (const kiln::TypeTraits& t : kiln::type_table())
        if (t.from_float && kiln::computable(t.type) && name == t.info.name) return &t;
    return nullptr;
}

void run(benchmark::State& state, const kiln::TypeTraits* t, Shape s, size_t n_tokens, int threads) {
    const kiln::Isa isa = kiln::detect_isa();
    const size_t row_bytes = kiln::row_bytes(t->info, s.cols);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> row(s.cols);
    kiln::AlignedVector<uint8_t> w(row_bytes * s.rows);
    for (size_t r = 0; r < s.rows; ++r) {
        for (float& v : row) v = normal(rng);
        t->from_float(row.data(), w.data() + r * row_bytes, s.cols);
    }
    kiln::WeightMatrix m{w.data(), t->type, s.rows, s.cols};
    if (isa == kiln::Isa::amx && kiln::can_repack(t->type, s.rows)) {
        kiln::repack_strips16(t->type, w.data(), s.rows, s.cols, threads);
        m.layout = kiln::Layout::strips16;
    }
    std::vector<float> x(n_tokens * s.cols), y(n_tokens * s.rows);
    for (float& v : x) v = normal(rng);
    kiln::MatmulInput in;
    for (auto _ : state) {
        in.set(x.data(), s.cols, n_tokens, s.cols);  // the activations are quantized in every pass, as in a prompt
        kiln::matmul(isa, m, in, y.data(), s.rows, threads);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.rows * s.cols * n_tokens) * 1e-9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
    std::string types = "q4_0,q8_0,q4_k";
    std::string shapes = "2048x2048,5632x2048,2048x5632,4096x4096,11008x4096,4096x11008";
    size_t n_tokens = 512;
    int threads = kiln::physical_cores();
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&](std::string_view flag) { return std::string(a.substr(flag.size())); };
        if (a.starts_with("--types=")) types = value("--types=");
        else if (a.starts_with("--shapes=")) shapes = value("--shapes=");
        else if (a.starts_with("--tokens=")) n_tokens = std::strtoul(value("--tokens=").c_str(), nullptr, 10);
        else if (a.starts_with("--threads=")) threads = std::atoi(value("--threads=").c_str());
        else rest.push_back(argv[i]);
    }
    if (n_tokens < 1 || threads < 1) {
        std::fprintf(stderr, "matmul-speed: --tokens and --threads must be at least 1\n");
        return 1;
    }
    for (const std::string& name : split(types)) {
        const kiln::TypeTraits* t = find_type(name);
        if (!t) {
            std::fprintf(stderr, "matmul-speed: no computable weight type named %s\n", name.c_str());
            return 1;
        }
        for (const std::string& shape : split(shapes)) {
            Shape s{};
            if (std::sscanf(shape.c_str(), "%zux%zu", &s.rows, &s.cols) != 2 || s.rows == 0 || s.cols % 256 != 0) {
                std::fprintf(stderr, "matmul-speed: bad shape %s (ROWSxCOLS, COLS a multiple of 256)\n", shape.c_str());
                return 1;
            }
            benchmark::RegisterBenchmark((name + "/" + shape + "/" + std::to_string(n_tokens)).c_str(), run, t, s, n_tokens, threads)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        }
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

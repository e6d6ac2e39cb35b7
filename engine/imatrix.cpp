#include "engine/imatrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/perplexity.h"

namespace kiln {

namespace {

constexpr const char* kSum2 = ".in_sum2";
constexpr const char* kCounts = ".counts";

// Sums the squares of every matrix input into an ImportanceMatrix, by the tensor each matrix
// lives in (a fused QKV's three slices are one tensor, an expert one row of its 3-D tensor).
class Collector : public ActivationObserver {
public:
    Collector(const Model& model, bool process_output, ImportanceMatrix& out)
        : model_(model), process_output_(process_output), out_(out) {}

    void observe(std::span<const WeightMatrix* const> matrices, const float* x, size_t n_rows, size_t n_cols,
                 size_t ld) override {
        const std::string* last = nullptr;
        for (const WeightMatrix* w : matrices) {
            const Target& t = target(*w);
            if (t.entry == nullptr || (last != nullptr && *last == t.name)) continue;
            last = &t.name;
            double* sum2 = t.entry->sum2.data() + t.expert * n_cols;
            for (size_t r = 0; r < n_rows; ++r) {
                const float* row = x + r * ld;
                for (size_t j = 0; j < n_cols; ++j) sum2[j] += static_cast<double>(row[j]) * row[j];
            }
            t.entry->counts[t.expert] += static_cast<double>(n_rows);
        }
    }

private:
    struct Target {
        std::string name;
        ImportanceEntry* entry = nullptr;  // nullptr: not collected
        size_t expert = 0;
    };

    const Target& target(const WeightMatrix& w) {
        const auto found = targets_.find(&w);
        if (found != targets_.end()) return found->second;
        Target t;
        if (const GgufTensor* holder = model_.gguf().tensor_holding(w.data)) {
            t.name = holder->name;
            const size_t n_matrices = holder->n_dims == 3 ? holder->dims[2] : 1;
            const auto offset = static_cast<size_t>(static_cast<const uint8_t*>(w.data) - holder->data);
            t.expert = n_matrices > 1 ? offset / (holder->n_bytes / n_matrices) : 0;
            if (t.name.rfind("blk.", 0) == 0 || (process_output_ && t.name == "output.weight")) {
                ImportanceEntry& e = out_.entries[t.name];
                if (e.n_cols == 0) {
                    e.n_cols = w.n_cols;
                    e.sum2.assign(w.n_cols * n_matrices, 0.0);
                    e.counts.assign(n_matrices, 0.0);
                }
                t.entry = &e;
            }
        }
        return targets_.emplace(&w, std::move(t)).first->second;
    }

    const Model& model_;
    bool process_output_;
    ImportanceMatrix& out_;
    std::unordered_map<const WeightMatrix*, Target> targets_;
};

std::vector<float> read_f32(const GgufTensor& t) {
    std::vector<float> v(t.n_elems);
    std::memcpy(v.data(), t.data, t.n_elems * sizeof(float));
    return v;
}

}  // namespace

ImportanceMatrix ImportanceMatrix::load(const std::string& path) {
    const GgufFile g = GgufFile::open(path);
    const auto fail = [&](const std::string& what) { return Error(path + ": " + what); };
    if (const auto type = g.get_string("general.type"); type && *type != "imatrix")
        throw fail("general.type is '" + std::string(*type) + "', not 'imatrix'");
    ImportanceMatrix m;
    if (const auto d = g.get_string_array("imatrix.datasets"))
        for (std::string_view s : *d) m.datasets.emplace_back(s);
    m.chunk_count = g.get_uint("imatrix.chunk_count").value_or(0);
    m.chunk_size = g.get_uint("imatrix.chunk_size").value_or(0);
    for (const GgufTensor& t : g.tensors()) {
        const size_t n = t.name.size(), suffix = std::strlen(kSum2);
        if (n <= suffix || t.name.compare(n - suffix, suffix, kSum2) != 0) continue;
        const std::string name = t.name.substr(0, n - suffix);
        const GgufTensor* counts = g.find_tensor(name + kCounts);
        if (counts == nullptr) throw fail("tensor '" + t.name + "' has no '" + name + kCounts + "'");
        if (t.type != DType::F32 || counts->type != DType::F32 || t.n_dims > 2 || counts->n_dims > 2)
            throw fail("'" + name + "' is not in_sum2 and counts of F32 in at most two dimensions");
        const size_t n_matrices = t.dims[1];
        if (counts->dims[0] != 1 || counts->dims[1] != n_matrices || t.dims[0] == 0)
            throw fail("'" + name + kCounts + "' does not hold one count per matrix of '" + t.name + "'");
        ImportanceEntry e;
        e.n_cols = t.dims[0];
        for (float v : read_f32(t)) e.sum2.push_back(v);
        for (float v : read_f32(*counts)) e.counts.push_back(v);
        const auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
        if (std::any_of(e.sum2.begin(), e.sum2.end(), bad) || std::any_of(e.counts.begin(), e.counts.end(), bad))
            throw fail("'" + name + "' holds a negative or non-finite sum");
        m.entries.emplace(name, std::move(e));
    }
    if (m.entries.empty()) throw fail("no TENSOR.in_sum2 entries: not an importance matrix in llama.cpp's GGUF format");
    return m;
}

void ImportanceMatrix::save(const std::string& path) const {
    GgufWriter w;
    w.add_string("general.type", "imatrix");
    w.add_string_array("imatrix.datasets", datasets);
    w.add_u32("imatrix.chunk_count", static_cast<uint32_t>(chunk_count));
    w.add_u32("imatrix.chunk_size", static_cast<uint32_t>(chunk_size));
    const auto bytes = [](const std::vector<double>& v) {
        std::string out(v.size() * sizeof(float), '\0');
        for (size_t i = 0; i < v.size(); ++i) {
            const auto f = static_cast<float>(v[i]);
            std::memcpy(out.data() + i * sizeof(float), &f, sizeof f);
        }
        return out;
    };
    constexpr auto kF32 = static_cast<uint32_t>(DType::F32);
    for (const auto& [name, e] : entries) {  // a std::map: sorted by name, as llama-imatrix writes them
        const size_t n_matrices = e.counts.size();
        const bool one = n_matrices == 1;
        w.add_tensor(name + kSum2, one ? std::vector<uint64_t>{e.n_cols} : std::vector<uint64_t>{e.n_cols, n_matrices}, kF32,
                     bytes(e.sum2));
        w.add_tensor(name + kCounts, one ? std::vector<uint64_t>{1} : std::vector<uint64_t>{1, n_matrices}, kF32, bytes(e.counts));
    }
    w.write(path);
}

std::vector<float> ImportanceMatrix::weights(const std::string& name, size_t n_cols, size_t n_matrices) const {
    const auto found = entries.find(name);
    if (found == entries.end()) return {};
    const ImportanceEntry& e = found->second;
    if (e.n_cols != n_cols || (e.counts.size() != n_matrices && e.counts.size() != 1))
        throw Error("the importance matrix of '" + name + "' has " + std::to_string(e.counts.size()) + " x " +
                    std::to_string(e.n_cols) + " values; the tensor takes " + std::to_string(n_matrices) + " x " +
                    std::to_string(n_cols));
    std::vector<float> out(n_cols * n_matrices);
    for (size_t m = 0; m < n_matrices; ++m) {
        const size_t src = e.counts.size() == 1 ? 0 : m;
        const double count = e.counts[src];
        for (size_t j = 0; j < n_cols; ++j)
            out[m * n_cols + j] = count > 0 ? static_cast<float>(e.sum2[src * n_cols + j] / count) : 1.0f;
    }
    return out;
}

ImportanceMatrix compute_imatrix(Session& session, const std::vector<Token>& tokens, const ImatrixOptions& options,
                                 const std::function<void(const ImatrixProgress&)>& on_chunk) {
    ImportanceMatrix m;
    Collector collector(session.model(), options.process_output, m);
    if (options.max_chunks == 1) throw ParamError("chunks", "must be 0 (every chunk of the text) or at least 2");
    std::vector<Token> text = tokens;
    if (options.max_chunks > 0 && text.size() > options.max_chunks * options.n_ctx) text.resize(options.max_chunks * options.n_ctx);
    const size_t n_chunks = text.size() / std::max<size_t>(options.n_ctx, 1);
    session.observe(&collector);
    try {
        const PerplexityResult r = perplexity(session, text, options.n_ctx, [&](size_t chunk, double ppl) {
            on_chunk({chunk, n_chunks, ppl});
        });
        m.chunk_count = r.n_chunks;
    } catch (...) {
        session.observe(nullptr);
        throw;
    }
    session.observe(nullptr);
    m.chunk_size = options.n_ctx;
    return m;
}

}  // namespace kiln

// Importance matrices in llama.cpp's imatrix GGUF format: for each weight matrix a model
// multiplies by, the sum over a text's tokens of each input column's square (TENSOR.in_sum2,
// [columns, matrices]) and the number of tokens summed (TENSOR.counts, [1, matrices]); a 3-D
// expert tensor has one row of each per expert. A quantizer weighs each column's error by its
// mean square, the column's share of the products' output.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/session.h"

namespace kiln {

struct ImportanceEntry {
    size_t n_cols = 0;
    std::vector<double> sum2;    // n_cols per matrix
    std::vector<double> counts;  // per matrix
};

class ImportanceMatrix {
public:
    std::map<std::string, ImportanceEntry> entries;  // by tensor name
    std::vector<std::string> datasets;
    size_t chunk_count = 0, chunk_size = 0;

    // Throws Error naming the path and what is wrong.
    static ImportanceMatrix load(const std::string& path);
    void save(const std::string& path) const;

    // The per-column weights of tensor `name` (n_cols per matrix, mean squares; a matrix no
    // token reached weighs its columns equally), or empty when the file has none for it.
    // Throws Error when the entry's shape does not fit the tensor.
    std::vector<float> weights(const std::string& name, size_t n_cols, size_t n_matrices) const;
};

struct ImatrixOptions {
    size_t n_ctx = 512;            // tokens per chunk
    size_t max_chunks = 0;         // 0: every whole chunk of the text
    bool process_output = false;   // also output.weight
};

struct ImatrixProgress {
    size_t chunk = 0, n_chunks = 0;
    double ppl = 0.0;  // over the chunks so far, as llama-imatrix prints it
};

// Runs the text's tokens through the session in chunks as llama-imatrix does (the first token
// of each replaced by BOS) and collects every matrix input. Throws Error when the text has
// fewer than 2 * n_ctx tokens.
ImportanceMatrix compute_imatrix(Session& session, const std::vector<Token>& tokens, const ImatrixOptions& options,
                                 const std::function<void(const ImatrixProgress&)>& on_chunk);

}  // namespace kiln

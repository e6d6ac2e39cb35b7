// Perplexity with llama.cpp's llama-perplexity convention, so figures compare with theirs:
// the text is tokenized once with BOS, cut into chunks of n_ctx tokens whose first token is
// replaced by BOS, and only the second half of each chunk is scored.
#pragma once

#include <functional>
#include <vector>

#include "engine/session.h"

namespace kiln {

struct PerplexityResult {
    double ppl = 0.0;
    double uncertainty = 0.0;  // one standard error, in perplexity units
    size_t n_chunks = 0;
    size_t n_scored = 0;       // tokens whose probability was scored
};

// on_chunk(chunk number from 1, perplexity over the chunks so far). Throws Error when the
// text has fewer than 2 * n_ctx tokens.
PerplexityResult perplexity(Session& session, const std::vector<Token>& tokens, size_t n_ctx,
                            const std::function<void(size_t, double)>& on_chunk);

}  // namespace kiln

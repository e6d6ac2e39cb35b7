#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"

namespace kiln {

PerplexityResult perplexity(Session& session, const std::vector<Token>& tokens, size_t n_ctx,
                            const std::function<void(size_t, double)>& on_chunk) {
    if (n_ctx < 2 || n_ctx > session.n_ctx()) throw Error("perplexity context must be between 2 and the session's context");
    if (tokens.size() < 2 * n_ctx)
        throw Error("the text has " + std::to_string(tokens.size()) + " tokens; perplexity with -c " +
                    std::to_string(n_ctx) + " needs at least " + std::to_string(2 * n_ctx));
    const Tokenizer& tok = session.model().tokenizer();
    const size_t n_vocab = session.model().config().n_vocab;
    const size_t first = n_ctx / 2;
    PerplexityResult r;
    r.n_chunks = tokens.size() / n_ctx;
    double nll = 0.0, nll2 = 0.0;
    std::vector<Token> chunk(n_ctx);
    for (size_t c = 0; c < r.n_chunks; ++c) {
        std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c * n_ctx), n_ctx, chunk.begin());
        if (tok.add_bos()) chunk[0] = tok.bos();
        session.clear();
        const std::span<const float> logits = session.eval(chunk, true);
        for (size_t j = first; j + 1 < n_ctx; ++j) {
            const float* row = logits.data() + j * n_vocab;
            const float max = *std::max_element(row, row + n_vocab);
            double sum = 0.0;
            for (size_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(row[v] - max));
            const double token_nll = std::log(sum) - static_cast<double>(row[chunk[j + 1]] - max);
            nll += token_nll;
            nll2 += token_nll * token_nll;
            ++r.n_scored;
        }
        on_chunk(c + 1, std::exp(nll / static_cast<double>(r.n_scored)));
    }
    const double n = static_cast<double>(r.n_scored);
    const double mean = nll / n;
    r.ppl = std::exp(mean);
    const double var = nll2 / n - mean * mean;
    r.uncertainty = var > 0.0 && n > 1 ? std::sqrt(var / (n - 1)) * r.ppl : 0.0;
    return r;
}

}  // namespace kiln

// Continuous batching: up to n_parallel requests advance together, one forward pass per step
// over every active sequence; a finished request frees its slot for the next one, whose prompt
// is prefilled in the same passes as the others' generated tokens, and a prompt prefix another
// sequence already computed is copied instead (BatchOptions::prefix_reuse). Each request's tokens are
// those generate() gives for it alone: the forward pass does not mix sequences, and sampling
// is the same Generation.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "engine/forward.h"
#include "engine/generation.h"

namespace kiln {

struct BatchOptions {
    size_t n_parallel = 8;  // sequences in flight
    size_t n_ctx = 0;       // positions per sequence
    size_t n_batch = 512;   // tokens per forward pass
    int n_threads = 1;
    DType cache_type = DType::F16;  // KV cache elements: F32, F16 or Q8_0
    // A prompt that starts with tokens another sequence already has in its cache (a shared
    // system prompt, few-shot examples) copies their KV rows instead of computing them; a
    // sequence about to compute rows another one is computing waits for them. Rows depend
    // only on the tokens before them, so results are the same either way.
    bool prefix_reuse = true;
};

struct BatchStats {
    size_t prompt_tokens_computed = 0;
    size_t prompt_tokens_reused = 0;  // copied from another sequence's cache, or kept in its own
};

struct BatchRequest {
    size_t key = 0;             // the caller's handle
    std::vector<Token> prompt;  // 1 to n_ctx - 1 tokens
    GenerationParams params;    // valid, repeat_last_n resolved
};

class BatchRunner {
public:
    BatchRunner(const Model& model, const BatchOptions& options);
    ~BatchRunner();

    // What the KV caches of all slots take, allocated up front.
    size_t kv_bytes() const;

    using Source = std::function<std::optional<BatchRequest>()>;
    using Sink = std::function<void(const BatchRequest& request, GenerationResult&& result)>;
    using StepHook = std::function<void(size_t tokens_generated)>;
    // Takes requests from next() until it returns nothing, and hands each result to done() as
    // soon as that request finishes (so in completion order). Throws Error on a request
    // that breaks BatchRequest's rules. after_step, when set, hears of each pass's new tokens.
    void run(const Source& next, const Sink& done, const StepHook& after_step = {});

    const BatchStats& stats() const { return stats_; }

private:
    struct Slot;
    // Before a pass: copies into a prefilling slot the rows of its prompt that another slot
    // holds, and says whether it should wait for rows another slot is about to compute.
    bool reuse_prefix(Slot& slot);
    // Which queued request a free slot takes: the one sharing the longest prefix with what the
    // slots hold or are computing (the earliest of equals), unless the first one has been
    // passed over `patience` times.
    size_t pick_queued(const std::deque<std::pair<BatchRequest, size_t>>& queued, const Slot& free, size_t patience) const;
    BatchStats stats_;
    const Model& model_;
    BatchOptions options_;
    Forward forward_;
    std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace kiln

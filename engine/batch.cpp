#include "engine/batch.h"

#include <chrono>
#include <exception>

#include "engine/error.h"
#include "engine/memory.h"

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

struct BatchRunner::Slot {
    Slot(const ModelConfig& config, size_t n_ctx, DType cache_type, size_t n_batch) : cache(config, n_ctx, cache_type, n_batch) {}

    KvCache cache;
    std::optional<BatchRequest> request;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<Generation> generation;
    size_t n_past = 0;  // tokens in the cache
    Token next = 0;     // the token to evaluate when the prompt is done
    Clock::time_point admitted, prefilled;

    bool prefilling() const { return n_past < request->prompt.size(); }
};

namespace {

// Checked before anything is allocated.
const BatchOptions& checked(const Model& model, const BatchOptions& options) {
    if (options.n_parallel == 0) throw Error("--parallel must be at least 1");
    if (options.n_ctx < 2) throw Error("context size must be at least 2");
    check_memory(options.n_parallel * KvCache::bytes(model.config(), options.n_ctx, options.cache_type, options.n_batch),
                 "the KV cache of " + std::to_string(options.n_parallel) + " sequences of " + std::to_string(options.n_ctx) +
                     " positions");
    return options;
}

}  // namespace

BatchRunner::BatchRunner(const Model& model, const BatchOptions& options)
    : model_(model), options_(checked(model, options)),
      forward_(model, options.n_batch, options.n_threads) {
    for (size_t i = 0; i < options.n_parallel; ++i)
        slots_.push_back(std::make_unique<Slot>(model.config(), options.n_ctx, options.cache_type, options.n_batch));
}

BatchRunner::~BatchRunner() = default;

size_t BatchRunner::kv_bytes() const {
    return options_.n_parallel * KvCache::bytes(model_.config(), options_.n_ctx, options_.cache_type, options_.n_batch);
}

void BatchRunner::run(const Source& next, const Sink& done, const StepHook& after_step) {
    const size_t n_vocab = model_.config().n_vocab;
    bool source_open = true;
    std::vector<TokenRun> runs;
    std::vector<Slot*> owners;
    constexpr size_t kNoRow = ~size_t{0};  // a run without logits
    std::vector<size_t> rows, added;
    std::vector<std::optional<Token>> next_tokens;
    while (true) {
        for (auto& slot : slots_) {
            if (slot->request || !source_open) continue;
            std::optional<BatchRequest> r = next();
            if (!r) {
                source_open = false;
                break;
            }
            if (r->prompt.empty() || r->prompt.size() >= options_.n_ctx)
                throw Error("a batch request's prompt must have 1 to " + std::to_string(options_.n_ctx - 1) + " tokens");
            slot->request = std::move(*r);
            slot->sampler = std::make_unique<Sampler>(slot->request->params.sampler, n_vocab);
            slot->generation = std::make_unique<Generation>(model_.tokenizer(), slot->request->params, *slot->sampler,
                                                            slot->request->prompt, [](std::string_view, float) {});
            slot->n_past = 0;
            slot->admitted = Clock::now();
        }

        // Generated tokens first, one per sequence; prompts fill the rest of the pass.
        runs.clear();
        owners.clear();
        size_t budget = options_.n_batch;
        for (auto& slot : slots_)
            if (slot->request && !slot->prefilling() && budget > 0) {
                runs.push_back({{&slot->next, 1}, &slot->cache, slot->n_past, Logits::last});
                owners.push_back(slot.get());
                --budget;
            }
        for (auto& slot : slots_)
            if (slot->request && slot->prefilling() && budget > 0) {
                const std::vector<Token>& prompt = slot->request->prompt;
                const size_t n = std::min(budget, prompt.size() - slot->n_past);
                const bool last = slot->n_past + n == prompt.size();
                runs.push_back({std::span(prompt).subspan(slot->n_past, n), &slot->cache, slot->n_past,
                                last ? Logits::last : Logits::none});
                owners.push_back(slot.get());
                budget -= n;
            }
        if (runs.empty()) return;

        const std::span<const float> logits = forward_.run(runs);
        // Sampling is per sequence and independent of the others: split over the threads.
        rows.assign(runs.size(), kNoRow);
        for (size_t i = 0, row = 0; i < runs.size(); ++i)
            if (runs[i].logits != Logits::none) rows[i] = row++;
        next_tokens.assign(runs.size(), std::nullopt);
        added.assign(runs.size(), 0);
        const auto n_runs = static_cast<long>(runs.size());
        std::exception_ptr failure;  // an exception must not leave an OpenMP region
#pragma omp parallel for num_threads(options_.n_threads) schedule(dynamic) if (n_runs > 1 && options_.n_threads > 1)
        for (long j = 0; j < n_runs; ++j) {
            const auto i = static_cast<size_t>(j);
            if (rows[i] == kNoRow) continue;
            Generation& g = *owners[i]->generation;
            try {
                const size_t before = g.result().tokens.size();
                next_tokens[i] = g.step(logits.subspan(rows[i] * n_vocab, n_vocab),
                                        owners[i]->n_past + runs[i].tokens.size() < options_.n_ctx);
                added[i] = g.result().tokens.size() - before;
            } catch (...) {
#pragma omp critical(kiln_batch_failure)
                if (!failure) failure = std::current_exception();
            }
        }
        if (failure) std::rethrow_exception(failure);
        size_t generated = 0;
        for (size_t i = 0; i < runs.size(); ++i) {
            Slot& slot = *owners[i];
            slot.n_past += runs[i].tokens.size();
            if (rows[i] == kNoRow) continue;
            const auto now = Clock::now();
            if (runs[i].tokens.data() != &slot.next) slot.prefilled = now;
            generated += added[i];
            if (next_tokens[i]) {
                slot.next = *next_tokens[i];
                continue;
            }
            GenerationResult result = std::move(slot.generation->result());
            result.prompt_seconds = seconds_between(slot.admitted, slot.prefilled);
            result.generation_seconds = seconds_between(slot.prefilled, Clock::now());
            const BatchRequest request = std::move(*slot.request);
            slot.request.reset();
            slot.generation.reset();
            slot.sampler.reset();
            done(request, std::move(result));
        }
        if (after_step) after_step(generated);
    }
}

}  // namespace kiln

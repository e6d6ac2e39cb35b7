#include "engine/batch.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "engine/error.h"
#include "engine/memory.h"

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

size_t common_prefix(std::span<const Token> a, std::span<const Token> b) {
    const size_t n = std::min(a.size(), b.size());
    return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + static_cast<long>(n), b.begin()).first - a.begin());
}

}  // namespace

struct BatchRunner::Slot {
    Slot(const ModelConfig& config, size_t n_ctx, DType cache_type, size_t n_batch) : cache(config, n_ctx, cache_type, n_batch) {}

    KvCache cache;
    std::vector<Token> held;  // the tokens whose rows the cache holds, positions 0 on
    std::optional<BatchRequest> request;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<Generation> generation;
    size_t n_past = 0;  // tokens in the cache
    size_t computed = 0;  // of the prompt, tokens this slot computed itself
    Token next = 0;     // the token to evaluate when the prompt is done
    Clock::time_point admitted, prefilled;

    bool prefilling() const { return n_past < request->prompt.size(); }
    // How many leading tokens of prompt this cache holds rows for, still intact.
    size_t holds(std::span<const Token> prompt) const {
        return std::min(common_prefix(prompt, held), cache.intact_prefix(held.size()));
    }
};

namespace {

// Checked before anything is allocated.
const BatchOptions& checked(const Model& model, const BatchOptions& options) {
    if (options.n_parallel == 0) throw ParamError("n_parallel", "must be at least 1");
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

bool BatchRunner::reuse_prefix(Slot& s) {
    const std::vector<Token>& prompt = s.request->prompt;
    const size_t wanted = prompt.size() - 1;  // the last prompt token is computed: its logits are needed
    for (const auto& other : slots_) {
        const Slot& t = *other;
        if (&t == &s || s.n_past >= wanted) continue;
        const size_t n = std::min(t.holds(prompt), wanted);
        if (n <= s.n_past) continue;
        s.cache.copy_rows(t.cache, s.n_past, n);
        stats_.prompt_tokens_reused += n - s.n_past;
        s.held.insert(s.held.end(), prompt.begin() + static_cast<long>(s.n_past), prompt.begin() + static_cast<long>(n));
        s.n_past = n;
    }
    // Wait for a slot ahead on the same tokens (or level with it and listed first), so that
    // a wave of requests sharing a system prompt computes it once; the slot furthest ahead
    // never waits, so every pass makes progress.
    bool behind = false;
    for (const auto& other : slots_) {
        const Slot& t = *other;
        if (&t == &s) {
            behind = true;  // slots listed before s win ties
            continue;
        }
        if (!t.request || !t.prefilling()) continue;
        const bool ahead = t.n_past > s.n_past || (t.n_past == s.n_past && !behind);
        if (ahead && t.n_past < std::min(common_prefix(prompt, t.request->prompt), wanted)) return true;
    }
    return false;
}

size_t BatchRunner::pick_queued(const std::deque<std::pair<BatchRequest, size_t>>& queued, const Slot& free,
                                size_t patience) const {
    if (!options_.prefix_reuse || queued.front().second >= patience) return 0;  // no request waits for ever
    size_t best = 0, best_shared = 0;
    for (size_t i = 0; i < queued.size(); ++i) {
        const std::vector<Token>& prompt = queued[i].first.prompt;
        size_t shared = free.holds(prompt);
        for (const auto& other : slots_) {
            if (other.get() == &free) continue;
            shared = std::max(shared, other->holds(prompt));
            if (other->request && other->prefilling()) shared = std::max(shared, common_prefix(prompt, other->request->prompt));
        }
        if (shared > best_shared) best = i, best_shared = shared;  // ties: the earliest
    }
    return best;
}

void BatchRunner::run(const Source& next, const Sink& done, const StepHook& after_step) {
    const size_t n_vocab = model_.config().n_vocab;
    bool source_open = true;
    std::vector<TokenRun> runs;
    std::vector<Slot*> owners;
    constexpr size_t kNoRow = ~size_t{0};  // a run without logits
    std::vector<size_t> rows, added;
    std::vector<std::optional<Token>> next_tokens;
    // Requests taken ahead of a free slot, so that admission can favour one whose prompt
    // starts with rows a slot has or is computing (each with how often it was passed over).
    std::deque<std::pair<BatchRequest, size_t>> queued;
    const size_t lookahead = options_.prefix_reuse ? 2 * slots_.size() : 1;
    while (true) {
        for (auto& slot : slots_) {
            if (slot->request) continue;
            while (source_open && queued.size() < lookahead) {
                std::optional<BatchRequest> r = next();
                if (!r) {
                    source_open = false;
                    break;
                }
                if (r->prompt.empty() || r->prompt.size() >= options_.n_ctx)
                    throw Error("a batch request's prompt must have 1 to " + std::to_string(options_.n_ctx - 1) + " tokens");
                queued.emplace_back(std::move(*r), 0);
            }
            if (queued.empty()) break;
            const size_t pick = pick_queued(queued, *slot, lookahead);
            for (size_t i = 0; i < pick; ++i) ++queued[i].second;
            slot->request = std::move(queued[pick].first);
            queued.erase(queued.begin() + static_cast<long>(pick));
            slot->sampler = std::make_unique<Sampler>(slot->request->params.sampler, n_vocab);
            slot->generation = std::make_unique<Generation>(model_.tokenizer(), slot->request->params, *slot->sampler,
                                                            slot->request->prompt, [](std::string_view, float) {});
            // Its own cache may still hold a prefix of this prompt from the previous request.
            const std::vector<Token>& prompt = slot->request->prompt;
            slot->n_past = options_.prefix_reuse ? std::min(slot->holds(prompt), prompt.size() - 1) : 0;
            slot->held.resize(slot->n_past);
            slot->computed = 0;
            stats_.prompt_tokens_reused += slot->n_past;
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
                if (options_.prefix_reuse && reuse_prefix(*slot)) continue;
                const std::vector<Token>& prompt = slot->request->prompt;
                const size_t n = std::min(budget, prompt.size() - slot->n_past);
                const bool last = slot->n_past + n == prompt.size();
                runs.push_back({std::span(prompt).subspan(slot->n_past, n), &slot->cache, slot->n_past,
                                last ? Logits::last : Logits::none});
                owners.push_back(slot.get());
                budget -= n;
                stats_.prompt_tokens_computed += n;
                slot->computed += n;
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
            slot.held.insert(slot.held.end(), runs[i].tokens.begin(), runs[i].tokens.end());
            if (rows[i] == kNoRow) continue;
            const auto now = Clock::now();
            if (runs[i].tokens.data() != &slot.next) slot.prefilled = now;
            generated += added[i];
            if (next_tokens[i]) {
                slot.next = *next_tokens[i];
                continue;
            }
            GenerationResult result = std::move(slot.generation->result());
            result.prompt_tokens_computed = slot.computed;
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

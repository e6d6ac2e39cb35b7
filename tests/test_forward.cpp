// kiln's logits against an independent PyTorch forward pass (scripts/reference_forward.py),
// and batching invariance of the forward pass itself.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine/quantize.h"
#include "engine/session.h"
#include "engine/thread_policy.h"
#include "helpers.h"

using namespace kiln;
using namespace kiln::test;

namespace {

const char* kPrompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends and her dog, who was big and brown. One day they found a shiny red ball under a tree, and "
    "Lily laughed because the dog wanted to keep it all for himself.";

std::vector<Token> prompt_tokens(const Model& m, size_t n) {
    std::vector<Token> ids = m.tokenizer().encode(std::string(kPrompt) + " " + kPrompt + " " + kPrompt, true);
    REQUIRE(ids.size() >= n);
    ids.resize(n);
    return ids;
}

bool have_torch() { return std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0; }

std::vector<float> reference_logits(const std::string& model, const std::vector<Token>& ids, size_t n_ctx) {
    std::string list;
    for (Token id : ids) {
        if (!list.empty()) list += ',';
        list += std::to_string(id);
    }
    const std::string out = temp_dir() + "/reference.f32";
    const std::string cmd = "cd '" KILN_SOURCE_DIR "/scripts' && /usr/bin/python3 reference_forward.py '" + model +
                            "' " + list + " '" + out + "' " + std::to_string(n_ctx);
    REQUIRE(std::system(cmd.c_str()) == 0);
    const std::string bytes = read_file(out);
    std::vector<float> logits(bytes.size() / 4);
    std::memcpy(logits.data(), bytes.data(), logits.size() * 4);
    return logits;
}

// kiln's logits for the first n_tokens of the prompt, in a context of n_ctx, on every ISA and
// KV cache type, against the reference: within 1e-4 with an F32 cache; F16 (the default) and
// Q8_0 store keys and values rounded (relative steps of 2^-11, and 2^-8 of each block of 32),
// which moves logits by a fraction of their range instead.
void check_against_reference(const std::string& path, size_t n_tokens, size_t n_ctx) {
    const auto base = Model::load(path, {});
    const auto ids = prompt_tokens(*base, n_tokens);
    const std::vector<float> expected = reference_logits(path, ids, n_ctx);
    REQUIRE(expected.size() == n_tokens * base->config().n_vocab);
    double range = 0.0;
    for (float e : expected) range = std::max(range, double(std::fabs(e)));
    for (Isa isa : supported_isas()) {
        ModelOptions mo;
        mo.isa = isa;
        const auto model = Model::load(path, mo);
        for (DType cache : {DType::F32, DType::F16, DType::Q8_0}) {
            if (!kv_type_fits(cache, base->config().head_dim)) continue;
            Session s(*model, {.n_ctx = n_ctx, .n_batch = 512, .n_threads = 2, .cache_type = cache});
            const auto logits = s.eval(ids, true);
            double worst = 0.0;
            for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, double(std::fabs(logits[i] - expected[i])));
            INFO(path << " with " << isa_name(isa) << ", " << cache_type_name(cache) << " cache, context " << n_ctx
                      << ": largest difference " << worst << ", " << worst / range << " of the largest logit");
            if (cache == DType::F32) CHECK(worst < 1e-4);
            else CHECK(worst / range < (cache == DType::F16 ? 2e-3 : 5e-2));
        }
    }
}

}  // namespace

TEST_CASE("logits match the PyTorch reference on every position", "[forward][reference]") {
    if (!have_torch()) {
        WARN("SKIPPED: /usr/bin/python3 has no torch; install python3-torch to run the reference check");
        return;
    }
    // Llama 3 shaped (byte-level BPE vocabulary, RoPE base 500000 with Llama 3.1 frequency
    // factors, GQA, output tied to the embeddings) and Mixtral shaped (8 experts, 2 per token),
    // made by the generator in F32 and F16.
    std::vector<std::string> paths = {model_path("stories260K.gguf"), model_path("random/llama-2-tiny-random.gguf")};
    for (const char* shape : {"llama3-tiny", "moe-tiny"})
        for (const char* type : {"f32", "f16"}) paths.push_back(generated_model(shape, type));
    for (const std::string& path : paths) check_against_reference(path, 32, 64);
}

TEST_CASE("every architecture's logits match the PyTorch reference", "[forward][reference][arch]") {
    if (!have_torch()) {
        WARN("SKIPPED: /usr/bin/python3 has no torch; install python3-torch to run the reference check");
        return;
    }
    // Biases (qwen2); per-head Q/K norms and heads wider than n_embd / n_head (qwen3, and with
    // experts qwen3moe); gemma3's post-norms, GELU, scaled embeddings, linear RoPE scaling and
    // sliding windows of 16, which a prompt of 40 tokens outgrows; phi3's fused matrices and
    // LongRoPE, whose short factors apply in a context of 64 and long ones in 128.
    for (const char* shape : {"qwen2-tiny", "qwen3-tiny", "qwen3moe-tiny", "gemma3-tiny", "phi3-tiny"})
        check_against_reference(generated_model(shape, "f32"), 40, 64);
    check_against_reference(generated_model("phi3-tiny", "f32"), 40, 128);
}

namespace {

// The model at path and its quantized copies: F32, and Q8_0/Q4_0 matrices that take the AMX
// kernels where the CPU has them (the weights are copied and rearranged at load).
std::vector<std::string> with_quantized(const std::string& f32) {
    std::vector<std::string> paths = {f32};
    for (const char* mix : {"q8_0", "q4_0"}) {
        const std::string out = temp_dir() + "/" + f32.substr(f32.rfind('/') + 1) + "-" + mix + ".gguf";
        quantize_model(f32, out, *parse_quant_mix(mix), 2, [](size_t, size_t, const std::string&, const char*) {});
        paths.push_back(out);
    }
    return paths;
}

// Logits of n_tokens of the prompt, bit for bit the same in one pass and in passes of 1 and 7
// tokens, on 1 and 2 threads; and the same again when the prompt shares its passes with other
// sequences (a batch of three sequences at different positions).
void check_invariance(const std::string& path, size_t n_tokens, size_t n_ctx) {
    ModelOptions mo;
    mo.isa = detect_isa();
    const auto model = Model::load(path, mo);
    const auto ids = prompt_tokens(*model, n_tokens);
    const size_t V = model->config().n_vocab;
    Session whole(*model, {.n_ctx = n_ctx, .n_batch = 512, .n_threads = 2});
    const auto all = whole.eval(ids, true);
    const std::vector<float> reference(all.begin(), all.end());
    for (size_t batch : {size_t{1}, size_t{7}, n_tokens}) {
        for (int threads : {1, 2}) {
            Session s(*model, {.n_ctx = n_ctx, .n_batch = batch, .n_threads = threads});
            std::vector<float> got;
            for (size_t i = 0; i < ids.size(); i += batch) {
                const size_t n = std::min(batch, ids.size() - i);
                const auto l = s.eval(std::span<const Token>(ids).subspan(i, n), true);
                got.insert(got.end(), l.begin(), l.end());
            }
            INFO(path << ": batch " << batch << ", threads " << threads << ", kernels " << isa_name(mo.isa)
                      << ", rearranged " << model->repacked_bytes() << " bytes");
            REQUIRE(got.size() == n_tokens * V);
            CHECK(std::memcmp(got.data(), reference.data(), got.size() * 4) == 0);
        }
    }

    // The prompt in passes of 7 beside two other sequences: one a step ahead of it and one
    // starting over, so that each pass mixes positions.
    const size_t step = 7;
    const ModelConfig& c = model->config();
    KvCache mine(c, n_ctx, DType::F16, step), ahead(c, n_ctx, DType::F16, step), fresh(c, n_ctx, DType::F16, step);
    Forward f(*model, 3 * step, 2);
    std::vector<float> got;
    for (size_t i = 0; i < ids.size(); i += step) {
        const size_t n = std::min(step, ids.size() - i);
        const std::span<const Token> part = std::span<const Token>(ids).subspan(i, n);
        const std::span<const Token> next = std::span<const Token>(ids).subspan(std::min(i + step, ids.size() - 1), 1);
        const TokenRun runs[] = {{next, &ahead, i, Logits::last}, {part, &mine, i, Logits::all}, {part.first(1), &fresh, 0, Logits::none}};
        const auto l = f.run(runs);
        got.insert(got.end(), l.begin() + static_cast<ptrdiff_t>(V), l.end());
    }
    INFO(path << ": in a batch of three sequences");
    REQUIRE(got.size() == n_tokens * V);
    CHECK(std::memcmp(got.data(), reference.data(), got.size() * 4) == 0);
}

}  // namespace

TEST_CASE("logits do not depend on batching or thread count", "[forward]") {
    // And a Mixture-of-Experts model, whose tokens go to their experts in groups that change
    // with the batch.
    for (const std::string& f32 : {model_path("stories260K.gguf"), generated_model("moe-tiny", "f32")})
        for (const std::string& path : with_quantized(f32))
            check_invariance(path, 64, 64);
}

TEST_CASE("every architecture's logits do not depend on batching or thread count", "[forward][arch]") {
    for (const char* shape : {"qwen2-tiny", "qwen3-tiny", "qwen3moe-tiny", "gemma3-tiny", "phi3-tiny"})
        for (const std::string& path : with_quantized(generated_model(shape, "f32"))) check_invariance(path, 64, 64);
}

TEST_CASE("sliding-window layers give the same logits from a ring as from the whole context", "[forward][arch]") {
    // gemma3-tiny's window of 16 in a context of 256: a pass of all 180 tokens keeps every
    // position, passes of 1 and 7 tokens a ring of 64 that wraps three times.
    const std::string path = generated_model("gemma3-tiny", "f32");
    const auto model = Model::load(path, {});
    CHECK(KvCache(model->config(), 256, DType::F16, 7).positions(0) == 64);
    CHECK(KvCache(model->config(), 256, DType::F16, 7).positions(5) == 256);  // the global layer
    check_invariance(path, 180, 256);
}

TEST_CASE("the context limit and bad token ids are errors", "[forward][bad-input]") {
    const auto model = Model::load(model_path("stories260K.gguf"), {});
    Session s(*model, {.n_ctx = 4, .n_batch = 512, .n_threads = 1});
    const std::vector<Token> five = {1, 2, 3, 4, 5};
    CHECK_THROWS_WITH(s.eval(five), Catch::Contains("context is full"));
    const std::vector<Token> bad = {1, 512};
    CHECK_THROWS_WITH(s.eval(bad), Catch::Contains("outside the vocabulary"));
    CHECK(s.n_past() == 0);
}

TEST_CASE("the thread policy moves a one-token pass to one thread while a core is taken, and back", "[forward]") {
    ThreadPolicy policy(2);
    // A pass takes 10 ms on two threads and 6 ms on one (a busy core), then 5 and 9 (idle again).
    double at_two = 0.010, at_one = 0.006;
    std::vector<int> chosen;
    for (int pass = 0; pass < 400; ++pass) {
        if (pass == 200) at_two = 0.005, at_one = 0.009;
        const int t = policy.threads();
        chosen.push_back(t);
        policy.record(t == 2 ? at_two : at_one);
    }
    const auto ones = [&](int from, int to) { return std::count(chosen.begin() + from, chosen.begin() + to, 1); };
    CHECK(ones(0, 3) == 0);        // it starts on every thread
    CHECK(ones(10, 200) >= 185);   // then keeps to one, trying two now and then
    CHECK(ones(330, 400) <= 2);    // and goes back once two are faster again
    ThreadPolicy single(1);
    for (int pass = 0; pass < 100; ++pass) CHECK(single.threads() == 1);
}

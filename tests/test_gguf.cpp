// The GGUF loader against well-formed and malformed files: every bad file must end in exit
// status 1 with one line on stderr naming the file and the problem, never a signal.
#include <catch2/catch.hpp>
#include <cstring>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "helpers.h"

using namespace kiln;
using namespace kiln::test;

namespace {

template <class T>
void patch(std::string& bytes, size_t at, T value) {
    REQUIRE(at + sizeof(T) <= bytes.size());
    std::memcpy(&bytes[at], &value, sizeof(T));
}

// Offset of the tensor-info fields that follow a tensor's name.
size_t after_name(const std::string& bytes, const std::string& name) {
    const size_t at = bytes.find(name + "\x01\x00\x00\x00", 0);  // 1-D tensors
    const size_t at2 = bytes.find(name + "\x02\x00\x00\x00", 0);
    const size_t pos = std::min(at, at2);
    REQUIRE(pos != std::string::npos);
    return pos + name.size();
}

struct BadCase {
    std::string name;
    std::string bytes;
    std::string expect;  // what the message must contain; '|' separates alternatives
};

bool mentions(const std::string& message, const std::string& alternatives) {
    size_t start = 0;
    while (true) {
        const size_t bar = alternatives.find('|', start);
        if (message.find(alternatives.substr(start, bar - start)) != std::string::npos) return true;
        if (bar == std::string::npos) return false;
        start = bar + 1;
    }
}

std::vector<BadCase> bad_cases() {
    const std::string good = tiny_model().serialize();
    std::vector<BadCase> cases;
    auto add = [&](std::string name, std::string bytes, std::string expect) {
        cases.push_back({std::move(name), std::move(bytes), std::move(expect)});
    };
    for (size_t cut : {size_t{3}, size_t{7}, size_t{12}, size_t{20}, size_t{30}, good.size() / 8, good.size() / 4,
                       good.size() / 2, good.size() - 100, good.size() - 1})
        add("truncated at " + std::to_string(cut), good.substr(0, cut), cut < 4 ? "magic" : "truncated|outside the file|more than the file holds");

    std::string b = good;
    b[0] = 'X';
    add("bad magic", b, "magic");
    b = good, patch<uint32_t>(b, 4, 1), add("version 1", b, "version 1");
    b = good, patch<uint32_t>(b, 4, 99), add("version 99", b, "version 99");
    b = good, patch<uint64_t>(b, 8, uint64_t{1} << 60), add("huge tensor count", b, "tensor count");
    b = good, patch<uint64_t>(b, 16, uint64_t{1} << 60), add("huge metadata count", b, "metadata count");
    b = good, patch<uint64_t>(b, 24, uint64_t{1} << 40), add("key length past the end", b, "truncated");
    {
        // The string array of tokens: its count field follows the key and the two type fields.
        const std::string key = "tokenizer.ggml.tokens";
        const size_t at = good.find(key) + key.size() + 4 + 4;
        b = good, patch<uint64_t>(b, at, uint64_t{1} << 62), add("huge array count", b, "more than the file holds");
        b = good, patch<uint32_t>(b, at - 4, 77), add("unknown array type", b, "unknown type 77");
        b = good, patch<uint32_t>(b, at - 8, 55), add("unknown value type", b, "unknown value type 55");
        b = good, patch<uint64_t>(b, at + 8, uint64_t{1} << 50), add("string length past the end", b, "truncated");
    }
    const size_t q = after_name(good, "blk.0.attn_q.weight");  // n_dims, dims[2], type, offset
    b = good, patch<uint64_t>(b, q + 4, 0), add("zero dimension", b, "zero dimension");
    b = good, patch<uint64_t>(b, q + 4, uint64_t{1} << 40), patch<uint64_t>(b, q + 12, uint64_t{1} << 40),
    add("overflowing dimensions", b, "overflows");
    b = good, patch<uint32_t>(b, q, 7), add("too many dimensions", b, "dimensions");
    b = good, patch<uint32_t>(b, q + 20, 99), add("unknown tensor type", b, "unknown type 99");
    b = good, patch<uint64_t>(b, q + 24, uint64_t{1} << 40), add("offset outside the file", b, "outside the file");
    b = good, patch<uint64_t>(b, q + 24, 8), add("unaligned offset", b, "alignment");
    b = good, patch<uint64_t>(b, q + 24, 0), add("overlapping tensors", b, "overlap");
    {
        const size_t key = good.find("general.architecture");
        b = good, b[key] = '\xff', add("non-UTF-8 key", b, "UTF-8");
    }

    TinyModel o;
    o.omit_ffn_up = true, add("missing tensor", tiny_model(o).serialize(), "blk.0.ffn_up.weight");
    o = {}, o.attn_q_dims = {16, 12}, add("wrong shape", tiny_model(o).serialize(), "expected [16, 16]");
    o = {}, o.attn_q_type = 12, add("type kiln cannot run", tiny_model(o).serialize(), "q4_k");
    o = {}, o.bos = 5000, add("token id beyond the vocabulary", tiny_model(o).serialize(), "outside the vocabulary");
    o = {}, o.arch = "gpt2",
    add("other architecture", tiny_model(o).serialize(), "architecture 'gpt2' is not supported (kiln runs llama, qwen2, qwen3");
    // Each architecture's own tensors and keys, missing or misshapen.
    o = {}, o.arch = "qwen2", add("qwen2 without biases", tiny_model(o).serialize(), "missing tensor 'blk.0.attn_q.bias'");
    o.extra_f32 = {{"blk.0.attn_q.bias", {16}}, {"blk.0.attn_k.bias", {7}}};
    add("qwen2 with a misshapen bias", tiny_model(o).serialize(), "tensor 'blk.0.attn_k.bias' has shape [7], expected [8]");
    o = {}, o.arch = "qwen3", add("qwen3 without Q/K norms", tiny_model(o).serialize(), "missing tensor 'blk.0.attn_q_norm.weight'");
    o = {}, o.arch = "qwen3moe", add("qwen3moe without experts", tiny_model(o).serialize(), "missing metadata key 'qwen3moe.expert_count'");
    o = {}, o.arch = "gemma3", add("gemma3 without its window", tiny_model(o).serialize(), "'gemma3.attention.sliding_window'");
    o = {}, o.extra_f32 = {{"Xutput.weight", {16, 267}}};
    add("a tensor the architecture does not use", tiny_model(o).serialize(),
        "tensor 'Xutput.weight' is not one architecture 'llama' uses");
    o = {}, o.arch = "phi3",
    add("phi3 without fused gate and up", tiny_model(o).serialize(), "tensor 'blk.0.ffn_up.weight' has shape [16, 32], expected [16, 64]");
    o = {}, o.with_block_count = false, add("missing hyperparameter", tiny_model(o).serialize(), "llama.block_count");
    {
        GgufWriter w = tiny_model();
        w.add_u32("llama.block_count", 1);
        add("duplicate key", w.serialize(), "duplicate metadata key");
    }
    {
        GgufWriter w = tiny_model();
        w.add_tensor("output_norm.weight", {16}, 0, std::string(64, '\0'));
        add("duplicate tensor", w.serialize(), "duplicate tensor");
    }
    {
        GgufWriter w = tiny_model();
        w.add_u32("llama.expert_count", 4);
        w.add_u32("llama.expert_used_count", 8);
        add("more experts used than there are", w.serialize(), "expert_used_count 8 of expert_count 4");
    }
    {
        GgufWriter w = tiny_model();  // says Mixture of Experts, holds a dense FFN
        w.add_u32("llama.expert_count", 4);
        w.add_u32("llama.expert_used_count", 2);
        add("experts without their tensors", w.serialize(), "missing tensor 'blk.0.ffn_gate_inp.weight'");
    }
    {
        GgufWriter w = tiny_model();
        w.add_u32("general.alignment", 3);
        add("bad alignment", w.serialize(), "power of two");
    }
    return cases;
}

}  // namespace

TEST_CASE("a tensor the architecture does not use loads only when allowed", "[gguf][bad-input]") {
    TinyModel o;
    o.extra_f32 = {{"Xutput.weight", {16, 267}}};
    const std::string path = temp_dir() + "/tiny-unused.gguf";
    tiny_model(o).write(path);
    CHECK_THROWS_WITH(Model::load(path, {}), Catch::Contains("'Xutput.weight' is not one architecture 'llama' uses"));
    ModelOptions allow;
    allow.allow_unused_tensors = true;
    CHECK(Model::load(path, allow)->config().n_vocab == 267);
    const Result refused = run_kiln({"run", "-m", path, "-p", "a", "-n", "1"});
    CHECK(refused.status == 1);
    CHECK(refused.err.find("Xutput.weight") != std::string::npos);
    CHECK(run_kiln({"run", "-m", path, "-p", "a", "-n", "1", "--allow-unused-tensors"}).status == 0);
}

TEST_CASE("the tiny test model is valid and loads", "[gguf]") {
    const std::string path = temp_dir() + "/tiny-good.gguf";
    tiny_model().write(path);
    const GgufFile g = GgufFile::open(path);
    CHECK(g.version() == 3);
    CHECK(g.tensors().size() == 11);
    CHECK(g.get_uint("llama.embedding_length") == 16u);
    const auto model = Model::load(path, {});
    CHECK(model->config().n_vocab == 267);
    CHECK(model->config().n_kv_head == 1);
    const Result r = run_kiln({"info", "-m", path});
    CHECK(r.status == 0);
    CHECK(r.out.find("blk.0.attn_q.weight") != std::string::npos);

    // An expert count of 0 (some converters write it for dense models) means dense.
    GgufWriter dense = tiny_model();
    dense.add_u32("llama.expert_count", 0);
    dense.write(path);
    CHECK(Model::load(path, {})->config().n_expert == 0);
}

TEST_CASE("GGUF metadata values read back with their types", "[gguf]") {
    GgufWriter w;
    w.add_string("s", "hello");
    w.add_i32("neg", -5);
    w.add_f32("f", 0.5f);
    w.add_bool("b", true);
    w.add_i32_array("ints", {3, -1, 7});
    const std::string bytes = w.serialize();
    const GgufFile g = GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    CHECK(g.get_string("s") == "hello");
    CHECK(g.get_float("f") == 0.5);
    CHECK(g.get_bool("b") == true);
    CHECK(g.get_int_array("ints") == std::vector<int64_t>{3, -1, 7});
    CHECK_FALSE(g.get_uint("absent").has_value());
    CHECK_THROWS_WITH(g.get_uint("neg"), Catch::Contains("negative"));
    CHECK_THROWS_WITH(g.get_uint("s"), Catch::Contains("expected an integer"));
}

TEST_CASE("malformed GGUF files fail cleanly", "[gguf][bad-input]") {
    const auto cases = bad_cases();
    REQUIRE(cases.size() >= 15);
    for (size_t i = 0; i < cases.size(); ++i) {
        const BadCase& c = cases[i];
        SECTION(c.name) {
            const std::string path = temp_dir() + "/bad" + std::to_string(i) + ".gguf";
            write_file(path, c.bytes);
            // In-process: the parser and loader throw Error, never anything else.
            CHECK_THROWS_AS(Model::load(path, {}), Error);
            // Through the CLI: status 1, one line naming the file and the problem.
            const Result r = run_kiln({"run", "-m", path, "-p", "a", "-n", "1"});
            INFO("stderr: " << r.err);
            CHECK(r.signal == 0);
            CHECK(r.status == 1);
            CHECK(r.out.empty());
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            CHECK(r.err.find(path) != std::string::npos);
            CHECK(mentions(r.err, c.expect));
        }
    }
}

TEST_CASE("a file that is not there, a directory, an empty file", "[gguf][bad-input]") {
    const std::string empty = temp_dir() + "/empty.gguf";
    write_file(empty, "");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {temp_dir() + "/does-not-exist.gguf", "No such file"},
        {temp_dir(), "is a directory"},
        {empty, "empty"},
    };
    for (const auto& [path, expect] : cases) {
        const Result r = run_kiln({"info", "-m", path});
        INFO(r.err);
        CHECK(r.status == 1);
        CHECK(r.err.find(expect) != std::string::npos);
    }
}

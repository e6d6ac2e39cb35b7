// Shared by the tests: where the models are, running the kiln binary, a tiny model builder.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf_writer.h"
#include "kernels/cpu.h"

namespace kiln::test {

// ../shared from the source tree, or $KILN_SHARED; models_dir() is its models/.
std::string shared_dir();
std::string models_dir();
std::string model_path(const std::string& relative);

// A fresh empty directory for this test process.
std::string temp_dir();

// The path of a model of `shape` that scripts/make-model.py writes into temp_dir() (once per
// process, type ("f16" or "f32") and extra arguments).
std::string generated_model(const std::string& shape, const std::string& type = "f16", const std::string& extra = "");

// The instruction-set levels this CPU runs, scalar first.
std::vector<Isa> supported_isas();

struct Result {
    int status = -1;     // exit status, or -1 when killed by a signal
    int signal = 0;
    std::string out, err;
};
// Runs the kiln binary with these arguments (no shell), stdin from a file holding `input`.
Result run_kiln(const std::vector<std::string>& args, const std::string& input = "");
// The same with extra environment variables (NAME=value).
Result run_kiln_env(const std::vector<std::string>& args, const std::vector<std::string>& env);
// Another program (a path, or a name on PATH), stdin empty.
Result run_program(const std::string& program, const std::vector<std::string>& args);
// The same, sending SIGINT `interrupts` times, the first once standard output holds min_out
// bytes (no timing: a slow or busy machine only waits longer).
Result run_kiln_interrupted(const std::vector<std::string>& args, size_t min_out, int interrupts);
// The same, sending SIGKILL as soon as when() holds (polled while kiln runs).
Result run_kiln_killed(const std::vector<std::string>& args, const std::function<bool()>& when);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

// A valid one-layer Llama GGUF with a byte-level SentencePiece vocabulary of 259 + 8 tokens
// and random F32/F16 weights: dim 16, 2 heads, 1 KV head, FFN 32.
struct TinyModel {
    bool omit_ffn_up = false;
    std::vector<uint64_t> attn_q_dims = {16, 16};
    uint32_t attn_q_type = 0;  // f32
    uint32_t bos = 1;
    std::string arch = "llama";  // also the prefix of the hyperparameter keys
    bool with_block_count = true;
    std::vector<std::pair<std::string, std::vector<uint64_t>>> extra_f32;  // more tensors (zeros)
};
GgufWriter tiny_model(const TinyModel& options = {});

}  // namespace kiln::test

#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

#include "kernels/fp16.h"

extern char** environ;

namespace kiln::test {

std::string shared_dir() {
    if (const char* s = std::getenv("KILN_SHARED"); s != nullptr && *s != '\0') return s;
    return std::string(KILN_SOURCE_DIR) + "/../shared";
}

std::string models_dir() { return shared_dir() + "/models"; }

std::string model_path(const std::string& relative) { return models_dir() + "/" + relative; }

std::string temp_dir() {
    // A plain array, so that it outlives the exit handler that removes the directory.
    static char dir[] = "/tmp/kiln-test-XXXXXX";
    static const bool made = [] {
        if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
        std::atexit([] { std::filesystem::remove_all(dir); });
        return true;
    }();
    (void)made;
    return dir;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> out;
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::amx})
        if (isa_supported(i)) out.push_back(i);
    return out;
}

std::string generated_model(const std::string& shape, const std::string& type, const std::string& extra) {
    static std::map<std::string, std::string> made;
    const std::string out = temp_dir() + "/" + shape + "-" + type +
                            (extra.empty() ? "" : "-" + std::to_string(std::hash<std::string>{}(extra))) + ".gguf";
    if (made.count(out)) return out;
    const std::string cmd = "cd '" KILN_SOURCE_DIR "/scripts' && KILN_SHARED='" + shared_dir() +
                            "' /usr/bin/python3 make-model.py " + shape + " '" + out + "' --type " + type + " " + extra + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-model.py " + shape + " failed");
    made[out] = out;
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

namespace {

// Spawns a program (kiln unless given; a name is looked up on PATH) with extra environment
// variables, lets control(pid) act on it while it runs, and waits for it.
Result run_kiln_with(const std::vector<std::string>& args, const std::string& input,
                     const std::function<void(pid_t, const std::string&)>& control, std::string bin = KILN_BINARY,
                     std::vector<std::string> env = {}) {
    static int counter = 0;
    const std::string base = temp_dir() + "/run" + std::to_string(++counter);
    const std::string in_path = base + ".in", out_path = base + ".out", err_path = base + ".err";
    write_file(in_path, input);
    std::vector<char*> argv;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;  // the extra ones first: getenv finds the first of a name
    for (std::string& e : env) envp.push_back(e.data());
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    const int rc = posix_spawnp(&pid, bin.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + bin);
    if (control) control(pid, out_path);
    int ws = 0;
    waitpid(pid, &ws, 0);
    Result r;
    if (WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
    if (WIFSIGNALED(ws)) r.signal = WTERMSIG(ws);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    return r;
}

}  // namespace

Result run_kiln(const std::vector<std::string>& args, const std::string& input) {
    return run_kiln_with(args, input, {});
}

Result run_kiln_env(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    return run_kiln_with(args, "", {}, KILN_BINARY, env);
}

Result run_program(const std::string& program, const std::vector<std::string>& args) {
    return run_kiln_with(args, "", {}, program);
}

Result run_kiln_interrupted(const std::vector<std::string>& args, size_t min_out, int interrupts) {
    return run_kiln_with(args, "", [&](pid_t pid, const std::string& out_path) {
        // Until the output has min_out bytes (or a minute has passed, or kiln has ended).
        for (int waited = 0; waited < 60000; ++waited) {
            std::ifstream out(out_path, std::ios::binary | std::ios::ate);
            if (out.good() && static_cast<size_t>(out.tellg()) >= min_out) break;
            if (kill(pid, 0) != 0) break;
            usleep(1000);
        }
        for (int i = 0; i < interrupts; ++i) {
            kill(pid, SIGINT);
            usleep(20000);
        }
    });
}

Result run_kiln_killed(const std::vector<std::string>& args, const std::function<bool()>& when) {
    return run_kiln_with(args, "", [&](pid_t pid, const std::string&) {
        int ws = 0;
        while (waitpid(pid, &ws, WNOHANG) == 0) {
            if (when()) {
                kill(pid, SIGKILL);
                return;
            }
            usleep(200);
        }
        throw std::runtime_error("kiln finished before the moment to kill it came");
    });
}

GgufWriter tiny_model(const TinyModel& o) {
    const size_t dim = 16, ff = 32, kv_dim = 8;
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        char piece[8];
        std::snprintf(piece, sizeof piece, "<0x%02X>", b);
        tokens.push_back(piece);
        types.push_back(6);
    }
    for (const char* w : {"\xE2\x96\x81", "\xE2\x96\x81" "a", "\xE2\x96\x81" "b", "a", "b", "ab", "\xE2\x96\x81" "ab", "ba"}) {
        tokens.push_back(w);
        types.push_back(1);
    }
    std::vector<float> scores(tokens.size());
    for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
    const size_t n_vocab = tokens.size();

    GgufWriter w;
    w.add_string("general.architecture", o.arch);
    const std::string k = o.arch + ".";
    if (o.with_block_count) w.add_u32(k + "block_count", 1);
    w.add_u32(k + "context_length", 64);
    w.add_u32(k + "embedding_length", dim);
    w.add_u32(k + "feed_forward_length", ff);
    w.add_u32(k + "attention.head_count", 2);
    w.add_u32(k + "attention.head_count_kv", 1);
    w.add_f32(k + "attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_f32_array("tokenizer.ggml.scores", scores);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    w.add_u32("tokenizer.ggml.bos_token_id", o.bos);
    w.add_u32("tokenizer.ggml.eos_token_id", 2);

    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    auto f32 = [&](size_t n, bool ones) {
        std::string b(n * 4, '\0');
        for (size_t i = 0; i < n; ++i) {
            const float v = ones ? 1.0f : normal(rng);
            std::memcpy(&b[i * 4], &v, 4);
        }
        return b;
    };
    auto f16 = [&](size_t n) {
        std::string b(n * 2, '\0');
        for (size_t i = 0; i < n; ++i) {
            const uint16_t h = f32_to_f16(normal(rng));
            std::memcpy(&b[i * 2], &h, 2);
        }
        return b;
    };
    auto mat = [&](const std::string& name, size_t cols, size_t rows) { w.add_tensor(name, {cols, rows}, 1, f16(cols * rows)); };
    w.add_tensor("token_embd.weight", {dim, n_vocab}, 0, f32(dim * n_vocab, false));
    w.add_tensor("output_norm.weight", {dim}, 0, f32(dim, true));
    w.add_tensor("blk.0.attn_norm.weight", {dim}, 0, f32(dim, true));
    uint64_t q_elems = 1;
    for (uint64_t d : o.attn_q_dims) q_elems *= d;
    const TypeInfo* qt = type_info(o.attn_q_type);
    w.add_tensor("blk.0.attn_q.weight", o.attn_q_dims, o.attn_q_type,
                 std::string(qt ? q_elems / qt->block_elems * qt->block_bytes : q_elems * 4, '\0'));
    mat("blk.0.attn_k.weight", dim, kv_dim);
    mat("blk.0.attn_v.weight", dim, kv_dim);
    mat("blk.0.attn_output.weight", dim, dim);
    w.add_tensor("blk.0.ffn_norm.weight", {dim}, 0, f32(dim, true));
    mat("blk.0.ffn_gate.weight", dim, ff);
    if (!o.omit_ffn_up) mat("blk.0.ffn_up.weight", dim, ff);
    mat("blk.0.ffn_down.weight", ff, dim);
    for (const auto& [name, dims] : o.extra_f32) {
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        w.add_tensor(name, dims, 0, std::string(n * 4, '\0'));
    }
    return w;
}

}  // namespace kiln::test

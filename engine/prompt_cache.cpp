#include "engine/prompt_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace kiln {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'P', 'C', '0', '1'};

// FNV-1a's step over 8-byte words (then the bytes left): a checksum for files of gigabytes.
struct Fnv {
    uint64_t h = 0xcbf29ce484222325ULL;
    void add(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        size_t i = 0;
        for (uint64_t w; i + 8 <= n; i += 8) {
            std::memcpy(&w, b + i, 8);
            h = (h ^ w) * 0x100000001b3ULL;
        }
        for (; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    template <typename T>
    void add(const T& v) {
        add(&v, sizeof v);
    }
};

template <typename T>
void put(std::ostream& out, const T& v) {
    out.write(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool get(std::istream& in, T& v) {
    return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

}  // namespace

uint64_t model_fingerprint(const Model& model) {
    Fnv f;
    const auto arch = model.gguf().get_string("general.architecture").value_or("");
    f.add(arch.data(), arch.size());
    for (const GgufTensor& t : model.gguf().tensors()) {
        f.add(t.name.data(), t.name.size());
        f.add(t.type);
        f.add(t.n_dims);
        f.add(t.dims);
    }
    return f.h;
}

PromptCacheLoad load_prompt_cache(const std::string& path, Session& session, std::span<const Token> prompt) {
    session.clear();
    PromptCacheLoad r;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return {0, path + ": is a directory", true};
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        if (errno != ENOENT) r.problem = path + ": cannot read: " + std::strerror(errno), r.damaged = true;
        return r;
    }
    const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    const auto damaged = [&](const std::string& what) {
        r.problem = path + ": " + what;
        r.damaged = true;
        return r;
    };
    if (bytes.size() < sizeof kMagic + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        return damaged("not a kiln prompt cache");
    Fnv sum;
    sum.add(bytes.data(), bytes.size() - 8);
    uint64_t stored_sum = 0;
    std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
    if (sum.h != stored_sum) return damaged("damaged (its checksum does not match: cut short or overwritten)");

    const size_t size = bytes.size();
    std::istringstream in(std::move(bytes));  // the rows are read once, not copied
    in.seekg(sizeof kMagic);
    uint64_t fingerprint = 0, n = 0;
    std::array<uint32_t, 4> shape{};
    if (!get(in, fingerprint) || !get(in, shape) || !get(in, n)) return damaged("damaged (its header ends early)");
    if (fingerprint != model_fingerprint(session.model())) {
        r.problem = path + ": made for another model";
        return r;
    }
    if (shape != session.cache_shape()) {
        r.problem = path + ": made with another KV cache type";
        return r;
    }
    const uint64_t row_bytes = 2ull * shape[1] * shape[2] * shape[3];
    if (n > size / sizeof(Token) || n * (sizeof(Token) + row_bytes) + sizeof kMagic + 8 + 16 + 8 + 8 != size)
        return damaged("damaged (its size does not match its header)");
    std::vector<Token> tokens(n);
    in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(n * sizeof(Token)));
    const size_t common = static_cast<size_t>(
        std::mismatch(tokens.begin(), tokens.end(), prompt.begin(), prompt.end()).first - tokens.begin());
    const size_t use = std::min({common, prompt.empty() ? 0 : prompt.size() - 1, session.n_ctx() - 1});
    if (use == 0) return r;
    session.restore(in, use, n);
    r.n_tokens = use;
    return r;
}

std::string save_prompt_cache(const std::string& path, const Session& session, std::span<const Token> tokens) {
    const size_t n = session.n_past();
    if (tokens.size() < n) return path + ": fewer tokens than the cache holds";
    std::ostringstream out;
    out.write(kMagic, sizeof kMagic);
    put(out, model_fingerprint(session.model()));
    put(out, session.cache_shape());
    put(out, static_cast<uint64_t>(n));
    out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(n * sizeof(Token)));
    if (!session.save(out)) return path + ": not saved: a sliding-window layer no longer holds the whole prompt";
    std::string bytes = std::move(out).str();
    Fnv sum;
    sum.add(bytes.data(), bytes.size());
    bytes.append(reinterpret_cast<const char*>(&sum.h), sizeof sum.h);

    const std::string temp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(temp, std::ios::binary | std::ios::trunc);
        if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !f.flush()) {
            const std::string why = std::strerror(errno);
            std::remove(temp.c_str());
            return path + ": cannot write: " + why;
        }
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(temp.c_str());
        return path + ": cannot write: " + why;
    }
    return "";
}

}  // namespace kiln

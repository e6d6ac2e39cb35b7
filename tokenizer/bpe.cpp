#include "tokenizer/bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "tokenizer/utf8.h"

namespace kiln {

namespace {

// The pre-tokenizers, by the names tokenizer.ggml.pre gives them: the regular expressions
// that cut a text into pre-tokens, applied one after the other (each cuts every piece the
// previous ones left into its matches and the stretches between them), as llama.cpp does; and
// whether a pre-token that is already a token is taken whole (ignore_merges). Patterns are
// the models' own (their tokenizer.json), in PCRE2 syntax; characters that Unicode
// normalization would change are written as escapes.
struct PreTokenizer {
    std::vector<std::string_view> names;
    std::vector<const char*> patterns;
    bool ignore_merges;
};

constexpr const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kCjk = "[一-龥ࠀ-一가-퟿]+";

const std::vector<PreTokenizer>& pre_tokenizers() {
    static const std::vector<PreTokenizer> table = {
        {{"llama-bpe", "llama3", "llama-v3"},
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
          "\\s+(?!\\S)|\\s+"},
         true},
        // Qwen2 / Qwen2.5 / Qwen3 and the DeepSeek R1 distills of Qwen: Llama 3's split, one digit a piece.
        {{"qwen2", "deepseek-r1-qwen"},
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
          "\\s+(?!\\S)|\\s+"},
         false},
        {{"gpt-2"}, {kGpt2Pattern}, false},
        {{"smollm"}, {"\\p{N}", kGpt2Pattern}, false},
        {{"deepseek-llm"},
         {"[\\r\\n]",
          "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1f7d}ᾀ-ᾴᾶ-ᾼ\\x{1fbe}ῂ-ῄῆ-ῌῐ-\\x{1fd3}ῖ-\\x{1fdb}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212a}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ"
          "\\x{10400}-\\x{1044f}𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
          "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjk, "\\p{N}+"},
         false},
        {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}, false},
        // Mistral Nemo and later Mistral models (Tekken).
        {{"tekken"},
         {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
          "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|"
          " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         true},
    };
    return table;
}

const PreTokenizer* find_pre_tokenizer(std::string_view name) {
    for (const PreTokenizer& p : pre_tokenizers())
        for (std::string_view n : p.names)
            if (n == name) return &p;
    return nullptr;
}

std::string pre_tokenizer_names() {
    std::string out;
    for (const PreTokenizer& p : pre_tokenizers())
        for (std::string_view n : p.names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

// GPT-2's map from bytes to printable characters: printable Latin-1 bytes stand for
// themselves, the others for U+0100 onwards in byte order.
struct ByteMap {
    std::string to_char[256];                  // byte -> UTF-8 of its character
    std::unordered_map<uint32_t, uint8_t> to_byte;  // code point -> byte

    ByteMap() {
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            const uint32_t cp = printable ? b : next++;
            to_char[b] = utf8_encode(cp);
            to_byte[cp] = static_cast<uint8_t>(b);
        }
    }
};

const ByteMap& byte_map() {
    static const ByteMap map;
    return map;
}

// A compiled pattern; PCRE2 handles invalid UTF-8 in the subject (it never matches it).
class Regex {
public:
    explicit Regex(const char* pattern) {
        int err = 0;
        PCRE2_SIZE offset = 0;
        // DOLLAR_ENDONLY: "$" is the end of the piece, not also before a final newline.
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &offset, nullptr);
        if (code_ == nullptr) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(err, message, sizeof message);
            throw std::runtime_error("tokenizer: a pre-tokenizer pattern does not compile at offset " + std::to_string(offset) +
                                     ": " + reinterpret_cast<const char*>(message));
        }
    }
    ~Regex() { pcre2_code_free(code_); }
    Regex(Regex&& o) noexcept : code_(std::exchange(o.code_, nullptr)) {}
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // The pieces of text: each match, and each stretch between matches.
    std::vector<std::string_view> split(std::string_view text) const {
        std::vector<std::string_view> pieces;
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
        size_t pos = 0, last = 0;
        while (pos < text.size()) {
            const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, 0, md, nullptr);
            if (rc < 0) break;
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            if (ov[0] > last) pieces.push_back(text.substr(last, ov[0] - last));
            if (ov[1] == ov[0]) {  // an empty match: step over one character
                pos = ov[0] + 1;
                continue;
            }
            pieces.push_back(text.substr(ov[0], ov[1] - ov[0]));
            pos = last = ov[1];
        }
        if (last < text.size()) pieces.push_back(text.substr(last));
        pcre2_match_data_free(md);
        return pieces;
    }

private:
    pcre2_code* code_ = nullptr;
};

// A pre-tokenizer's patterns, compiled.
class Splitter {
public:
    explicit Splitter(const PreTokenizer& pre) {
        for (const char* p : pre.patterns) regexes_.emplace_back(p);
    }

    std::vector<std::string_view> split(std::string_view text) const {
        std::vector<std::string_view> pieces = {text}, next;
        for (const Regex& r : regexes_) {
            next.clear();
            for (std::string_view piece : pieces)
                for (std::string_view part : r.split(piece)) next.push_back(part);
            pieces.swap(next);
        }
        return pieces;
    }

private:
    std::vector<Regex> regexes_;
};

class BpeTokenizer final : public Tokenizer {
public:
    BpeTokenizer(BpeVocab v, const PreTokenizer& pre)
        : vocab_(std::move(v)), splitter_(pre), ignore_merges_(vocab_.ignore_merges.value_or(pre.ignore_merges)) {
        const size_t n = vocab_.tokens.size();
        if (n == 0) throw std::runtime_error("tokenizer: the vocabulary is empty");
        if (!vocab_.types.empty() && vocab_.types.size() != n)
            throw std::runtime_error("tokenizer: token_type has " + std::to_string(vocab_.types.size()) + " entries for " +
                                     std::to_string(n) + " tokens");
        std::vector<Token> special = vocab_.ends;
        special.push_back(vocab_.bos);
        special.push_back(vocab_.eos);
        for (Token id : special)
            if (id >= static_cast<Token>(n))
                throw std::runtime_error("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary of " +
                                         std::to_string(n));
        ids_.reserve(n);
        texts_.resize(n);
        const ByteMap& bm = byte_map();
        for (size_t id = 0; id < n; ++id) {
            const std::string& tok = vocab_.tokens[id];
            ids_.emplace(tok, static_cast<Token>(id));
            const int32_t type = vocab_.types.empty() ? 1 : vocab_.types[id];
            if (type == 3) continue;  // control tokens decode to nothing
            if (type == 4) {          // user-defined: their own text
                texts_[id] = tok;
                continue;
            }
            // Back from the byte-level alphabet; a character outside it stays as it is.
            std::string_view s = tok;
            while (!s.empty()) {
                const int len = utf8_sequence_length(s);
                const size_t take = len > 0 ? static_cast<size_t>(len) : 1;
                const auto b = bm.to_byte.find(len > 0 ? utf8_decode(s.substr(0, take)) : 0xFFFFFFFFu);
                if (b != bm.to_byte.end()) texts_[id] += static_cast<char>(b->second);
                else texts_[id].append(s.substr(0, take));
                s.remove_prefix(take);
            }
        }
        ranks_.reserve(vocab_.merges.size());
        for (size_t r = 0; r < vocab_.merges.size(); ++r) ranks_.emplace(vocab_.merges[r], static_cast<int>(r));
    }

    void encode_fragment(std::string_view text, std::vector<Token>& out) const override {
        const ByteMap& bm = byte_map();
        for (std::string_view piece : splitter_.split(text)) {
            std::string word;
            for (unsigned char c : piece) word += bm.to_char[c];
            if (ignore_merges_)
                if (const auto it = ids_.find(word); it != ids_.end()) {
                    out.push_back(it->second);
                    continue;
                }
            merge(word, out);
        }
    }

    const std::string& token_text(Token id) const override { return texts_.at(static_cast<size_t>(id)); }
    const std::string& token_piece(Token id) const override { return vocab_.tokens.at(static_cast<size_t>(id)); }
    bool is_byte(Token) const override { return false; }
    bool adds_space_prefix() const override { return false; }
    size_t n_vocab() const override { return vocab_.tokens.size(); }
    Token bos() const override { return vocab_.bos; }
    Token eos() const override { return vocab_.eos; }
    bool is_end(Token id) const override {
        return id == vocab_.eos || std::find(vocab_.ends.begin(), vocab_.ends.end(), id) != vocab_.ends.end();
    }
    bool add_bos() const override { return vocab_.add_bos; }
    bool is_special(Token id) const override { return !vocab_.types.empty() && vocab_.types.at(static_cast<size_t>(id)) == 3; }

private:
    // BPE over one pre-token: the characters as symbols, then always the adjacent pair of best
    // rank merged (leftmost first on ties), with a heap of candidate pairs and a linked list.
    void merge(const std::string& word, std::vector<Token>& out) const {
        struct Symbol {
            size_t start, len;
            int prev, next;
        };
        std::vector<Symbol> sym;
        for (size_t i = 0; i < word.size();) {
            const int len = utf8_sequence_length(std::string_view(word).substr(i));
            const size_t take = len > 0 ? static_cast<size_t>(len) : 1;
            sym.push_back({i, take, static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1});
            i += take;
        }
        if (sym.empty()) return;
        sym.back().next = -1;
        struct Pair {
            int rank, left;
            size_t len;  // the merged length when queued: stale if the symbols changed since
            bool operator>(const Pair& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
        };
        std::priority_queue<Pair, std::vector<Pair>, std::greater<>> heap;
        const auto consider = [&](int left) {
            if (left < 0 || sym[left].next < 0) return;
            const Symbol& a = sym[left];
            const Symbol& b = sym[static_cast<size_t>(a.next)];
            std::string key = word.substr(a.start, a.len);
            key += ' ';
            key.append(word, b.start, b.len);
            if (const auto it = ranks_.find(key); it != ranks_.end()) heap.push({it->second, left, a.len + b.len});
        };
        for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) consider(i);
        while (!heap.empty()) {
            const Pair p = heap.top();
            heap.pop();
            Symbol& a = sym[static_cast<size_t>(p.left)];
            if (a.len == 0 || a.next < 0) continue;
            Symbol& b = sym[static_cast<size_t>(a.next)];
            if (a.len + b.len != p.len) continue;  // stale
            a.len += b.len;
            b.len = 0;
            a.next = b.next;
            if (b.next >= 0) sym[static_cast<size_t>(b.next)].prev = p.left;
            consider(a.prev);
            consider(p.left);
        }
        for (int i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
            const std::string s = word.substr(sym[static_cast<size_t>(i)].start, sym[static_cast<size_t>(i)].len);
            if (const auto it = ids_.find(s); it != ids_.end()) {
                out.push_back(it->second);
                continue;
            }
            // Not a token: one token per character (every single byte character is one).
            for (size_t j = 0; j < s.size();) {
                const int len = utf8_sequence_length(std::string_view(s).substr(j));
                const size_t take = len > 0 ? static_cast<size_t>(len) : 1;
                if (const auto c = ids_.find(s.substr(j, take)); c != ids_.end()) out.push_back(c->second);
                j += take;
            }
        }
    }

    BpeVocab vocab_;
    Splitter splitter_;
    bool ignore_merges_;
    std::unordered_map<std::string, Token> ids_;
    std::unordered_map<std::string, int> ranks_;
    std::vector<std::string> texts_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeVocab vocab) {
    const PreTokenizer* pre = find_pre_tokenizer(vocab.pre);
    if (pre == nullptr)
        throw std::runtime_error("tokenizer.ggml.pre '" + vocab.pre + "' is not supported (kiln implements " +
                                 pre_tokenizer_names() + ")");
    return std::make_unique<BpeTokenizer>(std::move(vocab), *pre);
}

std::vector<std::string> pre_tokenize(std::string_view pre, std::string_view text) {
    const PreTokenizer* p = find_pre_tokenizer(pre);
    if (p == nullptr) throw std::runtime_error("tokenizer.ggml.pre '" + std::string(pre) + "' is not supported");
    const auto pieces = Splitter(*p).split(text);
    return {pieces.begin(), pieces.end()};
}

BpeVocab read_tokenizer_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": not valid JSON");
    const auto model = j.find("model");
    if (model == j.end() || !model->is_object() || model->value("type", "") != "BPE")
        throw std::runtime_error(path + ": not a BPE tokenizer (model.type must be \"BPE\")");
    const auto vocab_json = model->find("vocab");
    const auto merges_json = model->find("merges");
    if (vocab_json == model->end() || !vocab_json->is_object() || merges_json == model->end() || !merges_json->is_array())
        throw std::runtime_error(path + ": model.vocab or model.merges is missing");
    BpeVocab v;
    const auto place = [&](const std::string& text, const nlohmann::json& id_json, int32_t type) {
        if (!id_json.is_number_unsigned() || id_json.get<uint64_t>() >= (uint64_t{1} << 24))
            throw std::runtime_error(path + ": bad token id for '" + text + "'");
        const auto id = id_json.get<size_t>();
        if (id >= v.tokens.size()) {
            v.tokens.resize(id + 1);
            v.types.resize(id + 1, 5);  // 5: unused, until a token takes the id
        }
        v.tokens[id] = text;
        v.types[id] = type;
    };
    for (const auto& [text, id] : vocab_json->items()) place(text, id, 1);
    if (const auto added = j.find("added_tokens"); added != j.end() && added->is_array())
        for (const auto& t : *added)
            if (t.is_object() && t.contains("content") && t["content"].is_string() && t.contains("id"))
                place(t["content"].get<std::string>(), t["id"], t.value("special", false) ? 3 : 4);
    for (const auto& m : *merges_json) {
        if (m.is_string()) v.merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
            v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else throw std::runtime_error(path + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
    v.ignore_merges = model->value("ignore_merges", false);
    const auto id_of = [&](const char* text) {
        for (size_t i = 0; i < v.tokens.size(); ++i)
            if (v.tokens[i] == text) return static_cast<Token>(i);
        return Token{-1};
    };
    v.bos = id_of("<|begin_of_text|>");
    v.eos = id_of("<|end_of_text|>");
    for (const char* end : {"<|eot_id|>", "<|eom_id|>"})
        if (const Token id = id_of(end); id >= 0) v.ends.push_back(id);
    v.add_bos = v.bos >= 0;
    return v;
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::string& path) {
    return make_bpe_tokenizer(read_tokenizer_json(path));
}

}  // namespace kiln

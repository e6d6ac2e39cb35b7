#include "jinja/lexer.h"

#include <cerrno>
#include <cstdlib>

#include "jinja/value.h"

namespace jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class Lexer {
public:
    explicit Lexer(std::string_view source) {
        // Newlines as \n (jinja2 normalizes them), and no final newline (keep_trailing_newline off).
        src_.reserve(source.size());
        for (size_t i = 0; i < source.size(); ++i) {
            if (source[i] == '\r') {
                src_ += '\n';
                if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
            } else src_ += source[i];
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<Token> run() {
        while (pos_ < src_.size()) {
            size_t tag = src_.find('{', pos_);
            while (tag != std::string::npos && tag + 1 < src_.size() && src_[tag + 1] != '{' && src_[tag + 1] != '%' &&
                   src_[tag + 1] != '#')
                tag = src_.find('{', tag + 1);
            if (tag + 1 >= src_.size()) tag = std::string::npos;
            const bool at_line_start = pos_ == 0 || src_[pos_ - 1] == '\n';
            std::string text = src_.substr(pos_, tag == std::string::npos ? std::string::npos : tag - pos_);
            if (tag == std::string::npos) {
                emit_text(std::move(text));
                pos_ = src_.size();
                break;
            }
            const char kind = src_[tag + 1];
            const char control = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
            if (control == '-') {
                size_t end = text.size();
                while (end > 0 && is_space(text[end - 1])) --end;
                text.resize(end);
            } else if ((kind == '%' || kind == '#') && control != '+') {
                const size_t nl = text.rfind('\n');
                const size_t start = nl == std::string::npos ? 0 : nl + 1;
                if (nl != std::string::npos || at_line_start) {
                    bool blank = start < text.size();
                    for (size_t i = start; i < text.size() && blank; ++i) blank = text[i] == ' ' || text[i] == '\t' || text[i] == '\f' || text[i] == '\v';
                    if (blank) text.resize(start);
                }
            }
            emit_text(std::move(text));
            count_lines(pos_, tag);
            pos_ = tag + 2 + (control == '-' || control == '+' ? 1 : 0);
            if (kind == '#') comment();
            else tag_body(kind);
        }
        tokens_.push_back({Token::Type::eof, "", 0, 0.0, line_});
        return std::move(tokens_);
    }

private:
    void emit_text(std::string text) {
        if (!text.empty()) tokens_.push_back({Token::Type::text, std::move(text), 0, 0.0, line_});
    }
    void count_lines(size_t from, size_t to) {
        for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
    }
    [[noreturn]] void fail(const std::string& what) const { throw Error(what, line_); }

    // After a tag's end at pos_: "-" strips all following whitespace, else a block or comment
    // drops one newline (trim_blocks) unless "+" keeps it.
    void after_end(char control, bool block) {
        if (control == '-') {
            size_t p = pos_;
            while (p < src_.size() && is_space(src_[p])) ++p;
            count_lines(pos_, p);
            pos_ = p;
        } else if (block && control != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            ++line_;
        }
    }

    void comment() {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) fail("unterminated comment");
        const char control = end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : '\0';
        count_lines(pos_, end);
        pos_ = end + 2;
        after_end(control, true);
    }

    void tag_body(char kind) {
        const bool block = kind == '%';
        const size_t first = tokens_.size();
        tokens_.push_back({block ? Token::Type::block_begin : Token::Type::var_begin, "", 0, 0.0, line_});
        const char close = block ? '%' : '}';
        int depth = 0;
        for (;;) {
            while (pos_ < src_.size() && is_space(src_[pos_])) line_ += src_[pos_++] == '\n';
            if (pos_ >= src_.size()) fail(block ? "unterminated block tag: expected '%}'" : "unterminated expression: expected '}}'");
            const char c = src_[pos_];
            if (depth == 0) {
                char control = '\0';
                size_t p = pos_;
                if ((c == '-' || c == '+') && p + 2 < src_.size() + 0 && src_[p + 1] == close && src_[p + 2] == '}') {
                    control = c;
                    ++p;
                }
                if (p + 1 < src_.size() && src_[p] == close && src_[p + 1] == '}') {
                    pos_ = p + 2;
                    tokens_.push_back({block ? Token::Type::block_end : Token::Type::var_end, "", 0, 0.0, line_});
                    if (block && tokens_.size() == first + 3 && tokens_[first + 1].type == Token::Type::name &&
                        tokens_[first + 1].text == "raw") {
                        after_end(control, true);
                        raw(first);
                    } else after_end(control, block);
                    return;
                }
            }
            if (is_name_start(c)) {
                const size_t start = pos_;
                while (pos_ < src_.size() && (is_name_start(src_[pos_]) || is_digit(src_[pos_]))) ++pos_;
                tokens_.push_back({Token::Type::name, src_.substr(start, pos_ - start), 0, 0.0, line_});
            } else if (is_digit(c)) number();
            else if (c == '\'' || c == '"') string(c);
            else op(depth);
        }
    }

    // {% raw %}...{% endraw %}: the text between, as it is.
    void raw(size_t first) {
        tokens_.resize(first);
        size_t search = pos_;
        for (;;) {
            const size_t open = src_.find("{%", search);
            if (open == std::string::npos) fail("unterminated raw block: expected '{% endraw %}'");
            size_t p = open + 2;
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
            while (p < src_.size() && is_space(src_[p])) ++p;
            if (src_.compare(p, 6, "endraw") != 0) {
                search = open + 2;
                continue;
            }
            p += 6;
            while (p < src_.size() && is_space(src_[p])) ++p;
            char control = '\0';
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) control = src_[p++];
            if (src_.compare(p, 2, "%}") != 0) {
                search = open + 2;
                continue;
            }
            std::string text = src_.substr(pos_, open - pos_);
            if (src_[open + 2] == '-')
                while (!text.empty() && is_space(text.back())) text.pop_back();
            emit_text(std::move(text));
            count_lines(pos_, p);
            pos_ = p + 2;
            after_end(control, true);
            return;
        }
    }

    void number() {
        const size_t start = pos_;
        bool is_float = false;
        while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) ++pos_;
        if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
            is_float = true;
            ++pos_;
            while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) ++pos_;
        }
        if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
            size_t p = pos_ + 1;
            if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
            if (p < src_.size() && is_digit(src_[p])) {
                is_float = true;
                pos_ = p;
                while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
            }
        }
        std::string digits;
        for (size_t i = start; i < pos_; ++i)
            if (src_[i] != '_') digits += src_[i];
        Token t{is_float ? Token::Type::floating : Token::Type::integer, digits, 0, 0.0, line_};
        errno = 0;
        if (is_float) t.floating = std::strtod(digits.c_str(), nullptr);
        else {
            t.integer = std::strtoll(digits.c_str(), nullptr, 10);
            if (errno == ERANGE) fail("integer literal too large: " + digits);
        }
        tokens_.push_back(std::move(t));
    }

    // A quoted string with Python's escapes.
    void string(char quote) {
        const int line = line_;
        std::string out;
        ++pos_;
        for (;;) {
            if (pos_ >= src_.size()) throw Error("unterminated string", line);
            const char c = src_[pos_++];
            if (c == quote) break;
            if (c == '\n') ++line_;
            if (c != '\\' || pos_ >= src_.size()) {
                out += c;
                continue;
            }
            const char e = src_[pos_++];
            const auto hex = [&](int n) -> int64_t {
                int64_t v = 0;
                for (int k = 0; k < n; ++k) {
                    const int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
                    if (h < 0) throw Error("truncated \\x, \\u or \\U escape in a string", line_);
                    v = v * 16 + h;
                    ++pos_;
                }
                return v;
            };
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '0': out += '\0'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case '\n': ++line_; break;  // a line continuation
                case 'x': append_utf8(out, static_cast<uint32_t>(hex(2))); break;
                case 'u': append_utf8(out, static_cast<uint32_t>(hex(4))); break;
                case 'U': {
                    const int64_t cp = hex(8);
                    if (cp > 0x10FFFF) throw Error("\\U escape beyond U+10FFFF", line_);
                    append_utf8(out, static_cast<uint32_t>(cp));
                    break;
                }
                default:
                    out += '\\';
                    out += e;
            }
        }
        tokens_.push_back({Token::Type::string, std::move(out), 0, 0.0, line});
    }

    void op(int& depth) {
        static constexpr std::string_view two[] = {"**", "//", "==", "!=", "<=", ">="};
        for (std::string_view t : two)
            if (src_.compare(pos_, 2, t) == 0) {
                tokens_.push_back({Token::Type::op, std::string(t), 0, 0.0, line_});
                pos_ += 2;
                return;
            }
        const char c = src_[pos_];
        if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos)
            fail(std::string("unexpected character '") + c + "' in a tag");
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        tokens_.push_back({Token::Type::op, std::string(1, c), 0, 0.0, line_});
        ++pos_;
    }

    std::string src_;
    size_t pos_ = 0;
    int line_ = 1;
    std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace jinja

#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace kiln {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool at_text_start)
    : tokenizer_(tokenizer), at_start_(at_text_start && tokenizer.adds_space_prefix()) {}

std::string StreamDecoder::push(Token id) {
    std::string_view text = tokenizer_.token_text(id);
    if (at_start_ && !text.empty()) {
        // Only a word piece carries the dummy prefix; a raw space byte is real text.
        if (!tokenizer_.is_byte(id) && text.front() == ' ') text.remove_prefix(1);
        at_start_ = false;
    }
    pending_.append(text);
    std::string out;
    drain(out, false);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    drain(out, true);
    return out;
}

void StreamDecoder::drain(std::string& out, bool final) {
    size_t i = 0;
    while (i < pending_.size()) {
        const int len = utf8_sequence_length(std::string_view(pending_).substr(i));
        if (len > 0) {
            out.append(pending_, i, static_cast<size_t>(len));
            i += static_cast<size_t>(len);
        } else if (len == 0 || final) {
            out.append(kReplacement);  // a byte that can never become a character
            ++i;
        } else {
            break;  // an incomplete character: wait for the next token
        }
    }
    pending_.erase(0, i);
}

std::string decode(const Tokenizer& tokenizer, const std::vector<Token>& ids) {
    StreamDecoder decoder(tokenizer, true);
    std::string out;
    for (Token id : ids) out += decoder.push(id);
    return out + decoder.flush();
}

}  // namespace kiln

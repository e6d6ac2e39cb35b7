// Turns a stream of token ids into text, holding back bytes until they complete a UTF-8
// character so that a terminal never shows half a character.
#pragma once

#include <string>

#include "tokenizer/tokenizer.h"

namespace kiln {

class StreamDecoder {
public:
    // at_text_start: the tokens begin a text (drop the dummy-prefix space, as
    // SentencePiece does); false when they continue text that is already out.
    StreamDecoder(const Tokenizer& tokenizer, bool at_text_start);

    // Text that is complete after this token (possibly empty).
    std::string push(Token id);
    // Whatever is still held: each byte of an unfinished character becomes U+FFFD.
    std::string flush();

private:
    void drain(std::string& out, bool final);

    const Tokenizer& tokenizer_;
    bool at_start_;
    std::string pending_;
};

// The whole text of a list of ids, decoded from its start.
std::string decode(const Tokenizer& tokenizer, const std::vector<Token>& ids);

}  // namespace kiln

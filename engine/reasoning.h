// A reasoning model's reply as it streams: the text between the thinking markers (Qwen3, QwQ,
// DeepSeek R1 distills: <think> ... </think>) is reasoning, the rest the answer.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace kiln {

class ReasoningSplitter {
public:
    using Sink = std::function<void(std::string_view text, bool reasoning)>;

    // start_inside: the prompt already opened the thought (see prompt_opens_reasoning).
    explicit ReasoningSplitter(bool start_inside = false, std::string open = "<think>", std::string close = "</think>");

    // Passes on the text, markers included, each piece marked reasoning or not; holds back
    // what could still be the start of a marker.
    void push(std::string_view text, const Sink& sink);
    void flush(const Sink& sink);

    bool inside() const { return inside_; }

private:
    std::string open_, close_, pending_;
    bool inside_;
};

// Whether a rendered chat prompt ends inside a thought (its generation prompt ends with the
// open marker, as DeepSeek R1's does), so that the reply begins as reasoning.
bool prompt_opens_reasoning(std::string_view prompt, std::string_view open = "<think>", std::string_view close = "</think>");

// A whole reply split: the reasoning (between the markers, as generated) and the answer (the
// rest, leading whitespace dropped, as the templates do when they replay a turn).
struct SplitReply {
    std::string reasoning, content;
    bool has_reasoning = false;
};
SplitReply split_reasoning(std::string_view reply, bool start_inside);

}  // namespace kiln

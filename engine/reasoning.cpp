#include "engine/reasoning.h"

namespace kiln {

ReasoningSplitter::ReasoningSplitter(bool start_inside, std::string open, std::string close)
    : open_(std::move(open)), close_(std::move(close)), inside_(start_inside) {}

void ReasoningSplitter::push(std::string_view text, const Sink& sink) {
    pending_.append(text);
    for (;;) {
        const std::string& marker = inside_ ? close_ : open_;
        const size_t at = pending_.find(marker);
        if (at != std::string::npos) {
            const size_t end = at + marker.size();
            // The opening marker belongs to the reasoning, the closing one too.
            if (!inside_) {
                if (at > 0) sink(std::string_view(pending_).substr(0, at), false);
                sink(std::string_view(pending_).substr(at, marker.size()), true);
            } else sink(std::string_view(pending_).substr(0, end), true);
            pending_.erase(0, end);
            inside_ = !inside_;
            continue;
        }
        // Keep the longest tail that could begin the marker.
        size_t keep = std::min(pending_.size(), marker.size() - 1);
        while (keep > 0 && pending_.compare(pending_.size() - keep, keep, marker, 0, keep) != 0) --keep;
        if (pending_.size() > keep) sink(std::string_view(pending_).substr(0, pending_.size() - keep), inside_);
        pending_.erase(0, pending_.size() - keep);
        return;
    }
}

void ReasoningSplitter::flush(const Sink& sink) {
    if (!pending_.empty()) sink(pending_, inside_);
    pending_.clear();
}

bool prompt_opens_reasoning(std::string_view prompt, std::string_view open, std::string_view close) {
    const size_t o = prompt.rfind(open);
    if (o == std::string_view::npos) return false;
    if (prompt.find(close, o) != std::string_view::npos) return false;
    for (char c : prompt.substr(o + open.size()))
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') return false;
    return true;
}

SplitReply split_reasoning(std::string_view reply, bool start_inside) {
    SplitReply out;
    ReasoningSplitter s(start_inside);
    std::string thought;
    const auto sink = [&](std::string_view text, bool reasoning) {
        if (reasoning) {
            out.has_reasoning = true;
            thought.append(text);
        } else out.content.append(text);
    };
    s.push(reply, sink);
    s.flush(sink);
    // The reasoning without its markers.
    if (thought.rfind("<think>", 0) == 0) thought.erase(0, 7);
    if (thought.size() >= 8 && thought.compare(thought.size() - 8, 8, "</think>") == 0) thought.resize(thought.size() - 8);
    out.reasoning = std::move(thought);
    const size_t first = out.content.find_first_not_of(" \n\t\r");
    out.content.erase(0, first == std::string::npos ? out.content.size() : first);
    return out;
}

}  // namespace kiln

#include "engine/conversation.h"

#include <algorithm>

#include "engine/reasoning.h"

namespace kiln {

std::vector<Token> tokenize_prompt(const Tokenizer& tok, std::string_view text, bool special) {
    std::vector<Token> ids = tok.encode(text, false, special);
    if (tok.add_bos() && (ids.empty() || ids.front() != tok.bos())) ids.insert(ids.begin(), tok.bos());
    return ids;
}

Conversation::Conversation(Session& session, const ChatTemplate& tmpl, nlohmann::ordered_json variables, std::tm now)
    : session_(session), template_(tmpl), variables_(std::move(variables)), now_(now) {}

std::string Conversation::render() const {
    nlohmann::ordered_json vars = variables_;
    vars["messages"] = messages_;
    vars["add_generation_prompt"] = true;
    return template_.render(vars, now_);
}

std::vector<Token> Conversation::tokenize(const std::string& prompt) const {
    return tokenize_prompt(session_.model().tokenizer(), prompt, true);
}

Conversation::Prompt Conversation::add_user(const std::string& user, size_t reserve) {
    before_ = messages_;
    messages_.push_back({{"role", "user"}, {"content", user}});
    Prompt p;
    std::string text;
    const size_t first = messages_[0]["role"] == "system" ? 1 : 0;
    for (;;) {
        try {
            text = render();
        } catch (...) {
            messages_ = before_;
            throw;
        }
        p.tokens = tokenize(text);
        if (p.tokens.size() + reserve <= session_.n_ctx()) break;
        if (messages_.size() - first <= 1) {
            messages_ = before_;
            throw Error("the message takes " + std::to_string(p.tokens.size()) + " tokens with the template, which leaves no room for " +
                        std::to_string(reserve) + " tokens of reply in a context of " + std::to_string(session_.n_ctx()));
        }
        // The oldest exchange: a message and the replies up to the next user message.
        size_t end = first + 1;
        while (end < messages_.size() - 1 && messages_[end]["role"] != "user") ++end;
        messages_.erase(messages_.begin() + static_cast<long>(first), messages_.begin() + static_cast<long>(end));
        p.dropped += end - first;
    }
    p.opens_reasoning = prompt_opens_reasoning(text);
    return p;
}

GenerationResult Conversation::respond(const Prompt& prompt, const GenerationParams& params, const TextSink& sink,
                                       const std::atomic<bool>* interrupt) {
    const std::vector<Token>& tokens = prompt.tokens;
    size_t common = 0;
    while (common < cached_.size() && common < tokens.size() && cached_[common] == tokens[common]) ++common;
    GenerationResult r;
    try {
        r = generate(session_, tokens, params, sink, interrupt, common);
    } catch (...) {
        messages_ = before_;
        cached_.clear();
        session_.clear();
        throw;
    }
    // What the cache now holds: the prompt, then every reply token evaluated after it.
    cached_ = tokens;
    for (const GeneratedToken& t : r.tokens) {
        if (cached_.size() >= session_.n_past()) break;
        cached_.push_back(t.id);
    }
    cached_.resize(std::min(cached_.size(), session_.n_past()));
    messages_.push_back({{"role", "assistant"}, {"content", r.text}});
    return r;
}

void Conversation::set_system(const std::string& text) {
    if (!messages_.empty() && messages_[0]["role"] == "system") messages_.erase(messages_.begin());
    if (!text.empty()) messages_.insert(messages_.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", text}});
}

void Conversation::reset() {
    nlohmann::ordered_json kept = nlohmann::ordered_json::array();
    if (!messages_.empty() && messages_[0]["role"] == "system") kept.push_back(messages_[0]);
    messages_ = std::move(kept);
}

bool Conversation::undo() {
    for (size_t i = messages_.size(); i-- > 0;)
        if (messages_[i]["role"] == "user") {
            messages_.erase(messages_.begin() + static_cast<long>(i), messages_.end());
            return true;
        }
    return false;
}

void Conversation::set_messages(nlohmann::ordered_json messages) {
    if (!messages.is_array()) throw Error("messages must be a JSON array");
    for (const auto& m : messages)
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content"))
            throw Error("each message must be an object with a \"role\" string and a \"content\"");
    messages_ = std::move(messages);
}

}  // namespace kiln

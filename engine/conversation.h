// A chat: messages rendered with a chat template, one session whose KV cache is kept between
// turns, so that a turn computes only the tokens its prompt does not share with what the cache
// holds. The replies are those of rendering the whole history and generating from scratch.
#pragma once

#include <atomic>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat.h"
#include "engine/generation.h"

namespace kiln {

class Conversation {
public:
    // variables: what the template reads besides messages (e.g. enable_thinking).
    Conversation(Session& session, const ChatTemplate& tmpl, nlohmann::ordered_json variables, std::tm now);

    // The user's message added, and the prompt of the history. When the prompt and `reserve`
    // tokens of reply do not fit the context, the oldest messages after the system message are
    // dropped first. Throws Error (the history unchanged) when even the newest message alone
    // does not fit.
    struct Prompt {
        std::vector<Token> tokens;
        size_t dropped = 0;             // oldest messages dropped so that the prompt fits
        bool opens_reasoning = false;   // the prompt leaves the reply inside a thought
    };
    Prompt add_user(const std::string& user, size_t reserve);

    // Generates the reply to add_user's prompt into the history. On an error the user's message
    // is taken back.
    GenerationResult respond(const Prompt& prompt, const GenerationParams& params, const TextSink& sink,
                             const std::atomic<bool>* interrupt);

    // The session's cache already holds the first n tokens of the prompt (from a prompt
    // cache file): respond() computes only the rest.
    void adopt(const Prompt& prompt, size_t n) { cached_.assign(prompt.tokens.begin(), prompt.tokens.begin() + static_cast<long>(n)); }
    // The tokens the session's cache holds, positions 0 on.
    const std::vector<Token>& held() const { return cached_; }

    // The system message (replacing any), or none for "".
    void set_system(const std::string& text);
    void reset();  // every message but the system one
    bool undo();   // the last exchange (the last user message and what follows it)
    const nlohmann::ordered_json& messages() const { return messages_; }
    // Throws Error unless an array of objects with a role and content.
    void set_messages(nlohmann::ordered_json messages);

    // The prompt the template makes of the history with a generation prompt.
    std::string render() const;
    // Its tokens, as kiln run --chat tokenizes them.
    std::vector<Token> tokenize(const std::string& prompt) const;

private:
    Session& session_;
    const ChatTemplate& template_;
    nlohmann::ordered_json variables_, messages_ = nlohmann::ordered_json::array();
    std::tm now_;
    std::vector<Token> cached_;  // the tokens the session's cache holds
    nlohmann::ordered_json before_;  // the messages before add_user
};

// A prompt's tokens: BOS first when the model wants it, unless the text (parsed with special)
// already begins with the BOS token, as chat templates' prompts often do.
std::vector<Token> tokenize_prompt(const Tokenizer& tok, std::string_view text, bool special);

}  // namespace kiln

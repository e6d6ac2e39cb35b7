// kiln batch: a JSONL file of prompts in, a JSONL file of results out, continuously batched,
// resumable, one output line per input line whatever happens to it.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "cmd/batch_request.h"
#include "cmd/chat_options.h"
#include "cmd/commands.h"
#include "cmd/openai_batch.h"
#include "cmd/options.h"
#include "cmd/shard.h"
#include "engine/batch.h"
#include "engine/conversation.h"
#include "engine/error.h"
#include "engine/machine.h"
#include "engine/reasoning.h"

namespace kiln::cli {

namespace {

using Json = nlohmann::ordered_json;

struct BatchArgs {
    ModelArgs model;
    std::string input, output;
    bool plain = false;
    bool special = false;
    std::string cache_type = "f16";
    GenerationParams gen;
    std::optional<uint64_t> seed;
    long ctx = 0;
    int threads = 0;
    size_t parallel = 0;
    ChatTemplateArgs chat_template;  // for lines with "messages"
    GrammarArgs grammar;             // for lines without a grammar of their own
    bool no_prefix_reuse = false;
    bool resume = false;  // the default; the flag only says so
    bool no_resume = false;
    std::string shard;
    size_t shard_count = 0;
};

std::string read_all(const std::string& path) {
    if (path == "-") return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw Error(path + ": is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot read: " + std::strerror(errno));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Lines without their end; a last line without a newline counts, an empty tail does not.
std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return lines;
}

// The format of a file's first line that parses: what a line that does not parse is answered in.
LineFormat file_format(const std::vector<std::string_view>& lines) {
    for (std::string_view line : lines) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object()) return is_openai_line(j) ? LineFormat::completion : LineFormat::kiln;
    }
    return LineFormat::kiln;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// What an earlier run already wrote to the output file.
struct Finished {
    std::set<std::string> ids;          // ids with a result or an error of their own
    std::set<size_t> lines;             // lines answered without an id of their own: a repeated id, or none
};

// Reads the output of an earlier run; cuts off a last line that a kill left half-written.
Finished read_finished(const std::string& path) {
    Finished done;
    const std::string text = read_all(path);
    size_t good_end = 0, line_no = 0;
    for (size_t start = 0; start < text.size();) {
        const size_t end = text.find('\n', start);
        ++line_no;
        const bool complete = end != std::string::npos;
        const auto j = nlohmann::json::parse(text.substr(start, (complete ? end : text.size()) - start), nullptr, false);
        const bool openai = j.is_object() && j.contains("custom_id");  // keyed on custom_id
        const bool ok = complete && j.is_object() && j.contains(openai ? "custom_id" : "id") && j.contains("line");
        if (!ok) {
            if (complete && end + 1 < text.size())  // not the last line: not a file kiln wrote
                throw Error(path + ": line " + std::to_string(line_no) +
                            " is not a kiln batch result; not resuming into it (use --no-resume to overwrite)");
            spdlog::warn("{}: dropping a half-written last line", path);
            break;
        }
        const bool by_line = openai ? j["custom_id"].is_null() || (j["error"].is_object() &&
                                                                  j["error"].value("code", "") == "duplicate_custom_id")
                                    : j.value("duplicate", false);
        if (by_line) done.lines.insert(j["line"].get<size_t>());
        else done.ids.insert(j[openai ? "custom_id" : "id"].dump());
        good_end = end + 1;
        start = end + 1;
    }
    if (good_end < text.size() && ::truncate(path.c_str(), static_cast<off_t>(good_end)) != 0)
        throw Error(path + ": cannot cut off the half-written last line: " + std::strerror(errno));
    return done;
}

class Output {
public:
    Output(const std::string& path, bool append) : name_(path == "-" ? "standard output" : path) {
        if (path == "-") {
            fd_ = STDOUT_FILENO;
            return;
        }
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
        if (fd_ < 0) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
    }
    ~Output() {
        if (fd_ != STDOUT_FILENO) ::close(fd_);
    }
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    // One line, in one write where the system allows, so a kill leaves whole lines.
    void write_line(const Json& j) {
        std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        line += '\n';
        for (size_t done = 0; done < line.size();) {
            const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw Error(name_ + ": cannot write: " + std::strerror(n < 0 ? errno : EIO));
            done += static_cast<size_t>(n);
        }
    }

private:
    std::string name_;
    int fd_ = -1;
};

// A line every few seconds on stderr (redrawn in place on a terminal) until stopped.
class Progress {
public:
    explicit Progress(size_t total)
        : total_(total), tty_(isatty(STDERR_FILENO) == 1), quiet_(spdlog::get_level() > spdlog::level::info),
          start_(Clock::now()) {
        thread_ = std::thread([this] { loop(); });
    }
    ~Progress() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
        if (tty_ && !quiet_) std::fputc('\n', stderr);
    }

    void finished(bool failed) {
        ++done_;
        if (failed) ++failed_;
    }
    void generated(size_t tokens) { tokens_ += tokens; }

private:
    using Clock = std::chrono::steady_clock;

    void loop() {
        std::unique_lock lock(mutex_);
        const auto period = tty_ ? std::chrono::milliseconds(500) : std::chrono::milliseconds(5000);
        while (!wake_.wait_for(lock, period, [this] { return stop_; })) print();
        if (tty_) print();
    }

    void print() const {
        if (quiet_) return;
        const double s = std::chrono::duration<double>(Clock::now() - start_).count();
        const size_t done = done_, failed = failed_, tokens = tokens_;
        const double rate = s > 0 ? tokens / s : 0.0;
        const double eta = done > 0 ? s * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
        if (tty_) {
            const size_t width = 30, filled = total_ > 0 ? width * done / total_ : width;
            std::fprintf(stderr, "\r[%s%s] %zu/%zu, %zu failed, %.1f t/s, ETA %.0f s ", std::string(filled, '#').c_str(),
                         std::string(width - filled, '.').c_str(), done, total_, failed, rate, eta);
        } else {
            std::fprintf(stderr, "kiln: %zu/%zu done, %zu failed, %.1f generated t/s, ETA %.0f s\n", done, total_, failed,
                         rate, eta);
        }
        std::fflush(stderr);
    }

    const size_t total_;
    const bool tty_, quiet_;  // -q: no progress
    const Clock::time_point start_;
    std::atomic<size_t> done_{0}, failed_{0}, tokens_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

// A request without a seed of its own gets one from the batch seed and its id, so that it
// draws the same tokens whatever else is in the file.
uint64_t derived_seed(uint64_t batch_seed, const std::string& id) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
    uint64_t z = batch_seed + h + 0x9e3779b97f4a7c15ULL;  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int batch(BatchArgs a) {
    if (a.threads < 0) throw Error("-t/--threads must be positive (0: physical cores)");
    const Shard shard = parse_shard(a.shard, a.shard_count, process_environment());
    if (shard.n > 1) {
        if (a.shard == "auto" && a.output != "-" && a.output.find("{shard}") == std::string::npos)
            throw Error("--shard auto found " + std::to_string(shard.n) +
                        " shards: -o needs {shard} so that each writes a file of its own");
        a.output = shard_path(a.output, shard);
        spdlog::info("shard {} of {} ({}), writing {}", shard.k, shard.n, shard.source, a.output);
        if (!a.seed)
            spdlog::warn("no --seed: this shard draws its own batch seed; give every shard the same --seed for the "
                         "results one run would give");
    }
    validate_generation(a.gen);
    const DType kv_type = cache_type(a.cache_type);
    const uint64_t batch_seed = a.seed ? *a.seed : random_seed();

    const std::string input = read_all(a.input);
    const std::vector<std::string_view> lines = split_lines(input);
    struct stat st {};
    const bool resume = a.output != "-" && !a.no_resume && ::stat(a.output.c_str(), &st) == 0 &&
                        S_ISREG(st.st_mode);  // a device or a pipe has nothing to resume from
    const Finished finished = resume ? read_finished(a.output) : Finished{};

    a.model.threads = a.threads;
    const auto model = open_model(a.model);
    const Tokenizer& tok = model->tokenizer();
    const size_t n_ctx = context_size(*model, a.ctx);
    const size_t longest_token = longest_token_bytes(tok);
    resolve_context(a.gen, n_ctx);
    // The vocabulary trie constraints share, built when the first one is; the command line's.
    std::shared_ptr<const VocabTrie> trie;
    const std::shared_ptr<const Constraint> default_constraint = grammar_constraint(a.grammar, tok, trie);
    // What OpenAI lines' results name the model (a line's own "model" when it has one), and
    // the names a line's "model" may give without a warning.
    const std::string model_file = std::filesystem::path(a.model.path).stem().string();
    const std::string model_name(model->gguf().get_string("general.name").value_or(model_file));
    std::set<std::string> warned_models;
    // The chat template, opened on the first line that has messages.
    std::optional<ChatTemplate> chat_template;
    const std::tm now = chat_time(a.chat_template);
    const nlohmann::ordered_json batch_kwargs = chat_template_kwargs(a.chat_template);
    // Lines with messages: whether their prompt opened a thought (for the reasoning field).
    std::vector<char> opens_reasoning(lines.size(), 0);

    // The lines this run does: in the shard, not blank, not finished before. Each is parsed
    // here once; a line that does not parse keeps its error for its output line.
    std::vector<size_t> todo;
    std::vector<BatchLine> parsed(lines.size());
    std::vector<std::string> parse_errors(lines.size());
    std::vector<const char*> parse_codes(lines.size(), "");  // OpenAI's code for each
    std::optional<LineFormat> first_format;                 // of the file's first line that parses
    size_t n_requests = 0;  // choices to generate
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i % shard.n != shard.k || blank(lines[i]) || finished.lines.count(i + 1)) continue;
        try {
            parse_batch_line(lines[i], i + 1, a.plain, a.gen, parsed[i]);
        } catch (const Error& e) {
            parse_errors[i] = e.what();
            parse_codes[i] = "invalid_request";
            if (!nlohmann::json::accept(lines[i])) {
                if (!first_format) first_format = file_format(lines);
                parsed[i].format = *first_format;
                parse_codes[i] = "invalid_json";
            }
        }
        if (!finished.ids.count(parsed[i].id.dump())) {
            todo.push_back(i);
            n_requests += parsed[i].n_choices;
        }
    }
    if (resume) spdlog::info("{}: resuming, {} lines already done", a.output, finished.ids.size());

    BatchOptions bo;
    bo.n_ctx = n_ctx;
    bo.n_threads = a.threads > 0 ? a.threads : physical_cores();
    bo.cache_type = kv_type;
    bo.n_parallel = std::max<size_t>(1, std::min(a.parallel > 0 ? a.parallel : 8, n_requests));
    bo.prefix_reuse = !a.no_prefix_reuse;
    BatchRunner runner(*model, bo);
    spdlog::info("{} requests, {} in parallel, context {} each, KV cache {}, {} threads, seed {}", todo.size(),
                 bo.n_parallel, n_ctx, format_bytes(runner.kv_bytes()), bo.n_threads, batch_seed);

    Output out(a.output, resume);
    std::set<std::string> seen = finished.ids;
    size_t failed = 0, next = 0;
    const auto t0 = std::chrono::steady_clock::now();
    size_t generated = 0;
    {
        Progress progress(todo.size());
        // code: OpenAI's error code (kiln's own lines have the message only).
        const auto fail = [&](size_t i, const std::string& code, const std::string& message) {
            const BatchLine& line = parsed[i];
            const bool duplicate = code == "duplicate_custom_id";
            Json j;
            if (line.format != LineFormat::kiln)  // a line without a custom_id of its own answers under null
                j = openai_error_line(line.id.is_string() ? line.id : nlohmann::json(), i + 1, code, message);
            else {
                j = {{"id", line.id}, {"line", i + 1}, {"error", message}};
                if (duplicate) j["duplicate"] = true;
            }
            if (!duplicate) seen.insert(line.id.dump());  // an id answered by an error is taken too
            out.write_line(j);
            ++failed;
            progress.finished(true);
        };
        // The choices of an OpenAI line with "n" above 1, each a request of its own, and what
        // has come back of them.
        std::deque<BatchRequest> queued;
        struct Choices {
            std::vector<GenerationResult> results;
            std::vector<uint64_t> seeds;
            size_t left = 0;
        };
        std::map<size_t, Choices> choices;
        const BatchRunner::Source source = [&]() -> std::optional<BatchRequest> {
            if (!queued.empty()) {
                BatchRequest r = std::move(queued.front());
                queued.pop_front();
                return r;
            }
            while (next < todo.size()) {
                const size_t i = todo[next++];
                BatchLine& line = parsed[i];
                if (!parse_errors[i].empty()) {
                    fail(i, parse_codes[i], parse_errors[i]);
                    continue;
                }
                if (!seen.insert(line.id.dump()).second) {
                    fail(i, "duplicate_custom_id",
                         std::string(line.format == LineFormat::kiln ? "duplicate id " : "duplicate custom_id ") + line.id.dump());
                    continue;
                }
                if (!line.model.empty() && line.model != model_name && line.model != model_file &&
                    warned_models.insert(line.model).second)
                    spdlog::warn("line {} asks for model \"{}\"; running {} for it", i + 1, line.model, a.model.path);
                resolve_context(line.params, n_ctx);
                if (!line.seeded) line.params.sampler.seed = derived_seed(batch_seed, line.id.dump());
                BatchRequest r;
                r.key = i * kMaxChoices;
                try {
                    if (!line.messages.is_null()) {
                        // Rendered as kiln run --chat renders: the options' variables, the line's, the messages.
                        if (!chat_template) chat_template.emplace(open_chat_template(a.chat_template, &model->gguf(), &tok));
                        nlohmann::ordered_json vars = batch_kwargs;
                        for (const auto& [k, v] : line.chat_template_kwargs.items()) vars[k] = v;
                        vars["messages"] = line.messages;
                        vars["add_generation_prompt"] = true;
                        line.prompt = chat_template->render(vars, now);
                        opens_reasoning[i] = prompt_opens_reasoning(line.prompt);
                    }
                    check_prompt_bytes(line.prompt.size(), longest_token, n_ctx);
                } catch (const Error& e) {
                    fail(i, "invalid_request", e.what());
                    continue;
                }
                r.prompt = line.messages.is_null() ? tok.encode(line.prompt, tok.add_bos(), a.special)
                                                   : tokenize_prompt(tok, line.prompt, true);
                if (r.prompt.empty() || line.prompt.empty()) {
                    fail(i, "invalid_request", "the prompt is empty");
                    continue;
                }
                if (r.prompt.size() >= n_ctx) {
                    fail(i, "context_length_exceeded",
                         "the prompt has " + std::to_string(r.prompt.size()) +
                             " tokens, which leaves no room in a context of " + std::to_string(n_ctx));
                    continue;
                }
                r.params = line.params;
                if (!line.grammar.empty() || !line.json_schema.is_null()) {
                    try {
                        r.params.constraint = constraint_from(line.grammar, line.json_schema.is_null() ? nullptr : &line.json_schema, tok, trie);
                    } catch (const Error& e) {
                        fail(i, "invalid_request", e.what());
                        continue;
                    }
                } else r.params.constraint = default_constraint;
                if (line.format != LineFormat::kiln) choices[i] = {std::vector<GenerationResult>(line.n_choices),
                                                                   std::vector<uint64_t>(line.n_choices), line.n_choices};
                for (size_t c = 1; c < line.n_choices; ++c) {
                    BatchRequest more = r;
                    more.key = i * kMaxChoices + c;
                    more.params.sampler.seed += c;
                    queued.push_back(std::move(more));
                }
                return r;
            }
            return std::nullopt;
        };
        const BatchRunner::Sink sink = [&](const BatchRequest& r, GenerationResult&& result) {
            const size_t i = r.key / kMaxChoices;
            const BatchLine& line = parsed[i];
            if (line.format != LineFormat::kiln) {
                Choices& mine = choices.at(i);
                mine.results[r.key % kMaxChoices] = std::move(result);
                mine.seeds[r.key % kMaxChoices] = r.params.sampler.seed;
                if (--mine.left > 0) return;
                out.write_line(openai_result_line(line, i + 1, line.model.empty() ? model_name : line.model, mine.results,
                                                  mine.seeds, tok, opens_reasoning[i] != 0));
                choices.erase(i);
                progress.finished(false);
                return;
            }
            const double n_gen = static_cast<double>(result.tokens.size());
            Json j = {{"id", line.id},
                      {"line", i + 1},
                      {"text", result.text},
                      {"finish_reason", finish_reason_name(result.finish)},
                      {"prompt_tokens", result.prompt_tokens},
                      {"completion_tokens", result.tokens.size()},
                      {"seed", r.params.sampler.seed}};
            if (!line.messages.is_null()) {
                const SplitReply split = split_reasoning(result.text, opens_reasoning[i] != 0);
                j["content"] = split.content;
                if (split.has_reasoning) j["reasoning"] = split.reasoning;
            }
            if (r.params.n_logprobs > 0) j["logprobs"] = tokens_json(tok, result.tokens);
            j["timings"] = {{"prompt_s", result.prompt_seconds},
                            {"generation_s", result.generation_seconds},
                            {"generation_tokens_per_s",
                             result.generation_seconds > 0 ? n_gen / result.generation_seconds : 0.0}};
            out.write_line(j);
            progress.finished(false);
        };
        runner.run(source, sink, [&](size_t tokens) {
            generated += tokens;
            progress.generated(tokens);
        });
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("{} requests in {:.2f} s: {} succeeded, {} failed; {} tokens generated, {:.1f} t/s", todo.size(), s,
                 todo.size() - failed, failed, generated, s > 0 ? generated / s : 0.0);
    const BatchStats& stats = runner.stats();
    spdlog::info("prompt tokens: {} computed, {} reused from shared prefixes{}", stats.prompt_tokens_computed,
                 stats.prompt_tokens_reused, a.no_prefix_reuse ? " (--no-prefix-reuse)" : "");
    return failed > 0 ? 3 : 0;
}

}  // namespace

Command add_batch_command(CLI::App& parent) {
    auto a = std::make_shared<BatchArgs>();
    CLI::App* app = parent.add_subcommand("batch", "Generate for every prompt of a JSONL file, continuously batched");
    app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    add_model_options(*app, a->model);
    app->add_option("-i,--input", a->input, "JSONL requests, one object per line (- for standard input)")->required();
    app->add_option("-o,--output", a->output, "JSONL results, one line per request (- for standard output)")->required();
    app->add_flag("--plain", a->plain, "The input is plain text, one prompt per line");
    add_special_option(*app, a->special);
    add_cache_type_option(*app, a->cache_type);
    add_generation_options(*app, a->gen, a->seed);
    app->add_option("-c,--ctx-size", a->ctx, "Context size of each sequence (0: min(4096, trained context))")
        ->capture_default_str();
    app->add_option("-t,--threads", a->threads, "Threads (0: physical cores)")->capture_default_str();
    app->add_option("--parallel", a->parallel, "Sequences generated together (0: 8, or fewer when fewer requests)")
        ->capture_default_str();
    app->add_flag("--no-prefix-reuse", a->no_prefix_reuse,
                  "Compute every prompt in full, even the prefix it shares with another request");
    auto* resume = app->add_flag("--resume", a->resume, "Skip the ids the output file already has (the default)");
    app->add_flag("--no-resume", a->no_resume, "Overwrite the output file instead")->excludes(resume);
    app->add_option("--shard", a->shard,
                    "K/N: only the lines whose index modulo N is K; auto: K and N from Slurm, MPI or Kubernetes "
                    "(docs/scale-out.md). {shard} in -o becomes K");
    app->add_option("--shard-count", a->shard_count, "With --shard auto on a Kubernetes Indexed Job: its completions");
    add_chat_template_options(*app, a->chat_template);
    add_grammar_options(*app, a->grammar);
    return {app, [a] { return batch(*a); }};
}

}  // namespace kiln::cli

// The layers of the source tree call only downward: cmd -> engine -> kernels, tokenizer, jinja,
// grammar; the leaves include nothing of the layers above them, and the engine no intrinsics.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace {

// Which folders a folder's files may include from.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"cmd", {"cmd", "engine"}},
    {"engine", {"engine", "kernels", "tokenizer", "jinja", "grammar"}},
    {"kernels", {"kernels"}},
    {"tokenizer", {"tokenizer"}},
    {"jinja", {"jinja"}},
    {"grammar", {"grammar"}},
};

}  // namespace

TEST_CASE("the include graph only points downward", "[layers]") {
    namespace fs = std::filesystem;
    const std::regex project_include(R"(^\s*#\s*include\s+"([a-z_]+)/[^"]+")");
    size_t files = 0;
    for (const auto& [folder, allowed] : kAllowed) {
        for (const auto& entry : fs::directory_iterator(fs::path(KILN_SOURCE_DIR) / folder)) {
            const std::string name = entry.path().filename().string();
            if (!entry.is_regular_file()) continue;
            ++files;
            std::ifstream in(entry.path());
            std::string line;
            for (int no = 1; std::getline(in, line); ++no) {
                std::smatch m;
                INFO(folder << "/" << name << ":" << no << ": " << line);
                if (std::regex_search(line, m, project_include)) CHECK(allowed.count(m[1].str()) == 1);
                if (folder == "engine" || folder == "cmd") CHECK(line.find("immintrin.h") == std::string::npos);
            }
        }
    }
    CHECK(files > 100);
}

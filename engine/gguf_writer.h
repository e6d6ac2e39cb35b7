// Writes GGUF v3 files: metadata, then tensor infos, then aligned tensor data. Tensor data
// is either held by the writer or produced one tensor at a time while writing, so that
// files larger than memory can be written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf.h"

namespace kiln {

class GgufWriter {
public:
    void add_u32(std::string_view key, uint32_t v);
    void add_i32(std::string_view key, int32_t v);
    void add_f32(std::string_view key, float v);
    void add_bool(std::string_view key, bool v);
    void add_string(std::string_view key, std::string_view v);
    void add_string_array(std::string_view key, const std::vector<std::string>& v);
    void add_f32_array(std::string_view key, const std::vector<float>& v);
    void add_i32_array(std::string_view key, const std::vector<int32_t>& v);
    // A value read from another GGUF file, copied as it is.
    void add_value(std::string_view key, const GgufValue& v);

    // dims fastest-varying first; type_id is written as given, so tests can write unknown ones.
    void add_tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type_id, std::string_view bytes);
    // A tensor whose n_bytes of data the producer passed to write() will supply.
    void add_tensor_info(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type_id, uint64_t n_bytes);

    std::string serialize(uint32_t alignment = 32) const;  // tensors added with add_tensor only
    // Writes the file; produce(i) returns the data of tensor i when it was added without.
    // A regular file is written as PATH.partial and renamed to PATH when complete (removed on
    // failure), so PATH never holds a truncated file. Throws Error.
    void write(const std::string& path, uint32_t alignment = 32,
               const std::function<std::string(size_t)>& produce = {}) const;

private:
    // The writing itself, to `file`; errors name `path`.
    void write_to(const std::string& file, const std::string& path, uint32_t alignment,
                  const std::function<std::string(size_t)>& produce) const;

    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        uint32_t type_id;
        uint64_t n_bytes;
        std::string bytes;
        bool held;
    };
    void key(std::string_view k, GgufType type);
    std::string header(uint32_t alignment) const;

    std::string kv_;
    uint64_t n_kv_ = 0;
    std::vector<Tensor> tensors_;
};

}  // namespace kiln

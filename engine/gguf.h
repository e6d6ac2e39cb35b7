// GGUF v2/v3 files: metadata and tensor directory, parsed with every count, length,
// dimension and offset checked against the bytes that are there. Tensor data is not
// copied: tensors point into the caller's buffer (normally a memory mapping).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/mapped_file.h"
#include "kernels/types.h"

namespace kiln {



enum class GgufType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

const char* gguf_type_name(GgufType type);

struct GgufValue {
    GgufType type;
    // Scalars: the value, widened. Integers are in `integer` (as signed when the type is).
    int64_t integer = 0;
    uint64_t uinteger = 0;
    double real = 0.0;
    std::string_view str;
    // Arrays: element type and count; numeric elements stay in the file (little-endian,
    // possibly unaligned), strings are listed.
    GgufType elem_type = GgufType::u8;
    uint64_t count = 0;
    const uint8_t* elems = nullptr;
    std::vector<std::string_view> strings;
};

struct GgufTensor {
    std::string name;
    uint32_t n_dims = 0;
    uint64_t dims[4] = {1, 1, 1, 1};  // fastest-varying first, as GGUF stores them
    DType type = DType::F32;
    uint64_t offset = 0;    // from the start of the data section
    uint64_t n_elems = 0;
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;
};

class GgufFile {
public:
    // Parses bytes that the caller keeps alive. Throws Error naming the problem.
    static GgufFile parse(const uint8_t* data, size_t size);
    // Maps (or copies, see MappedFile) and parses a file; errors start with the path.
    static GgufFile open(const std::string& path, FileLoad load = FileLoad::automatic);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    size_t file_size() const { return size_; }
    bool copied() const { return file_ != nullptr && file_->copied(); }  // see MappedFile
    // A tensor's bytes, writable while the file is a copy not yet sealed; else nullptr.
    uint8_t* writable(const GgufTensor& t) const;
    void seal() const;
    const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
    const std::vector<GgufTensor>& tensors() const { return tensors_; }

    const GgufValue* find(std::string_view key) const;
    const GgufTensor* find_tensor(std::string_view name) const;
    // The tensor whose data holds p (a matrix may be a slice of one), or nullptr.
    const GgufTensor* tensor_holding(const void* p) const;

    // Typed look-ups: nullopt when the key is absent, Error when it has another type.
    std::optional<uint64_t> get_uint(std::string_view key) const;  // any non-negative integer
    std::optional<double> get_float(std::string_view key) const;   // f32 or f64
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
    std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_float_array(std::string_view key) const;
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

private:
    std::shared_ptr<MappedFile> file_;  // null when parsing caller-owned bytes
    size_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    std::map<std::string, GgufValue, std::less<>> metadata_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace kiln

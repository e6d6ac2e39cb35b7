#include "engine/gguf.h"

#include <algorithm>
#include <cstring>

#include "engine/error.h"
#include "engine/mapped_file.h"
#include "tokenizer/utf8.h"

namespace kiln {

namespace {

constexpr uint32_t kMaxDims = 4;

// Bounds-checked little-endian reads over the file's bytes.
class Cursor {
public:
    Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }

    void need(uint64_t n, const char* what) const {
        if (n > remaining())
            throw Error(std::string("truncated file: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
                        std::to_string(pos_) + ", only " + std::to_string(remaining()) + " left");
    }

    template <class T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string_view read_string(const char* what) {
        const uint64_t len = read<uint64_t>(what);
        need(len, what);
        std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len);
        return s;
    }

    const uint8_t* skip(uint64_t n, const char* what) {
        need(n, what);
        const uint8_t* p = data_ + pos_;
        pos_ += static_cast<size_t>(n);
        return p;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
        case GgufType::u16: case GgufType::i16: return 2;
        case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
        case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
        default: return 0;
    }
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::f64); }

bool is_integer(GgufType t) {
    return t == GgufType::u8 || t == GgufType::i8 || t == GgufType::u16 || t == GgufType::i16 ||
           t == GgufType::u32 || t == GgufType::i32 || t == GgufType::u64 || t == GgufType::i64;
}

bool is_signed(GgufType t) {
    return t == GgufType::i8 || t == GgufType::i16 || t == GgufType::i32 || t == GgufType::i64;
}

// Decodes one little-endian scalar of type t at p into v.
void decode_scalar(GgufType t, const uint8_t* p, GgufValue& v) {
    auto load = [p](auto x) {
        std::memcpy(&x, p, sizeof(x));
        return x;
    };
    switch (t) {
        case GgufType::u8: v.uinteger = load(uint8_t{}); break;
        case GgufType::i8: v.integer = load(int8_t{}); break;
        case GgufType::u16: v.uinteger = load(uint16_t{}); break;
        case GgufType::i16: v.integer = load(int16_t{}); break;
        case GgufType::u32: v.uinteger = load(uint32_t{}); break;
        case GgufType::i32: v.integer = load(int32_t{}); break;
        case GgufType::u64: v.uinteger = load(uint64_t{}); break;
        case GgufType::i64: v.integer = load(int64_t{}); break;
        case GgufType::f32: v.real = load(float{}); break;
        case GgufType::f64: v.real = load(double{}); break;
        case GgufType::boolean: v.uinteger = load(uint8_t{}) != 0; break;
        default: break;
    }
    if (is_signed(t)) v.uinteger = v.integer < 0 ? 0 : static_cast<uint64_t>(v.integer);
    else if (is_integer(t) || t == GgufType::boolean) v.integer = static_cast<int64_t>(std::min<uint64_t>(v.uinteger, INT64_MAX));
}

GgufValue read_value(Cursor& c, uint32_t raw_type, const std::string& key) {
    if (!known_type(raw_type))
        throw Error("metadata key '" + key + "' has unknown value type " + std::to_string(raw_type));
    GgufValue v;
    v.type = static_cast<GgufType>(raw_type);
    if (v.type == GgufType::string) {
        v.str = c.read_string("metadata string");
        return v;
    }
    if (v.type != GgufType::array) {
        decode_scalar(v.type, c.skip(scalar_size(v.type), "metadata value"), v);
        return v;
    }
    const uint32_t elem = c.read<uint32_t>("array element type");
    if (!known_type(elem))
        throw Error("metadata key '" + key + "' is an array of unknown type " + std::to_string(elem));
    v.elem_type = static_cast<GgufType>(elem);
    if (v.elem_type == GgufType::array) throw Error("metadata key '" + key + "' is an array of arrays (not supported)");
    v.count = c.read<uint64_t>("array length");
    if (v.elem_type == GgufType::string) {
        // Each string takes at least its 8-byte length: bound the count before reserving.
        if (v.count > c.remaining() / 8)
            throw Error("metadata key '" + key + "' claims " + std::to_string(v.count) +
                        " strings, more than the file holds");
        v.strings.reserve(static_cast<size_t>(v.count));
        for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(c.read_string("array string"));
        return v;
    }
    const size_t esize = scalar_size(v.elem_type);
    if (v.count > c.remaining() / esize)
        throw Error("metadata key '" + key + "' claims " + std::to_string(v.count) + " elements, more than the file holds");
    v.elems = c.skip(v.count * esize, "array data");
    return v;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

const char* gguf_type_name(GgufType type) {
    static constexpr const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                            "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<uint32_t>(type);
    return i < sizeof(names) / sizeof(names[0]) ? names[i] : "unknown";
}

GgufFile GgufFile::parse(const uint8_t* data, size_t size) {
    GgufFile f;
    f.size_ = size;
    Cursor c(data, size);
    if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) throw Error("not a GGUF file (bad magic)");
    c.skip(4, "magic");
    f.version_ = c.read<uint32_t>("version");
    if (f.version_ != 2 && f.version_ != 3)
        throw Error("unsupported GGUF version " + std::to_string(f.version_) + " (kiln reads versions 2 and 3)");
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info
    // at least 8 + 4 + 8 + 4 + 8.
    if (n_kv > c.remaining() / 13) throw Error("metadata count " + std::to_string(n_kv) + " is more than the file holds");
    if (n_tensors > c.remaining() / 32)
        throw Error("tensor count " + std::to_string(n_tensors) + " is more than the file holds");

    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string key(c.read_string("metadata key"));
        if (key.empty()) throw Error("metadata key " + std::to_string(i) + " is empty");
        if (!utf8_valid(key)) throw Error("metadata key " + std::to_string(i) + " is not valid UTF-8");
        const uint32_t type = c.read<uint32_t>("metadata value type");
        GgufValue v = read_value(c, type, key);
        if (!f.metadata_.emplace(key, std::move(v)).second) throw Error("duplicate metadata key '" + key + "'");
    }

    if (const GgufValue* a = f.find("general.alignment")) {
        if (a->type != GgufType::u32) throw Error("general.alignment has type " + std::string(gguf_type_name(a->type)) + ", expected u32");
        if (a->uinteger == 0 || (a->uinteger & (a->uinteger - 1)) != 0 || a->uinteger > (1u << 16))
            throw Error("general.alignment " + std::to_string(a->uinteger) + " is not a power of two up to 65536");
        f.alignment_ = static_cast<uint32_t>(a->uinteger);
    }

    f.tensors_.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensor t;
        t.name = std::string(c.read_string("tensor name"));
        if (t.name.empty() || !utf8_valid(t.name))
            throw Error("tensor " + std::to_string(i) + " has an empty or non-UTF-8 name");
        t.n_dims = c.read<uint32_t>("tensor dimension count");
        if (t.n_dims == 0 || t.n_dims > kMaxDims)
            throw Error("tensor '" + t.name + "' has " + std::to_string(t.n_dims) + " dimensions (1 to 4 allowed)");
        t.n_elems = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            t.dims[d] = c.read<uint64_t>("tensor dimension");
            if (t.dims[d] == 0) throw Error("tensor '" + t.name + "' has a zero dimension");
            if (t.dims[d] > static_cast<uint64_t>(INT64_MAX) ||
                __builtin_mul_overflow(t.n_elems, t.dims[d], &t.n_elems) || t.n_elems > static_cast<uint64_t>(INT64_MAX))
                throw Error("tensor '" + t.name + "' has dimensions whose product overflows");
        }
        const uint32_t type_id = c.read<uint32_t>("tensor type");
        const TypeInfo* ti = type_info(type_id);
        if (ti == nullptr) throw Error("tensor '" + t.name + "' has unknown type " + std::to_string(type_id));
        t.type = static_cast<DType>(type_id);
        if (t.dims[0] % ti->block_elems != 0)
            throw Error("tensor '" + t.name + "' of type " + ti->name + " has a row of " + std::to_string(t.dims[0]) +
                        " elements, not a multiple of its block size " + std::to_string(ti->block_elems));
        t.n_bytes = t.n_elems / ti->block_elems * ti->block_bytes;  // cannot overflow: n_elems < 2^63, ratio <= 8
        t.offset = c.read<uint64_t>("tensor offset");
        if (t.offset % f.alignment_ != 0)
            throw Error("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                        std::to_string(f.alignment_));
        if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second)
            throw Error("duplicate tensor name '" + t.name + "'");
        f.tensors_.push_back(std::move(t));
    }

    if (f.tensors_.empty()) return f;
    const uint64_t data_start = align_up(c.pos(), f.alignment_);
    if (data_start > size) throw Error("truncated file: tensor data section starts past the end of the file");
    const uint64_t data_size = size - data_start;
    std::vector<const GgufTensor*> by_offset;
    for (GgufTensor& t : f.tensors_) {
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            throw Error("tensor '" + t.name + "' data (" + std::to_string(t.n_bytes) + " bytes at offset " +
                        std::to_string(t.offset) + ") lies outside the file");
        t.data = data + data_start + t.offset;
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
        if (by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->n_bytes)
            throw Error("tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
    return f;
}

GgufFile GgufFile::open(const std::string& path, FileLoad load) {
    auto file = std::make_shared<MappedFile>(path, load);
    try {
        GgufFile f = parse(file->data(), file->size());
        f.file_ = std::move(file);
        return f;
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

uint8_t* GgufFile::writable(const GgufTensor& t) const {
    uint8_t* base = file_ != nullptr ? file_->writable() : nullptr;
    return base == nullptr ? nullptr : base + (t.data - file_->data());
}

void GgufFile::seal() const {
    if (file_ != nullptr) file_->seal();
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor* GgufFile::tensor_holding(const void* p) const {
    const auto* b = static_cast<const uint8_t*>(p);
    for (const GgufTensor& t : tensors_)
        if (b >= t.data && b < t.data + t.n_bytes) return &t;
    return nullptr;
}

namespace {

[[noreturn]] void wrong_type(std::string_view key, const GgufValue& v, const char* expected) {
    std::string got = gguf_type_name(v.type);
    if (v.type == GgufType::array) got += std::string(" of ") + gguf_type_name(v.elem_type);
    throw Error("metadata key '" + std::string(key) + "' has type " + got + ", expected " + expected);
}

}  // namespace

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!is_integer(v->type)) wrong_type(key, *v, "an integer");
    if (is_signed(v->type) && v->integer < 0)
        throw Error("metadata key '" + std::string(key) + "' is negative (" + std::to_string(v->integer) + ")");
    return v->uinteger;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::f32 && v->type != GgufType::f64) wrong_type(key, *v, "a float");
    return v->real;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::boolean) wrong_type(key, *v, "bool");
    return v->uinteger != 0;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::string) wrong_type(key, *v, "string");
    return v->str;
}

std::optional<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::array || v->elem_type != GgufType::string) wrong_type(key, *v, "array of string");
    return v->strings;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::array || (v->elem_type != GgufType::f32 && v->elem_type != GgufType::f64))
        wrong_type(key, *v, "array of float");
    std::vector<float> out(static_cast<size_t>(v->count));
    const size_t esize = scalar_size(v->elem_type);
    for (size_t i = 0; i < out.size(); ++i) {
        GgufValue e;
        decode_scalar(v->elem_type, v->elems + i * esize, e);
        out[i] = static_cast<float>(e.real);
    }
    return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::array || !is_integer(v->elem_type)) wrong_type(key, *v, "array of integer");
    std::vector<int64_t> out(static_cast<size_t>(v->count));
    const size_t esize = scalar_size(v->elem_type);
    for (size_t i = 0; i < out.size(); ++i) {
        GgufValue e;
        decode_scalar(v->elem_type, v->elems + i * esize, e);
        out[i] = e.integer;
    }
    return out;
}

}  // namespace kiln

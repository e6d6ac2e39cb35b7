#include "engine/gguf_writer.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/error.h"

namespace kiln {

namespace {

template <class T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.append(s);
}

template <class T>
void put_array(std::string& out, GgufType elem, const std::vector<T>& v) {
    put<uint32_t>(out, static_cast<uint32_t>(elem));
    put<uint64_t>(out, v.size());
    for (const T& x : v) put<T>(out, x);
}

size_t scalar_bytes(GgufType t) {
    switch (t) {
        case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
        case GgufType::u16: case GgufType::i16: return 2;
        case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
        default: return 8;
    }
}

// The little-endian bytes of a scalar value, from its widened form.
void put_scalar(std::string& out, GgufType t, const GgufValue& v) {
    switch (t) {
        case GgufType::f32: put<float>(out, static_cast<float>(v.real)); return;
        case GgufType::f64: put<double>(out, v.real); return;
        case GgufType::i8: case GgufType::i16: case GgufType::i32: case GgufType::i64: {
            const int64_t i = v.integer;
            char b[8];
            std::memcpy(b, &i, 8);
            out.append(b, scalar_bytes(t));
            return;
        }
        default: {
            const uint64_t u = v.uinteger;
            char b[8];
            std::memcpy(b, &u, 8);
            out.append(b, scalar_bytes(t));
        }
    }
}

size_t padding(size_t size, uint32_t alignment) { return (alignment - size % alignment) % alignment; }

}  // namespace

void GgufWriter::key(std::string_view k, GgufType type) {
    put_string(kv_, k);
    put<uint32_t>(kv_, static_cast<uint32_t>(type));
    ++n_kv_;
}

void GgufWriter::add_u32(std::string_view k, uint32_t v) { key(k, GgufType::u32); put(kv_, v); }
void GgufWriter::add_i32(std::string_view k, int32_t v) { key(k, GgufType::i32); put(kv_, v); }
void GgufWriter::add_f32(std::string_view k, float v) { key(k, GgufType::f32); put(kv_, v); }
void GgufWriter::add_bool(std::string_view k, bool v) { key(k, GgufType::boolean); put<uint8_t>(kv_, v); }
void GgufWriter::add_string(std::string_view k, std::string_view v) { key(k, GgufType::string); put_string(kv_, v); }

void GgufWriter::add_string_array(std::string_view k, const std::vector<std::string>& v) {
    key(k, GgufType::array);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::string));
    put<uint64_t>(kv_, v.size());
    for (const std::string& s : v) put_string(kv_, s);
}

void GgufWriter::add_f32_array(std::string_view k, const std::vector<float>& v) {
    key(k, GgufType::array);
    put_array(kv_, GgufType::f32, v);
}

void GgufWriter::add_i32_array(std::string_view k, const std::vector<int32_t>& v) {
    key(k, GgufType::array);
    put_array(kv_, GgufType::i32, v);
}

void GgufWriter::add_value(std::string_view k, const GgufValue& v) {
    key(k, v.type);
    if (v.type == GgufType::string) return put_string(kv_, v.str);
    if (v.type != GgufType::array) return put_scalar(kv_, v.type, v);
    put<uint32_t>(kv_, static_cast<uint32_t>(v.elem_type));
    put<uint64_t>(kv_, v.count);
    if (v.elem_type == GgufType::string) {
        for (std::string_view s : v.strings) put_string(kv_, s);
    } else {
        kv_.append(reinterpret_cast<const char*>(v.elems), v.count * scalar_bytes(v.elem_type));
    }
}

void GgufWriter::add_tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type_id,
                            std::string_view bytes) {
    tensors_.push_back({std::string(name), dims, type_id, bytes.size(), std::string(bytes), true});
}

void GgufWriter::add_tensor_info(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type_id,
                                 uint64_t n_bytes) {
    tensors_.push_back({std::string(name), dims, type_id, n_bytes, {}, false});
}

std::string GgufWriter::header(uint32_t alignment) const {
    std::string out("GGUF");
    put<uint32_t>(out, 3);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, n_kv_);
    out += kv_;
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        put_string(out, t.name);
        put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
        for (uint64_t d : t.dims) put<uint64_t>(out, d);
        put<uint32_t>(out, t.type_id);
        put<uint64_t>(out, offset);
        offset += t.n_bytes + padding(t.n_bytes, alignment);
    }
    if (!tensors_.empty()) out.append(padding(out.size(), alignment), '\0');
    return out;
}

std::string GgufWriter::serialize(uint32_t alignment) const {
    std::string out = header(alignment);
    for (const Tensor& t : tensors_) {
        out += t.bytes;
        out.append(padding(t.bytes.size(), alignment), '\0');
    }
    return out;
}

void GgufWriter::write(const std::string& path, uint32_t alignment,
                       const std::function<std::string(size_t)>& produce) const {
    // A regular file (or a new one) is written beside its final name and renamed into place
    // once complete, so that a kill or a full disk never leaves a truncated file under that
    // name; a device or pipe (/dev/stdout, /dev/full) is written directly.
    struct stat st {};
    const bool direct = ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
    const std::string temp = direct ? path : path + ".partial";
    try {
        write_to(temp, path, alignment, produce);
    } catch (...) {
        if (!direct) std::remove(temp.c_str());
        throw;
    }
    if (!direct && std::rename(temp.c_str(), path.c_str()) != 0) {
        std::remove(temp.c_str());
        throw Error(path + ": cannot replace it with the written file (" + std::strerror(errno) + ")");
    }
}

void GgufWriter::write_to(const std::string& file, const std::string& path, uint32_t alignment,
                          const std::function<std::string(size_t)>& produce) const {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path + ": cannot create");
    const std::string head = header(alignment);
    f.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        const std::string produced = t.held ? std::string() : produce(i);
        const std::string& bytes = t.held ? t.bytes : produced;
        if (bytes.size() != t.n_bytes) throw Error(path + ": tensor '" + t.name + "' has the wrong size");
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        const std::string pad(padding(bytes.size(), alignment), '\0');
        f.write(pad.data(), static_cast<std::streamsize>(pad.size()));
        if (!f) break;
    }
    if (!f.flush()) throw Error(path + ": write failed (disk full?)");
    f.close();
    if (f.fail()) throw Error(path + ": write failed (disk full?)");
}

}  // namespace kiln

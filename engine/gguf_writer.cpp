#include "engine/gguf_writer.h"

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

void GgufWriter::add_tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type_id,
                            std::string_view bytes) {
    tensors_.push_back({std::string(name), dims, type_id, std::string(bytes)});
}

std::string GgufWriter::serialize(uint32_t alignment) const {
    auto pad = [alignment](std::string& s) { s.append((alignment - s.size() % alignment) % alignment, '\0'); };
    std::string out("GGUF");
    put<uint32_t>(out, 3);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, n_kv_);
    out += kv_;
    std::string data;
    for (const Tensor& t : tensors_) {
        put_string(out, t.name);
        put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
        for (uint64_t d : t.dims) put<uint64_t>(out, d);
        put<uint32_t>(out, t.type_id);
        put<uint64_t>(out, data.size());
        data += t.bytes;
        pad(data);
    }
    if (!tensors_.empty()) pad(out);
    return out + data;
}

void GgufWriter::write(const std::string& path, uint32_t alignment) const {
    const std::string bytes = serialize(alignment);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) throw Error(path + ": cannot write");
}

}  // namespace kiln

// A whole file in memory, read-only: memory-mapped (zero-copy, the default), or copied into
// anonymous memory backed by transparent huge pages (FileLoad::copy), which costs a copy of the
// file but spares the TLB misses of streaming gigabytes through 4 KiB pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

enum class FileLoad { map, copy };

class MappedFile {
public:
    explicit MappedFile(const std::string& path, FileLoad load = FileLoad::map);  // throws Error
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace kiln

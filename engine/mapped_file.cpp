#include "engine/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/memory.h"

namespace kiln {

namespace {
constexpr size_t kPart = size_t{2} << 20;  // parts of whole 2 MiB (huge) pages
}  // namespace

MappedFile::MappedFile(const std::string& path, FileLoad load) {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": is a directory, not a model file");
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": not a regular file");
    }
    if (st.st_size == 0) {
        ::close(fd);
        throw Error(path + ": file is empty");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (load == FileLoad::automatic) load = size_ <= available_memory() / 2 ? FileLoad::copy : FileLoad::map;
    if (load == FileLoad::copy) check_memory(size_, path + ": a copy of the weights");
    if (load == FileLoad::map) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        const int err = errno;
        ::close(fd);
        if (p == MAP_FAILED) throw Error(path + ": cannot map: " + std::strerror(err));
        data_ = static_cast<const uint8_t*>(p);
        return;
    }
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(path + ": cannot allocate " + std::to_string(size_) + " bytes to load it: " + std::strerror(err));
    }
    ::madvise(p, size_, MADV_HUGEPAGE);  // a hint: without THP the copy still works
    // Most of a copy's time is the kernel zeroing each fresh page as it is first written, in
    // the thread that writes it: reading parts of the file from several threads shares that.
    const size_t n_threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    const size_t part = (size_ / n_threads + kPart - 1) / kPart * kPart;
    std::vector<int> errors(n_threads, 0);
    const auto read_part = [&](size_t i) {
        const size_t end = std::min(size_, (i + 1) * part);
        for (size_t done = i * part; done < end;) {
            const ssize_t n = ::pread(fd, static_cast<char*>(p) + done, end - done, static_cast<off_t>(done));
            if (n <= 0) {
                errors[i] = n < 0 ? errno : EIO;
                return;
            }
            done += static_cast<size_t>(n);
        }
    };
    std::vector<std::thread> readers;
    for (size_t i = 1; i < n_threads && i * part < size_; ++i) readers.emplace_back(read_part, i);
    read_part(0);
    for (std::thread& t : readers) t.join();
    ::close(fd);
    for (const int err : errors)
        if (err != 0) {
            ::munmap(p, size_);
            throw Error(path + ": cannot read: " + std::strerror(err));
        }
    data_ = static_cast<const uint8_t*>(p);
    copied_ = true;
}

void MappedFile::seal() {
    if (copied_ && !sealed_) ::mprotect(const_cast<uint8_t*>(data_), size_, PROT_READ);
    sealed_ = true;
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace kiln

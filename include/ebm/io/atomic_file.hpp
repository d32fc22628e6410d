#pragma once
// The one way ebm replaces a file: write a temporary file beside it, fsync, rename it over the target, fsync the
// folder. A reader — or the next run after a crash or a SIGKILL — finds either the old file or the complete new
// one, never a half-written one; a failed write leaves the old file as it was and removes the temporary.
//   ebm::io::write_file_atomically("u.csv", text, "write_csv");                 // bytes in memory
//   ebm::io::atomic_file f("grid.png", "write_png");                              // a library writes by name
//   some_writer(f.temporary());  f.commit();                                      // destroyed uncommitted: removed
// The temporary is "<target>.tmp-<pid>-<n>", so concurrent writers (threads, processes) never share one.
// I/O failures throw ebm::runtime_error naming the caller (`where`), what failed, errno's text and the path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "../error.hpp"

namespace ebm::io {

class atomic_file {
public:
    atomic_file(std::filesystem::path target, std::string where) : target_(std::move(target)), where_(std::move(where)) {
        static std::atomic<unsigned> serial{0};
        temporary_ = target_;
        temporary_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial.fetch_add(1));
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    ~atomic_file() { discard(); }

    [[nodiscard]] const std::filesystem::path& target() const { return target_; }
    /// Where a writer that needs a file name (libpng, plplot) puts the bytes before commit().
    [[nodiscard]] const std::filesystem::path& temporary() const { return temporary_; }

    /// Appends bytes to the temporary file (created on the first call).
    void write(std::string_view bytes) {
        if (fd_ < 0) {
            fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd_ < 0) fail("cannot create the temporary file", temporary_);
        }
        while (!bytes.empty()) {
            const ssize_t done = ::write(fd_, bytes.data(), bytes.size());
            if (done < 0) {
                if (errno == EINTR) continue;
                fail("writing the temporary file failed", temporary_);
            }
            bytes.remove_prefix(static_cast<std::size_t>(done));
        }
    }

    /// Makes the temporary durable and puts it in place of the target. Without a write() the temporary must
    /// have been written by name; committing a missing temporary is an error.
    void commit() {
        if (fd_ < 0) {
            fd_ = ::open(temporary_.c_str(), O_RDONLY | O_CLOEXEC);  // fsync works on a read-only descriptor
            if (fd_ < 0) fail("the temporary file was not written", temporary_);
        }
        if (::fsync(fd_) != 0) fail("fsync of the temporary file failed", temporary_);
        const int closed = ::close(fd_);
        fd_ = -1;
        if (closed != 0) fail("closing the temporary file failed", temporary_);
        if (::rename(temporary_.c_str(), target_.c_str()) != 0) fail("cannot rename the temporary file onto", target_);
        committed_ = true;
        // The rename itself is durable once the folder is synced; a folder that cannot be opened (no read
        // permission) still has the complete file in place, so this step is best effort.
        const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : ".";
        const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
    }

private:
    [[noreturn]] void fail(const char* what, const std::filesystem::path& path) {
        const std::string reason = std::strerror(errno);
        discard();
        throw runtime_error("ebm::" + where_ + ": " + what + ": " + reason + " (got '" + path.string() + "')");
    }
    void discard() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (!committed_) ::unlink(temporary_.c_str());
    }

    std::filesystem::path target_, temporary_;
    std::string where_;
    int fd_ = -1;
    bool committed_ = false;
};

/// Writes the chunks, in order, as the new content of `path` (see the file comment).
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::string_view> chunks,
                                  std::string_view where) {
    atomic_file file(path, std::string(where));
    file.write({});  // creates the temporary: no chunks is an empty file
    for (const std::string_view chunk : chunks) file.write(chunk);
    file.commit();
}

inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, std::string_view where) {
    write_file_atomically(path, std::span<const std::string_view>(&bytes, 1), where);
}

}  // namespace ebm::io

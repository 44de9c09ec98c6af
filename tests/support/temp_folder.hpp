#pragma once
// A fresh folder under the system's temporary directory, removed with all it holds when its
// object goes: for the configs, logs, certificates and files a test writes.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace muse::testing {

class temp_folder {
 public:
  temp_folder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "muse-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The full path of `relative` in the folder, as configs and command lines want it.
  std::string file(const std::string& relative) const { return (path_ / relative).string(); }
  // Writes `text` to `relative` (making the folders on the way); its full path.
  std::string write(const std::string& relative, const std::string& text) const {
    const auto target = path_ / relative;
    std::filesystem::create_directories(target.parent_path());
    std::ofstream(target, std::ios::binary) << text;
    return target.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace muse::testing

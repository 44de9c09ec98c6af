#include "http/image_store.hpp"

#include "http/random_ids.hpp"

namespace muse::http {

image_store::image_store(std::chrono::seconds ttl, size_t max_bytes)
    : ttl_(ttl), max_bytes_(max_bytes) {}

void image_store::sweep(clock::time_point now) {
  for (auto it = images_.begin(); it != images_.end();) {
    if (it->second.expires <= now) {
      bytes_ -= it->second.png.size();
      it = images_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string image_store::put(std::string png) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock::now();
  sweep(now);
  while (!images_.empty() && bytes_ + png.size() > max_bytes_) {
    auto oldest = images_.begin();
    for (auto it = images_.begin(); it != images_.end(); ++it)
      if (it->second.expires < oldest->second.expires) oldest = it;
    bytes_ -= oldest->second.png.size();
    images_.erase(oldest);
  }
  // Two request ids: 192 bits, far past guessing; the URL is the only credential.
  std::string token = new_request_id() + new_request_id();
  bytes_ += png.size();
  images_[token] = entry{std::move(png), now + ttl_};
  return token;
}

std::optional<std::string> image_store::get(const std::string& token) {
  std::lock_guard<std::mutex> lock(mutex_);
  sweep(clock::now());
  auto it = images_.find(token);
  if (it == images_.end()) return std::nullopt;
  return it->second.png;
}

}  // namespace muse::http

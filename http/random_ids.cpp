#include "http/random_ids.hpp"

#include <random>

namespace muse::http {
namespace {

std::mt19937_64& thread_generator() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seq{device(), device(), device(), device()};
    return std::mt19937_64(seq);
  }();
  return generator;
}

}  // namespace

std::string new_request_id() {
  static constexpr char hex[] = "0123456789abcdef";
  auto& generator = thread_generator();
  uint64_t high = generator();
  uint64_t low = generator();
  std::string id;
  for (int shift = 28; shift >= 0; shift -= 4) id += hex[(high >> shift) & 15];
  for (int shift = 60; shift >= 0; shift -= 4) id += hex[(low >> shift) & 15];
  return id;
}

uint64_t random_seed(uint64_t upper) {
  return std::uniform_int_distribution<uint64_t>(0, upper)(thread_generator());
}

}  // namespace muse::http

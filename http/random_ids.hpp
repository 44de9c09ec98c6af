#pragma once
// Random request ids and seeds, drawn from a per-thread generator seeded by the OS.

#include <cstdint>
#include <string>

namespace muse::http {

// 96 random bits as 24 lowercase hex digits.
std::string new_request_id();

// Uniform in 0..upper (inclusive).
uint64_t random_seed(uint64_t upper);

}  // namespace muse::http

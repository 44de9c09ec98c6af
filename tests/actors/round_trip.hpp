#pragma once
// What a GPU node would receive: a message value written by one actor system, read by another.

#include <catch2/catch.hpp>
#include <vector>

#include "actors/messages.hpp"

namespace muse::actors::testing {

template <class T>
T round_trip(const T& value) {
  caf::actor_system_config config;
  add_message_types(config);
  caf::actor_system system{config};
  std::vector<char> buffer;
  caf::binary_serializer sink{system, buffer};
  auto copy = value;
  REQUIRE_FALSE(sink(copy));
  T result;
  caf::binary_deserializer source{system, buffer};
  REQUIRE_FALSE(source(result));
  return result;
}

}  // namespace muse::actors::testing

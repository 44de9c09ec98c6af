#pragma once
// Requests sent as multipart/form-data (http/multipart_form): the parts read into the JSON object
// the JSON readers take, so a form and a JSON body are checked by the same code, and the files
// kept aside as bytes.

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "http/generate_request.hpp"
#include "http/multipart_form.hpp"

namespace muse::http {

// The parts of a multipart/form-data body, the boundary taken from `content_type`. Throws
// api_error 400 invalid_multipart.
std::vector<form_part> read_multipart_body(const std::string& content_type,
                                           const std::string& body);

struct form_fields {
  // Text fields by name: strings, or numbers for the names read as numbers when their text is a
  // JSON number (any other text stays a string, which the reader then refuses by type). An empty
  // text counts as absent, as `null` does in JSON.
  nlohmann::json text = nlohmann::json::object();
  // File parts (those with a filename) of the names that take files, in order: (name, bytes).
  std::vector<std::pair<std::string, std::string>> files;
};

// The texts of `typed_names` are read as the JSON number or boolean they spell ("25", "0.5",
// "true"), other texts as strings. Throws api_error 400 naming the field for a text that is not
// UTF-8, a text field given twice, or a file under a name that takes none.
form_fields read_form_fields(const std::vector<form_part>& parts,
                             const std::set<std::string>& typed_names,
                             const std::set<std::string>& file_names);

// The body of POST /api/v1/generate and /api/v1/jobs by its Content-Type: multipart/form-data
// (a part per JSON key; init_image a file, or its base64 as text) or, for any other type, JSON.
generate_fields read_generate_input(const std::string& content_type, const std::string& body,
                                    native_route route = native_route::generate);

}  // namespace muse::http

#pragma once
// Checks text against the Prometheus exposition format 0.0.4: every line a HELP/TYPE comment or a
// sample `name{label="value",...} number`, every sample under a declared family, histogram
// buckets cumulative. Returns the problems found (empty when the text is valid) and the samples.

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace muse::testing {

struct prometheus_parse {
  std::vector<std::string> problems;
  std::map<std::string, double> samples;  // "name{labels}" exactly as written -> value
  std::map<std::string, std::string> types;
};

inline prometheus_parse parse_prometheus(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex type(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([-+]?([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|Inf)|NaN))");
  prometheus_parse result;
  if (!text.empty() && text.back() != '\n')
    result.problems.push_back("text does not end with a newline");
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::smatch m;
    if (line.empty()) continue;
    if (std::regex_match(line, m, type)) {
      if (result.types.count(m[1]))
        result.problems.push_back("family typed twice: " + std::string(m[1]));
      result.types[m[1]] = m[2];
    } else if (std::regex_match(line, m, help)) {
    } else if (std::regex_match(line, m, sample)) {
      std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string s = suffix;
        if (!result.types.count(family) && name.size() > s.size() &&
            name.compare(name.size() - s.size(), s.size(), s) == 0)
          family = name.substr(0, name.size() - s.size());
      }
      if (!result.types.count(family))
        result.problems.push_back("line " + std::to_string(number) +
                                  ": sample of undeclared family: " + line);
      std::string value = m[7];
      double v = value == "NaN" ? 0 : value == "+Inf" || value == "Inf" ? 1e308 : std::stod(value);
      std::string key = line.substr(0, line.rfind(' '));
      if (result.samples.count(key)) result.problems.push_back("duplicate sample: " + key);
      result.samples[key] = v;
    } else {
      result.problems.push_back("line " + std::to_string(number) +
                                " is not Prometheus text: " + line);
    }
  }
  return result;
}

}  // namespace muse::testing

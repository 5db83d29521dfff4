// Arbitrary bodies through the incremental multipart parser, fed whole and
// in pieces chosen by the input: it must never crash, and how the body is
// split must never change what it reports (the parts, their headers and
// contents, success or the error). The first line, if it looks like one, is
// also tried as a Content-Type.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "multipart.hpp"

namespace {

/// Every event as one string, so two runs compare with ==.
class Transcript : public chat::MultipartHandler {
 public:
  bool on_part_begin(const chat::PartHeaders& part, std::string&) override {
    log += "B[" + part.name + "|" + part.filename + "|" +
           (part.has_filename ? "1" : "0") + "|" + part.content_type + "]";
    return true;
  }
  bool on_part_data(std::string_view data, std::string&) override {
    if (data.empty()) std::abort();  // the parser never reports nothing
    // Data may arrive in different slices; only its bytes count.
    pending_data.append(data);
    return true;
  }
  bool on_part_end(std::string&) override {
    log += "D[" + pending_data + "]E";
    pending_data.clear();
    return true;
  }
  std::string log;
  std::string pending_data;
};

std::string run(std::string_view body, const std::vector<std::size_t>& cuts) {
  Transcript t;
  chat::MultipartParser::Limits limits;
  limits.max_header_bytes = 256;
  limits.max_parts = 8;
  chat::MultipartParser parser("bound", t, limits);
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    if (cut < at || cut > body.size()) continue;
    parser.feed(body.substr(at, cut - at));
    at = cut;
  }
  parser.feed(body.substr(at));
  return t.log + "|" + t.pending_data + "|" + (parser.done() ? "done" : "") +
         (parser.failed() ? "failed:" + parser.error() : "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 1) return 0;
  // First byte: how finely to split the rest.
  const std::size_t step = 1 + data[0] % 16;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  const auto eol = body.find('\n');
  if (eol != std::string_view::npos && eol < 200) {
    if (auto boundary = chat::multipart_boundary(body.substr(0, eol))) {
      if (boundary->empty() || boundary->size() > 70) std::abort();
    }
  }
  std::vector<std::size_t> cuts;
  for (std::size_t i = step; i < body.size(); i += step) cuts.push_back(i);
  if (run(body, {}) != run(body, cuts)) std::abort();
  return 0;
}

#include "http/jpeg_decode.hpp"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstring>
#include <new>

namespace muse::http {
namespace {

// libjpeg reports errors through error_exit, which must not return: it longjmps back to the
// setjmp of the call that failed. The frames jumped over (the functions below) hold nothing with
// a destructor; the message waits here for the C++ side to throw.
struct session {
  jpeg_decompress_struct info;
  jpeg_error_mgr errors;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64] = {};
};

session* session_of(j_common_ptr info) { return static_cast<session*>(info->client_data); }

void on_error(j_common_ptr info) {
  auto* s = session_of(info);
  (*info->err->format_message)(info, s->message);
  std::longjmp(s->jump, 1);
}

// Level -1 is a warning about corrupt data (libjpeg would go on with gray pixels): refused, as
// libjpeg-turbo's own TJFLAG_STOPONWARNING does. Trace messages (level >= 0) are ignored.
void on_message(j_common_ptr info, int level) {
  if (level < 0) on_error(info);
}

void on_progress(j_common_ptr info) {
  auto* decompress = reinterpret_cast<j_decompress_ptr>(info);
  if (decompress->input_scan_number > max_jpeg_scans) {
    auto* s = session_of(info);
    std::snprintf(s->message, sizeof s->message, "more than %d scans", max_jpeg_scans);
    std::longjmp(s->jump, 1);
  }
}

bool create(session* s) {
  s->info.err = jpeg_std_error(&s->errors);
  s->errors.error_exit = on_error;
  s->errors.emit_message = on_message;
  s->info.client_data = s;
  if (setjmp(s->jump)) return false;
  jpeg_create_decompress(&s->info);
  s->info.client_data = s;  // jpeg_create_decompress clears everything but `err`
  s->progress.progress_monitor = on_progress;
  s->info.progress = &s->progress;
  return true;
}

bool read_header(session* s, const unsigned char* data, size_t size) {
  if (setjmp(s->jump)) return false;
  jpeg_mem_src(&s->info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&s->info, TRUE);
  return true;
}

// Decodes every row into `out` (height rows of width x 3 bytes).
bool read_rows(session* s, unsigned char* out) {
  if (setjmp(s->jump)) return false;
  s->info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&s->info);
  if (s->info.output_components != 3) {
    std::snprintf(s->message, sizeof s->message, "an unexpected sample layout");
    return false;
  }
  const size_t row_bytes = size_t(s->info.output_width) * 3;
  while (s->info.output_scanline < s->info.output_height) {
    JSAMPROW row = out + size_t(s->info.output_scanline) * row_bytes;
    if (jpeg_read_scanlines(&s->info, &row, 1) != 1) {
      std::snprintf(s->message, sizeof s->message, "the data ends early");
      return false;
    }
  }
  jpeg_finish_decompress(&s->info);
  return true;
}

// The session, zeroed, and its decompressor destroyed however the read ends (a member, so a
// constructor that throws frees it too; libjpeg's destroy skips what was never created).
struct owned_session {
  session s{};
  owned_session() = default;
  owned_session(const owned_session&) = delete;
  owned_session& operator=(const owned_session&) = delete;
  ~owned_session() { jpeg_destroy_decompress(&s.info); }
};

// One read of `bytes`.
class jpeg_reader {
 public:
  explicit jpeg_reader(const std::string& bytes) {
    if (!is_jpeg(bytes)) throw jpeg_decode_error("not a JPEG image (no JPEG signature)");
    if (!create(&s_)) fail();
    if (!read_header(&s_, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()))
      fail();
  }

  const jpeg_decompress_struct& info() const { return s_.info; }

  void rows(unsigned char* out) {
    if (!read_rows(&s_, out)) fail();
  }

 private:
  [[noreturn]] void fail() const {
    throw jpeg_decode_error(std::string("not a valid JPEG image: ") + s_.message);
  }

  owned_session owned_;
  session& s_ = owned_.s;
};

// The colour spaces libjpeg-turbo turns into RGB itself; the rest is refused by name.
void check_colour_space(const jpeg_decompress_struct& info) {
  switch (info.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
      return;
    case JCS_CMYK:
    case JCS_YCCK:
      throw jpeg_decode_error(
          "a CMYK JPEG; only grayscale and colour (YCbCr or RGB) JPEGs are read: convert it to "
          "RGB");
    default:
      throw jpeg_decode_error("a JPEG of " + std::to_string(info.num_components) +
                              " components in an unknown colour space; only grayscale and colour "
                              "(YCbCr or RGB) JPEGs are read");
  }
}

}  // namespace

bool is_jpeg(const std::string& bytes) {
  return bytes.size() >= 3 && uint8_t(bytes[0]) == 0xFF && uint8_t(bytes[1]) == 0xD8 &&
         uint8_t(bytes[2]) == 0xFF;
}

jpeg_header read_jpeg_header(const std::string& bytes) {
  jpeg_reader reader(bytes);
  const auto& info = reader.info();
  jpeg_header header;
  header.width = int(info.image_width);
  header.height = int(info.image_height);
  header.components = info.num_components;
  header.progressive = info.progressive_mode != 0;
  return header;
}

actors::rgb_pixels decode_jpeg(const std::string& bytes, int64_t max_pixels) {
  jpeg_reader reader(bytes);
  const auto& info = reader.info();
  check_colour_space(info);
  const int64_t pixels = int64_t(info.image_width) * int64_t(info.image_height);
  if (pixels > max_pixels)
    throw jpeg_decode_error("a JPEG of " + std::to_string(info.image_width) + "x" +
                            std::to_string(info.image_height) + ", over " +
                            std::to_string(max_pixels) + " pixels");
  actors::rgb_pixels image;
  image.width = int(info.image_width);
  image.height = int(info.image_height);
  image.pixels.resize(size_t(pixels) * 3);
  reader.rows(image.pixels.data());
  return image;
}

}  // namespace muse::http

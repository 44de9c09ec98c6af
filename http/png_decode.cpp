#include "http/png_decode.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace muse::http {
namespace {

// libpng reports errors by longjmp: the frames it jumps over (read_header, read_rows) hold
// nothing with a destructor, and the message waits here for the C++ side to throw.
struct source {
  const unsigned char* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  char message[200] = {};
};

void read_from_memory(png_structp png, png_bytep out, size_t length) {
  auto* from = static_cast<source*>(png_get_io_ptr(png));
  if (length > from->size - from->offset) png_error(png, "the data ends early");
  std::memcpy(out, from->data + from->offset, length);
  from->offset += length;
}

void on_error(png_structp png, png_const_charp message) {
  auto* from = static_cast<source*>(png_get_error_ptr(png));
  std::snprintf(from->message, sizeof from->message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

struct raw_header {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
};

bool read_header(png_structp png, png_infop info, raw_header* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_get_IHDR(png, info, &header->width, &header->height, &header->bit_depth, &header->color_type,
               &header->interlace, nullptr, nullptr);
  return true;
}

// Expands palette and low-bit gray to 8-bit samples and reads every row (all passes of an
// interlaced image) into `rows`, each `row_capacity` bytes.
bool read_rows(png_structp png, png_infop info, const raw_header* header, png_bytepp rows,
               size_t row_capacity, int* channels) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (header->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (header->color_type == PNG_COLOR_TYPE_GRAY && header->bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *channels = png_get_channels(png, info);
  if (png_get_bit_depth(png, info) != 8 || *channels < 1 || *channels > 4 ||
      png_get_rowbytes(png, info) > row_capacity)
    png_error(png, "an unexpected sample layout");
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

// libpng's read and info structures, freed however the read ends (a member, so a constructor
// that throws frees them too).
struct png_structs {
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_structs() = default;
  png_structs(const png_structs&) = delete;
  png_structs& operator=(const png_structs&) = delete;
  ~png_structs() { png_destroy_read_struct(&png, &info, nullptr); }
};

// One read of `bytes`.
class png_reader {
 public:
  explicit png_reader(const std::string& bytes) {
    if (!is_png(bytes)) throw png_decode_error("not a PNG image (no PNG signature)");
    from_.data = reinterpret_cast<const unsigned char*>(bytes.data());
    from_.size = bytes.size();
    structs_.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &from_, on_error, on_warning);
    if (structs_.png) structs_.info = png_create_info_struct(structs_.png);
    if (!structs_.png || !structs_.info) throw std::bad_alloc();
    png_set_read_fn(structs_.png, &from_, read_from_memory);
    if (!read_header(structs_.png, structs_.info, &header_)) fail();
  }

  const raw_header& header() const { return header_; }

  // (height, width, channels) 8-bit samples.
  std::vector<uint8_t> rows(int* channels) {
    const size_t capacity = size_t(header_.width) * 4;
    std::vector<uint8_t> samples(capacity * header_.height);
    std::vector<png_bytep> rows(header_.height);
    for (size_t y = 0; y < rows.size(); ++y) rows[y] = samples.data() + y * capacity;
    if (!read_rows(structs_.png, structs_.info, &header_, rows.data(), capacity, channels)) fail();
    return samples;
  }

 private:
  [[noreturn]] void fail() const {
    throw png_decode_error(std::string("not a valid PNG image: ") + from_.message);
  }

  source from_;
  png_structs structs_;
  raw_header header_;
};

}  // namespace

bool is_png(const std::string& bytes) {
  return bytes.size() >= 8 &&
         png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
}

png_header read_png_header(const std::string& bytes) {
  png_reader reader(bytes);
  const auto& raw = reader.header();
  png_header header;
  header.width = int(raw.width);
  header.height = int(raw.height);
  header.bit_depth = raw.bit_depth;
  header.interlaced = raw.interlace != PNG_INTERLACE_NONE;
  return header;
}

actors::rgb_pixels decode_png(const std::string& bytes, int64_t max_pixels) {
  png_reader reader(bytes);
  const auto& header = reader.header();
  if (header.bit_depth > 8)
    throw png_decode_error("a " + std::to_string(header.bit_depth) +
                           "-bit PNG; only 8 or fewer bits per sample are read");
  const int64_t pixels = int64_t(header.width) * int64_t(header.height);
  if (pixels > max_pixels)
    throw png_decode_error("a PNG of " + std::to_string(header.width) + "x" +
                           std::to_string(header.height) + ", over " + std::to_string(max_pixels) +
                           " pixels");
  int channels = 0;
  const auto samples = reader.rows(&channels);
  actors::rgb_pixels image;
  image.width = int(header.width);
  image.height = int(header.height);
  image.pixels.resize(size_t(pixels) * 3);
  const size_t capacity = size_t(header.width) * 4;
  for (size_t y = 0; y < size_t(header.height); ++y) {
    const uint8_t* in = samples.data() + y * capacity;
    uint8_t* out = image.pixels.data() + y * size_t(header.width) * 3;
    for (size_t x = 0; x < size_t(header.width); ++x, in += channels, out += 3) {
      const bool gray = channels <= 2;
      out[0] = in[0];
      out[1] = gray ? in[0] : in[1];
      out[2] = gray ? in[0] : in[2];
    }
  }
  return image;
}

}  // namespace muse::http

#include "programs/viz_subjects.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "programs/viz_shares.h"
#include "sav/data/images.h"
#include "sav/dist/communicator.h"
#include "sav/error.h"
#include "sav/hub/published.h"
#include "sav/image/resample.h"
#include "sav/train/checkpoint.h"

namespace sav {
namespace {

namespace fs = std::filesystem;

// A failure to read the model the user named is a bad argument: exit 2, the message as it is.
template <typename Load>
auto as_usage_error(Load&& load) {
  try {
    return load();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    usage_fail(e.what());
  }
}

std::vector<uint8_t> planar_from_canvas(const image::Canvas& c) {
  std::vector<uint8_t> planar(data::kPixelBytes);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const image::Rgb p = c.at(x, y);
      planar[y * 32 + x] = p.r;
      planar[1024 + y * 32 + x] = p.g;
      planar[2048 + y * 32 + x] = p.b;
    }
  }
  return planar;
}

bool is_photo_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".jpg" || extension == ".jpeg" || extension == ".png";
}

// What a rank sends rank 0 for one image: its explanation.
void write_explanation(const attribution::ImageExplanation& e, std::vector<uint8_t>& bytes) {
  ByteWriter out(bytes);
  out.put<int32_t>(e.predicted);
  out.put<int32_t>(e.explained);
  out.put<float>(e.probability);
  out.put_all(e.probabilities);
  out.put<uint64_t>(e.scores.size());
  for (const std::vector<float>& scores : e.scores) out.put_all(scores);
}

attribution::ImageExplanation read_explanation(ByteReader& in) {
  attribution::ImageExplanation e;
  e.predicted = in.get<int32_t>();
  e.explained = in.get<int32_t>();
  e.probability = in.get<float>();
  e.probabilities = in.get_all<float>();
  for (uint64_t m = in.get<uint64_t>(); m > 0; --m) e.scores.push_back(in.get_all<float>());
  return e;
}

// Subjects [first, last), `batch` at a time from `first`.
std::vector<attribution::ImageExplanation> explain_range(const ExplainedModel& model,
                                                         const std::vector<Subject>& subjects,
                                                         const attribution::ExplainOptions& options,
                                                         size_t first, size_t last, size_t batch) {
  std::vector<attribution::ImageExplanation> explanations;
  for (size_t begin = first; begin < last; begin += batch) {
    const size_t n = std::min(batch, last - begin);
    for (auto& e : attribution::explain(*model.vit, subject_batch(model, subjects, begin, n),
                                        options, begin)) {
      explanations.push_back(std::move(e));
    }
  }
  return explanations;
}

}  // namespace

ExplainedModel load_checkpoint_model(const std::string& path, const std::string& data_dir,
                                     Device device) {
  if (!fs::exists(path)) {
    throw Error("cannot open " + path +
                ": no such file (train a model with ./sav_train, or pass --checkpoint FILE)");
  }
  ExplainedModel m;
  m.path = path;
  m.patch = data::kPatchSide;
  m.vit = as_usage_error([&] {
    const train::Checkpoint checkpoint = train::read_checkpoint(path);
    auto vit = std::make_unique<nn::VisionTransformer>(checkpoint.config.vit(), device);
    // A run that kept a moving average of its weights evaluated the average and chose its best
    // checkpoint by it: that is the model to explain.
    train::load_weights(checkpoint, *vit,
                        train::holds_average(checkpoint) ? train::WeightSet::kAveraged
                                                         : train::WeightSet::kTrained);
    return vit;
  });
  m.class_names = data::read_class_names(data_dir + "/batches.meta.txt");
  return m;
}

ExplainedModel load_published_model(const std::string& path, Device device) {
  ExplainedModel m;
  m.path = path;
  m.vit = as_usage_error([&] {
    const hub::PublishedModel published = hub::read_published(path);
    auto vit = std::make_unique<nn::VisionTransformer>(published.config, device);
    hub::load_weights(published, *vit);
    m.class_names = published.class_names;
    m.patch = static_cast<int>(published.patch_size);
    m.preprocess = published.preprocess;
    return vit;
  });
  for (size_t c = m.class_names.size(); c < static_cast<size_t>(m.vit->config().classes); ++c) {
    m.class_names.push_back("class " + std::to_string(c));
  }
  return m;
}

Subject cifar_subject(const uint8_t* pixels, std::string name, int label) {
  Subject s;
  s.picture = image::Canvas(32, 32);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      s.picture.set(x, y,
                    {pixels[y * 32 + x], pixels[1024 + y * 32 + x], pixels[2048 + y * 32 + x]});
    }
  }
  s.tokens.resize(static_cast<size_t>(data::kPatches) * data::kPatchFeatures);
  data::image_to_patches(pixels, {}, s.tokens.data());
  s.name = std::move(name);
  s.label = label;
  return s;
}

Subject photo_subject(const ExplainedModel& model, const std::string& path) {
  const image::RgbImage photo = image::load_photo(path);
  const std::string name = fs::path(path).filename().string();
  if (!model.published()) {
    // The CIFAR model's input is a 32 x 32 image, whatever the photo's size.
    const image::Canvas picture = image::canvas_from_photo(photo);
    const image::Canvas small = picture.width() == 32 && picture.height() == 32
                                    ? picture
                                    : image::resize_image(picture, 32, 32);
    return cifar_subject(planar_from_canvas(small).data(), name, -1);
  }
  const image::RgbImage seen = image::resize_and_crop(photo, *model.preprocess);
  Subject s;
  s.picture = image::canvas_from_photo(seen);
  s.tokens = image::to_patch_tokens(image::normalize(seen, *model.preprocess), model.patch);
  s.name = name;
  return s;
}

std::vector<std::string> photos_in(const std::string& folder, size_t limit) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    usage_fail("--images-dir ", folder, ": not a folder");
  }
  std::vector<std::string> photos;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    if (entry.is_regular_file(error) && is_photo_name(entry.path())) {
      photos.push_back(entry.path().string());
      if (photos.size() > limit) {
        usage_fail("--images-dir ", folder, ": more than ", limit,
                   " photos; sav_viz explains at most ", limit, " at a time");
      }
    }
  }
  if (error) usage_fail("--images-dir ", folder, ": cannot be listed: ", error.message());
  if (photos.empty()) {
    usage_fail("--images-dir ", folder, ": no .jpg, .jpeg or .png files in it");
  }
  std::sort(photos.begin(), photos.end());
  return photos;
}

Tensor subject_batch(const ExplainedModel& model, const std::vector<Subject>& subjects,
                     size_t first, size_t n) {
  const nn::VitConfig& c = model.vit->config();
  std::vector<float> tokens;
  tokens.reserve(n * static_cast<size_t>(c.patches * c.patch_features));
  for (size_t i = first; i < first + n; ++i) {
    tokens.insert(tokens.end(), subjects[i].tokens.begin(), subjects[i].tokens.end());
  }
  return Tensor::from_vector({static_cast<int64_t>(n), c.patches, c.patch_features}, tokens,
                             model.vit->device());
}

std::vector<attribution::ImageExplanation> explain_subjects(
    const ExplainedModel& model, const std::vector<Subject>& subjects,
    const attribution::ExplainOptions& options) {
  const size_t batch = std::max<size_t>(1, 3200 / static_cast<size_t>(model.vit->config().patches));
  dist::Communicator& world = dist::world();
  if (world.size() == 1) return explain_range(model, subjects, options, 0, subjects.size(), batch);
  const int64_t batches = static_cast<int64_t>((subjects.size() + batch - 1) / batch);
  const Share share = share_of(batches, world.rank(), world.size());
  const size_t first = std::min(subjects.size(), static_cast<size_t>(share.first) * batch);
  const size_t last = std::min(subjects.size(), static_cast<size_t>(share.last) * batch);
  std::vector<uint8_t> bytes;
  for (const auto& e : explain_range(model, subjects, options, first, last, batch)) {
    write_explanation(e, bytes);
  }
  const std::vector<uint8_t> gathered = world.gather(bytes.data(), bytes.size(), 0);
  std::vector<attribution::ImageExplanation> explanations;
  if (!world.is_root()) return explanations;
  ByteReader in(gathered.data(), gathered.size());
  while (!in.done()) explanations.push_back(read_explanation(in));
  if (explanations.size() != subjects.size()) {
    fail("rank 0 gathered the maps of ", explanations.size(), " images from the job's ranks, not ",
         subjects.size());
  }
  return explanations;
}

}  // namespace sav

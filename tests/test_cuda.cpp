// The CUDA backend against the CPU reference: every op of the table, forward and backward, the
// dropout masks, and a few training steps. Skipped where no GPU is usable.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "batched_products.h"
#include "op_cases.h"
#include "sav/error.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"
#include "sav/optim/flat_gradients.h"
#include "sav/optim/weight_average.h"
#include "sav/train/step.h"

namespace sav::testing {
namespace {

bool gpu_usable() { return device_available(Device::cuda()); }

// max |a - b| / max(1, max |b|): the error of a GPU result against the CPU's.
double normalised_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
    scale = std::max(scale, std::fabs(double{b[i]}));
  }
  return diff / scale;
}

class CudaOps : public ::testing::TestWithParam<OpCase> {
 protected:
  void SetUp() override {
    if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device: the CUDA backend is not tested here";
  }
};

// Same inputs, same output gradient: the GPU's output and input gradients match the CPU's.
TEST_P(CudaOps, ForwardAndBackwardMatchTheCpu) {
  const OpCase& op_case = GetParam();
  std::vector<Tensor> cpu_in = make_inputs(op_case, Device::cpu(), 3);
  std::vector<Tensor> gpu_in = make_inputs(op_case, Device::cuda(), 3);
  const Tensor cpu_out = op_case.forward(cpu_in), gpu_out = op_case.forward(gpu_in);
  ASSERT_EQ(gpu_out.shape(), cpu_out.shape());
  EXPECT_LT(normalised_error(gpu_out.to_vector(), cpu_out.to_vector()), 1e-5) << op_case.name;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> seed(cpu_out.numel());
  for (float& s : seed) s = uniform(rng);
  cpu_out.backward(Tensor::from_vector(cpu_out.shape(), seed));
  gpu_out.backward(Tensor::from_vector(gpu_out.shape(), seed, Device::cuda()));
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    if (!op_case.inputs[i].requires_grad) continue;
    EXPECT_LT(normalised_error(gpu_in[i].grad().to_vector(), cpu_in[i].grad().to_vector()), 1e-5)
        << op_case.name << " input " << i;
  }
}

TEST_P(CudaOps, MatchesCentralDifferences) {
  const GradCheckResult result = check_gradients(GetParam(), Device::cuda());
  EXPECT_TRUE(result.passed) << result.report;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaOps, ::testing::ValuesIn(all_op_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Cuda, DropoutDrawsTheCpuMask) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  const std::vector<float> ones(100003, 1.0f);
  const auto cpu = ops::dropout(Tensor::from_vector({100003}, ones), 0.1f, 42, 7).to_vector();
  const auto gpu =
      ops::dropout(Tensor::from_vector({100003}, ones, Device::cuda()), 0.1f, 42, 7).to_vector();
  EXPECT_EQ(gpu, cpu);
  // A share of a larger batch, starting inside a Philox block (rows of 7 values) and on its edge.
  for (const int64_t row : {int64_t{7}, int64_t{8}}) {
    const std::vector<float> part(5 * row, 1.0f);
    const auto on_cpu = ops::dropout(Tensor::from_vector({5, row}, part), 0.1f, 42, 7, 3);
    const auto on_gpu =
        ops::dropout(Tensor::from_vector({5, row}, part, Device::cuda()), 0.1f, 42, 7, 3);
    EXPECT_EQ(on_gpu.to_vector(), on_cpu.to_vector()) << "rows of " << row;
  }
}

// Drop path's per-image draws on the GPU are the CPU's, bit for bit, for a whole batch and for
// a share of it that starts inside a Philox block.
TEST(Cuda, DropPathDrawsTheCpuMask) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  std::vector<float> values(37 * 65 * 3);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f + static_cast<float>(i % 11);
  for (const int64_t first : {int64_t{0}, int64_t{6}}) {
    const auto cpu = ops::drop_path(Tensor::from_vector({37, 65, 3}, values), 0.3f, 42, 9, first);
    const auto gpu = ops::drop_path(Tensor::from_vector({37, 65, 3}, values, Device::cuda()), 0.3f,
                                    42, 9, first);
    EXPECT_EQ(gpu.to_vector(), cpu.to_vector()) << "first image " << first;
  }
}

// The moving average of weights on the GPU: the same values as on the CPU, within a rounding
// of the two products (the GPU may fuse them into one multiply-add).
TEST(Cuda, WeightAverageMatchesTheCpu) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  std::vector<float> start(1000), later(1000);
  for (size_t i = 0; i < start.size(); ++i) {
    start[i] = std::sin(0.1f * static_cast<float>(i));
    later[i] = std::cos(0.3f * static_cast<float>(i));
  }
  std::vector<float> results[2];
  for (const Device device : {Device::cpu(), Device::cuda()}) {
    Tensor w = Tensor::from_vector({1000}, start, device), a = Tensor::zeros({1000}, device);
    optim::WeightAverage average({w}, {a}, 0.99);
    w.copy_from(later);
    for (int step = 0; step < 5; ++step) average.update();
    results[device == Device::cuda()] = a.to_vector();
  }
  for (size_t i = 0; i < start.size(); ++i) EXPECT_NEAR(results[1][i], results[0][i], 1e-6f) << i;
}

// A data-parallel step's buffer on the GPU: the gradients gathered on the device in the
// parameters' order, the extras uploaded after them, and back.
TEST(Cuda, FlatGradientsGatherAndScatterOnTheDevice) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  Tensor a = Tensor::from_vector({2}, {0, 0}, Device::cuda());
  Tensor b = Tensor::from_vector({3}, {0, 0, 0}, Device::cuda());
  a.set_requires_grad();
  b.set_requires_grad();
  a.backward(Tensor::from_vector({2}, {1, 2}, Device::cuda()));
  optim::FlatGradients flat({a, b}, 2);
  const Tensor& buffer = flat.gather({7, 8});
  EXPECT_EQ(buffer.device(), Device::cuda());
  EXPECT_EQ(buffer.to_vector(), (std::vector<float>{1, 2, 0, 0, 0, 7, 8}));
  buffer.copy_from({10, 20, 30, 40, 50, 60, 70});
  EXPECT_EQ(flat.scatter(), (std::vector<float>{60, 70}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{10, 20}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{30, 40, 50}));
}

// Five Adam steps of a tiny ViT from the same weights on the same batch: the GPU's losses follow
// the CPU's within 1e-4 (relative), and so do the weights.
TEST(Cuda, TrainingStepsFollowTheCpu) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  nn::VitConfig config;
  config.d_model = 32;
  config.heads = 4;
  config.layers = 2;
  config.d_ff = 64;
  nn::VisionTransformer cpu_model(config, Device::cpu()), gpu_model(config, Device::cuda());
  cpu_model.initialize(11);
  for (size_t i = 0; i < cpu_model.parameters().size(); ++i) {
    const std::vector<float> values = cpu_model.parameters()[i].tensor.to_vector();
    const Tensor& p = gpu_model.parameters()[i].tensor;
    p.copy_from(values);
  }
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> uniform(0, 1);
  data::Batch batch;
  batch.size = 16;
  batch.patches.resize(16 * 64 * 48);
  for (float& v : batch.patches) v = uniform(rng);
  batch.labels.resize(16);
  for (auto& l : batch.labels) l = static_cast<int32_t>(rng() % 10);
  auto run = [&](const nn::VisionTransformer& model) {
    optim::AdamOptions options;
    options.lr = 1e-3f;
    optim::Adam adam(model.parameter_tensors(), options);
    std::vector<float> losses;
    for (uint64_t step = 0; step < 5; ++step) {
      losses.push_back(train::train_step(model, adam, batch, 3, step).loss);
    }
    return losses;
  };
  const std::vector<float> cpu = run(cpu_model);
  const std::vector<float> gpu = run(gpu_model);
  for (size_t s = 0; s < cpu.size(); ++s) {
    EXPECT_NEAR(gpu[s], cpu[s], 1e-4 * std::fabs(cpu[s])) << "step " << s;
  }
  EXPECT_LT(normalised_error(gpu_model.parameters()[1].tensor.to_vector(),
                             cpu_model.parameters()[1].tensor.to_vector()),
            1e-4);
}

// More tensors than one launch takes (the CUDA backend passes 96 at a time), of many sizes: the
// GPU's Adam steps and gradient zeroing do what the CPU's do.
TEST(Cuda, AdamStepsAndZeroingCoverManyTensors) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<std::vector<float>> values, grads;
  for (int i = 0; i < 200; ++i) {
    const size_t n = 1 + rng() % (i % 7 == 0 ? 70000 : 300);
    values.emplace_back(n);
    grads.emplace_back(n);
    for (float& v : values.back()) v = uniform(rng);
    for (float& g : grads.back()) g = uniform(rng);
  }
  auto run = [&](Device device) {
    std::vector<Tensor> params;
    for (const auto& v : values) {
      params.push_back(Tensor::from_vector({static_cast<int64_t>(v.size())}, v, device));
      params.back().set_requires_grad(true);
    }
    optim::AdamOptions options;
    options.lr = 1e-2f;
    options.weight_decay = 0.1f;
    optim::Adam adam(params, options);
    for (int step = 0; step < 3; ++step) {
      adam.zero_grad();
      for (size_t i = 0; i < params.size(); ++i) {  // gradient i: grads[i] * (step + 1)
        const Tensor g = Tensor::from_vector(params[i].shape(), grads[i], device);
        for (int k = 0; k <= step; ++k) {
          params[i].backend().accumulate(params[i].grad_data(), g.data(), g.numel());
        }
      }
      adam.step();
    }
    std::vector<std::vector<float>> out;
    for (const Tensor& p : params) out.push_back(p.to_vector());
    adam.zero_grad();
    for (const Tensor& p : params) {
      for (float g : p.grad().to_vector()) EXPECT_EQ(g, 0.0f);
    }
    return out;
  };
  const auto cpu = run(Device::cpu());
  const auto gpu = run(Device::cuda());
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_LT(normalised_error(gpu[i], cpu[i]), 1e-6) << "tensor " << i;
  }
}

// The column sums (bias gradients, LayerNorm's dw and db) split the rows into chunks over
// blocks, the last block of each 32 columns adding the chunks' sums. Shapes with one chunk and
// with many, rows that no chunk size divides, widths that do and do not fill 32 columns.
struct ColumnSumShape {
  int64_t rows, cols;
};
const ColumnSumShape kColumnSumShapes[] = {{5, 7}, {300, 256}, {600, 33}, {8193, 300}};

std::vector<float> uniform_values(size_t n, float low, float high, unsigned int seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = uniform(rng);
  return values;
}

// Whether a and b hold the same bits (EXPECT_EQ on floats would take 0 for -0).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// y += sum over rows, twice, onto a y that starts non-zero: the CPU's sums within 1e-5 of the
// largest, and the same bits on a second run. The sums of 8,193 values in [-1, 1] (some 50 in
// size, the largest some 150) are taken in other orders on the two, whose roundings differ by
// about sqrt(rows) * 2^-24 * 50 = 3e-4, 2e-6 of the largest (measured: up to 2.3e-6, with 1 to
// 16 CPU threads). A counter the last block failed to reset would leave the second call out.
TEST(Cuda, ColumnSumsSplitRowsAcrossBlocks) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(Device::cuda());
  for (const auto& [rows, cols] : kColumnSumShapes) {
    const std::vector<float> x = uniform_values(rows * cols, -1, 1, 7);
    const std::vector<float> start = uniform_values(cols, -1, 1, 8);
    std::vector<float> expected = start;
    cpu.sum_rows_accumulate(expected.data(), x.data(), rows, cols);
    cpu.sum_rows_accumulate(expected.data(), x.data(), rows, cols);
    const Tensor gpu_x = Tensor::from_vector({rows, cols}, x, Device::cuda());
    std::vector<float> runs[2];
    for (std::vector<float>& run : runs) {
      const Tensor y = Tensor::from_vector({cols}, start, Device::cuda());
      gpu.sum_rows_accumulate(y.data(), gpu_x.data(), rows, cols);
      gpu.sum_rows_accumulate(y.data(), gpu_x.data(), rows, cols);
      run = y.to_vector();
    }
    EXPECT_LT(normalised_error(runs[0], expected), 1e-5) << rows << " x " << cols;
    EXPECT_TRUE(same_bits(runs[1], runs[0])) << rows << " x " << cols;
  }
}

// LayerNorm's dw and db, summed the same way: the CPU's within 1e-5 (as above), accumulated
// twice onto non-zero values, the same bits on a second run, and either left out when null (the
// other then has the bits it has with both).
TEST(Cuda, LayerNormGradientsSplitRowsAcrossBlocks) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  Backend& cpu = backend_for(Device::cpu());
  Backend& gpu = backend_for(Device::cuda());
  for (const auto& [rows, cols] : kColumnSumShapes) {
    const std::vector<float> dy = uniform_values(rows * cols, -1, 1, 11);
    const std::vector<float> x = uniform_values(rows * cols, -1, 1, 12);
    const std::vector<float> w = uniform_values(cols, 0.5f, 1.5f, 13);
    const std::vector<float> mean = uniform_values(rows, -0.2f, 0.2f, 14);
    const std::vector<float> rstd = uniform_values(rows, 0.5f, 1.5f, 15);
    const std::vector<float> dw_start = uniform_values(cols, -1, 1, 16);
    const std::vector<float> db_start = uniform_values(cols, -1, 1, 17);
    std::vector<float> dw_expected = dw_start, db_expected = db_start;
    for (int call = 0; call < 2; ++call) {
      cpu.layernorm_backward(nullptr, dw_expected.data(), db_expected.data(), dy.data(), x.data(),
                             w.data(), mean.data(), rstd.data(), rows, cols);
    }
    const Device cuda = Device::cuda();
    const Tensor gpu_dy = Tensor::from_vector({rows, cols}, dy, cuda);
    const Tensor gpu_x = Tensor::from_vector({rows, cols}, x, cuda);
    const Tensor gpu_w = Tensor::from_vector({cols}, w, cuda);
    const Tensor gpu_mean = Tensor::from_vector({rows}, mean, cuda);
    const Tensor gpu_rstd = Tensor::from_vector({rows}, rstd, cuda);
    // Runs twice with both, then with dw alone, then with db alone.
    const bool with_dw[] = {true, true, true, false}, with_db[] = {true, true, false, true};
    std::vector<float> dws[4], dbs[4];
    for (int run = 0; run < 4; ++run) {
      const Tensor dw = Tensor::from_vector({cols}, dw_start, cuda);
      const Tensor db = Tensor::from_vector({cols}, db_start, cuda);
      for (int call = 0; call < 2; ++call) {
        gpu.layernorm_backward(nullptr, with_dw[run] ? dw.data() : nullptr,
                               with_db[run] ? db.data() : nullptr, gpu_dy.data(), gpu_x.data(),
                               gpu_w.data(), gpu_mean.data(), gpu_rstd.data(), rows, cols);
      }
      dws[run] = dw.to_vector();
      dbs[run] = db.to_vector();
    }
    EXPECT_LT(normalised_error(dws[0], dw_expected), 1e-5) << rows << " x " << cols;
    EXPECT_LT(normalised_error(dbs[0], db_expected), 1e-5) << rows << " x " << cols;
    EXPECT_TRUE(same_bits(dws[1], dws[0]) && same_bits(dbs[1], dbs[0])) << rows << " x " << cols;
    EXPECT_TRUE(same_bits(dws[2], dws[0]) && same_bits(dbs[2], db_start)) << rows << " x " << cols;
    EXPECT_TRUE(same_bits(dws[3], dw_start) && same_bits(dbs[3], dbs[0])) << rows << " x " << cols;
    // One launch takes dx beside dw and db: dx as the CPU's, written over then added to, and dw
    // and db the same bits as without it.
    const std::vector<float> dx_start = uniform_values(rows * cols, -1, 1, 18);
    std::vector<float> dx_expected = dx_start;
    cpu.layernorm_backward(dx_expected.data(), nullptr, nullptr, dy.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), rows, cols, Write::kOverwrite);
    cpu.layernorm_backward(dx_expected.data(), nullptr, nullptr, dy.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), rows, cols, Write::kAccumulate);
    const Tensor dx = Tensor::from_vector({rows, cols}, dx_start, cuda);
    const Tensor dw = Tensor::from_vector({cols}, dw_start, cuda);
    const Tensor db = Tensor::from_vector({cols}, db_start, cuda);
    for (const Write write : {Write::kOverwrite, Write::kAccumulate}) {
      gpu.layernorm_backward(dx.data(), dw.data(), db.data(), gpu_dy.data(), gpu_x.data(),
                             gpu_w.data(), gpu_mean.data(), gpu_rstd.data(), rows, cols, write);
    }
    EXPECT_LT(normalised_error(dx.to_vector(), dx_expected), 1e-5) << rows << " x " << cols;
    EXPECT_TRUE(same_bits(dw.to_vector(), dws[0]) && same_bits(db.to_vector(), dbs[0]))
        << rows << " x " << cols;
  }
}

// The batched products over interleaved matrices, through cuBLAS's pointer arrays built on the
// device, against a naive loop as on the CPU.
TEST(Cuda, BatchedProductsReadAndWriteMatricesWhereTheyLie) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  expect_gemm_batched_matches_a_loop(Device::cuda());
}

// Asking for more than the GPU holds (1 TiB) fails with the sizes, and the device stays usable.
TEST(Cuda, RunningOutOfGpuMemorySaysHowMuch) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  try {
    Tensor::zeros({int64_t{1} << 38}, Device::cuda());
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("out of GPU memory allocating 1099511627776 bytes"), std::string::npos)
        << message;
    EXPECT_NE(message.find("MiB free of"), std::string::npos) << message;
  }
  EXPECT_EQ(Tensor::from_vector({2}, {1.0f, 2.0f}, Device::cuda()).to_vector(),
            (std::vector<float>{1.0f, 2.0f}));
}

// The device's memory figures come from its stream-ordered pool: a tensor's bytes are live while
// it lives, and the peak remembers them.
TEST(Cuda, MemoryFiguresFollowTheTensors) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  backend_for(Device::cuda()).synchronize();
  const MemoryStats before = device_memory(Device::cuda());
  {
    const Tensor big = Tensor::zeros({1 << 20}, Device::cuda());  // 4 MiB
    backend_for(Device::cuda()).synchronize();
    const MemoryStats during = device_memory(Device::cuda());
    EXPECT_GE(during.live, before.live + (size_t{4} << 20));
    EXPECT_GE(during.peak_live, during.live);
  }
  release_device_cache(Device::cuda());
  const MemoryStats after = device_memory(Device::cuda());
  EXPECT_EQ(after.live, before.live);
  EXPECT_GE(after.peak_live, before.live + (size_t{4} << 20));
}

// The module loads wherever the CUDA runtime is installed, GPU or not, and has its entry points.
TEST(Cuda, ModuleLoadsWithItsEntryPoints) {
#ifndef SAV_CUDA_MODULE
  GTEST_SKIP() << "this build has no CUDA backend";
#else
  void* module = dlopen(SAV_CUDA_MODULE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(module, nullptr) << dlerror();
  auto usable = reinterpret_cast<bool (*)(int)>(dlsym(module, "sav_cuda_device_usable"));
  ASSERT_NE(usable, nullptr);
  EXPECT_NE(dlsym(module, "sav_cuda_create_backend"), nullptr);
  EXPECT_FALSE(usable(-1));
  // The registry gives the module's answer, unless it was pointed at another module.
  if (std::getenv("SAV_CUDA_MODULE_PATH") == nullptr) {
    EXPECT_EQ(usable(0), gpu_usable());
  }
#endif
}

TEST(Cuda, WithoutAGpuTheDeviceIsAClearError) {
  if (gpu_usable()) GTEST_SKIP() << "a CUDA device is usable here";
  try {
    Tensor::zeros({2}, Device::cuda());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 is not available"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
  }
}

TEST(Cuda, AMissingDeviceIsAClearError) {
  if (!gpu_usable()) GTEST_SKIP() << "no usable CUDA device";
  EXPECT_FALSE(device_available(Device::cuda(99)));
  EXPECT_THROW(Tensor::zeros({2}, Device::cuda(99)), Error);
}

}  // namespace
}  // namespace sav::testing

// The small ViT the tests train and explain: the real model's code at a size that runs in
// milliseconds.
#pragma once

#include "sav/nn/vit.h"

namespace sav::testing {

inline nn::VitConfig tiny_vit_config() {
  nn::VitConfig c;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 32;
  return c;
}

// The standard family (pre-LN, learned tokens) at the same kind of size: d 12, 3 heads, 2 blocks,
// on a rows x cols grid of patches of `features` values, with DeiT's distillation token and
// second head when `distilled`.
inline nn::VitConfig tiny_standard_config(int64_t rows, int64_t cols, int64_t features,
                                          int64_t classes, bool distilled) {
  nn::VitConfig c;
  c.grid_height = rows;
  c.grid_width = cols;
  c.patches = rows * cols;
  c.patch_features = features;
  c.d_model = 12;
  c.heads = 3;
  c.layers = 2;
  c.d_ff = 24;
  c.classes = classes;
  c = nn::standard_vit(c);
  c.distillation_token = c.distillation_head = distilled;
  return c;
}

}  // namespace sav::testing

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

}  // namespace sav::testing

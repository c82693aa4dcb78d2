// The table of op descriptions: every differentiable op of sav::ops, with shapes small enough
// for central differences and the tolerance each is held to.
#pragma once

#include <string>
#include <vector>

#include "gradcheck.h"

namespace sav::testing {

const std::vector<OpCase>& all_op_cases();

// The op names the tape records (Node::op) for the whole op set.
const std::vector<std::string>& op_set();

}  // namespace sav::testing

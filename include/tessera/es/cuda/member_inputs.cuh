#pragma once
// How the device perturbed forward (es/cuda/perturbed_forward.cuh) reads its inputs X.

namespace tessera::es {

/// How the device forward reads X.
enum class member_inputs {
  shared,      ///< one X (b × m) for every member
  per_member,  ///< X stacks the members' inputs: rows [q b, q b + b) are member first + q's
};

}  // namespace tessera::es

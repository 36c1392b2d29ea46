// Conversions between the rollout records (controller/rollout/) and their wire form (admin.proto).
#pragma once

#include "controller/rollout/rollout.h"
#include "controller/store/types.h"
#include "edge/v1/admin.pb.h"

namespace edge::controller {

// The strategy a request asks for: the default one, all at once, or the fields as given
// (validated; the message names the field).
Result<rollout::Strategy> StrategyFromProto(const edge::v1::CreateRolloutRequest& request);
void StrategyToProto(const rollout::Strategy& strategy, edge::v1::RolloutStrategy* out);
// `with_devices`: the per-device rows too (GetRollout), else only counts and waves.
void RolloutToProto(const rollout::Rollout& rollout, bool with_devices, edge::v1::Rollout* out);
void RolloutEventToProto(const RolloutEventRecord& event, edge::v1::RolloutEvent* out);

}  // namespace edge::controller

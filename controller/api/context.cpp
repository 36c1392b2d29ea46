#include "controller/api/context.h"

#include "common/core/log.h"

namespace edge::controller {

Result<edge::v1::ControllerMessage> ControllerContext::DesiredStateFor(const std::string& device_id) {
  EDGE_ASSIGN_OR_RETURN(auto device, store->GetDevice(device_id));
  EDGE_ASSIGN_OR_RETURN(auto models, store->DesiredModels(device_id));
  edge::v1::ControllerMessage msg;
  auto* desired = msg.mutable_desired();
  desired->set_generation(device.desired_generation);
  desired->set_trust_policy(trust_policy_envelope);
  for (auto& m : models) {
    auto* dm = desired->add_models();
    dm->set_model(m.model);
    dm->set_version(m.version);
    dm->set_envelope(m.envelope);
  }
  return msg;
}

void ControllerContext::NotifyDevices(const std::vector<std::string>& device_ids) {
  for (const auto& id : device_ids) {
    auto it = sessions.find(id);
    if (it == sessions.end()) continue;
    auto msg = DesiredStateFor(id);
    if (!msg) {
      log::Error("cannot build desired state", {{"device", id}, {"error", msg.error().message}});
      continue;
    }
    it->second->Send(*msg);
  }
}

}  // namespace edge::controller

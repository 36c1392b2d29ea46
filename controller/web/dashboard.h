// The read-only web dashboard: what each path of the operator listener's web side answers
// (net/web.h). Pure: the caller has already authorized the operator and passes a function that
// produces the fleet overview (proto3 JSON of edge.v1.FleetOverview) when the page asks for it.
//
//   GET /                 the page (index.html; app.js and style.css beside it)
//   GET /api/overview     the fleet: sites, devices with health, models, rollouts, audit
// Anything else is 404. The page polls /api/overview every 2 s and renders it with DOM text
// nodes only (no innerHTML): names and details that devices send are shown, never run.
#pragma once

#include <functional>
#include <string_view>

#include "common/core/result.h"
#include "controller/net/web.h"

namespace edge::controller::web {

using OverviewJson = std::function<Result<std::string>()>;

// The response to GET `target` (origin-form, query allowed and ignored).
net::WebResponse Serve(std::string_view target, const OverviewJson& overview);

// The response for a request refused before routing (`error` from authorization): 403 for a
// permission or identity problem, 503 when the controller is busy, 500 otherwise; the body is
// the message as plain text.
net::WebResponse Refusal(const Error& error);

}  // namespace edge::controller::web

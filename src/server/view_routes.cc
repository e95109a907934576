#include "src/server/view_routes.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "fhirlake/fhir/parameters.h"
#include "fhirlake/view/resource_source.h"
#include "fhirlake/view/row_sink.h"
#include "fhirlake/view/view_definition.h"
#include "fhirlake/view/view_runner.h"
#include "fhirlake/json_field.h"
#include "src/server/reply.h"

namespace fhirlake::server {
namespace {

using nlohmann::json;

constexpr size_t kChunkBytes = 64 << 10;  // rows are sent in chunks of about this size

// A run, parsed and checked before the first byte is sent.
struct ViewRun {
  std::unique_ptr<view::ViewDefinition> view;
  view::RowFormat format = view::RowFormat::kNdjson;
  bool header = true;
  uint64_t limit = 0;
  std::set<std::string> patients;          // empty: every resource
  std::vector<std::string> inline_resources;
  bool has_inline = false;
};

// `_format` (ndjson, csv or their media types) as a text RowFormat; kInvalidArgument otherwise.
Result<view::RowFormat> FormatOf(const std::string& value) {
  if (value == "ndjson" || value == "application/x-ndjson" || value == "application/ndjson" ||
      value == "application/fhir+ndjson")
    return view::RowFormat::kNdjson;
  if (value == "csv" || value == "text/csv") return view::RowFormat::kCsv;
  return InvalidArgument("_format '" + value + "' is not supported: use ndjson (application/x-ndjson) or csv (text/csv)");
}

// Whether `resource` belongs to one of `patients`: the Patient itself, or a resource whose
// subject or patient references it.
bool ForPatients(std::string_view resource, const std::set<std::string>& patients) {
  json r = ParseJsonFromOutside(resource);
  if (!r.is_object()) return false;
  if (FieldOr(r, "resourceType", "") == "Patient") return patients.count(FieldOr(r, "id", "")) > 0;
  for (const char* element : {"subject", "patient"}) {
    auto it = r.find(element);
    if (it == r.end() || !it->is_object()) continue;
    std::string ref = FieldOr(*it, "reference", "");
    if (ref.rfind("Patient/", 0) == 0 && patients.count(ref.substr(8))) return true;
  }
  return false;
}

// The request's parameters (body and query) as a ViewRun, or the reason it is refused
// (`issue` the OperationOutcome's code for it).
Result<ViewRun> ParseRun(const httplib::Request& req, std::string& issue) {
  issue = "invalid";
  auto params = fhir::Parameters::Parse(req.body);
  if (!params.ok()) return params.status();
  json doc = ParseJsonFromOutside(req.body);
  ViewRun run;
  const json* view_resource = nullptr;
  for (const auto& p : doc["parameter"]) {
    const std::string name = FieldOr(p, "name", "");
    if (name == "viewResource") {
      if (view_resource) return InvalidArgument("give one viewResource");
      if (!p.contains("resource") || !p["resource"].is_object())
        return InvalidArgument("viewResource needs the ViewDefinition as its 'resource'");
      view_resource = &p["resource"];
    } else if (name == "resource") {
      run.has_inline = true;
      if (p.contains("resource") && p["resource"].is_object()) {
        run.inline_resources.push_back(p["resource"].dump());
      } else if (p.contains("valueString") && p["valueString"].is_string()) {
        run.inline_resources.push_back(p["valueString"].get<std::string>());
      } else {
        return InvalidArgument("a 'resource' parameter needs a resource, or its JSON as valueString");
      }
    }
  }
  if (!view_resource) return InvalidArgument("the request has no viewResource (the ViewDefinition to run)");
  if (FieldOr(*view_resource, "resourceType", "") != "ViewDefinition")
    return InvalidArgument("viewResource is not a ViewDefinition");
  auto compiled = view::ViewDefinition::Compile(*view_resource);
  if (!compiled.ok()) return compiled.status().WithContext("invalid ViewDefinition");
  run.view = std::make_unique<view::ViewDefinition>(std::move(compiled).value());

  std::optional<std::string> format;
  for (const auto& p : params->items()) {
    if (p.name == "viewResource" || p.name == "resource") continue;
    if (p.name == "_format") {
      format = p.value;
    } else if (p.name == "header") {
      if (p.value != "true" && p.value != "false") return InvalidArgument("header must be true or false");
      run.header = p.value == "true";
    } else if (p.name == "_limit") {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), n);
      if (ec != std::errc() || end != p.value.data() + p.value.size() || n == 0)
        return InvalidArgument("_limit must be a positive integer");
      run.limit = n;
    } else if (p.name == "patient") {
      std::string id = p.value.rfind("Patient/", 0) == 0 ? p.value.substr(8) : p.value;
      if (id.empty()) return InvalidArgument("patient needs an id");
      run.patients.insert(id);
    } else {
      issue = "not-supported";
      return InvalidArgument("parameter '" + p.name + "' is not supported by this server; retry without it");
    }
  }
  if (!format && req.has_param("_format")) format = req.get_param_value("_format");
  if (format) {
    auto f = FormatOf(*format);
    if (!f.ok()) return f.status();
    run.format = *f;
  } else if (HeaderHas(req, "Accept", "text/csv")) {
    run.format = view::RowFormat::kCsv;
  }
  return run;
}

}  // namespace

void ViewRoutes::Register(httplib::Server& http, const std::string& base) {
  auto run = [this](const httplib::Request& req, httplib::Response& res) { Run(req, res); };
  http.Post(base + R"(/\$viewdefinition-run)", run);
  http.Post(base + R"(/ViewDefinition/\$viewdefinition-run)", run);
  http.Post(base + R"(/ViewDefinition/\$run)", run);
}

void ViewRoutes::Run(const httplib::Request& req, httplib::Response& res) {
  auth::Grant grant;
  if (!ctx_.Authorize(req, res, grant)) return;
  std::string issue;
  auto parsed = ParseRun(req, issue);
  if (!parsed.ok()) return SendOutcome(res, 400, issue, parsed.status().message());
  auto run = std::make_shared<ViewRun>(std::move(parsed).value());
  const std::string type = run->view->resource();
  if (ctx_.authorizer && !auth::AllowsRead(grant, type)) {
    return SendOutcome(res, 403, "forbidden", "the access token's scopes do not allow reading " + type);
  }
  // The data $export serves: the source directory, or else the warehouse.
  const std::filesystem::path source_dir = ctx_.opt.source_dir, warehouse = ctx_.opt.warehouse;
  view::ResourceSource source = [run, type, source_dir, warehouse](const view::ResourceCallback& each) -> Status {
    view::ResourceCallback filtered = each;
    if (!run->patients.empty()) {
      filtered = [&](std::string_view json) { return ForPatients(json, run->patients) ? each(json) : Status::Ok(); };
    }
    if (run->has_inline) {
      for (const auto& r : run->inline_resources) FHIRLAKE_RETURN_IF_ERROR(filtered(r));
      return Status::Ok();
    }
    bool any = false;
    auto counted = [&](std::string_view json) {
      any = true;
      return filtered(json);
    };
    Status s = source_dir.empty() ? view::ForEachWarehouseResource(warehouse, type, counted)
                                  : view::ForEachNdjsonResource(source_dir, type, counted);
    if (s.code() == StatusCode::kNotFound && !any) return Status::Ok();  // no data of that type: no rows
    return s;
  };
  const char* content_type = run->format == view::RowFormat::kCsv ? "text/csv" : "application/x-ndjson";
  res.set_chunked_content_provider(content_type, [run, source](size_t, httplib::DataSink& out) {
    std::string buffer;
    auto flush = [&] {
      bool sent = buffer.empty() || out.write(buffer.data(), buffer.size());
      buffer.clear();
      return sent;
    };
    view::TextOutput text = [&](std::string_view bytes) {
      buffer.append(bytes);
      return buffer.size() < kChunkBytes || flush();
    };
    auto sink = view::OpenTextRowSink(run->format, text, run->view->columns(), run->header);
    if (!sink.ok()) return false;
    auto stats = view::RunView(*run->view, source, **sink, run->limit);
    // A failure after rows were sent cannot change the status: the response ends without its
    // last chunk, which clients see as an incomplete transfer.
    if (!stats.ok() || !flush()) return false;
    out.done();
    return true;
  });
}

}  // namespace fhirlake::server

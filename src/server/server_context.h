// What every route of `fhirlake serve` shares: the server's options, the URLs clients see,
// and the bearer-token check (when authorization is on). The routes (ExportRoutes,
// ImportRoutes) and the answers they build (reply.h, FileResponder) sit on top of it.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include "fhirlake/auth/authorizer.h"
#include "fhirlake/server/server.h"

namespace fhirlake::server {

struct ServerContext {
  ServerOptions opt;
  std::unique_ptr<auth::Authorizer> authorizer;  // null: no authorization
  int bound_port = 0;

  // The FHIR base as clients see it: --public-url, else from the Host header.
  std::string FhirBase(const httplib::Request& req) const;
  // The base of file URLs in manifests: --file-base-url, else the FHIR base.
  std::string FileBase(const httplib::Request& req) const;
  std::string TokenUrl(const httplib::Request& req) const { return FhirBase(req) + "/auth/token"; }
  // The aud a client assertion must carry: the token endpoint at --public-url. Without one, at
  // the request's Host only when that names a loopback address at this server's port (the serve
  // command needs --public-url for --auth on any other address). A client sets Host at will, so
  // believing any Host would accept an assertion signed for another server, replayed here.
  std::string TokenAudience(const httplib::Request& req) const;

  // Checks the bearer token when authorization is on (`grant` is then the caller's). Returns
  // false after answering 401.
  bool Authorize(const httplib::Request& req, httplib::Response& res, auth::Grant& grant) const;
};

}  // namespace fhirlake::server

// fhirlake keygen --alg RS384|ES384 --out DIR: a key pair for SMART Backend Services.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "fhirlake/auth/keys.h"
#include "fhirlake/store/local_file.h"
#include "src/cli/commands.h"

namespace fhirlake::cli {
namespace {

struct KeygenArgs {
  std::string alg = "RS384";
  std::string out;
};

int Run(const KeygenArgs& a) {
  auto alg = auth::ParseAlgorithm(a.alg);
  if (!alg.ok()) {
    std::fprintf(stderr, "fhirlake keygen: %s\n", alg.status().message().c_str());
    return kExitUsage;
  }
  auto key = auth::GenerateKey(*alg);
  auto priv = key.ok() ? auth::ToJwk(*key, true) : Result<std::string>(key.status());
  auto pub = key.ok() ? auth::ToJwk(*key, false) : Result<std::string>(key.status());
  if (!priv.ok() || !pub.ok()) {
    std::fprintf(stderr, "fhirlake keygen: %s\n", (priv.ok() ? pub : priv).status().message().c_str());
    return kExitFailed;
  }
  std::filesystem::path dir(a.out);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto private_path = dir / "private.jwks.json", public_path = dir / "public.jwks.json";
  if (std::filesystem::exists(private_path)) {
    std::fprintf(stderr, "fhirlake keygen: %s exists; refusing to overwrite a key\n", private_path.c_str());
    return kExitUsage;
  }
  mode_t old = ::umask(077);  // the private key file is created 0600
  Status s = store::WriteFileAtomically(private_path, "{\"keys\":[" + *priv + "]}\n");
  ::umask(old);
  if (s.ok()) s = store::WriteFileAtomically(public_path, "{\"keys\":[" + *pub + "]}\n");
  if (!s.ok()) {
    std::fprintf(stderr, "fhirlake keygen: %s\n", s.message().c_str());
    return kExitFailed;
  }
  std::printf("kid %s (%s)\nprivate key (keep secret): %s\npublic key (register with the server): %s\n",
              key->kid.c_str(), a.alg.c_str(), private_path.c_str(), public_path.c_str());
  return kExitOk;
}

}  // namespace

void RegisterKeygen(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand("keygen", "Make a key pair for SMART Backend Services (JWKS files)");
  cmd->add_option("--alg", args->alg, "RS384 (RSA 2048) or ES384 (EC P-384); default RS384")
      ->check(CLI::IsMember({"RS384", "ES384"}));
  cmd->add_option("--out", args->out, "Directory for private.jwks.json (mode 0600) and public.jwks.json")->required();
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace fhirlake::cli

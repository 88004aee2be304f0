// tessera: the command-line face of the library. One subcommand per core; JSON (default) or CSV
// on stdout; bad input exits with status 2 and one line on stderr naming what was wrong.
#include <exception>
#include <iostream>
#include <string>
#include <tessera/core/errors.hpp>
#include <tessera/core/version.hpp>

#include "cli.hpp"

namespace {

constexpr int exit_bad_input = 2;
constexpr int exit_internal_error = 1;

int fail(int status, const std::string& message) {
  std::cerr << "tessera: " << message << '\n';
  return status;
}

// CLI11 reports a missing or unknown command as a missing subcommand; say plainly what happened.
std::string describe(const CLI::ParseError& e, const CLI::App& app) {
  if (app.get_subcommands().empty()) {
    const auto words = app.remaining();
    if (words.empty() && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr)
      return "no command given; run 'tessera --help' for the list of commands";
    if (!words.empty())
      return "unknown command '" + words.front() + "'; run 'tessera --help' for the list of commands";
  }
  std::string message = e.what();
  for (char& c : message)
    if (c == '\n') c = ' ';
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera: numerical cores from recent ML research (QMC, SSM, ES, conformal, ...)",
               "tessera"};
  app.set_version_flag("--version", std::string("tessera ") + tessera::version_string);
  app.require_subcommand(1);
  app.fallthrough();

  tessera::cli::context ctx;
  ctx.format_option = app.add_option("--format", ctx.format_name, "Output format of the results on stdout")
      ->check(CLI::IsMember({"json", "csv"}))
      ->capture_default_str();

  tessera::cli::add_random_command(app, ctx);
  tessera::cli::add_qmc_command(app, ctx);
  tessera::cli::add_conformal_command(app, ctx);
  tessera::cli::add_es_command(app, ctx);
  tessera::cli::add_zo_command(app, ctx);
  tessera::cli::add_tour_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    return fail(exit_bad_input, describe(e, app));
  } catch (const tessera::cli::usage_error& e) {
    return fail(exit_bad_input, e.what());
  } catch (const std::invalid_argument& e) {  // tessera::invalid_argument and the std one
    return fail(exit_bad_input, e.what());
  } catch (const std::domain_error& e) {
    return fail(exit_bad_input, e.what());
  } catch (const std::exception& e) {
    return fail(exit_internal_error, std::string("internal error: ") + e.what());
  }
  return 0;
}

#pragma once
// The library's version: the one source CMake, the CLI and the package recipes read it from.

namespace tessera {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;
inline constexpr const char* version_string = "0.1.0";

}  // namespace tessera
